export type { Codec, CodecExtension, CodecOptions } from './types.js';
export { createCodec, defaultCodec, defineExtension, DEFAULT_MAX_BYTES, FORMAT_VERSION, MAX_DEPTH } from './codec.js';
export { decimalExtension, isDecimal, DECIMAL_EXTENSION_NAME } from './decimal.js';
