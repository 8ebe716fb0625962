import { describe, expect, it } from 'vitest';
import { createCodec, DEFAULT_MAX_BYTES, type CodecExtension, type CodecOptions } from '../../src/codec/index.js';

const valid: CodecExtension = { name: 'ok', test: (_value): _value is never => false, encode: () => null, decode: () => null };

function bad(options: unknown): () => void {
  return () => createCodec(options as CodecOptions);
}

describe('createCodec options', () => {
  it('defaults maxBytes to 8 MiB', () => {
    expect(DEFAULT_MAX_BYTES).toBe(8 * 1024 * 1024);
    expect(() => createCodec()).not.toThrow();
    expect(() => createCodec({})).not.toThrow();
  });

  it.each([0, -1, NaN, Infinity, '100', null])('rejects maxBytes %s with a TypeError naming the option', (maxBytes) => {
    expect(bad({ maxBytes })).toThrow(TypeError);
    expect(bad({ maxBytes })).toThrow(/options\.maxBytes/);
  });

  it('rejects extensions that are not a list of complete extensions', () => {
    expect(bad({ extensions: valid })).toThrow(/options\.extensions must be an array/);
    expect(bad({ extensions: [null] })).toThrow(/options\.extensions\[0\] must be an object/);
    expect(bad({ extensions: [{ ...valid, name: '' }] })).toThrow(/options\.extensions\[0\]\.name/);
    expect(bad({ extensions: [valid, { ...valid, name: 'x', test: undefined }] })).toThrow(/options\.extensions\[1\]\.test/);
    expect(bad({ extensions: [{ ...valid, encode: 'no' }] })).toThrow(/options\.extensions\[0\]\.encode/);
    expect(bad({ extensions: [{ ...valid, decode: 1 }] })).toThrow(/options\.extensions\[0\]\.decode/);
    for (const extensions of [[null], [{ ...valid, name: '' }], [{ ...valid, decode: 1 }]]) {
      expect(bad({ extensions })).toThrow(TypeError);
    }
  });

  it('rejects duplicate extension names, including the built-in Decimal', () => {
    expect(bad({ extensions: [valid, { ...valid }] })).toThrow(/options\.extensions\[1\]\.name "ok" is used by more than one/);
    expect(bad({ extensions: [{ ...valid, name: 'Decimal' }] })).toThrow(/reserved/);
  });

  it('rejects a non-object options argument', () => {
    expect(bad(42)).toThrow(TypeError);
  });
});
