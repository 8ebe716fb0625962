export { buildKey, type BuildKeyOptions, type KeyPart } from './build-key.js';
export { escapeSegment, unescapeSegment } from './escape.js';
export { canonicalJson, paramsHash } from './params-hash.js';
export { assertStoreKey, assertStoreKeys, assertValidKey, DEFAULT_MAX_KEY_LENGTH, isWellFormedKey, loneSurrogateIndex } from './validate.js';
