import type { Engine } from '../engine.js';
import { isCacheError } from '../errors.js';
import { traceLoad } from '../observe/tracing.js';
import { validateTags } from '../freshness/rules.js';
import type { TagMeta } from '../freshness/stamps.js';
import { CHECK, type Found, type Reader } from '../tiers/reader.js';
import type { StoreTier } from '../tiers/store-tier.js';
import type { WriteItem, Writer } from '../tiers/writer.js';
import { deadlineOf } from '../ttl.js';
import type { Flight } from './flights.js';
import { claim, type Claim } from './lease.js';
import { batchValues, runLoader, settleWithin, type LoadReport } from './load.js';
import { DEFAULT_LEASE, planOf, type LoadPlan } from './plan.js';
import type { BatchLoader, BatchLoaderContext, GetOrSetOptions, LoaderContext } from './types.js';

export type Loader<T> = (context: LoaderContext<T>) => T | Promise<T>;

interface SharedRead {
  allowStale: boolean;
  /** The fence mark taken when the read began. */
  mark: number;
  promise: Promise<Found | undefined>;
}

/**
 * The compute room: `getOrSet` after its hot path, and `getOrSetMany`. Single-flight (callers join a running
 * load before reading the stores), the claim in the fence store (and the lease across instances), grace and
 * stale-while-revalidate, fail-safe back-off, negative caching, soft and hard timeouts, refresh-ahead.
 */
export class Loads {
  readonly #engine: Engine;
  readonly #reader: Reader;
  readonly #writer: Writer;

  constructor(engine: Engine, reader: Reader, writer: Writer) {
    this.#engine = engine;
    this.#reader = reader;
    this.#writer = writer;
  }

  /**
   * Store reads of keys in flight, shared: callers that miss the memory tier for a key another caller is
   * already reading from the stores wait for that read instead of sending their own (a cold key with a
   * thousand callers costs one store read, then one load they all join).
   */
  readonly #reads = new Map<string, SharedRead>();

  /**
   * `reader.below`, shared with the callers of the same key and staleness. A caller joins a read only if the key
   * was neither written nor invalidated since the read began (not fenced since its mark): a read begun
   * before an invalidation may return what the invalidation removed, which only callers who came before it may get.
   */
  async #readOnce(full: string, allowStale: boolean): Promise<Found | undefined> {
    const reader = this.#reader;
    const fences = this.#engine.fences;
    const mark = fences.mark();
    const shared = this.#reads.get(full);
    if (shared !== undefined && shared.allowStale === allowStale && !fences.fencedSince(full, shared.mark)) {
      const found = await shared.promise;
      reader.countShared(full, found?.source);
      return found;
    }
    const promise = reader.below(full, allowStale);
    const read: SharedRead = { allowStale, mark, promise };
    this.#reads.set(full, read);
    try {
      return await promise;
    } finally {
      if (this.#reads.get(full) === read) this.#reads.delete(full);
    }
  }

  /** When a memory-tier entry is due for a refresh-ahead. */
  dueAt(slot: number, fraction: number): number {
    const memory = this.#engine.memory;
    const createdAt = memory.createdAtOf(slot);
    const freshUntil = (memory.metaOf(slot) as TagMeta | undefined)?.freshUntil ?? memory.expiresAtOf(slot);
    return createdAt + fraction * (freshUntil - createdAt);
  }

  /** Starts one background refresh of a value that is still served (refresh-ahead). Never throws. */
  refreshAhead<T>(key: string, full: string, loader: Loader<T>, options: GetOrSetOptions, value: T): void {
    const engine = this.#engine;
    if (engine.flights.get(full) !== undefined || engine.flights.failureOf(full, engine.clock.now()) !== undefined) return;
    try {
      const plan = planOf(options, engine.options.compute);
      this.#flight(key, full, loader, options, { ...plan, forceRefresh: false }, value, true);
    } catch (error) {
      engine.emitter.reportError(error, 'getOrSet.refreshAhead', full);
    }
  }

