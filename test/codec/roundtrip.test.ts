import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { createCodec, defaultCodec, FORMAT_VERSION, MAX_DEPTH } from '../../src/codec/index.js';
import { DecodeError } from '../../src/errors.js';
import { DecimalClass, difference, hex } from './helpers.js';

function roundTrip<T>(value: T): T {
  return defaultCodec.decode(defaultCodec.encode(value)) as T;
}

function expectExact(value: unknown): void {
  expect(difference(roundTrip(value), value)).toBeUndefined();
}

describe('codec round trip: scalars', () => {
  it.each([
    ['undefined', undefined],
    ['null', null],
    ['true', true],
    ['false', false],
    ['zero', 0],
    ['negative zero', -0],
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['-Infinity', -Infinity],
    ['small int', 42],
    ['fixint edge', 127],
    ['past fixint', 128],
    ['negative int', -1],
    ['max safe', Number.MAX_SAFE_INTEGER],
    ['min safe', Number.MIN_SAFE_INTEGER],
    ['past max safe', 2 ** 53],
    ['huge', 1.7976931348623157e308],
    ['tiny', 5e-324],
    ['float', 0.1 + 0.2],
    ['negative float', -123.456],
  ])('%s', (_, value) => expectExact(value));

  it('keeps -0 and NaN distinct from 0', () => {
    expect(Object.is(roundTrip(-0), -0)).toBe(true);
    expect(Object.is(roundTrip(0), 0)).toBe(true);
    expect(Number.isNaN(roundTrip(NaN))).toBe(true);
  });

  it.each([0n, 1n, -1n, 255n, 256n, -256n, 2n ** 53n, 2n ** 64n - 1n, -(2n ** 64n), 2n ** 4096n + 12345n, -(3n ** 1000n)])(
    'BigInt %s',
    (value) => expect(roundTrip(value)).toBe(value),
  );

  it.each([
    ['empty', ''],
    ['ascii', 'alice'],
    ['accents', 'héllo wörld'],
    ['CJK', '日本語のテキスト'],
    ['emoji pair', '😀👍🏽'],
    ['lone high surrogate', '\ud800'],
    ['lone low surrogate', 'a\udc00b'],
    ['reversed pair', '\udc00\ud800'],
    ['long ascii', 'x'.repeat(10_000)],
    ['long unicode', 'é😀'.repeat(5_000)],
    ['long with lone surrogate', `${'y'.repeat(100)}\ud83d`],
    ['NUL and controls', '\u0000\u0001\n\t'],
    ['BOM first', '\ufeffbom'],
    ['U+FFFD', '\ufffd'],
  ])('string: %s', (_, value) => expect(roundTrip(value)).toBe(value));
});

