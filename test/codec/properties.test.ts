import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError } from '../../src/errors.js';
import { createCodec, FORMAT_VERSION, type CodecExtension } from '../../src/codec/index.js';
import { difference, hex, valueArb } from './helpers.js';

class Point {
  constructor(
    readonly x: unknown,
    readonly y: unknown,
  ) {}
}

const pointExtension: CodecExtension<Point> = {
  name: 'test.Point',
  test: (v): v is Point => v instanceof Point,
  encode: (p) => [p.x, p.y],
  decode: (data) => {
    const [x, y] = data as [unknown, unknown];
    return new Point(x, y);
  },
};

const codec = createCodec({ extensions: [pointExtension] });

/** Values that also hold extension values, with arbitrary payloads inside them. */
const withPoints = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    valueArb,
    fc.tuple(tie('value'), tie('value')).map(([x, y]) => new Point(x, y)),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string(), tie('value'), { maxKeys: 4 }),
  ),
})).value;

function decodesOrThrowsDecodeError(bytes: Uint8Array): void {
  try {
    codec.decode(bytes);
  } catch (error) {
    if (!(error instanceof DecodeError)) throw error;
  }
}

describe('codec properties', () => {
  it('decode(encode(v)) is v, exactly', () => {
    fc.assert(
      fc.property(withPoints, (value) => {
        const back = codec.decode(codec.encode(value));
        const diff = difference(back, value);
        if (diff !== undefined) throw new Error(diff);
      }),
      { numRuns: 1500 },
    );
  });

  it('encoding is deterministic, and stable through a round trip', () => {
    fc.assert(
      fc.property(withPoints, (value) => {
        const first = codec.encode(value);
        expect(hex(codec.encode(value))).toBe(hex(first));
        expect(hex(codec.encode(codec.decode(first)))).toBe(hex(first));
        expect(hex(createCodec({ extensions: [pointExtension] }).encode(value))).toBe(hex(first));
      }),
      { numRuns: 500 },
    );
  });

  it('random bytes decode to a value or throw DecodeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (bytes, withVersion) => {
        if (withVersion && bytes.length > 0) bytes[0] = FORMAT_VERSION;
        decodesOrThrowsDecodeError(bytes);
      }),
      { numRuns: 5000 },
    );
  });

  it('truncated and mutated encodings decode to a value or throw DecodeError', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
    );
    fc.assert(
      fc.property(withPoints, fc.array(mutation, { minLength: 1, maxLength: 4 }), (value, mutations) => {
        let bytes = Array.from(codec.encode(value));
        for (const m of mutations) {
          const at = bytes.length === 0 ? 0 : m.at % bytes.length;
          if (m.kind === 'truncate') bytes = bytes.slice(0, at);
          else if (m.kind === 'flip') bytes[at] = m.byte;
          else if (m.kind === 'insert') bytes.splice(at, 0, m.byte);
          else bytes.splice(at, 1);
        }
        decodesOrThrowsDecodeError(Uint8Array.from(bytes));
      }),
      { numRuns: 3000 },
    );
  });

  it('every strict prefix of an encoding is rejected', () => {
    fc.assert(
      fc.property(withPoints, (value) => {
        const bytes = codec.encode(value);
        for (let cut = 0; cut < Math.min(bytes.length, 64); cut++) {
          expect(() => codec.decode(bytes.subarray(0, cut))).toThrow(DecodeError);
        }
      }),
      { numRuns: 300 },
    );
  });
});
