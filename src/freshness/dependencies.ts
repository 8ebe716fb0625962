import type { TimeSource } from '../clock.js';
import { escapeSegment, unescapeSegment } from '../keys/escape.js';
import type { TierStack } from '../tiers/stack.js';

// A dependency edge: DEPENDENCY + escaped source + ':' + escaped dependent; listing by prefix finds a source's dependents.
const DEPENDENCY = '\u0001dep:';

/**
 * The dependency graph (seed 001): which keys must go when another is invalidated. Kept here (bounded like
 * the tag registry) and, where the first store can list keys, as edge keys there so every instance sees it.
 */
export class Dependencies {
  readonly #dependents = new Map<string, Set<string>>();
  readonly #max: number;
  readonly #stack: TierStack;
  readonly #clock: TimeSource;

  constructor(max: number, stack: TierStack, clock: TimeSource) {
    this.#max = max;
    this.#stack = stack;
    this.#clock = clock;
  }

  /** Dependents of `full` as recorded here and, where the marker store can list keys, by every instance. */
  async of(full: string): Promise<string[]> {
    const out = new Set(this.#dependents.get(full) ?? []);
    const stack = this.#stack;
    const tier = stack.markerTier;
    if (tier?.store.keys !== undefined) {
      const head = stack.storeKey(DEPENDENCY + escapeSegment(full) + ':');
      const listed = await stack.listKeys(tier, head + '*', (key) => key.startsWith(head));
      for (const key of listed ?? []) out.add(unescapeSegment(key.slice(head.length)));
    }
    return [...out];
  }

  /** Every key reachable from `start` (itself included), transitively unless `recursive` is false; cycles are safe. */
  async closure(start: string, recursive: boolean): Promise<string[]> {
    const seen = new Set([start]);
    let frontier = [start];
    while (frontier.length > 0) {
      const next: string[] = [];
      for (const source of frontier) {
        for (const dependent of await this.of(source)) {
          if (seen.has(dependent)) continue;
          seen.add(dependent);
          next.push(dependent);
        }
      }
      frontier = recursive ? next : [];
    }
    return [...seen];
  }

  /** Records that `dependent` must go when any of `sources` is invalidated. */
  async add(dependent: string, sources: readonly string[], ttlMs: number): Promise<void> {
    for (const source of sources) {
      let set = this.#dependents.get(source);
      if (set === undefined) {
        set = new Set();
        this.#dependents.set(source, set);
        // Bounded like the tag registry: the oldest sources are forgotten here (the store keeps its copy).
        if (this.#dependents.size > this.#max) this.#dependents.delete(this.#dependents.keys().next().value as string);
      }
      set.add(dependent);
    }
    const stack = this.#stack;
    const tier = stack.markerTier;
    if (tier?.store.keys === undefined) return;
    const now = this.#clock.now();
    const one = Uint8Array.of(1);
    await Promise.all(sources.map((source) => stack.write(tier, DEPENDENCY + escapeSegment(source) + ':' + escapeSegment(dependent), one, now + ttlMs, now)));
  }
}