describe('codec round trip: containers', () => {
  it('arrays, including undefined elements', () => {
    expectExact([1, 'two', undefined, null, [3, [4]]]);
    expectExact([]);
  });

  it('preserves holes as holes, distinct from undefined', () => {
    // eslint-disable-next-line no-sparse-arrays
    const sparse = [1, , 3, , ,];
    const back = roundTrip(sparse);
    expect(back).toHaveLength(5);
    expect(1 in back).toBe(false);
    expect(4 in back).toBe(false);
    expect(difference(back, sparse)).toBeUndefined();
    expect(difference(roundTrip([undefined]), [undefined])).toBeUndefined();
    expect(0 in roundTrip([undefined])).toBe(true);
  });

  it('encodes a huge sparse array by its elements, not its length', () => {
    const sparse: unknown[] = [];
    sparse.length = 4_000_000_000;
    sparse[3] = 'a';
    sparse[3_999_999_998] = 'b';
    const bytes = defaultCodec.encode(sparse);
    expect(bytes.length).toBeLessThan(40);
    const back = defaultCodec.decode(bytes) as unknown[];
    expect(back.length).toBe(4_000_000_000);
    expect(Object.keys(back)).toEqual(['3', '3999999998']);
    expect(back[3_999_999_998]).toBe('b');
  });

  it('plain objects with undefined fields and odd keys, in key order', () => {
    expectExact({ a: 1, b: undefined, '': 'empty key', 'with space': true, 2: 'index-like', 'é': 'é' });
  });

  it('objects with a null prototype come back with a null prototype', () => {
    const value = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1, nested: Object.create(null) as object });
    const back = roundTrip(value);
    expect(Object.getPrototypeOf(back)).toBeNull();
    expect(Object.getPrototypeOf(back.nested)).toBeNull();
    expect(difference(back, value)).toBeUndefined();
  });

  it('__proto__, constructor and prototype are plain own data and never pollute', () => {
    const value = JSON.parse('{"__proto__": {"polluted": "yes"}, "constructor": {"prototype": {"polluted": "yes"}}, "prototype": 1}') as Record<string, unknown>;
    expect(Object.keys(value)).toEqual(['__proto__', 'constructor', 'prototype']);
    const back = roundTrip(value);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.hasOwn(back, '__proto__')).toBe(true);
    expect(Object.keys(back)).toEqual(['__proto__', 'constructor', 'prototype']);
    expect(Object.getOwnPropertyDescriptor(back, '__proto__')?.value).toEqual({ polluted: 'yes' });
    expect((back as { polluted?: unknown }).polluted).toBeUndefined();
    expect(difference(back, value)).toBeUndefined();

    const nullProto = Object.create(null) as Record<string, unknown>;
    nullProto.__proto__ = { polluted: 'yes' };
    const backNull = roundTrip(nullProto);
    expect(Object.getPrototypeOf(backNull)).toBeNull();
    expect(Object.hasOwn(backNull, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('keys shadowing Object.prototype methods stay own data properties', () => {
    const value = { toString: 'not a function', hasOwnProperty: 1, valueOf: null };
    const back = roundTrip(value);
    expect(Object.getOwnPropertyDescriptor(back, 'toString')).toEqual({ value: 'not a function', writable: true, enumerable: true, configurable: true });
    expect(difference(back, value)).toBeUndefined();
  });

  it('Map with keys of any type, in insertion order', () => {
    const objectKey = { id: 1 };
    const map = new Map<unknown, unknown>([
      ['b', 1],
      [1, 'number key'],
      [objectKey, 'object key'],
      [NaN, 'nan key'],
      [-0, 'zero'],
      [10n, 'bigint key'],
      [undefined, null],
      [new Date(0), new Map([[1, new Set([1])]])],
    ]);
    const back = roundTrip(map);
    expect([...back.values()]).toEqual([...map.values()]);
    expect(difference(back, map)).toBeUndefined();
  });

  it('Set in insertion order', () => {
    expectExact(new Set(['z', 'a', 1, { x: 1 }, [2], undefined, NaN]));
    expectExact(new Set());
  });

  it('Dates, including an invalid Date and the extremes', () => {
    expectExact(new Date('2024-02-29T12:34:56.789Z'));
    expectExact(new Date(NaN));
    expectExact(new Date(8.64e15));
    expectExact(new Date(-8.64e15));
    expectExact(new Date(-1));
    expect(roundTrip(new Date(NaN))).toBeInstanceOf(Date);
  });

  it('RegExp keeps source, flags and lastIndex', () => {
    const re = /a(?<name>b+)\/c/dgimsuy;
    re.lastIndex = 7;
    const back = roundTrip(re);
    expect(back).toBeInstanceOf(RegExp);
    expect(back.source).toBe(re.source);
    expect(back.flags).toBe(re.flags);
    expect(back.lastIndex).toBe(7);
    expectExact(new RegExp(''));
  });

  it('Buffer comes back as a Buffer, and a Uint8Array as a Uint8Array', () => {
    const buffer = Buffer.from('hello buffer');
    const backBuffer = roundTrip(buffer);
    expect(Buffer.isBuffer(backBuffer)).toBe(true);
    expect(backBuffer.toString()).toBe('hello buffer');
    const u8 = new Uint8Array([1, 2, 3]);
    const backU8 = roundTrip(u8);
    expect(Buffer.isBuffer(backU8)).toBe(false);
    expect(Object.getPrototypeOf(backU8)).toBe(Uint8Array.prototype);
    expectExact(buffer);
    expectExact(u8);
    expectExact(Buffer.alloc(0));
  });

  it.each([
    new Int8Array([-128, 0, 127]),
    new Uint8ClampedArray([0, 255]),
    new Int16Array([-32768, 32767]),
    new Uint16Array([0, 65535]),
    new Int32Array([-(2 ** 31), 2 ** 31 - 1]),
    new Uint32Array([0, 2 ** 32 - 1]),
    new Float32Array([1.5, NaN, -0, Infinity]),
    new Float64Array([Math.PI, NaN, -0, -Infinity]),
    new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n]),
    new BigUint64Array([0n, 2n ** 64n - 1n]),
  ])('typed array %s comes back as the same class', (value) => {
    const back = roundTrip(value);
    expect(Object.getPrototypeOf(back)).toBe(Object.getPrototypeOf(value));
    expect(difference(back, value)).toBeUndefined();
  });

  it('a view on a larger ArrayBuffer encodes only its own bytes', () => {
    const backing = new ArrayBuffer(1024);
    new Uint8Array(backing).fill(7);
    const view = new Int32Array(backing, 64, 3);
    view.set([1, -2, 3]);
    const bytes = defaultCodec.encode(view);
    expect(bytes.length).toBeLessThan(20);
    const back = roundTrip(view);
    expect(back.byteLength).toBe(12);
    expect([...back]).toEqual([1, -2, 3]);
    expect(back.buffer.byteLength).toBe(12);
    // A pooled Buffer is a view on a shared 8 KiB slab.
    const pooled = Buffer.from('pooled');
    expect(defaultCodec.encode(pooled).length).toBeLessThan(12);
  });

  it('ArrayBuffer and DataView', () => {
    const buffer = new Uint8Array([9, 8, 7]).buffer;
    expectExact(buffer);
    expectExact(new DataView(new Uint8Array([1, 2, 3, 4]).buffer, 1, 2));
    expectExact(new ArrayBuffer(0));
  });

  it('decoded binary values never alias the input bytes', () => {
    const bytes = defaultCodec.encode({ b: Buffer.from([1, 2, 3]), u: new Uint16Array([5]) });
    const back = defaultCodec.decode(bytes) as { b: Buffer; u: Uint16Array };
    bytes.fill(0);
    expect([...back.b]).toEqual([1, 2, 3]);
    expect([...back.u]).toEqual([5]);
  });

  it('Decimal values exactly', () => {
    for (const text of ['1234.56', '-0.000001', '0', '-0', 'NaN', 'Infinity', '-Infinity', '1e+9000000000000000', `0.${'9'.repeat(500)}`, `-${'1234567890'.repeat(60)}`]) {
      const decimal = new DecimalClass(text);
      const back = roundTrip(decimal);
      expect(back).toBeInstanceOf(DecimalClass);
      expect(back.toString()).toBe(decimal.toString());
      expect(back.isNegative()).toBe(decimal.isNegative());
      expect(difference(back, decimal)).toBeUndefined();
    }
  });

  it('a nested structure of everything', () => {
    const value = {
      id: 123,
      name: 'alice',
      active: true,
      balance: new DecimalClass('1234.56'),
      at: new Date(1_700_000_000_000),
      tags: ['a', 'b'],
      nested: {
        map: new Map<unknown, unknown>([[{ k: 1 }, new Set([new DecimalClass('-0'), 2n ** 70n])]]),
        bytes: [Buffer.from('x'), new Float32Array([0.5]), new ArrayBuffer(2)],
        pattern: /x/g,
        none: undefined,
      },
    };
    expectExact(value);
  });

  it('accepts plain objects and arrays from another realm, returning this realm\'s', () => {
    const foreign = vm.runInNewContext('({ list: [1, { deep: true }], n: null })') as { list: unknown[] };
    expect(Object.getPrototypeOf(foreign)).not.toBe(Object.prototype);
    const back = roundTrip(foreign);
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.getPrototypeOf(back.list)).toBe(Array.prototype);
    expect(back).toEqual({ list: [1, { deep: true }], n: null });
  });

  it('shared references are duplicated, not preserved', () => {
    const shared = { n: 1 };
    const back = roundTrip({ a: shared, b: shared });
    expect(back.a).toEqual(shared);
    expect(back.a).not.toBe(back.b);
  });

  it(`nests up to ${MAX_DEPTH} levels`, () => {
    let value: unknown = 'leaf';
    for (let i = 0; i < MAX_DEPTH; i++) value = i % 2 === 0 ? [value] : { v: value };
    expectExact(value);
  });

  it('reads values from a Buffer or a view at an offset', () => {
    const bytes = defaultCodec.encode({ a: [1, 2.5, 'x'] });
    const framed = Buffer.concat([Buffer.from([0xff, 0xff, 0xff]), bytes, Buffer.from([0xee])]);
    const view = framed.subarray(3, 3 + bytes.length);
    expect(defaultCodec.decode(view)).toEqual({ a: [1, 2.5, 'x'] });
    expect(defaultCodec.decode(new Uint8Array(view))).toEqual({ a: [1, 2.5, 'x'] });
  });
});

