import { describe, expect, it } from 'vitest';
import { DecodeError, isCacheError } from '../../src/errors.js';
import { createCodec, defaultCodec, FORMAT_VERSION, MAX_DEPTH } from '../../src/codec/index.js';

const V = FORMAT_VERSION;

function decodeError(bytes: Uint8Array | number[], key?: string): DecodeError {
  try {
    defaultCodec.decode(bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes), key);
  } catch (error) {
    expect(error).toBeInstanceOf(DecodeError);
    expect(isCacheError(error)).toBe(true);
    return error as DecodeError;
  }
  throw new Error('expected decode to throw');
}

/** LEB128, for hand-made inputs. */
function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 128) {
    out.push((n % 128) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

describe('codec decode of bad input', () => {
  it('rejects empty input and non-bytes', () => {
    expect(decodeError([]).message).toContain('empty');
    expect(() => defaultCodec.decode('abc' as unknown as Uint8Array)).toThrow(DecodeError);
    expect(() => defaultCodec.decode(null as unknown as Uint8Array)).toThrow(DecodeError);
  });

  it('names an unknown format version', () => {
    const error = decodeError([7, 0x01], 'user:1');
    expect(error.message).toContain('version 7');
    expect(error.message).toContain('"user:1"');
    expect(error.key).toBe('user:1');
    expect(error.code).toBe('E_DECODE');
  });

  it('rejects truncated input', () => {
    const bytes = defaultCodec.encode({ a: [1, 'two', 3.5, 10n ** 30n], d: new Date(0) });
    for (let cut = 0; cut < bytes.length; cut++) {
      expect(() => defaultCodec.decode(bytes.subarray(0, cut))).toThrow(DecodeError);
    }
    expect(decodeError(bytes.subarray(0, bytes.length - 1)).message).toMatch(/truncated/);
  });

  it('rejects trailing garbage', () => {
    const bytes = [...defaultCodec.encode('ok'), 0x00];
    expect(decodeError(bytes).message).toMatch(/trailing/);
  });

  it('rejects unknown type tags', () => {
    expect(decodeError([V, 0x7f]).message).toContain('unknown type tag 0x7f');
    // A hole marker outside an array is not a value.
    expect(decodeError([V, 0x0c, 1]).message).toContain('unknown type tag');
  });

  it('rejects unknown extension names and references', () => {
    const name = [...Buffer.from('acme.Nope')];
    const error = decodeError([V, 0x17, name.length * 2, ...name, 0x80], 'k');
    expect(error.message).toContain('unknown extension "acme.Nope"');
    expect(decodeError([V, 0x18, 0, 0x80]).message).toContain('unknown extension reference 0');
  });

  it('rejects bad UTF-8 without substituting replacement characters', () => {
    for (const body of [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0x61, 0x80], [...Buffer.from('x'.repeat(40)), 0xfe]]) {
      expect(decodeError([V, 0x0a, body.length * 2, ...body]).message).toContain('not valid UTF-8');
    }
    // UTF-16 bodies must have an even length.
    expect(decodeError([V, 0x0a, 3 * 2 + 1, 1, 2, 3]).message).toContain('odd');
  });

  it('rejects absurd lengths before allocating', () => {
    const huge = varint(2 ** 52);
    for (const tag of [0x0a, 0x08, 0x13, 0x14, 0x15]) {
      const error = decodeError([V, tag, ...huge]);
      expect(error.message).toMatch(/claims \d+ bytes but only 0 remain/);
    }
    expect(decodeError([V, 0x16, 1, ...huge]).message).toMatch(/claims/);
    for (const tag of [0x0d, 0x0e, 0x0f, 0x10]) {
      expect(decodeError([V, tag, ...huge]).message).toMatch(/claims \d+ entries/);
    }
    expect(decodeError([V, 0x0b, ...varint(2 ** 40)]).message).toMatch(/longer than 2\^32 - 1/);
    // An 8-byte varint above 2^53 - 1, and a varint that never ends.
    expect(decodeError([V, 0x04, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]).message).toMatch(/2\^53/);
    expect(decodeError([V, 0x04, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]).message).toMatch(/2\^53/);
  });

  it('decodes a huge hole run without allocating, and rejects runs that overflow the array', () => {
    const sparse = defaultCodec.decode(Uint8Array.from([V, 0x0b, ...varint(2 ** 32 - 1), 0x0c, ...varint(2 ** 32 - 1)])) as unknown[];
    expect(sparse.length).toBe(2 ** 32 - 1);
    expect(Object.keys(sparse)).toEqual([]);
    expect(decodeError([V, 0x0b, 2, 0x0c, 3]).message).toContain('holes');
    expect(decodeError([V, 0x0b, 2, 0x0c, 0]).message).toContain('holes');
  });

  it('rejects excessive depth without overflowing the stack', () => {
    const deep = new Uint8Array(1 + 2 * 100_000);
    deep[0] = V;
    for (let i = 0; i < 100_000; i++) {
      deep[1 + 2 * i] = 0x0b;
      deep[2 + 2 * i] = 1;
    }
    expect(decodeError(deep).message).toContain(`deeper than ${MAX_DEPTH}`);
  });

  it('rejects invalid Dates, RegExps and typed array sizes', () => {
    expect(decodeError([V, 0x11, 0x0a, 0]).message).toContain('Date');
    expect(decodeError([V, 0x11, 0x06, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f]).message).toContain('Date');
    expect(decodeError([V, 0x11, 0x04, ...varint(8.64e15 + 1)]).message).toContain('Date');
    expect(decodeError([V, 0x12, 2, 0x28, 0, 0x80]).message).toContain('RegExp');
    expect(decodeError([V, 0x12, 2, 0x61, 2, 0x51, 0x80]).message).toContain('RegExp');
    expect(decodeError([V, 0x16, 99, 0]).message).toContain('typed array kind 99');
    expect(decodeError([V, 0x16, 5, 3, 1, 2, 3]).message).toContain('multiple of 4');
  });

  it('rejects malformed Decimal payloads', () => {
    const name = [...Buffer.from('Decimal')];
    const payload = (text: string) => [0x0a, text.length * 2, ...Buffer.from(text)];
    for (const text of ['0x1f', '1.50e+0', 'abc', '', '1e+99999999999999999999']) {
      const error = decodeError([V, 0x17, name.length * 2, ...name, ...payload(text)]);
      expect(error.message).toContain('extension "Decimal"');
      expect(error.cause).toBeDefined();
    }
    expect(decodeError([V, 0x17, name.length * 2, ...name, 0x80]).message).toContain('Decimal');
  });

  it('never throws anything but DecodeError, even from an extension decode that throws a non-error', () => {
    const codec = createCodec({
      extensions: [
        {
          name: 'x',
          test: (_value): _value is never => false,
          encode: () => null,
          decode: () => {
            // eslint-disable-next-line @typescript-eslint/only-throw-error
            throw 'raw string';
          },
        },
      ],
    });
    expect(() => codec.decode(Uint8Array.from([V, 0x17, 2, 0x78, 0x01]))).toThrow(DecodeError);
    expect(() => codec.decode(Uint8Array.from([V, 0x17, 2, 0x78, 0x01]))).toThrow(/raw string/);
  });
});
