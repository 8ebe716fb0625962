import { Decimal } from 'decimal.js';
import fc from 'fast-check';

export const DecimalClass = Decimal;

function isTypedView(value: object): value is ArrayBufferView {
  return ArrayBuffer.isView(value);
}

function bytesOf(value: ArrayBufferView | ArrayBuffer): Uint8Array {
  return value instanceof ArrayBuffer
    ? new Uint8Array(value)
    : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}

/**
 * Where `actual` differs from `expected`, or undefined when they are equal. Stricter than
 * `isDeepStrictEqual`: it also requires the same key order, the same Map/Set insertion order, holes where
 * the expected array has holes, and typed arrays of the same class with the same bytes (so NaN payloads
 * and -0 inside Float64Array count). Values are assumed acyclic.
 */
export function difference(actual: unknown, expected: unknown, path = '$'): string | undefined {
  if (typeof actual !== typeof expected) return `${path}: ${typeof actual} instead of ${typeof expected}`;
  if (typeof expected !== 'object' || expected === null || actual === null) {
    return Object.is(actual, expected) ? undefined : `${path}: ${String(actual)} instead of ${String(expected)}`;
  }
  const a = actual as object;
  const e = expected;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(e)) return `${path}: different prototype`;
  if (Array.isArray(e) !== Array.isArray(a)) return `${path}: array-ness differs`;
  if (e instanceof Date) {
    return Object.is((a as Date).getTime(), e.getTime()) ? undefined : `${path}: different time`;
  }
  if (e instanceof RegExp) {
    const r = a as RegExp;
    return r.source === e.source && r.flags === e.flags && Object.is(r.lastIndex, e.lastIndex)
      ? undefined
      : `${path}: different RegExp`;
  }
  if (e instanceof ArrayBuffer || isTypedView(e)) {
    const x = bytesOf(a as ArrayBuffer);
    const y = bytesOf(e);
    if (x.length !== y.length) return `${path}: byte length ${x.length} instead of ${y.length}`;
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return `${path}: byte ${i} differs`;
    return undefined;
  }
  if (e instanceof Map) {
    const m = a as Map<unknown, unknown>;
    if (m.size !== e.size) return `${path}: Map size ${m.size} instead of ${e.size}`;
    const x = [...m];
    const y = [...e];
    for (let i = 0; i < y.length; i++) {
      const d = difference(x[i]![0], y[i]![0], `${path}<key ${i}>`) ?? difference(x[i]![1], y[i]![1], `${path}<value ${i}>`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  if (e instanceof Set) {
    const s = a as Set<unknown>;
    if (s.size !== e.size) return `${path}: Set size ${s.size} instead of ${e.size}`;
    const x = [...s];
    const y = [...e];
    for (let i = 0; i < y.length; i++) {
      const d = difference(x[i], y[i], `${path}<item ${i}>`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  if (Array.isArray(e)) {
    const arr = a as unknown[];
    if (arr.length !== e.length) return `${path}: length ${arr.length} instead of ${e.length}`;
    const keysA = Object.keys(arr);
    const keysE = Object.keys(e);
    if (keysA.join() !== keysE.join()) return `${path}: holes or extra keys differ`;
    for (const key of keysE) {
      const d = difference((arr as unknown as Record<string, unknown>)[key], (e as unknown as Record<string, unknown>)[key], `${path}[${key}]`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  const keysA = Reflect.ownKeys(a);
  const keysE = Reflect.ownKeys(e);
  if (keysA.length !== keysE.length || keysA.some((k, i) => k !== keysE[i])) {
    return `${path}: keys [${keysA.map(String).join(', ')}] instead of [${keysE.map(String).join(', ')}]`;
  }
  for (const key of keysE) {
    const da = Object.getOwnPropertyDescriptor(a, key)!;
    const de = Object.getOwnPropertyDescriptor(e, key)!;
    if (da.enumerable !== de.enumerable) return `${path}.${String(key)}: enumerability differs`;
    const d = difference(da.value, de.value, `${path}.${String(key)}`);
    if (d !== undefined) return d;
  }
  return undefined;
}

export function deepEqualStrict(actual: unknown, expected: unknown): boolean {
  return difference(actual, expected) === undefined;
}

/** Bytes as a comparable string, for determinism checks. */
export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export const decimalArb: fc.Arbitrary<Decimal> = fc.oneof(
  fc.constantFrom('0', '-0', 'NaN', 'Infinity', '-Infinity', '1e-9000000000000000', '-9.99e+9000000000000000'),
  fc
    .tuple(fc.boolean(), fc.stringMatching(/^[1-9]\d{0,80}$/), fc.integer({ min: -400, max: 400 }))
    .map(([negative, digits, exponent]) => `${negative ? '-' : ''}${digits}e${exponent}`),
  fc.double({ noNaN: false }).map(String),
).map((text) => new DecimalClass(text));

const stringArb = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: 'binary' }),
  // Lone surrogates, alone and inside otherwise ASCII text, short and long.
  fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 90 }).map((units) => String.fromCharCode(...units)),
  fc.string({ minLength: 60, maxLength: 200 }),
);

const typedArrayArb: fc.Arbitrary<ArrayBufferView> = fc.oneof(
  fc.int8Array(),
  fc.uint8Array(),
  fc.uint8ClampedArray(),
  fc.int16Array(),
  fc.uint16Array(),
  fc.int32Array(),
  fc.uint32Array(),
  fc.float32Array(),
  fc.float64Array(),
  fc.bigInt64Array(),
  fc.bigUint64Array(),
  // A view into the middle of a larger buffer.
  fc.tuple(fc.uint8Array({ minLength: 8, maxLength: 40 }), fc.nat(3), fc.nat(3)).map(
    ([bytes, head, tail]) => new Uint16Array(bytes.buffer, head * 2, Math.max(0, Math.floor((bytes.length - head * 2 - tail * 2) / 2))),
  ),
);

/** Leaves beyond what `fc.anything` makes: every scalar edge the codec must carry exactly. */
export const leafArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(undefined, null, true, false, NaN, -0, 0, Infinity, -Infinity, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 53, -(2 ** 64)),
  fc.integer(),
  fc.double(),
  fc.bigInt(),
  fc.bigInt({ min: -(2n ** 600n), max: 2n ** 600n }),
  stringArb,
  fc.date({ noInvalidDate: false }),
  fc.uint8Array().map((bytes) => Buffer.from(bytes)),
  fc.uint8Array().map((bytes) => bytes.slice().buffer),
  fc.uint8Array().map((bytes) => new DataView(bytes.slice().buffer)),
  typedArrayArb,
  fc.tuple(fc.constantFrom('a+b', '^\\d{2,}$', '[\\u{1F600}]', '(?<year>\\d{4})', '\\/'), fc.constantFrom('', 'g', 'gi', 'u', 'msy', 'dgimsuy'), fc.nat(20)).map(
    ([source, flags, lastIndex]) => {
      const re = new RegExp(source, flags);
      re.lastIndex = lastIndex;
      return re;
    },
  ),
  decimalArb,
);

/** Values made of everything the default codec supports, nested. */
export const valueArb: fc.Arbitrary<unknown> = fc.anything({
  values: [leafArb],
  key: fc.oneof(fc.string(), fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '0', '1e3', '')),
  maxDepth: 4,
  maxKeys: 6,
  withBigInt: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withTypedArray: true,
  withNullPrototype: true,
  withSparseArray: true,
});