  /**
   * `getOrSet` after the hot path: `looked` is what the hot path answered for `full` (CHECK or a miss), or
   * undefined when it did not look (forced refresh, `getOrSetResult`).
   */
  async getOrLoad<T>(key: string, full: string, loader: Loader<T>, options: GetOrSetOptions, report: LoadReport | undefined, looked: number | undefined): Promise<T> {
    const engine = this.#engine;
    const reader = this.#reader;
    const plan = planOf(options, engine.options.compute);
    // Checked before anything runs, so a bad option never leaves a loader result uncached.
    this.#writer.check(options);
    let stale: Found | undefined;
    if (!plan.forceRefresh) {
      const allowStale = plan.graceMs > 0;
      const seen = looked ?? reader.hot(full);
      let found: Found | undefined;
      if (seen >= 0) found = reader.memoryFound(seen);
      else if (seen === CHECK) found = await reader.checked(full, allowStale);
      if (found === undefined) {
        // A load already running here answers sooner than the stores, and spares them one read per caller.
        const running = engine.flights.get(full);
        if (running !== undefined && !running.fenced) return this.#join<T>(full, running, report);
        if (!allowStale && plan.refreshAhead === undefined && engine.flights.failureOf(full, engine.clock.now()) === undefined) {
          // Nothing stale can serve this caller: the store read is the start of the load, so every caller after
          // this one joins the load at once instead of each waiting for the read and then joining.
          const flight = this.#flight(key, full, loader, options, plan, undefined, false, true);
          const value = (await flight.promise) as T;
          if (report !== undefined) report.source = flight.foundIn ?? 'loader';
          return value;
        }
        found = await this.#readOnce(full, allowStale);
      }
      if (found !== undefined && !found.stale) {
        if (plan.refreshAhead !== undefined && found.createdAt + plan.refreshAhead * (found.freshUntil - found.createdAt) <= engine.clock.now()) {
          this.refreshAhead(key, full, loader, options, found.value as T);
        }
        if (report !== undefined) report.source = found.source;
        return found.value as T;
      }
      // Stale for longer than this caller's grace: as good as missing.
      if (found !== undefined && engine.clock.now() - found.freshUntil <= plan.graceMs) stale = found;
    }
    const failure = plan.forceRefresh ? undefined : engine.flights.failureOf(full, engine.clock.now());
    if (stale !== undefined && failure !== undefined && !failure.negative) {
      engine.metrics.failSafe++;
      return served(stale, report);
    }
    if (stale === undefined && failure?.negative === true) throw failure.error;

    const before = engine.flights.get(full);
    const flight = this.#flight(key, full, loader, options, plan, stale?.value as T | undefined, stale !== undefined);
    if (flight === before) engine.metrics.joins++;
    if (stale === undefined) {
      const value = (await flight.promise) as T;
      if (report !== undefined) {
        report.source = 'loader';
        report.joined = flight === before;
      }
      return value;
    }
    if (plan.softTimeoutMs > 0) {
      const outcome = await settleWithin(flight.promise, plan.softTimeoutMs, engine.clock);
      if (outcome.done && outcome.ok) {
        if (report !== undefined) report.source = 'loader';
        return outcome.value as T;
      }
    }
    // Stale-while-revalidate, a soft timeout, or fail-safe: the refresh goes on (or rests) in the background.
    engine.metrics.staleServed++;
    return served(stale, report);
  }

