import { randomBytes } from 'node:crypto';

/**
 * Tag invalidation without touching the tagged entries: every tag has a stamp `hard.soft`, two random
 * tokens. An entry records the stamps of its tags when it is written; a read compares them with the current
 * ones. `invalidateTags` replaces both tokens (the entry is gone), `expireTags` only the soft one (the entry is
 * stale). Stamps are compared for equality only, so no clock is ever compared across machines, and one write
 * per tag invalidates any number of entries.
 *
 * A tag whose stamp cannot be found (never seen, evicted from the bounded registry, lost by the store) does
 * not validate anything: entries holding it count as invalid. Losing a stamp costs misses, never stale data.
 */
export type Verdict = 'fresh' | 'stale' | 'invalid' | 'unknown';

export const FRESH = 0;
export const STALE = 1;
export const INVALID = 2;
/** Some stamp is not in the registry: the caller must look it up before deciding. */
export const UNKNOWN = 3;

export function newToken(): string {
  return randomBytes(9).toString('base64url');
}

export function newStamp(): string {
  return `${newToken()}.${newToken()}`;
}

/** The stamp after `expireTags`: same hard token, new soft token. */
export function softened(stamp: string): string {
  return `${stamp.slice(0, stamp.indexOf('.'))}.${newToken()}`;
}

/** Compares an entry's recorded stamp with the current one. */
export function compareStamp(recorded: string, current: string): number {
  if (recorded === current) return FRESH;
  const dot = current.indexOf('.');
  // Same hard token: only a soft expiry happened since the entry was written.
  return recorded.length === current.length && recorded.startsWith(current.slice(0, dot + 1)) ? STALE : INVALID;
}

/**
 * The stamps this process knows, bounded: the least recently used are forgotten first. Reads on the memory
 * tier's hit path call `verdict`, which allocates nothing.
 */
export class TagRegistry {
  readonly #stamps = new Map<string, string>();
  readonly #max: number;
  /**
   * Bumped whenever stamps are forgotten because the store may hold newer ones. A stamp read from the store is
   * remembered only if no bump happened while it was being read: it may predate the change that caused it.
   */
  epoch = 0;
  /** Bumped on every change: a verdict found FRESH at one version holds until the next. */
  version = 0;

  constructor(maxTags: number) {
    this.#max = maxTags;
  }

  get size(): number {
    return this.#stamps.size;
  }

  get(tag: string): string | undefined {
    return this.#stamps.get(tag);
  }

  set(tag: string, stamp: string): void {
    this.version++;
    this.#stamps.delete(tag);
    this.#stamps.set(tag, stamp);
    if (this.#stamps.size > this.#max) {
      const oldest = this.#stamps.keys().next().value as string;
      this.#stamps.delete(oldest);
    }
  }

  delete(tag: string): void {
    this.version++;
    this.#stamps.delete(tag);
  }

  clear(): void {
    this.version++;
    this.#stamps.clear();
    this.epoch++;
  }

  /** Forgets `tags`: their next use reads the store, which decides between concurrent invalidations. */
  forget(tags: readonly string[]): void {
    this.version++;
    for (const tag of tags) this.#stamps.delete(tag);
    this.epoch++;
  }

  /** The worst verdict over an entry's tags; UNKNOWN when a stamp is not known here. */
  verdict(tags: readonly string[], stamps: readonly string[]): number {
    let worst = FRESH;
    for (let i = 0; i < tags.length; i++) {
      const current = this.#stamps.get(tags[i] as string);
      if (current === undefined) return UNKNOWN;
      const v = compareStamp(stamps[i] as string, current);
      if (v > worst) worst = v;
    }
    return worst;
  }
}
