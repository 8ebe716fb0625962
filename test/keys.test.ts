import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidKeyError } from '../src/errors.js';
import { buildKey, canonicalJson, escapeSegment, paramsHash, unescapeSegment } from '../src/keys/index.js';
import { assertStoreKey, assertStoreKeys, assertValidKey, isWellFormedKey, loneSurrogateIndex } from '../src/keys/validate.js';

/** The error `run` throws, or undefined. */
function thrown(run: () => void): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('paramsHash', () => {
  it('matches the hash the Python services compute with json.dumps(sort_keys=True)', () => {
    // Reference values printed by python3: hashlib.md5(json.dumps(p, sort_keys=True).encode()).hexdigest()[:8]
    expect(paramsHash({ window_months: 3, trend_sensitivity: 0.1, include_weekends: false })).toBe('a2d36ec3');
    expect(paramsHash({ b: [1, 2, { z: null, a: 'é' }], a: 'x' })).toBe('abc2e864');
  });

  it('ignores parameter order at every depth', () => {
    const a = paramsHash({ x: 1, nested: { b: 2, a: [1, { d: 4, c: 3 }] } });
    const b = paramsHash({ nested: { a: [1, { c: 3, d: 4 }], b: 2 }, x: 1 });
    expect(a).toBe(b);
    expect(a).toMatch(/^[0-9a-f]{8}$/);
  });

  it('tells different parameters apart', () => {
    expect(paramsHash({ a: 1 })).not.toBe(paramsHash({ a: '1' }));
    expect(paramsHash({ a: [1, 2] })).not.toBe(paramsHash({ a: [2, 1] }));
  });

  it('writes Dates and BigInts explicitly and refuses what it cannot hash', () => {
    expect(canonicalJson({ at: new Date(0), n: 10n ** 20n })).toBe('{"at": "1970-01-01T00:00:00.000Z", "n": 100000000000000000000}');
    expect(() => paramsHash({ f: () => 1 })).toThrow(/params \$\.f cannot be hashed: function/);
    expect(() => paramsHash({ n: Number.NaN })).toThrow(TypeError);
  });
});

describe('buildKey', () => {
  it('fills named and positional placeholders and applies a prefix', () => {
    expect(buildKey('user:{userId}', { userId: '123' })).toBe('user:123');
    expect(buildKey('items:{0}:{1}', ['category', 'page1'])).toBe('items:category:page1');
    expect(buildKey('user:{id}', { id: '123' }, { prefix: 'v2:' })).toBe('v2:user:123');
    expect(buildKey('n:{a}:{b}', { a: 7, b: true })).toBe('n:7:true');
  });

  it('escapes values so an id cannot forge another key or widen a pattern', () => {
    expect(buildKey('user:{id}:profile', { id: 'a:b' })).toBe('user:a%3Ab:profile');
    expect(buildKey('user:{id}', { id: '*' })).toBe('user:%2A');
    expect(buildKey('user:{id}', { id: '10%?[x]' })).toBe('user:10%25%3F%5Bx%5D');
  });

  it('names the placeholder that is missing or of the wrong type', () => {
    expect(() => buildKey('user:{userId}', {})).toThrow(/needs a value for \{userId\}/);
    expect(() => buildKey('user:{userId}', { userId: { id: 1 } })).toThrow(/\{userId\} must be a string/);
    expect(() => buildKey('x:{0}', [Number.POSITIVE_INFINITY])).toThrow(/\{0\} must be finite/);
  });
});

describe('escapeSegment', () => {
  it('round-trips any text', () => {
    for (const s of ['plain', 'a:b*c?d[e]f\\g%h', '%3A', '']) expect(unescapeSegment(escapeSegment(s))).toBe(s);
    expect(escapeSegment('plain')).toBe('plain');
  });
});

describe('assertValidKey', () => {
  it('refuses empty, too long, non-string and control-character keys with InvalidKeyError', () => {
    expect(() => assertValidKey('')).toThrow(InvalidKeyError);
    expect(() => assertValidKey('x'.repeat(1025))).toThrow(/1025 characters long; the limit is 1024/);
    expect(() => assertValidKey('a\nb')).toThrow(/U\+000a at index 1/);
    expect(() => assertValidKey(42)).toThrow(/must be a string, got number/);
    expect(() => assertValidKey('fine:key ✓')).not.toThrow();
  });
});

describe('assertValidKey: C1 controls', () => {
  it('refuses U+0080..U+009F like the other control characters, naming the code unit and its index', () => {
    expect(() => assertValidKey('a\u0080b')).toThrow(/control character U\+0080 at index 1/);
    expect(() => assertValidKey('next\u0085line')).toThrow(/control character U\+0085 at index 4/);
    expect(() => assertValidKey('\u009f')).toThrow(/control character U\+009f at index 0/);
    expect(() => assertValidKey('x\u007f')).toThrow(/control character U\+007f at index 1/);
    expect(() => assertValidKey('k:\u0085')).toThrow(InvalidKeyError);
    // Written escaped, so the message shows what is wrong instead of carrying the invisible character itself.
    expect(() => assertValidKey('k:\u0085')).toThrow('key "k:\\u0085" contains the control character U+0085 at index 2');
    expect(() => assertValidKey('k:\u007f')).toThrow('key "k:\\u007f" contains the control character U+007f at index 2');
  });

  it('accepts the printable characters on either side of the C1 block', () => {
    for (const key of ['~', 'no\u00a0break', '\u00ff', 'ünï©ødé ✓', 'fx:€']) expect(() => assertValidKey(key), key).not.toThrow();
  });
});

