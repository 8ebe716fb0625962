import { AsyncLocalStorage } from 'node:async_hooks';
import type { Cache } from '../cache.js';
import type { CacheEvents } from '../events.js';

/**
 * Where a forecast read was answered from: `'memory'`, a store's name (`'sqlite'`, `'redis'`), or
 * `'computed'` when the calculator ran for it (or the read waited for a run already under way).
 */
export type CacheSource = string;

/** The outcome of one measured read. */
export interface Measured<T> {
  value: T;
  source: CacheSource;
  /** The read waited for a computation another request had started, instead of starting one. */
  joined: boolean;
  /** Wall-clock milliseconds the read took. */
  ms: number;
}

interface Probe {
  readonly key: string;
  tier: string | undefined;
  missed: boolean;
  /** The key was written to the memory tier while this read was in progress. */
  written: boolean;
}

/**
 * Tells where each forecast read was answered from, from the cache's events.
 *
 * `ForecastCache.getForecast` returns the value alone, so the service listens to `hit`, `miss` and `set`. Each
 * read runs in its own async context (AsyncLocalStorage), and the cache emits `hit`/`miss` synchronously in
 * the context of the read that caused them, so concurrent requests, even for the same key, are told apart
 * without matching on timing.
 *
 * Two reads emit no `hit`/`miss` at all: a memory-tier hit on the engine's allocation-free fast path, and a
 * read that joined a computation already running for the key. The second is told apart by the `set` the
 * computation emits before the waiting reads resume: a fast-path hit reads memory synchronously at its
 * start, so no write of its key can happen during it.
 */
export class SourceTracker {
  readonly #context = new AsyncLocalStorage<Probe>();
  /** Reads in progress, by key: a `set` marks all of them. Bounded by the reads in flight. */
  readonly #active = new Map<string, Set<Probe>>();
  readonly #onHit = (event: CacheEvents['hit']): void => {
    const probe = this.#context.getStore();
    // The first hit wins: a read answered by a store also backfills memory, and that is not where it came from.
    if (probe !== undefined && probe.key === event.key && probe.tier === undefined) probe.tier = event.tier;
  };
  readonly #onMiss = (event: CacheEvents['miss']): void => {
    const probe = this.#context.getStore();
    if (probe !== undefined && probe.key === event.key) probe.missed = true;
  };
  readonly #onSet = (event: CacheEvents['set']): void => {
    const probes = this.#active.get(event.key);
    if (probes !== undefined) for (const probe of probes) probe.written = true;
  };
  #cache: Cache | undefined;

  /** Starts listening to `cache` (whose keys are the forecast keys: no namespace). */
  attach(cache: Cache): void {
    if (this.#cache !== undefined) throw new Error('SourceTracker is already attached');
    this.#cache = cache;
    cache.on('hit', this.#onHit);
    cache.on('miss', this.#onMiss);
    cache.on('set', this.#onSet);
  }

  /** Stops listening. */
  detach(): void {
    const cache = this.#cache;
    if (cache === undefined) return;
    cache.off('hit', this.#onHit);
    cache.off('miss', this.#onMiss);
    cache.off('set', this.#onSet);
    this.#cache = undefined;
  }

  /** Runs the read of `key` and says where its value came from. */
  async measure<T>(key: string, read: () => Promise<T>): Promise<Measured<T>> {
    const probe: Probe = { key, tier: undefined, missed: false, written: false };
    let probes = this.#active.get(key);
    if (probes === undefined) this.#active.set(key, (probes = new Set()));
    probes.add(probe);
    const started = performance.now();
    try {
      const value = await this.#context.run(probe, read);
      const ms = performance.now() - started;
      if (probe.tier !== undefined) return { value, source: probe.tier, joined: false, ms };
      if (probe.missed) return { value, source: 'computed', joined: false, ms };
      if (probe.written) return { value, source: 'computed', joined: true, ms };
      return { value, source: 'memory', joined: false, ms };
    } finally {
      probes.delete(probe);
      if (probes.size === 0 && this.#active.get(key) === probes) this.#active.delete(key);
    }
  }
}