describe('codec format', () => {
  it('starts with the format version byte', () => {
    expect(defaultCodec.encode(null)[0]).toBe(FORMAT_VERSION);
  });

  it('is compact for small values', () => {
    expect(defaultCodec.encode(undefined).length).toBe(2);
    expect(defaultCodec.encode(5).length).toBe(2);
    expect(defaultCodec.encode('abc').length).toBe(6);
    // A plain object is its JSON text after two bytes.
    expect(defaultCodec.encode({ id: 123, name: 'alice' }).length).toBe(2 + '{"id":123,"name":"alice"}'.length);
  });

  it('is deterministic and returns a fresh right-sized copy each time', () => {
    const value = { a: [1, 2, { b: new Map([[1, new DecimalClass('1.5')]]) }], c: 'x'.repeat(100) };
    const first = defaultCodec.encode(value);
    const second = defaultCodec.encode(value);
    expect(first).not.toBe(second);
    expect(first.buffer).not.toBe(second.buffer);
    expect(first.byteLength).toBe(first.buffer.byteLength);
    expect(hex(first)).toBe(hex(second));
    expect(hex(createCodec().encode(value))).toBe(hex(first));
    expect(hex(defaultCodec.encode(defaultCodec.decode(first)))).toBe(hex(first));
  });

  it('encodes every NaN the same way', () => {
    const otherNaN = new Float64Array(new Uint32Array([1, 0x7ff80000]).buffer)[0]!;
    expect(Number.isNaN(otherNaN)).toBe(true);
    expect(hex(defaultCodec.encode(otherNaN))).toBe(hex(defaultCodec.encode(NaN)));
  });

  it('keeps working after a large value (scratch buffer regrows and shrinks)', () => {
    const big = 'z'.repeat(3 * 1024 * 1024);
    expect(roundTrip(big)).toBe(big);
    expect(roundTrip({ small: true })).toEqual({ small: true });
  });
});

