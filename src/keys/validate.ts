import { InvalidKeyError } from '../errors.js';

/** Longest key accepted by default, in UTF-16 code units. Stores with shorter limits hash what they must. */
export const DEFAULT_MAX_KEY_LENGTH = 1024;

// C0 controls and DEL: they break text protocols (Memcached) and log lines, and are never meaningful in a key.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Throws `InvalidKeyError` naming what is wrong with `key`. */
export function assertValidKey(key: unknown, maxLength = DEFAULT_MAX_KEY_LENGTH, what = 'key'): asserts key is string {
  if (typeof key !== 'string') {
    throw new InvalidKeyError(`${what} must be a string, got ${key === null ? 'null' : typeof key}`);
  }
  if (key.length === 0) throw new InvalidKeyError(`${what} must not be empty`);
  if (key.length > maxLength) {
    throw new InvalidKeyError(`${what} is ${key.length} characters long; the limit is ${maxLength}`, {
      key: key.slice(0, 64) + '…',
    });
  }
  const control = CONTROL.exec(key);
  if (control !== null) {
    const code = control[0].charCodeAt(0).toString(16).padStart(4, '0');
    throw new InvalidKeyError(`${what} ${JSON.stringify(key)} contains the control character U+${code} at index ${control.index}`, {
      key,
    });
  }
}
