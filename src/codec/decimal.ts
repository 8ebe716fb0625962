import { Decimal } from 'decimal.js';
import type { CodecExtension } from './types.js';

/** Name written into the bytes for every Decimal. Changing it orphans every Decimal already stored. */
export const DECIMAL_EXTENSION_NAME = 'Decimal';

// decimal.js brands its prototype with this string; `Decimal.isDecimal` relies on the same brand.
const DECIMAL_BRAND = '[object Decimal]';

// The only shapes `encodeDecimal` produces: canonical, so a corrupted payload fails instead of parsing loosely
// (decimal.js would also accept hex, binary and octal text).
const DECIMAL_TEXT = /^(?:NaN|-?Infinity|-?0|-?[1-9](?:\.\d*[1-9])?e[+-]\d+)$/;

interface DecimalMethods {
  isNaN(): boolean;
  isFinite(): boolean;
  isZero(): boolean;
  isNegative(): boolean;
  toExponential(): string;
}

/**
 * Brand check rather than `instanceof` alone: an application can end up with two copies of decimal.js
 * (nested node_modules, CJS and ESM builds), and instances of one are not `instanceof` the other.
 */
export function isDecimal(value: unknown): value is Decimal {
  if (value instanceof Decimal) return true;
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as { toStringTag?: unknown } & Partial<Record<keyof DecimalMethods, unknown>>;
  return (
    candidate.toStringTag === DECIMAL_BRAND &&
    typeof candidate.toExponential === 'function' &&
    typeof candidate.isNegative === 'function' &&
    typeof candidate.isFinite === 'function' &&
    typeof candidate.isNaN === 'function' &&
    typeof candidate.isZero === 'function'
  );
}

function encodeDecimal(value: Decimal): string {
  const d = value as unknown as DecimalMethods;
  if (d.isNaN()) return 'NaN';
  if (!d.isFinite()) return d.isNegative() ? '-Infinity' : 'Infinity';
  // toExponential drops the sign of zero.
  if (d.isZero()) return d.isNegative() ? '-0' : '0';
  // Without an argument toExponential prints every significant digit and ignores the precision setting,
  // and stays short for huge exponents where toFixed would print all the zeros.
  return d.toExponential();
}

function decodeDecimal(data: unknown): Decimal {
  if (typeof data !== 'string' || !DECIMAL_TEXT.test(data)) {
    throw new TypeError('a Decimal must be stored as canonical decimal text');
  }
  // decimal.js does not round to `precision` when parsing a string, so every stored digit survives.
  const result = new Decimal(data);
  const finite = data !== 'NaN' && !data.endsWith('Infinity');
  if (finite) {
    const zero = data === '0' || data === '-0';
    // This copy's maxE/minE may be narrower than the writer's; decimal.js would then silently turn the
    // value into Infinity or 0, which must not pass for the stored value.
    if (!result.isFinite() || result.isZero() !== zero) {
      throw new RangeError(`${data} is outside the exponent range of this Decimal configuration`);
    }
  }
  return result;
}

/** Built into every codec: stores decimal.js values exactly (all digits, sign, -0, NaN, ±Infinity). */
export const decimalExtension: CodecExtension<Decimal> = {
  name: DECIMAL_EXTENSION_NAME,
  test: isDecimal,
  encode: encodeDecimal,
  decode: decodeDecimal,
};
