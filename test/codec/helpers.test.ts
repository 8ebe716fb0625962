import { describe, expect, it } from 'vitest';
import { deepEqualStrict } from './helpers.js';

// The round-trip tests are only as strict as this comparison, so check that it tells apart what the codec
// must keep apart.
describe('deepEqualStrict (test helper)', () => {
  it.each([
    ['0 and -0', 0, -0],
    ['undefined and null', undefined, null],
    ['1 and 1n', 1, 1n],
    // eslint-disable-next-line no-sparse-arrays
    ['hole and undefined', [, 1], [undefined, 1]],
    ['null prototype and Object', Object.create(null), {}],
    ['Buffer and Uint8Array', Buffer.from([1]), new Uint8Array([1])],
    ['Uint8Array and Int8Array', new Uint8Array([1]), new Int8Array([1])],
    ['Float64Array -0 and 0', new Float64Array([-0]), new Float64Array([0])],
    ['key order', { a: 1, b: 2 }, { b: 2, a: 1 }],
    ['Map order', new Map([[1, 1], [2, 2]]), new Map([[2, 2], [1, 1]])],
    ['Set order', new Set([1, 2]), new Set([2, 1])],
    ['RegExp lastIndex', Object.assign(/a/g, { lastIndex: 1 }), /a/g],
    ['invalid and valid Date', new Date(NaN), new Date(0)],
    ['missing undefined field', { a: undefined }, {}],
  ])('distinguishes %s', (_, a, b) => {
    expect(deepEqualStrict(a, b)).toBe(false);
    expect(deepEqualStrict(b, a)).toBe(false);
  });

  it('accepts equal structures', () => {
    expect(deepEqualStrict({ a: [1, NaN, new Map([[{}, new Set([-0])]])] }, { a: [1, NaN, new Map([[{}, new Set([-0])]])] })).toBe(true);
  });
});
