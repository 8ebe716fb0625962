import { decodeEntry, type DecodedEntry } from '../entry.js';
import type { Engine } from '../engine.js';
import type { Metrics } from '../observe/metrics.js';
import { metaOf, type TagMeta } from '../freshness/stamps.js';
import { FRESH, INVALID, STALE } from '../freshness/tags.js';
import type { StoreTier } from './store-tier.js';

/** A value found by a read, and what the read path needs to know about it. */
export interface Found {
  value: unknown;
  source: string;
  /** Soft-expired by a tag, or past its TTL within grace: served only to callers who accept stale values. */
  stale: boolean;
  createdAt: number;
  /** When it stops (or stopped) being fresh. */
  freshUntil: number;
}

/** What `inspect` knows about a cached key (the seed's `get_key_info`). Durations are milliseconds. */
export interface KeyInfo {
  key: string;
  exists: true;
  /** The first tier that holds it: `'memory'` or a store's name. */
  tier: string;
  /** Milliseconds until `get` stops answering with it (its TTL; grace not included). */
  ttlRemaining: number;
  /** Bytes it counts for: in memory, encoded value + key + per-entry overhead; in a store, the stored bytes. */
  sizeBytes: number;
  createdAt: Date;
  /** When `get` stops answering with it. */
  expiresAt: Date;
  /** When the entry is gone from the tier, grace included (equal to `expiresAt` without grace). */
  staleUntil: Date;
  tags: string[];
  /** One of its tags was soft-expired, or its TTL ran out within grace: served only to readers that accept stale values. */
  stale: boolean;
}

/** The memory-tier hot path's answers besides a slot number. */
export const MISS = -1;
/** The key is in the memory tier but its tags or grace need a closer look than the hot path can give. */
export const CHECK = -2;

/**
 * The read path: the memory tier first (one look-up per read), then the stores in order, with the verdict of
 * the freshness room on what each tier holds, and the copy of a store hit into the tiers above it.
 */
export class Reader {
  readonly #engine: Engine;

  constructor(engine: Engine) {
    this.#engine = engine;
  }

  /**
   * The hot path of every read: the memory-tier slot of a fresh entry (counted as a hit), or MISS, or CHECK.
   * One look-up, recorded once with the eviction policy; allocates nothing.
   */
  hot(full: string): number {
    const sampling = this.#engine.sampling;
    if (sampling !== undefined && ++sampling.tick >= sampling.sampleEvery) return this.#sampled(full, sampling);
    return this.#look(full);
  }

