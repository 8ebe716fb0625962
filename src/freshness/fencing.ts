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
 * - Write generations, striped by key hash: a store read copies what it found into the tiers above only if its
 *   key's generation did not move while it read; otherwise the copy could land after the write or
 *   invalidation and outlive it.
 */
export class Fences {
  readonly #generations = new Uint32Array(GENERATION_STRIPES);
  #generationAll = 0;
  readonly #flights: Flights;

  constructor(flights: Flights) {
    this.#flights = flights;
  }

  /** `full` was written or invalidated; `writer` is the load doing the write (it does not fence itself). */
  key(full: string, writer?: Flight): void {
    (this.#generations[stripeOf(full)] as number)++;
    this.#flights.fenceKey(full, writer);
  }

  /** Every key that passes `test` may have been written or invalidated. */
  where(test: (full: string) => boolean): void {
    this.#generationAll++;
    this.#flights.fenceWhere(test);
  }

  /** Every key may have been written or invalidated (clear, bus recovery). */
  all(): void {
    this.where(() => true);
  }

  /** Changes whenever `full` may have been written or invalidated. */
  generationOf(full: string): number {
    return (this.#generations[stripeOf(full)] as number) + this.#generationAll;
  }
}
