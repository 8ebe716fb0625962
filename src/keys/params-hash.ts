import { createHash } from 'node:crypto';

/**
 * Canonical JSON: keys sorted at every depth, written with the separators and ASCII escaping of Python's
 * `json.dumps(sort_keys=True)`, so hashes of integer, string, boolean, null and nested parameters match
 * keys produced by the original Python services. Values JSON cannot hold are made explicit instead of
 * being dropped silently: Dates as ISO strings, BigInts and Decimals as their decimal strings.
 */
export function canonicalJson(value: unknown, path = '$'): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return quote(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`params ${path} must be a finite number, got ${value}`);
      return Object.is(value, -0) ? '0' : String(value);
    case 'bigint':
      return value.toString();
    case 'object':
      break;
    default:
      throw new TypeError(`params ${path} cannot be hashed: ${typeof value}`);
  }
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new TypeError(`params ${path} is an invalid Date`);
    return quote(value.toISOString());
  }
  if (Array.isArray(value)) {
    return '[' + value.map((item, i) => canonicalJson(item, `${path}[${i}]`)).join(', ') + ']';
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    // Decimal and similar numeric classes: their string form is exact.
    if (typeof (value as { toFixed?: unknown }).toFixed === 'function') return (value as { toString(): string }).toString();
    throw new TypeError(`params ${path} cannot be hashed: instance of ${(value).constructor?.name ?? 'unknown class'}`);
  }
  const record = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(record).sort()) {
    const item = record[key];
    if (item === undefined) continue; // as JSON does: an absent and an undefined parameter hash alike
    parts.push(quote(key) + ': ' + canonicalJson(item, `${path}.${key}`));
  }
  return '{' + parts.join(', ') + '}';
}

function quote(text: string): string {
  // JSON.stringify escapes quotes, backslashes and controls; Python's ensure_ascii also escapes non-ASCII.
  return JSON.stringify(text).replace(/[\u007f-\uffff]/g, (ch) => '\\u' + ch.charCodeAt(0).toString(16).padStart(4, '0'));
}

/**
 * The first 8 hex characters of the MD5 of the parameters' canonical JSON: parameter order never changes it.
 *
 * @example
 * paramsHash({ window_months: 3, trend_sensitivity: 0.1 }) === paramsHash({ trend_sensitivity: 0.1, window_months: 3 })
 */
export function paramsHash(params: Readonly<Record<string, unknown>>): string {
  return createHash('md5').update(canonicalJson(params)).digest('hex').slice(0, 8);
}
