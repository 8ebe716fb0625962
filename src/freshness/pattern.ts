import { InvalidPatternError } from '../errors.js';

/**
 * Longest pattern accepted, in UTF-16 code units.
 *
 * Twice the default longest key (1024): a pattern that spells out a whole key still fits with room for the
 * namespace the cache puts in front of it and for a few wildcards. The bound also caps the worst case of
 * {@link PatternMatcher.test}, which is proportional to key length times pattern length.
 *
 * @default 2048
 */
export const MAX_PATTERN_LENGTH = 2048;

/** A compiled glob. Build one with {@link compilePattern}; `test` then costs no allocation. */
export interface PatternMatcher {
  /** The pattern as it was given. */
  readonly pattern: string;
  /** True when `key` matches the whole pattern. */
  test(key: string): boolean;
  /** Literal text before the first wildcard (`*` or `?`); the whole pattern when it has none. */
  readonly prefix: string;
  /**
   * True when the pattern is `literal*` with nothing else (runs of `*` count as one), so a key matches exactly
   * when it starts with {@link prefix}. `*` alone is a plain prefix with an empty `prefix`: callers that must
   * not touch every key check `prefix.length` too.
   */
  readonly plainPrefix: boolean;
}

/** Token for `?` in the compiled segments; every other token is a UTF-16 code unit (0..0xFFFF). */
const ANY_ONE = -1;
const STAR = 0x2a;
const QUESTION = 0x3f;

function isHigh(unit: number): boolean {
  return unit >= 0xd800 && unit <= 0xdbff;
}

function isLow(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
}

function describe(pattern: string): string {
  // JSON escapes C0 controls but not DEL or C1, which would otherwise reach the message raw.
  return JSON.stringify(pattern.length > 80 ? `${pattern.slice(0, 80)}…` : pattern).replace(/[\u007f-\u009f]/g, (char) => `\\u${hex(char.charCodeAt(0))}`);
}

function hex(unit: number): string {
  return unit.toString(16).toUpperCase().padStart(4, '0');
}

/** The engine marks its own keys (tag markers, dependency edges, the log) with U+0001; only stores list them. */
const INTERNAL_MARK = 0x01;

function assertValidPattern(pattern: unknown, what: string, internal: boolean): asserts pattern is string {
  if (typeof pattern !== 'string') {
    throw new InvalidPatternError(`${what} must be a string, got ${pattern === null ? 'null' : Array.isArray(pattern) ? 'an array' : typeof pattern}`);
  }
  if (pattern.length === 0) throw new InvalidPatternError(`${what} must not be empty`);
  // Checked before anything walks the text, so a huge pattern costs nothing.
  if (pattern.length > MAX_PATTERN_LENGTH) {
    throw new InvalidPatternError(`${what} is ${pattern.length} characters long; the limit is ${MAX_PATTERN_LENGTH}`);
  }
  for (let i = 0; i < pattern.length; i++) {
    const unit = pattern.charCodeAt(i);
    // C0, DEL and C1: no key holds them, and they break text protocols and log lines.
    if ((unit <= 0x1f && !(internal && unit === INTERNAL_MARK)) || (unit >= 0x7f && unit <= 0x9f)) {
      throw new InvalidPatternError(`${what} ${describe(pattern)} contains the control character U+${hex(unit)} at index ${i}`);
    }
    if (isHigh(unit) && i + 1 < pattern.length && isLow(pattern.charCodeAt(i + 1))) {
      i++;
    } else if (isHigh(unit) || isLow(unit)) {
      // A lone surrogate has no UTF-8 form: stores would see U+FFFD and match keys the caller never named.
      throw new InvalidPatternError(`${what} ${describe(pattern)} contains a lone surrogate U+${hex(unit)} at index ${i}`);
    }
  }
}

/**
 * The compiled form. The pattern is cut at `*` into segments of literals and `?`. The first segment is anchored
 * at the start of the key and the last at its end; each middle segment is taken at its leftmost match after
 * the previous one. Leftmost is always safe: every segment matches a fixed number of code points, so an earlier
 * match ends earlier and leaves the most room for what follows. No backtracking, so a key costs at most
 * key length x pattern length unit comparisons.
 */
class GlobMatcher implements PatternMatcher {
  readonly pattern: string;
  readonly prefix: string;
  readonly plainPrefix: boolean;
  /** Every segment's tokens, one after the other. */
  readonly #tokens: Int32Array;
  /** Segment `i` is `#tokens[#starts[i] .. #starts[i + 1])`. */
  readonly #starts: Int32Array;
  /** A segment's text when it holds no `?`, so the engine's own substring search can find it. */
  readonly #literals: readonly (string | undefined)[];
  /** Fewest code units a segment can match (a `?` takes one or two). */
  readonly #minUnits: Int32Array;
  readonly #hasStar: boolean;
  /** Fewest code units a matching key has. */
  readonly #minLength: number;