describe('codec format: the JSON form', () => {
  const JSON_TAG = 0x19;
  const text = (bytes: Uint8Array) => Buffer.from(bytes.subarray(2)).toString('utf8');

  it('writes plain data as its JSON text, and reads it back exactly', () => {
    const value = { id: 7, name: 'Zoë 🦊 \ufffd', ratio: 0.1 + 0.2, big: 2 ** 60, tiny: 5e-324, list: [1, 'two', null, true, { deep: [[]] }], empty: {} };
    const bytes = defaultCodec.encode(value);
    expect([bytes[0], bytes[1]]).toEqual([FORMAT_VERSION, JSON_TAG]);
    expect(text(bytes)).toBe(JSON.stringify(value));
    expect(defaultCodec.decode(bytes)).toEqual(value);
    expectExact(value);
  });

  it('keeps lone surrogates, __proto__ keys and integer-like keys exact', () => {
    const value = JSON.parse('{"__proto__":{"x":1},"2":"b","1":"a","s":"\\ud800 and \\udfff"}') as Record<string, unknown>;
    expect(value.s).toBe('\ud800 and \udfff');
    const back = roundTrip<Record<string, unknown>>(value);
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.keys(back)).toEqual(['1', '2', '__proto__', 's']);
    expect(back.s).toBe(value.s);
    expect(Object.getOwnPropertyDescriptor(back, '__proto__')?.value).toEqual({ x: 1 });
  });

  it.each([
    ['-0 inside', { n: -0 }],
    ['NaN inside', [NaN]],
    ['Infinity inside', { n: Infinity }],
    ['an undefined property', { a: 1, b: undefined }],
    ['an undefined element', [1, undefined]],
    // eslint-disable-next-line no-sparse-arrays -- the hole is the case
    ['a hole', [1, , 3]],
    ['a Date deep inside', { at: [{ when: new Date(0) }] }],
    ['a bigint', { n: 1n }],
    ['a Map', { m: new Map([[1, 2]]) }],
    ['a null-prototype object', Object.assign(Object.create(null) as object, { a: 1 })],
  ])('takes the tagged form for %s, and brings it back exactly', (_, value) => {
    const bytes = defaultCodec.encode(value);
    expect(bytes[1]).not.toBe(JSON_TAG);
    expectExact(value);
  });

  it('takes the tagged form when the JSON text would not fit maxBytes but the tagged form does', () => {
    const value = { samples: Array.from({ length: 50 }, (_, i) => i * 1_000_003) };
    // The JSON form needs its text and two bytes; the tagged form of these integers is much smaller.
    const codec = createCodec({ maxBytes: JSON.stringify(value).length + 1 });
    const bytes = codec.encode(value);
    expect(bytes[1]).not.toBe(JSON_TAG);
    expect(bytes.length).toBeLessThan(JSON.stringify(value).length);
    expect(codec.decode(bytes)).toEqual(value);
  });

  it('still reads the tagged form of plain data that earlier versions wrote', () => {
    // { id: 123, name: 'alice' } as the tagged form writes it: object of 2, key "id", fixint 123, key "name", string.
    const tagged = Uint8Array.from([FORMAT_VERSION, 0x0d, 2, 4, 0x69, 0x64, 0x80 | 123, 8, 0x6e, 0x61, 0x6d, 0x65, 0x0a, 10, 0x61, 0x6c, 0x69, 0x63, 0x65]);
    expect(defaultCodec.decode(tagged)).toEqual({ id: 123, name: 'alice' });
  });

  it('refuses corrupt JSON text with a DecodeError, naming the key', () => {
    const good = defaultCodec.encode({ a: [1, 2] });
    for (const bad of [good.subarray(0, good.length - 1), Uint8Array.from([...good, 0x20, 0x31]), Uint8Array.from([FORMAT_VERSION, JSON_TAG, 0x7b, 0xff, 0x7d]), Uint8Array.from([FORMAT_VERSION, JSON_TAG])]) {
      expect(() => defaultCodec.decode(bad, 'k:1')).toThrow(/k:1/);
      expect(() => defaultCodec.decode(bad)).toThrow(DecodeError);
    }
  });

  it('does not let a patched toJSON change what is stored', () => {
    const proto = Object.prototype as { toJSON?: () => unknown };
    proto.toJSON = () => 'patched';
    try {
      expect(roundTrip({ a: { b: 1 } })).toEqual({ a: { b: 1 } });
    } finally {
      delete proto.toJSON;
    }
  });

  it('walks a value sharing one object many times in bounded time, then refuses it by size', () => {
    let value: unknown = { leaf: 'x'.repeat(50) };
    for (let i = 0; i < 60; i++) value = { l: value, r: value };
    const started = performance.now();
    expect(() => defaultCodec.encode(value)).toThrow(/maxBytes/);
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
