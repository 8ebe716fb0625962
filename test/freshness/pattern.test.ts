import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isCacheError, InvalidPatternError } from '../../src/errors.js';
import { compilePattern, MAX_PATTERN_LENGTH } from '../../src/freshness/pattern.js';

/** The glob by its definition, as a dynamic programme over code points: slow, obviously right. */
function reference(pattern: string, key: string): boolean {
  const p = Array.from(pattern);
  const k = Array.from(key);
  // row[j]: the pattern so far matches the first j code points of the key.
  let row = new Array<boolean>(k.length + 1).fill(false);
  row[0] = true;
  for (const token of p) {
    const next = new Array<boolean>(k.length + 1).fill(false);
    for (let j = 0; j <= k.length; j++) {
      if (token === '*') next[j] = row[j] === true || (j > 0 && next[j - 1] === true);
      else if (j > 0) next[j] = row[j - 1] === true && (token === '?' || token === k[j - 1]);
    }
    row = next;
  }
  return row[k.length] === true;
}

const HOSTILE = '*a*a*a*a*a*a*a*a*a*a*a*a*b';

function caught(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('compilePattern: matching', () => {
  it('agrees with the reference matcher on random keys and patterns (astral characters, backslashes, literal * and ? in keys)', () => {
    const patternChar = fc.constantFrom('a', 'b', '*', '?', '😀', '𝒳', '\\', ':');
    const keyChar = fc.constantFrom('a', 'b', '😀', '𝒳', '\\', ':', '*', '?');
    const pattern = fc.array(patternChar, { minLength: 1, maxLength: 12 }).map((chars) => chars.join(''));
    const key = fc.array(keyChar, { maxLength: 14 }).map((chars) => chars.join(''));
    fc.assert(
      fc.property(pattern, fc.array(key, { minLength: 1, maxLength: 8 }), (p, keys) => {
        const matcher = compilePattern(p);
        for (const k of keys) expect(matcher.test(k), `${JSON.stringify(p)} vs ${JSON.stringify(k)}`).toBe(reference(p, k));
      }),
      { numRuns: 3000 },
    );
  });

  it('agrees with the reference when keys are built to match (so the positive side is exercised too)', () => {
    // A key built from the pattern: each `*` becomes a random run, each `?` a random character.
    const filler = fc.constantFrom('a', 'b', '😀', '*', '?');
    const piece = fc.oneof(
      fc.constantFrom('a', 'b', '😀', '\\').map((c) => ({ p: c, k: fc.constant(c) })),
      fc.constant({ p: '?', k: filler }),
      fc.constant({ p: '*', k: fc.array(filler, { maxLength: 4 }).map((cs) => cs.join('')) }),
    );
    const built = fc
      .array(piece, { minLength: 1, maxLength: 10 })
      .chain((pieces) => fc.tuple(fc.constant(pieces.map((x) => x.p).join('')), fc.tuple(...pieces.map((x) => x.k)).map((ks) => ks.join(''))));
    fc.assert(
      fc.property(built, ([p, k]) => {
        expect(reference(p, k)).toBe(true);
        expect(compilePattern(p).test(k), `${JSON.stringify(p)} vs ${JSON.stringify(k)}`).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('counts a surrogate pair as one character for ?', () => {
    expect(compilePattern('?').test('😀')).toBe(true);
    expect(compilePattern('??').test('😀')).toBe(false);
    expect(compilePattern('a?c').test('a😀c')).toBe(true);
    expect(compilePattern('*?').test('😀')).toBe(true);
    expect(compilePattern('?*?').test('😀')).toBe(false);
    expect(compilePattern('*?x?*').test('😀x😀')).toBe(true);
  });

  it('treats a backslash, dots and brackets as ordinary characters', () => {
    expect(compilePattern('a\\*').test('a\\bc')).toBe(true);
    expect(compilePattern('a\\*').test('a*')).toBe(false);
    expect(compilePattern('a.c').test('abc')).toBe(false);
    expect(compilePattern('[ab]*').test('[ab]x')).toBe(true);
    expect(compilePattern('[ab]*').test('a')).toBe(false);
  });

  it('anchors both ends and does not let segments overlap', () => {
    expect(compilePattern('a*a').test('a')).toBe(false);
    expect(compilePattern('a*a').test('aa')).toBe(true);
    expect(compilePattern('ab*ba').test('aba')).toBe(false);
    expect(compilePattern('user:*').test('xuser:1')).toBe(false);
    expect(compilePattern('*:1').test('user:12')).toBe(false);
  });

  it('reports the literal prefix and whether the pattern is a plain prefix', () => {
    const cases: [string, string, boolean][] = [
      ['user:*', 'user:', true],
      ['user:**', 'user:', true],
      ['*', '', true],
      ['user:?*', 'user:', false],
      ['user:*:x', 'user:', false],
      ['user:1', 'user:1', false],
      ['*:x', '', false],
    ];
    for (const [pattern, prefix, plain] of cases) {
      const matcher = compilePattern(pattern);
      expect({ pattern: matcher.pattern, prefix: matcher.prefix, plainPrefix: matcher.plainPrefix }).toEqual({ pattern, prefix, plainPrefix: plain });
    }
  });

  it('matches the hostile pattern over 10,000 keys of 60 characters in bounded time', () => {
    const keys = Array.from({ length: 10_000 }, (_, i) => 'a'.repeat(54) + String(i).padStart(5, '0') + (i % 10 === 0 ? 'b' : 'c'));
    const matcher = compilePattern(HOSTILE);
    const started = performance.now();
    let matched = 0;
    for (const key of keys) if (matcher.test(key)) matched++;
    const elapsed = performance.now() - started;
    console.log(`hostile pattern over 10,000 keys of 60 characters: ${elapsed.toFixed(2)} ms`);
    expect(matched).toBe(1000);
    // The backtracking RegExp this replaced did not finish at all; real figures are well under 10 ms.
    expect(elapsed).toBeLessThan(250);
  });

  it('stays polynomial on the worst near-miss: a long ? segment sliding over a long key', () => {
    // Every start position compares about half the segment before failing: the key x pattern worst case.
    const key = 'a'.repeat(1024);
    const patterns = [`*${'a?'.repeat(256)}b*`, `*${'a'.repeat(512)}b*`, `*${'a?'.repeat((MAX_PATTERN_LENGTH - 3) / 2)}*b`.slice(0, MAX_PATTERN_LENGTH)];
    for (const pattern of patterns) {
      const matcher = compilePattern(pattern);
      const started = performance.now();
      for (let i = 0; i < 20; i++) expect(matcher.test(key)).toBe(false);
      const perKey = (performance.now() - started) / 20;
      console.log(`${pattern.length}-character pattern over a 1024-character near-miss key: ${(perKey * 1000).toFixed(0)} µs`);
      expect(perKey).toBeLessThan(50);
    }
  });
});

describe('compilePattern: refusals', () => {
  const refusals: [string, unknown, RegExp][] = [
    ['a number', 42, /must be a string, got number/],
    ['null', null, /must be a string, got null/],
    ['undefined', undefined, /must be a string, got undefined/],
    ['an array', ['a*'], /must be a string, got an array/],
    ['an empty string', '', /must not be empty/],
    ['one unit over the limit', 'a'.repeat(MAX_PATTERN_LENGTH + 1), new RegExp(`${MAX_PATTERN_LENGTH + 1} characters long; the limit is ${MAX_PATTERN_LENGTH}`)],
    ['a NUL', 'a\u0000*', /control character U\+0000 at index 1/],
    ['a unit separator', '*\u001f', /control character U\+001F at index 1/],
    ['DEL', 'x\u007f', /control character U\+007F at index 1/],
    ['a C1 control', 'x*\u0085', /control character U\+0085 at index 2/],
    ['the last C1 control', '\u009f', /control character U\+009F at index 0/],
    ['a lone high surrogate', 'a*\ud83d', /lone surrogate U\+D83D at index 2/],
    ['a lone low surrogate', '\ude00*', /lone surrogate U\+DE00 at index 0/],
    ['reversed surrogates', 'a\ude00\ud83d', /lone surrogate U\+DE00 at index 1/],
  ];
  for (const [what, pattern, message] of refusals) {
    it(`refuses ${what} with InvalidPatternError`, () => {
      const error = caught(() => compilePattern(pattern, 'pattern'));
      expect(error).toBeInstanceOf(InvalidPatternError);
      expect(isCacheError(error)).toBe(true);
      expect((error as InvalidPatternError).code).toBe('E_INVALID_PATTERN');
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).toMatch(/^pattern /);
    });
  }

  it('names the pattern as the caller asks', () => {
    expect(() => compilePattern('', 'invalidatePattern(pattern)')).toThrow(/^invalidatePattern\(pattern\) must not be empty/);
  });

  it('accepts exactly the limit, and refuses a 100,000-character pattern at once rather than with a SyntaxError', () => {
    expect(compilePattern('*'.repeat(MAX_PATTERN_LENGTH)).test('anything')).toBe(true);
    const started = performance.now();
    expect(() => compilePattern('*a'.repeat(50_000))).toThrow(InvalidPatternError);
    expect(performance.now() - started).toBeLessThan(50);
  });

  it('escapes control characters in messages', () => {
    const error = caught(() => compilePattern('ab\u0085'));
    expect((error as Error).message).toContain('"ab\\u0085"');
  });
});
