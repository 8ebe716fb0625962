// The per-user index of the forecast keys this instance wrote: what date ranges search and triggers count.
import type { ForecastWindow } from './types.js';

/** A span of epoch ms, both ends inclusive; `start` may be -Infinity (the whole history). */
export interface Span {
  start: number;
  end: number;
}

export interface Indexed {
  tags: readonly string[];
  /** The data the forecast covers; undefined when it reads no dated records (goal forecasts). */
  span: Span | undefined;
  expiresAt: number;
}

/**
 * The forecast keys this instance wrote, per user, with their tags and spans. The engine lists no keys
 * publicly, so this is how a date range finds a user's forecasts and how a trigger counts what it removed.
 *
 * Bounded: past `limit` entries, the oldest key of the least recently written user is forgotten and the user
 * marked incomplete; a date range then invalidates all of that user's forecasts instead (never too few).
 * Past `limit` incomplete users, every user counts as incomplete.
 */
export class ForecastIndex {
  readonly #users = new Map<string, Map<string, Indexed>>();
  readonly #partial = new Set<string>();
  readonly #limit: number;
  #size = 0;
  #lossy = false;

  constructor(limit: number) {
    this.#limit = limit;
  }

  get size(): number {
    return this.#size;
  }

  add(userId: string, key: string, entry: Indexed): void {
    let keys = this.#users.get(userId);
    if (keys === undefined) keys = new Map();
    // Re-inserted, so the Map's order is least recently written first.
    else this.#users.delete(userId);
    this.#users.set(userId, keys);
    if (keys.has(key)) keys.delete(key);
    else this.#size++;
    keys.set(key, entry);
    while (this.#size > this.#limit) this.#evictOne();
  }

  #evictOne(): void {
    const [userId, keys] = this.#users.entries().next().value as [string, Map<string, Indexed>];
    const oldest = keys.keys().next().value as string;
    keys.delete(oldest);
    this.#size--;
    if (keys.size === 0) this.#users.delete(userId);
    this.#partial.add(userId);
    if (this.#partial.size > this.#limit) {
      this.#lossy = true;
      this.#partial.clear();
    }
  }

  /** The user's live entries (expired ones are dropped on the way). */
  forUser(userId: string, now: number): ReadonlyMap<string, Indexed> {
    const keys = this.#users.get(userId);
    if (keys === undefined) return new Map();
    for (const [key, entry] of keys) {
      if (entry.expiresAt <= now) {
        keys.delete(key);
        this.#size--;
      }
    }
    if (keys.size === 0) this.#users.delete(userId);
    return keys;
  }

  get(userId: string, key: string): Indexed | undefined {
    return this.#users.get(userId)?.get(key);
  }

  /** True when every forecast this instance wrote for the user is still listed. */
  complete(userId: string): boolean {
    return !this.#lossy && !this.#partial.has(userId);
  }

  /** Everything of the user is gone from the cache: nothing is missing from the index any more. */
  dropUser(userId: string): void {
    const keys = this.#users.get(userId);
    if (keys !== undefined) this.#size -= keys.size;
    this.#users.delete(userId);
    this.#partial.delete(userId);
  }

  dropKeys(userId: string, keys: Iterable<string>): void {
    const entries = this.#users.get(userId);
    if (entries === undefined) return;
    for (const key of keys) if (entries.delete(key)) this.#size--;
    if (entries.size === 0) this.#users.delete(userId);
  }

  /** Every indexed key for which `test` holds, across users. */
  *where(test: (key: string, entry: Indexed) => boolean): Generator<[string, string]> {
    for (const [userId, keys] of this.#users) for (const [key, entry] of keys) if (test(key, entry)) yield [userId, key];
  }

  clear(): void {
    this.#users.clear();
    this.#partial.clear();
    this.#size = 0;
    this.#lossy = false;
  }
}

/** A span as `getKeyInfo` reports it: `from` is null for the whole history. */
export function publicWindow(span: Span | undefined): ForecastWindow | undefined {
  if (span === undefined) return undefined;
  return { from: span.start === Number.NEGATIVE_INFINITY ? null : new Date(span.start), to: new Date(span.end) };
}