describe('assertValidKey: well-formed Unicode', () => {
  it('refuses a high surrogate that no low one follows, naming the code unit and its index', () => {
    expect(() => assertValidKey('k:\uD800')).toThrow(/lone high surrogate U\+d800 at index 2; keys must be well-formed Unicode/);
    expect(() => assertValidKey('abc\uD83D')).toThrow(/lone high surrogate U\+d83d at index 3/);
    expect(() => assertValidKey('\uD800\uD800\uDC00')).toThrow(/lone high surrogate U\+d800 at index 0/);
    expect(() => assertValidKey('\uDBFFx')).toThrow(/lone high surrogate U\+dbff at index 0/);
  });

  it('refuses a low surrogate that no high one precedes', () => {
    expect(() => assertValidKey('k:\uDC00')).toThrow(/lone low surrogate U\+dc00 at index 2/);
    expect(() => assertValidKey('😀\uDE00')).toThrow(/lone low surrogate U\+de00 at index 2/);
    expect(() => assertValidKey('\uDFFF')).toThrow(/lone low surrogate U\+dfff at index 0/);
  });

  it('accepts surrogate pairs anywhere in the key', () => {
    for (const key of ['😀', 'k:😀', 'k:😀😁x', '\u{10000}', '\u{10FFFF}', 'a\uD83D\uDE00b', '𝔘𝔫𝔦']) {
      expect(() => assertValidKey(key), JSON.stringify(key)).not.toThrow();
    }
  });

  it('raises an InvalidKeyError with its code, the key, and the name of what was checked', () => {
    const error = thrown(() => assertValidKey('t:\uD801', 256, 'tag'));
    expect(error).toBeInstanceOf(InvalidKeyError);
    expect((error as InvalidKeyError).code).toBe('E_INVALID_KEY');
    expect((error as InvalidKeyError).key).toBe('t:\uD801');
    expect((error as InvalidKeyError).message).toBe('tag "t:\\ud801" contains a lone high surrogate U+d801 at index 2; keys must be well-formed Unicode');
  });

  it('keeps the key attached to a too-long error well-formed, even when the cut falls inside a pair', () => {
    const key = 'a'.repeat(63) + '😀'.repeat(600);
    const error = thrown(() => assertValidKey(key)) as InvalidKeyError;
    expect(error.message).toMatch(/1263 characters long; the limit is 1024/);
    expect(error.key).toBe('a'.repeat(63) + '…');
    expect(isWellFormedKey(error.key)).toBe(true);
  });

  it('agrees with String#isWellFormed and the control ranges on arbitrary code units', () => {
    const unit = fc.oneof(
      fc.integer({ min: 0x20, max: 0x7e }),
      fc.integer({ min: 0, max: 0xa0 }),
      fc.integer({ min: 0xd800, max: 0xdfff }),
      fc.integer({ min: 0, max: 0xffff }),
    ).map((code) => String.fromCharCode(code));
    fc.assert(
      fc.property(fc.string({ unit, minLength: 1, maxLength: 12 }), (key) => {
        // The engine's own check is the oracle; the ES2023 lib this project compiles against does not declare it.
        const wellFormed = (key as unknown as { isWellFormed(): boolean }).isWellFormed();
        // eslint-disable-next-line no-control-regex -- the ranges under test
        const expected = wellFormed && !/[\u0000-\u001f\u007f-\u009f]/.test(key);
        expect(thrown(() => assertValidKey(key)) === undefined).toBe(expected);
        expect(isWellFormedKey(key)).toBe(wellFormed);
        expect(loneSurrogateIndex(key) === -1).toBe(wellFormed);
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('the store key check', () => {
  it('refuses a lone surrogate with an InvalidKeyError that names the store and the index', () => {
    const error = thrown(() => assertStoreKey('redis', 'k:\uD800'));
    expect(error).toBeInstanceOf(InvalidKeyError);
    expect((error as InvalidKeyError).message).toBe('redis: key "k:\\ud800" contains a lone surrogate U+d800 at index 2; keys must be well-formed Unicode');
    expect(() => assertStoreKey('redis', 'user_\uDC00', 'prefix')).toThrow(/^redis: prefix "user_\\udc00" contains a lone surrogate U\+dc00 at index 5/);
    expect(() => assertStoreKey('file', 42)).toThrow(/^file: key must be a string, got number/);
  });

  it('leaves length and control characters to the core: a store takes any well-formed string', () => {
    for (const key of ['', 'a\nb', 'a\u0085', 'k'.repeat(5000), '😀']) expect(() => assertStoreKey('sqlite', key)).not.toThrow();
  });

  it('checks every key of a batch', () => {
    expect(() => assertStoreKeys('memcached', ['a', 'b', 'c\uDFFF'])).toThrow(/^memcached: key "c\\udfff"/);
    expect(() => assertStoreKeys('memcached', [])).not.toThrow();
  });

  it('tells where the first lone surrogate is', () => {
    expect(loneSurrogateIndex('plain')).toBe(-1);
    expect(loneSurrogateIndex('😀\uD800😀')).toBe(2);
    expect(loneSurrogateIndex('ab\uDC00\uD800')).toBe(2);
    expect(isWellFormedKey('k:😀')).toBe(true);
    expect(isWellFormedKey('k:\uD83D')).toBe(false);
    expect(isWellFormedKey(7)).toBe(false);
  });
});