  /** One read in `sampleEvery`, with metrics on: timed, and counted in its key group. */
  #sampled(full: string, metrics: Metrics): number {
    metrics.tick = 0;
    const started = performance.now();
    const slot = this.#look(full);
    metrics.sampled(full, performance.now() - started, slot >= 0);
    return slot;
  }

  #look(full: string): number {
    const engine = this.#engine;
    const memory = engine.memory;
    const slot = memory.find(full);
    if (slot < 0) return MISS;
    const meta = memory.metaOf(slot) as TagMeta | undefined;
    if (meta !== undefined && engine.stamps.registryVerdict(meta) !== FRESH) return CHECK;
    engine.counters.hits++;
    if (engine.emitter.listeners.hit !== undefined) engine.emitter.emit('hit', { key: full, tier: 'memory' });
    return slot;
  }

  /**
   * A whole read after the hot path: `looked` is what `hot` answered (MISS: the memory tier does not have it,
   * so straight to the stores; CHECK: look closer at the memory-tier entry first).
   */
  read(full: string, allowStale: boolean, looked: number): Promise<Found | undefined> {
    if (looked === CHECK) return this.checked(full, allowStale).then((found) => found ?? this.below(full, allowStale));
    return this.below(full, allowStale);
  }

  /** A read from scratch (no hot path before it): one look-up, then the rest. */
  fresh(full: string, allowStale: boolean): Promise<Found | undefined> {
    const looked = this.hot(full);
    if (looked >= 0) return Promise.resolve(this.memoryFound(looked));
    return this.read(full, allowStale, looked);
  }

  /** The fresh memory-tier entry at `slot`, as a read's answer. */
  memoryFound(slot: number): Found {
    const memory = this.#engine.memory;
    const meta = memory.metaOf(slot) as TagMeta | undefined;
    return { value: memory.valueAt(slot), source: 'memory', stale: false, createdAt: memory.createdAtOf(slot), freshUntil: meta?.freshUntil ?? memory.expiresAtOf(slot) };
  }

  /**
   * A memory-tier entry the hot path could not settle: a stamp the registry does not know, a soft expiry, or a
   * TTL that ran out within grace. Removes the entry when its tags were invalidated. Does not record a request
   * with the eviction policy (the hot path did).
   */
  async checked(full: string, allowStale: boolean): Promise<Found | undefined> {
    const engine = this.#engine;
    const memory = engine.memory;
    const slot = memory.peek(full);
    if (slot < 0) return undefined;
    const value = memory.valueAt(slot);
    const meta = memory.metaOf(slot) as TagMeta | undefined;
    // Read before any await: the slot may hold another key afterwards.
    const createdAt = memory.createdAtOf(slot);
    const freshUntil = meta?.freshUntil ?? memory.expiresAtOf(slot);
    const verdict = meta === undefined ? FRESH : await engine.stamps.verdict(meta);
    if (verdict === INVALID) {
      // The stamps were checked against the truth: no tier can hold a valid copy written before that.
      memory.delete(full);
      engine.fences.key(full);
      return undefined;
    }
    if (verdict === STALE && !allowStale) return undefined;
    engine.counters.hits++;
    if (verdict === STALE) engine.counters.memoryStale++;
    if (engine.emitter.listeners.hit !== undefined) engine.emitter.emit('hit', { key: full, tier: 'memory' });
    return { value, source: 'memory', stale: verdict === STALE, createdAt, freshUntil };
  }

  /** After a memory-tier miss: the stores, and the hit/miss accounting of the whole read. */
  async below(full: string, allowStale: boolean): Promise<Found | undefined> {
    const engine = this.#engine;
    const stack = engine.stack;
    const mark = engine.fences.mark();
    // Down the store tiers. On a hit, the memory tier and the stores above the one that answered are
    // backfilled with the entry's remaining TTL (the deadline travels in the entry).
    for (let i = 0; i < stack.tiers.length; i++) {
      const answered = this.#answer(i, full, await stack.get(stack.tiers[i] as StoreTier, full), allowStale, mark);
      const found = answered instanceof Promise ? await answered : answered;
      if (found !== undefined) {
        this.#hitBelow(full);
        return found;
      }
    }
    this.#missed(full);
    return undefined;
  }

  /**
   * `below` for a stack of one store tier (at `index`) whose claim already read the key (see Loads): `bytes` is
   * what the claim found there, undefined when it found nothing (and stored its lease) or could not ask.
   */
  async claimed(index: number, full: string, bytes: Uint8Array | undefined, mark: number): Promise<Found | undefined> {
    const found = await this.#answer(index, full, bytes, false, mark);
    if (found === undefined) this.#missed(full);
    else this.#hitBelow(full);
    return found;
  }

  /** What tier `index` answered for `full` (`bytes`, undefined for nothing): counted, then accepted or not. */
  #answer(index: number, full: string, bytes: Uint8Array | undefined, allowStale: boolean, mark: number): Found | undefined | Promise<Found | undefined> {
    const tier = this.#engine.stack.tiers[index] as StoreTier;
    if (bytes === undefined) {
      tier.counters.misses++;
      return undefined;
    }
    tier.counters.bytesRead += bytes.length;
    return this.accept(index, full, bytes, allowStale, mark);
  }

  /**
   * Counts a read answered by another caller's store read of the same key (see Loads), as `below` would have:
   * `source` is the tier that answered, undefined when none did.
   */
  countShared(full: string, source: string | undefined): void {
    if (source === undefined) {
      this.#missed(full);
      return;
    }
    this.#hitBelow(full);
    const emitter = this.#engine.emitter;
    if (emitter.listeners.hit !== undefined) emitter.emit('hit', { key: full, tier: source });
  }

  /** A read the memory tier missed and a store answered, counted for the whole cache. */
  #hitBelow(full: string): void {
    const engine = this.#engine;
    engine.counters.hits++;
    engine.sampling?.below(full, true);
  }

  #missed(full: string): void {
    const engine = this.#engine;
    engine.counters.misses++;
    engine.sampling?.below(full, false);
    if (engine.emitter.listeners.miss !== undefined) engine.emitter.emit('miss', { key: full });
  }

  /** Counts a read answered by a load already running (it is a miss of every tier). */
  joined(full: string): void {
    const engine = this.#engine;
    engine.counters.misses++;
    engine.metrics.joins++;
    engine.sampling?.below(full, false);
  }

  /**
   * An entry read from tier `index`: decoded and checked (expiry, tags, grace), then copied into the memory
   * tier and the stores above. Undefined, counted as that tier's miss, when it cannot be served. Settled at once
   * (no promise) for an entry without tags, which needs no marker read.
   */
  accept(index: number, full: string, bytes: Uint8Array, allowStale: boolean, mark: number): Found | undefined | Promise<Found | undefined> {
    const tier = this.#engine.stack.tiers[index] as StoreTier;
    const opened = this.open(tier, full, bytes);
    if (opened === undefined) return undefined;
    const stored = this.#engine.stamps.storedVerdict(opened.entry);
    if (typeof stored === 'number') return this.#served(index, full, bytes, opened.value, opened.entry, stored, mark);
    return stored.then((verdict) => {
      if (verdict === INVALID || (verdict === STALE && !allowStale)) {
        tier.counters.misses++;
        return undefined;
      }
      return this.#served(index, full, bytes, opened.value, opened.entry, verdict, mark);
    });
  }

  #served(index: number, full: string, bytes: Uint8Array, value: unknown, entry: DecodedEntry, verdict: number, mark: number): Found {
    const engine = this.#engine;
    const tier = engine.stack.tiers[index] as StoreTier;
    tier.counters.hits++;
    if (verdict === STALE) tier.counters.stale++;
    engine.counters.storeHits++;
    this.#copyUp(index, full, value, bytes, entry, mark);
    if (engine.emitter.listeners.hit !== undefined) engine.emitter.emit('hit', { key: full, tier: tier.name });
    return { value, source: tier.name, stale: verdict === STALE, createdAt: entry.createdAt, freshUntil: entry.freshUntil ?? entry.expiresAt };
  }

  /** Copies a store hit into the memory tier and the stores above, unless the key was written or invalidated meanwhile. */
  #copyUp(index: number, full: string, value: unknown, bytes: Uint8Array, entry: DecodedEntry, mark: number, now = this.#engine.clock.now()): void {
    const engine = this.#engine;
    if (engine.fences.fencedSince(full, mark)) return;
    if (entry.freshUntil !== undefined) engine.graceUsed = true;
    engine.memory.set(full, value, engine.memorySize(full, entry.value.length), engine.memoryDeadline(entry.expiresAt, now), metaOf(entry));
    // A copy: the bytes may be a view into the store's read buffer, which the stores above could keep.
    if (index > 0) engine.stack.backfill(full, bytes.slice(), entry.expiresAt, entry.createdAt, index);
  }

  /** Decodes a stored entry; undefined (a miss, reported on `error`) when it is expired, a lease entry, or unreadable. */
  open(tier: StoreTier, full: string, bytes: Uint8Array, now = this.#engine.clock.now()): { value: unknown; entry: DecodedEntry } | undefined {
    const engine = this.#engine;
    try {
      const entry = decodeEntry(bytes, full);
      if (entry.lease || entry.expiresAt <= now) {
        tier.counters.misses++;
        return undefined;
      }
      return { value: engine.codec.decode(entry.value, full), entry };
    } catch (error) {
      tier.counters.misses++;
      engine.emitter.reportError(error, `${tier.name}.decode`, full);
      return undefined;
    }
  }

  /** The values of `fulls`, in order (undefined for misses). Stores are asked once per tier, for the misses only. */
  async many(fulls: readonly string[]): Promise<(Found | { value: unknown } | undefined)[]> {
    const engine = this.#engine;
    const stack = engine.stack;
    const results = new Array<Found | { value: unknown } | undefined>(fulls.length).fill(undefined);
    let missing: number[] = [];
    for (let i = 0; i < fulls.length; i++) {
      const full = fulls[i] as string;
      const looked = this.hot(full);
      if (looked >= 0) results[i] = { value: engine.memory.valueAt(looked) };
      else if (looked === CHECK) {
        const found = await this.checked(full, false);
        if (found === undefined) missing.push(i);
        else results[i] = found;
      } else missing.push(i);
    }
    const mark = engine.fences.mark();
    for (let t = 0; t < stack.tiers.length && missing.length > 0; t++) {
      const tier = stack.tiers[t] as StoreTier;
      const count = missing.length;
      const storeKeys = new Array<string>(count);
      for (let j = 0; j < count; j++) storeKeys[j] = stack.storeKey(fulls[missing[j] as number] as string);
      const got = await stack.getMany(tier, storeKeys);
      if (got === undefined) continue;
      // One clock reading for the whole batch: every entry is judged against the moment its reply arrived.
      const now = engine.clock.now();
      const opened = new Array<{ value: unknown; entry: DecodedEntry } | undefined>(count);
      // Entries without tags or grace are settled here; only the others wait for their markers.
      const verdicts = new Array<number | Promise<number>>(count);
      let waiting = false;
      for (let j = 0; j < count; j++) {
        const bytes = got[j];
        const found = bytes === undefined ? undefined : this.open(tier, fulls[missing[j] as number] as string, bytes, now);
        opened[j] = found;
        const verdict = found === undefined ? INVALID : engine.stamps.storedVerdict(found.entry);
        if (typeof verdict !== 'number') waiting = true;
        verdicts[j] = verdict;
      }
      const settled = waiting ? await Promise.all(verdicts.map((v) => Promise.resolve(v))) : (verdicts as number[]);
      const stillMissing: number[] = [];
      for (let j = 0; j < count; j++) {
        const index = missing[j] as number;
        const full = fulls[index] as string;
        const bytes = got[j];
        const found = settled[j] === FRESH ? opened[j] : undefined;
        if (found === undefined) {
          if (bytes === undefined || opened[j] !== undefined) tier.counters.misses++;
          stillMissing.push(index);
          continue;
        }
        tier.counters.hits++;
        engine.counters.storeHits++;
        this.#hitBelow(full);
        this.#copyUp(t, full, found.value, bytes as Uint8Array, found.entry, mark, now);
        if (engine.emitter.listeners.hit !== undefined) engine.emitter.emit('hit', { key: full, tier: tier.name });
        results[index] = found;
      }
      missing = stillMissing;
    }
    for (const index of missing) this.#missed(fulls[index] as string);
    return results;
  }

  /** Finds the first tier holding a live entry, without counting a read or backfilling. */
  async locate(full: string): Promise<KeyInfo | undefined> {
    const engine = this.#engine;
    const memory = engine.memory;
    const slot = memory.peek(full);
    const meta = slot >= 0 ? (memory.metaOf(slot) as TagMeta | undefined) : undefined;
    const verdict = slot < 0 || meta === undefined ? FRESH : await engine.stamps.verdict(meta);
    if (slot >= 0 && verdict !== INVALID && memory.peek(full) === slot) {
      const staleUntil = memory.expiresAtOf(slot);
      return info(full, 'memory', memory.sizeOf(slot), memory.createdAtOf(slot), meta?.freshUntil ?? staleUntil, staleUntil, meta?.tags, verdict, engine.clock.now());
    }
    for (const tier of engine.stack.tiers) {
      const bytes = await engine.stack.get(tier, full);
      if (bytes === undefined) continue;
      tier.counters.bytesRead += bytes.length;
      let entry;
      try {
        entry = decodeEntry(bytes, full);
      } catch (error) {
        engine.emitter.reportError(error, `${tier.name}.decode`, full);
        continue;
      }
      const now = engine.clock.now();
      if (entry.lease || entry.expiresAt <= now) continue;
      const stored = await engine.stamps.storedVerdict(entry);
      if (stored === INVALID) continue;
      return info(full, tier.name, bytes.length, entry.createdAt, entry.freshUntil ?? entry.expiresAt, entry.expiresAt, entry.tags, stored, now);
    }
    return undefined;
  }
}

function info(key: string, tier: string, sizeBytes: number, createdAt: number, freshUntil: number, staleUntil: number, tags: readonly string[] | undefined, verdict: number, now: number): KeyInfo {
  return {
    key,
    exists: true,
    tier,
    ttlRemaining: Math.max(0, freshUntil - now),
    sizeBytes,
    createdAt: new Date(createdAt),
    expiresAt: new Date(freshUntil),
    staleUntil: new Date(staleUntil),
    tags: [...(tags ?? [])],
    stale: verdict === STALE || freshUntil <= now,
  };
}