  constructor(pattern: string) {
    this.pattern = pattern;
    const tokens: number[] = [];
    const starts: number[] = [0];
    const literals: (string | undefined)[] = [];
    const minUnits: number[] = [];
    let literal: string | undefined = '';
    let units = 0;
    let stars = 0;
    let wildcards = 0;
    let firstWildcard = -1;
    for (let i = 0; i < pattern.length; i++) {
      const unit = pattern.charCodeAt(i);
      if (unit === STAR || unit === QUESTION) {
        wildcards++;
        if (firstWildcard === -1) firstWildcard = i;
      }
      if (unit === STAR) {
        stars++;
        // `**` means `*`: an empty middle segment would only cost a search that always succeeds.
        if (starts.length > 1 && tokens.length === starts[starts.length - 1]) continue;
        starts.push(tokens.length);
        literals.push(literal);
        minUnits.push(units);
        literal = '';
        units = 0;
        continue;
      }
      tokens.push(unit === QUESTION ? ANY_ONE : unit);
      literal = unit === QUESTION || literal === undefined ? undefined : literal + pattern[i];
      units++;
    }
    starts.push(tokens.length);
    literals.push(literal);
    minUnits.push(units);

    this.#tokens = Int32Array.from(tokens);
    this.#starts = Int32Array.from(starts);
    this.#literals = literals;
    this.#minUnits = Int32Array.from(minUnits);
    this.#hasStar = stars > 0;
    this.#minLength = tokens.length;
    this.prefix = firstWildcard === -1 ? pattern : pattern.slice(0, firstWildcard);
    this.plainPrefix = stars === wildcards && stars > 0 && /^[^*]*\*+$/.test(pattern);
  }

  test(key: string): boolean {
    if (key.length < this.#minLength) return false;
    const literals = this.#literals;
    const whole = literals[0];
    if (!this.#hasStar) {
      if (whole !== undefined) return key === whole;
      return this.#forward(key, 0, 0, key.length) === key.length;
    }
    const last = this.#starts.length - 2;

    let from: number;
    if (whole !== undefined) {
      if (!key.startsWith(whole)) return false;
      from = whole.length;
    } else {
      from = this.#forward(key, 0, 0, key.length);
      if (from === -1) return false;
    }

    let to: number;
    const tail = literals[last];
    if (tail !== undefined) {
      to = key.length - tail.length;
      if (to < from || !key.endsWith(tail)) return false;
    } else {
      to = this.#backward(key, last, key.length, from);
      if (to === -1) return false;
    }

    for (let segment = 1; segment < last; segment++) {
      const text = literals[segment];
      if (text !== undefined) {
        // Segments start with a whole code point, so a hit is never inside a surrogate pair.
        const at = key.indexOf(text, from);
        if (at === -1 || at + text.length > to) return false;
        from = at + text.length;
        continue;
      }
      const latest = to - (this.#minUnits[segment] as number);
      let start = from;
      let end = -1;
      while (start <= latest) {
        end = this.#forward(key, segment, start, to);
        if (end !== -1) break;
        start += isHigh(key.charCodeAt(start)) && isLow(key.charCodeAt(start + 1)) ? 2 : 1;
      }
      if (end === -1) return false;
      from = end;
    }
    return true;
  }

  /** Matches segment `segment` at `start`; returns where the match ends, or -1. Never reads at or past `limit`. */
  #forward(key: string, segment: number, start: number, limit: number): number {
    const tokens = this.#tokens;
    const stop = this.#starts[segment + 1] as number;
    let at = start;
    for (let t = this.#starts[segment] as number; t < stop; t++) {
      if (at >= limit) return -1;
      const token = tokens[t] as number;
      const unit = key.charCodeAt(at);
      if (token === ANY_ONE) {
        // `limit` is always a code-point boundary, so a pair starting before it also ends by it.
        at += isHigh(unit) && isLow(key.charCodeAt(at + 1)) ? 2 : 1;
      } else if (unit === token) {
        at++;
      } else {
        return -1;
      }
    }
    return at;
  }

  /** Matches segment `segment` ending at `end`; returns where the match starts, or -1. Never reads below `floor`. */
  #backward(key: string, segment: number, end: number, floor: number): number {
    const tokens = this.#tokens;
    const first = this.#starts[segment] as number;
    let at = end;
    for (let t = (this.#starts[segment + 1] as number) - 1; t >= first; t--) {
      if (at <= floor) return -1;
      const token = tokens[t] as number;
      const unit = key.charCodeAt(at - 1);
      if (token === ANY_ONE) {
        // Read backwards a pair is still one code point; `floor` is a boundary, so it is never split.
        at -= isLow(unit) && at - 2 >= floor && isHigh(key.charCodeAt(at - 2)) ? 2 : 1;
      } else if (unit === token) {
        at--;
      } else {
        return -1;
      }
    }
    return at;
  }
}

/**
 * Compiles a key glob: `*` matches any run of characters (including none), `?` exactly one code point (a
 * surrogate pair is one), and every other character only itself; a backslash is literal and there are no
 * character classes. Matching never backtracks, so a hostile pattern costs at most key length x pattern
 * length per key.
 *
 * @param pattern - The glob to compile.
 * @param what - How error messages name the pattern.
 * @param options - `internal: true` (stores' `keys`) also accepts U+0001, the mark of the engine's own keys,
 *   which the engine lists through the stores; caller patterns never hold it.
 * @default what `'pattern'`
 * @throws {InvalidPatternError} When `pattern` is not a string, is empty, is longer than
 *   {@link MAX_PATTERN_LENGTH}, or holds a control character (U+0000-U+001F, U+007F-U+009F) or a lone surrogate.
 * @example
 * ```ts
 * const matcher = compilePattern('user:*:profile');
 * matcher.test('user:42:profile'); // true
 * compilePattern('user:*').plainPrefix; // true, prefix 'user:'
 * ```
 */
export function compilePattern(pattern: unknown, what = 'pattern', options?: { internal?: boolean }): PatternMatcher {
  assertValidPattern(pattern, what, options?.internal === true);
  return new GlobMatcher(pattern);
}

/** What stores pass to {@link compilePattern}: they list the engine's own keys too. */
export const STORE_PATTERN = Object.freeze({ internal: true });
