// The option and result shapes of the Cache API, apart from the class so cache.ts reads as the API itself.
// cache.ts re-exports every one of them: importers keep importing from there.
import type { SetOptions } from './compute/types.js';
import type { CacheError } from './errors.js';

export interface GetOptions<T> {
  /** Returned instead of `undefined` when the key is not cached. */
  default?: T;
  /**
   * Also return a value whose tags were soft-expired (`expireTags`): stale, but allowed here. Values of
   * hard-invalidated tags are never returned.
   * @default false
   */
  stale?: boolean;
}

export interface InvalidateOptions {
  /** Why, for the invalidation log (`getInvalidationEvents`). */
  reason?: string;
  /** Who asked, for the invalidation log. */
  triggeredBy?: string;
}

export interface PatternOptions extends InvalidateOptions {
  /** Needed for a pattern that matches every key (`*`), as `clear` needs it. */
  confirm?: boolean;
  /**
   * Called as each store tier is worked through: every 256 matching keys its listing finds, after each batch of
   * 1,000 keys removed, and once when the tier is done. An exception it throws is ignored.
   */
  onProgress?: (progress: PatternProgress) => void;
}

/** Where a pattern invalidation stands on one store tier (see `PatternOptions.onProgress`). */
export interface PatternProgress {
  /** The store tier's name. */
  tier: string;
  /** Keys of that tier found to match so far (on a prefix delete: once it is done, the count it removed). */
  matched: number;
  /** Of those, removed so far. */
  removed: number;
  /** True in the tier's last report. */
  done: boolean;
}

/** What `invalidate` removes: the union of what each part selects. */
export interface InvalidateSelection {
  keys?: readonly string[];
  /** A glob over keys: `*` any run, `?` one character. */
  pattern?: string;
  /** Several globs, removed one after another (what one removed is not counted again by the next). */
  patterns?: readonly string[];
  tags?: readonly string[];
}

export interface SetManyEntry extends SetOptions {
  key: string;
  value: unknown;
}

/** The variant of `get` that never throws (seed 002's `CacheResult`). `ok` is true when a value was found. */
export interface CacheResult<T> {
  ok: boolean;
  value: T | undefined;
  /** Set when the read failed (bad key, closed cache, a store failing in strict mode), as opposed to a plain miss. */
  error: CacheError | undefined;
  /** The tier that answered (`'memory'` or a store's name), `undefined` on a miss. */
  source: string | undefined;
  durationMs: number;
}