  /**
   * A caller that found a load running for its key: counted as a miss joined to the load, or, when it joined
   * while the load's first store read ran, as whatever that read turns out to be.
   */
  async #join<T>(full: string, running: Flight, report: LoadReport | undefined): Promise<T> {
    if (running.reading) running.readers++;
    else this.#reader.joined(full);
    const value = (await running.promise) as T;
    if (report !== undefined) {
      report.source = running.foundIn ?? 'loader';
      report.joined = running.foundIn === undefined;
    }
    return value;
  }

  /**
   * The load of `full`: the one running (shared), or a new one. A `forceRefresh` load supersedes the one
   * running, which then does not write its older result. With `readFirst`, the load begins with the store read
   * (`reader.below`) and ends there when a tier has a fresh value.
   */
  #flight<T>(key: string, full: string, loader: Loader<T>, options: GetOrSetOptions, plan: LoadPlan, staleValue: T | undefined, hasStale: boolean, readFirst = false): Flight {
    const flights = this.#engine.flights;
    // A fenced load was overtaken by a write or an invalidation: its value is too old to hand to a new caller.
    const running = flights.get(full);
    if (running !== undefined && !running.fenced && !plan.forceRefresh) return running;
    const flight = flights.begin(full, validateTags(options.tags));
    if (!readFirst) flight.promise = this.#load(key, full, loader, options, plan, staleValue, hasStale, flight);
    else if (this.#claimReads(flight)) {
      // Read by the claim: #claim settles it (see #claimReads).
      flight.reading = true;
      flight.promise = this.#load(key, full, loader, options, plan, undefined, false, flight);
    } else flight.promise = this.#readThenLoad(key, full, loader, options, plan, flight);
    flights.untrackWhenSettled(full, flight);
    return flight;
  }

  async #readThenLoad<T>(key: string, full: string, loader: Loader<T>, options: GetOrSetOptions, plan: LoadPlan, flight: Flight): Promise<T> {
    const reader = this.#reader;
    flight.reading = true;
    let found: Found | undefined;
    try {
      found = await reader.below(full, false);
    } finally {
      flight.reading = false;
    }
    this.#readAnswered(full, flight, found);
    if (found !== undefined) return found.value as T;
    return this.#load(key, full, loader, options, plan, undefined, false, flight);
  }

  /**
   * True when the claim of a load can be its store read too: the fence tier is the only store tier and answers a
   * claim with what the key holds (`addOrGet`), and the load has no tags (whose stamps a hit would not need).
   */
  #claimReads(flight: Flight): boolean {
    const stack = this.#engine.stack;
    const fence = stack.fenceTier;
    return fence !== undefined && stack.tiers.length === 1 && stack.tiers[0] === fence && fence.ops.addOrGet !== undefined && flight.tags === undefined;
  }

  /** The flight's first store read answered (`found`, undefined for a miss): the callers that joined during it are counted. */
  #readAnswered(full: string, flight: Flight, found: Found | undefined): void {
    const reader = this.#reader;
    flight.reading = false;
    for (let i = 0; i < flight.readers; i++) {
      if (found === undefined) reader.joined(full);
      else reader.countShared(full, found.source);
    }
    flight.readers = 0;
    if (found !== undefined) flight.foundIn = found.source;
  }

  /** A flight still `reading` when it gets here has its claim for a store read (see {@link Loads.#claimReads}). */
  async #load<T>(key: string, full: string, loader: Loader<T>, options: GetOrSetOptions, plan: LoadPlan, staleValue: T | undefined, hasStale: boolean, flight: Flight): Promise<T> {
    const engine = this.#engine;
    let claimed: Claim | undefined;
    try {
      // Stamps are taken before the loader reads anything (if a tag is invalidated while it runs, the entry is
      // born invalid), side by side with the claim: one round trip, not two.
      const initialTags = flight.tags;
      const fence = engine.stack.fenceTier;
      const [stamped, settled] = await Promise.allSettled([
        initialTags === undefined ? undefined : engine.stamps.forWrite(initialTags),
        fence === undefined ? undefined : this.#claim(full, fence, plan, hasStale, flight),
      ]);
      if (settled.status === 'rejected') throw settled.reason;
      claimed = settled.value?.claim;
      // A claim taken while the stamps failed is given back by the catch below.
      if (stamped.status === 'rejected') throw stamped.reason;
      const stamps = stamped.value;
      if (settled.value?.found !== undefined) return settled.value.found.value as T;
      let ttl = options.ttl;
      let skip = false;
      const context: LoaderContext<T> = {
        key,
        staleValue,
        signal: flight.controller.signal,
        setTtl: (value) => {
          deadlineOf(value, 0, 'ttl');
          ttl = value;
        },
        setTags: (tags) => {
          flight.tags = validateTags(tags);
        },
        skipCache: () => {
          skip = true;
        },
      };
      // Timed inline, not through a wrapper: an extra await here would delay every write after a load.
      const started = performance.now();
      let value: T;
      try {
        value = await traceLoad(engine.options.name, full, 'getOrSet', () => runLoader(loader, context, plan.hardTimeoutMs, flight, full, engine.clock));
      } catch (error) {
        loadFailed(engine, full, started, error);
        throw error;
      }
      engine.metrics.load(full, 'ok', performance.now() - started);
      if (!skip && !flight.fenced && !engine.closed) {
        try {
          const tags = flight.tags;
          const prepared = this.#writer.prepare(full, value, { ...(ttl === undefined ? {} : { ttl }), ...(tags === undefined ? {} : { tags }) }, plan.graceMs);
          const late = tags?.filter((tag) => stamps?.has(tag) !== true) ?? [];
          const all = late.length === 0 ? stamps : new Map([...(stamps ?? []), ...(await engine.stamps.forWrite(late))]);
          if (!flight.fenced) await this.#writer.store(full, value, prepared, all, flight, claimed);
        } catch (error) {
          // The caller asked for a value, not for caching: a value that cannot be cached is still returned.
          engine.emitter.reportError(error, 'getOrSet.store', full);
        }
      }
      await claimed?.release();
      return value;
    } catch (error) {
      if (flight.reading) this.#readAnswered(full, flight, undefined);
      await claimed?.release().catch((failure: unknown) => engine.emitter.reportError(failure, 'getOrSet.lease', full));
      if (!flight.fenced) {
        const now = engine.clock.now();
        if (hasStale) engine.flights.rememberFailure(full, { until: now + plan.failSafeBackoffMs, error, negative: false });
        else if (plan.negativeTtlMs > 0) engine.flights.rememberFailure(full, { until: now + plan.negativeTtlMs, error, negative: true });
      }
      throw error;
    }
  }

  /**
   * Claims the key in the fence store before the loader runs (see lease.ts). Returns the value when another
   * process's load answered meanwhile (with `lease`, after waiting for it), else the claim the result must be
   * written through (none when the store cannot be asked: the load then goes on unfenced).
   */
  async #claim(full: string, tier: StoreTier, plan: LoadPlan, hasStale: boolean, flight: Flight): Promise<{ found?: Found; claim?: Claim }> {
    const engine = this.#engine;
    const index = engine.stack.tiers.indexOf(tier);
    const ttlMs = (plan.lease ?? DEFAULT_LEASE).ttlMs;
    const waitUntil = engine.clock.now() + (plan.lease?.waitMs ?? 0);
    let delay = 5;
    let waitedMs = 0;
    try {
      for (;;) {
        const mark = engine.fences.mark();
        const outcome = await claim(engine, tier, full, ttlMs);
        if (flight.reading) {
          // Only the first claim is the read (#readAnswered ends it): later ones, waiting for a lease, are not counted again.
          const held = outcome.kind === 'found' || outcome.kind === 'leased' ? outcome.bytes : undefined;
          const found = await this.#reader.claimed(index, full, held, mark);
          this.#readAnswered(full, flight, found);
          if (found !== undefined) return { found };
          if (outcome.kind === 'found') return { claim: outcome.claim };
        }
        switch (outcome.kind) {
          case 'unavailable':
            return {};
          case 'claimed':
            if (outcome.holder) outcome.claim.renewEvery(ttlMs);
            return { claim: outcome.claim };
          case 'found': {
            if (!plan.forceRefresh && !hasStale) {
              const found = await this.#reader.accept(index, full, outcome.bytes, false, mark);
              if (found !== undefined) return { found };
            }
            return { claim: outcome.claim };
          }
          case 'leased': {
            // Without a lease (or once waited long enough) this load goes on, and expects the other's lease entry.
            if (plan.lease === undefined) return { claim: outcome.claim };
            if (engine.clock.now() >= waitUntil) {
              if (await outcome.claim.takeOver(ttlMs)) {
                outcome.claim.renewEvery(ttlMs);
                return { claim: outcome.claim };
              }
              // The key changed under the takeover: look again after the usual pause, never in a tight loop.
            }
            const waited = performance.now();
            await engine.waitForKey(full, delay);
            waitedMs += performance.now() - waited;
            // Without a bus nothing wakes the wait early: keep polls close, each is two round trips for the process.
            delay = Math.min(delay * 1.5, 50);
            const reason: unknown = flight.controller.signal.reason;
            if (flight.controller.signal.aborted) throw reason;
          }
        }
      }
    } finally {
      // One figure per load that waited for another instance's lease: the whole time it waited.
      if (waitedMs > 0) engine.metrics.leaseWait.record(waitedMs);
    }
  }

  /** `getOrSetMany` for valid full keys (`keys` are the caller's, in the same order). */
  async many<T>(keys: readonly string[], fulls: readonly string[], loadMany: BatchLoader<T>, options: GetOrSetOptions): Promise<(T | undefined)[]> {
    const engine = this.#engine;
    const plan = planOf(options, engine.options.compute);
    if (fulls.length === 0) return [];
    this.#writer.prepare(fulls[0] as string, null, options, plan.graceMs);
    const found = plan.forceRefresh ? [] : await this.#reader.many(fulls);
    const out = new Array<T | undefined>(fulls.length).fill(undefined);
    const waits: Promise<void>[] = [];
    // Full key -> the caller's key, for the keys this call loads.
    const batch = new Map<string, string>();
    fulls.forEach((full, i) => {
      const hit = found[i];
      if (hit !== undefined) {
        out[i] = hit.value as T;
        return;
      }
      const running = batch.has(full) ? undefined : engine.flights.get(full);
      if (running !== undefined && !running.fenced && !plan.forceRefresh) {
        engine.metrics.joins++;
        waits.push(running.promise.then((value) => void (out[i] = value as T)));
        return;
      }
      batch.set(full, keys[i] as string);
    });
    if (batch.size > 0) {
      const values = this.#loadBatch(batch, loadMany, options, plan);
      fulls.forEach((full, i) => {
        if (batch.has(full) && found[i] === undefined) waits.push(values.then((map) => void (out[i] = map.get(batch.get(full) as string))));
      });
    }
    await Promise.all(waits);
    return out;
  }

  /** One `loadMany` call for `batch` (full key -> caller's key), registered as a load of each key. */
  #loadBatch<T>(batch: ReadonlyMap<string, string>, loadMany: BatchLoader<T>, options: GetOrSetOptions, plan: LoadPlan): Promise<Map<string, T>> {
    const engine = this.#engine;
    const tags = validateTags(options.tags);
    const controller = new AbortController();
    const whole: Flight = { promise: Promise.resolve(), fenced: false, tags, controller, foundIn: undefined, reading: false, readers: 0 };
    const flights = new Map<string, Flight>();
    // A load still registered for one of these keys is fenced (or superseded by a forced refresh): this one replaces it.
    for (const full of batch.keys()) flights.set(full, engine.flights.begin(full, tags, controller));
    const given = [...batch.values()];
    const loaded = (async () => {
      const stamps = tags === undefined ? undefined : await engine.stamps.forWrite(tags);
      const batchKey = [...batch.keys()].join(',');
      const started = performance.now();
      let raw: readonly T[] | ReadonlyMap<string, T>;
      try {
        raw = await traceLoad(engine.options.name, batchKey, 'getOrSetMany', () =>
          runLoader((context: BatchLoaderContext) => loadMany(given, context), { signal: controller.signal }, plan.hardTimeoutMs, whole, given.join(','), engine.clock),
        );
      } catch (error) {
        loadFailed(engine, batchKey, started, error);
        throw error;
      }
      engine.metrics.load(batchKey, 'ok', performance.now() - started);
      const values = batchValues(raw, given);
      const items: WriteItem[] = [];
      for (const [full, key] of batch) {
        if (whole.fenced || flights.get(full)?.fenced === true || !values.has(key)) continue;
        const value = values.get(key);
        items.push({ full, value, prepared: this.#writer.prepare(full, value, options, plan.graceMs) });
      }
      if (items.length > 0 && !engine.closed) {
        try {
          await this.#writer.many(items, stamps, flights);
        } catch (error) {
          engine.emitter.reportError(error, 'getOrSetMany.store', items[0]?.full);
        }
      }
      return values;
    })();
    for (const [full, key] of batch) {
      const flight = flights.get(full) as Flight;
      flight.promise = loaded.then((values) => values.get(key));
      engine.flights.untrackWhenSettled(full, flight);
    }
    return loaded;
  }
}

/** Records a loader run that threw: a timeout when the hard timeout ended it, else an error. */
function loadFailed(engine: Engine, full: string, started: number, error: unknown): void {
  engine.metrics.load(full, isCacheError(error) && error.code === 'E_LOADER_TIMEOUT' ? 'timeout' : 'error', performance.now() - started);
}

function served<T>(found: Found, report: LoadReport | undefined): T {
  if (report !== undefined) {
    report.source = found.source;
    report.stale = true;
  }
  return found.value as T;
}
