import type { Flight, Flights } from '../compute/flights.js';

const GENERATION_STRIPES = 4096;

/** FNV-1a over the UTF-16 units, folded to a stripe. */
function stripeOf(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  return (hash >>> 0) & (GENERATION_STRIPES - 1);
}

/**
 * Fencing inside this process: every write or invalidation of a key is recorded here, so that work which
 * began before it cannot land after it.
 *
 * - Loads running for the key are fenced (their result is returned to their callers but never cached).
 * - Marks: a store read takes {@link Fences.mark} before it reads, and copies what it found into the tiers above
 *   only if {@link Fences.fencedSince} says its key was not fenced meanwhile; otherwise the copy could land after
 *   the write or invalidation and outlive it. Every fence bumps one counter and records it for the key's stripe
 *   (striped by key hash), so a read during which nothing was fenced (the common case) checks one number and
 *   hashes nothing.
 */
export class Fences {
  /** Bumped by every fence. */
  #epoch = 0;
  /** The epoch of the last fence of each stripe (float cells: they count past 2^32 without wrapping). */
  readonly #stripeFencedAt = new Float64Array(GENERATION_STRIPES);
  /** The epoch of the last fence of every key (`where`, `all`). */
  #allFencedAt = 0;
  readonly #flights: Flights;

  constructor(flights: Flights) {
    this.#flights = flights;
  }

  /** `full` was written or invalidated; `writer` is the load doing the write (it does not fence itself). */
  key(full: string, writer?: Flight): void {
    this.#stripeFencedAt[stripeOf(full)] = ++this.#epoch;
    this.#flights.fenceKey(full, writer);
  }

  /** Every key that passes `test` may have been written or invalidated. */
  where(test: (full: string) => boolean): void {
    this.#allFencedAt = ++this.#epoch;
    this.#flights.fenceWhere(test);
  }

  /** Every key may have been written or invalidated (clear, bus recovery). */
  all(): void {
    this.where(() => true);
  }

  /** Now, for a later {@link fencedSince}. */
  mark(): number {
    return this.#epoch;
  }

  /** True when `full` may have been written or invalidated since `mark` was taken. */
  fencedSince(full: string, mark: number): boolean {
    return this.#epoch !== mark && (this.#allFencedAt > mark || (this.#stripeFencedAt[stripeOf(full)] as number) > mark);
  }
}
