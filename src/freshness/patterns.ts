import type { PatternProgress } from '../api-types.js';
import type { Engine } from '../engine.js';
import { CacheError } from '../errors.js';
import { compilePattern, type PatternMatcher } from './pattern.js';

function isInternalKey(key: string): boolean {
  return key.charCodeAt(0) === 1;
}

/** Matches between two progress reports while a listing runs, and keys per delete when progress is followed. */
const REPORT_EVERY = 256;
const DELETE_BATCH = 1_000;

type OnProgress = ((progress: PatternProgress) => void) | undefined;

function report(onProgress: OnProgress, progress: PatternProgress): void {
  if (onProgress === undefined) return;
  try {
    onProgress(progress);
  } catch {
    // Deliberately ignored (see PatternOptions.onProgress): a broken progress display must not stop a removal.
  }
}

/**
 * Pattern invalidation: the memory tier exactly, the stores through a prefix delete where they offer one
 * (Redis's index) and the pattern is a plain prefix, otherwise through their non-blocking key listing.
 * Matching is the one linear-time matcher of `pattern.ts` everywhere.
 */
export class Patterns {
  readonly #engine: Engine;

  constructor(engine: Engine) {
    this.#engine = engine;
  }

  /**
   * Validates a caller's pattern (typed errors: `InvalidPatternError`, `E_NOT_CONFIRMED` for a pattern matching
   * every key without `confirm`, `E_UNSUPPORTED` when a store cannot list keys) and compiles it as a full-key
   * pattern under the namespace `ns`.
   */
  check(pattern: unknown, confirmed: boolean, ns: string): PatternMatcher {
    const own = compilePattern(pattern, 'pattern');
    if (own.plainPrefix && own.prefix.length === 0 && !confirmed) {
      throw new CacheError('E_NOT_CONFIRMED', `pattern ${JSON.stringify(pattern)} matches every key: pass { confirm: true } (or call clear)`);
    }
    const unlistable = this.#engine.stack.unlistable();
    if (unlistable !== undefined) {
      throw new CacheError('E_UNSUPPORTED', `${unlistable.name}: cannot list keys, so pattern ${JSON.stringify(pattern)} cannot be invalidated there`);
    }
    return ns === '' ? own : compilePattern(ns + own.pattern, 'pattern');
  }

  /** Removes the keys matching a full-key pattern from every tier; returns how many were removed. */
  async remove(match: PatternMatcher, onProgress?: OnProgress): Promise<number> {
    if (onProgress !== undefined && typeof onProgress !== 'function') throw new TypeError('onProgress must be a function');
    const { keys, counted } = await this.removeKeys(match, onProgress);
    return Math.max(keys.size, counted);
  }

  /**
   * Removes the keys matching a full-key pattern from every tier. Where a store can delete by prefix and the
   * pattern is a plain prefix (`forecast:user_1:*`), that costs in proportion to the matches and the count is the
   * store's; otherwise keys are listed (SCAN) and the count is of distinct keys.
   */
  async removeKeys(match: PatternMatcher, onProgress?: OnProgress): Promise<{ keys: Set<string>; counted: number }> {
    const engine = this.#engine;
    const stack = engine.stack;
    const test = (key: string) => match.test(key);
    // A plain prefix with something before the `*` (never the internal keys).
    const plainPrefix = match.plainPrefix && match.prefix.length > 0 && !isInternalKey(match.prefix);
    const removed = new Set(engine.dropWhere(test));
    let counted = 0;
    await Promise.all(
      stack.tiers.map(async (tier) => {
        if (plainPrefix && tier.store.deletePrefix !== undefined) {
          const head = stack.storeKey(match.prefix);
          const count = await stack.attempt(tier, 'deletePrefix', (s) => (s.deletePrefix as (prefix: string) => Promise<number>).call(s, head));
          if (count !== undefined) {
            tier.counters.deletes += count;
            counted = Math.max(counted, count);
          }
          report(onProgress, { tier: tier.name, matched: count ?? 0, removed: count ?? 0, done: true });
          return;
        }
        let matched = 0;
        const listed = await stack.listKeys(tier, stack.storeKey(match.pattern), (key) => {
          const full = stack.fullKeyOf(key);
          const matches = full !== undefined && !isInternalKey(full) && match.test(full);
          if (matches && ++matched % REPORT_EVERY === 0) report(onProgress, { tier: tier.name, matched, removed: 0, done: false });
          return matches;
        });
        if (listed === undefined || listed.length === 0) {
          report(onProgress, { tier: tier.name, matched: 0, removed: 0, done: true });
          return;
        }
        // One delete unless someone follows the progress: then batches, each reported.
        const batch = onProgress === undefined ? listed.length : DELETE_BATCH;
        for (let start = 0; start < listed.length; start += batch) {
          const part = start === 0 && batch >= listed.length ? listed : listed.slice(start, start + batch);
          const ok = await stack.deleteMany(tier, part);
          for (const key of part) {
            const full = stack.fullKeyOf(key) as string;
            removed.add(full);
            if (ok === undefined) stack.remember(tier, full, { kind: 'delete', at: engine.clock.now() });
          }
          const done = start + part.length;
          report(onProgress, { tier: tier.name, matched: listed.length, removed: done, done: done === listed.length });
        }
      }),
    );
    // A read or load that reached a store before the deletes did may have copied an old value up meanwhile.
    if (stack.length > 0) engine.dropWhere(test);
    engine.sync.announce({ type: 'pattern', pattern: match.pattern });
    return { keys: removed, counted };
  }
}
