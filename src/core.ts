import { randomUUID } from 'node:crypto';
import type { BusEnvelope, BusMessage } from './bus/contract.js';
import type { Clock } from './clock.js';
import type { Codec } from './codec/types.js';
import { decodeEntry, type DecodedEntry } from './entry.js';
import { compareStamp, FRESH, INVALID, newStamp, softened, STALE, TagRegistry, UNKNOWN } from './freshness/tags.js';
import { CacheError } from './errors.js';
import { Emitter } from './events.js';
import { escapeSegment, unescapeSegment } from './keys/escape.js';
import { MemoryTier } from './memory/memory-tier.js';
import type { RemovalCause } from './memory/types.js';
import { resolveOptions, type CacheOptions, type ResolvedOptions } from './options.js';
import type { InvalidationEvent, InvalidationRule } from './cache.js';
import type { Store } from './stores/contract.js';
import { StoreTier } from './tiers/store-tier.js';
import { fenceTier as findFenceTier } from './compute/lease.js';

/**
 * Bytes an entry counts for beyond its encoded value and key: the tier's per-entry slots and the key map's
 * share, measured at about this size in `npm run bench`.
 */
export const ENTRY_OVERHEAD_BYTES = 96;

export class Counters {
  hits = 0;
  misses = 0;
  sets = 0;
  deletes = 0;
  evictions = 0;
  expirations = 0;
  /** Reads the memory tier missed but a store answered. */
  storeHits = 0;
}

export interface Prepared {
  /** When the entry is gone (its TTL plus any grace); NaN when the TTL has already passed. */
  deadline: number;
  /** When it stops being fresh, when grace keeps it longer. */
  freshUntil: number | undefined;
  createdAt: number;
  size: number;
  tags: readonly string[] | undefined;
  /** The codec's bytes. */
  encoded: Uint8Array;
}

export interface Found {
  value: unknown;
  source: string;
  /** Soft-expired by a tag, or past its TTL within grace: served only to callers who accept stale values. */
  stale: boolean;
  createdAt: number;
  /** When it stops (or stopped) being fresh. */
  freshUntil: number;
}

/** What the memory tier keeps beside a tagged entry or one kept for grace (untagged: empty lists). */
export interface TagMeta {
  readonly tags: readonly string[];
  readonly stamps: readonly string[];
  /** Set when the entry outlives its freshness for grace. */
  readonly freshUntil: number | undefined;
  /** The registry version at which the tags were last found fresh: until it moves, no need to look again. */
  verified: number;
}

const NO_TAGS: readonly string[] = Object.freeze([]);

/** Tag markers live this long in the stores: longer than any entry they cover, in practice forever. */
const MARKER_TTL_MS = 10 * 365 * 86_400_000;
// The key of a tag's marker in the stores. User keys cannot hold control characters, so none can collide.
const MARKER = '\u0001tag:';
// A dependency edge: DEPENDENCY + escaped source + ':' + escaped dependent; listing by prefix finds a source's dependents.
const DEPENDENCY = '\u0001dep:';

const EVENT_LOG = '\u0001events';
const GENERATION_STRIPES = 4096;

/** FNV-1a over the UTF-16 units, folded to a stripe. */
function stripeOf(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  return (hash >>> 0) & (GENERATION_STRIPES - 1);
}
const EVENTS_KEPT = 1_000;

/** A load in progress for one key (single-flight). */
export interface Flight {
  promise: Promise<unknown>;
  /** The tags the result will carry: invalidating one of them fences the flight too. */
  tags: readonly string[] | undefined;
  /** Set when the key was invalidated or written while the loader ran: its result must not be cached. */
  fenced: boolean;
  /** Aborts the loader's signal (hard timeout, close). */
  readonly controller: AbortController;
}

/** A loader failure remembered for a key: fail-safe back-off (a stale value is served) or negative caching. */
export interface Failure {
  readonly until: number;
  /** Set for negative caching: the error every caller gets until `until`. */
  readonly error: unknown;
  readonly negative: boolean;
}

interface TagBatch {
  hard: Set<string>;
  soft: Set<string>;
  done: Promise<void>;
}
export function isInternalKey(key: string): boolean {
  return key.charCodeAt(0) === 1;
}

/** State shared by a cache and its namespace views: the tiers, the bus, counters and events. */
export class Core {
  readonly options: ResolvedOptions;
  readonly clock: Clock;
  readonly codec: Codec;
  readonly emitter = new Emitter();
  readonly memory: MemoryTier<unknown>;
  readonly tiers: readonly StoreTier[];
  counters = new Counters();
  closed = false;
  readonly #replayTimers = new Set<NodeJS.Timeout>();
  /** Identifies this instance on the bus. */
  readonly origin = randomUUID();
  #seq = 0;
  readonly #lastSeq = new Map<string, number>();
  /** Resolves when the bus (if any) is subscribed. */
  readonly ready: Promise<void>;
  readonly tags: TagRegistry;
  /** The invalidation log, newest last, bounded. */
  readonly events: InvalidationEvent[] = [];
  #eventId = 0;
  #logWrites: Promise<void> = Promise.resolve();
  #tagBatch: TagBatch | undefined;
  /** Loads in progress, by full key. */
  readonly flights = new Map<string, Flight>();
  /** Recent loader failures by full key (bounded like the tag registry). */
  readonly failures = new Map<string, Failure>();
  /**
   * Write generations, striped by key hash: a write or invalidation of a key bumps its stripe, a wider one bumps
   * `#generationAll`. A store read copies what it found into the tiers above only if its key's generation did
   * not move while it read: otherwise the copy could land after the write or invalidation and outlive it.
   */
  readonly #generations = new Uint32Array(GENERATION_STRIPES);
  #generationAll = 0;
  /** Loads waiting for another instance's lease on a key, woken by its announcement. */
  readonly #keyWaiters = new Map<string, Set<() => void>>();
  #fenceTier: StoreTier | undefined | null = null;
  /** Invalidation rules (seed 001), in the order they were added. */
  readonly rules: InvalidationRule[] = [];
  readonly #dependents = new Map<string, Set<string>>();
  /**
   * Whether the registry's stamps can be trusted without asking the store: with no store (the registry is the
   * truth) or with a bus (other instances announce their tag invalidations).
   */
  readonly trustRegistry: boolean;

  constructor(options: CacheOptions) {
    this.options = resolveOptions(options);
    this.clock = this.options.clock;
    this.codec = this.options.codec;
    this.memory = new MemoryTier<unknown>({
      maxEntries: this.options.maxEntries,
      maxBytes: this.options.maxBytes,
      policy: this.options.policy,
      clock: this.clock,
      sweepInterval: this.options.sweepInterval,
      onRemove: (key, cause) => this.onRemove(key, cause),
    });
    this.tiers = this.options.tiers.map((tier) => new StoreTier(tier, this.clock));
    this.tags = new TagRegistry(this.options.maxTags);
    this.trustRegistry = this.tiers.length === 0 || this.options.bus !== undefined;
    const bus = this.options.bus;
    this.ready =
      bus === undefined
        ? Promise.resolve()
        : bus.start({
            message: (envelope) => this.receive(envelope),
            reconnected: () => this.recover('reconnect'),
            error: (error) => this.emitter.reportError(error, `${bus.name}.subscribe`),
          });
    // Surfaced through ready() and the error event; never an unhandled rejection.
    this.ready.catch((error: unknown) => this.emitter.reportError(error, 'bus.start'));
  }

  /** Tells the other instances; failures are reported (and thrown in strict mode), never silently lost. */
  async announce(message: BusMessage): Promise<void> {
    const bus = this.options.bus;
    if (bus === undefined) return;
    this.#seq++;
    try {
      await bus.publish({ ...message, origin: this.origin, seq: this.#seq, prefix: this.options.prefix });
    } catch (error) {
      this.storeFailed(error, `${bus.name}.publish`, message.type === 'keys' && message.keys.length === 1 ? message.keys[0] : undefined);
    }
  }

  receive(envelope: BusEnvelope): void {
    if (envelope.origin === this.origin || envelope.prefix !== this.options.prefix || this.closed) return;
    const last = this.#lastSeq.get(envelope.origin);
    if (last !== undefined && envelope.seq <= last) return;
    this.#lastSeq.set(envelope.origin, envelope.seq);
    if (last !== undefined && envelope.seq !== last + 1) {
      // Something between last and this one never arrived: whatever it invalidated may still be here.
      this.recover('gap', envelope.origin);
      return;
    }
    switch (envelope.type) {
      case 'keys':
        for (const key of envelope.keys) {
          this.memory.delete(key);
          this.fence(key);
          const waiters = this.#keyWaiters.get(key);
          if (waiters !== undefined) for (const wake of [...waiters]) wake();
        }
        break;
      case 'clear':
        this.memory.clear();
        this.fenceWhere(() => true);
        break;
      case 'namespace':
        for (const key of [...this.memory.keys()]) if (key.startsWith(envelope.namespace)) this.memory.delete(key);
        this.fenceWhere((key) => key.startsWith(envelope.namespace));
        break;
      case 'tags': {
        // With a marker store, the store orders concurrent invalidations of one tag (its last write wins),
        // and this message may be older than a stamp set here since: read the store again instead.
        if (this.markerTier === undefined) envelope.tags.forEach((tag, i) => this.tags.set(tag, envelope.stamps[i] as string));
        else this.tags.forget(envelope.tags);
        const changed = new Set(envelope.tags);
        for (const flight of this.flights.values()) if (flight.tags?.some((tag) => changed.has(tag)) === true) flight.fenced = true;
        break;
      }
      case 'pattern': {
        const match = globToRegExp(envelope.pattern);
        for (const key of [...this.memory.keys()]) if (match.test(key)) this.memory.delete(key);
        this.fenceWhere((key) => match.test(key));
        break;
      }
    }
    if (this.emitter.listeners.remote !== undefined) {
      this.emitter.emit('remote', envelope.type === 'keys' ? { origin: envelope.origin, type: 'keys', keys: envelope.keys } : { origin: envelope.origin, type: envelope.type });
    }
  }

  recover(reason: 'gap' | 'reconnect', origin?: string): void {
    const dropped = this.memory.count;
    this.memory.clear();
    this.tags.clear();
    this.fenceWhere(() => true);
    if (this.emitter.listeners.recover !== undefined) {
      this.emitter.emit('recover', origin === undefined ? { reason, dropped } : { reason, dropped, origin });
    }
  }

  onRemove(key: string, cause: RemovalCause): void {
    if (cause === 'capacity') {
      this.counters.evictions++;
      if (this.emitter.listeners.evict !== undefined) this.emitter.emit('evict', { key, tier: 'memory' });
    } else {
      this.counters.expirations++;
      if (this.emitter.listeners.expire !== undefined) this.emitter.emit('expire', { key, tier: 'memory' });
    }
  }

  storeKey(full: string): string {
    return this.options.prefix === '' ? full : this.options.prefix + full;
  }

  memoryDeadline(expiresAt: number, now: number): number {
    const cap = this.options.memoryMaxTtl;
    return cap === Number.POSITIVE_INFINITY ? expiresAt : Math.min(expiresAt, now + cap);
  }

  /**
   * A store call that failed: told to `error` listeners, thrown in strict mode. Returns normally otherwise
   * so the caller carries on with the other tiers.
   */
  storeFailed(error: unknown, operation: string, key: string | undefined): void {
    this.emitter.reportError(error, operation, key);
    if (this.options.strict) throw error;
  }

  /** Runs a store call; undefined when it failed or was skipped (and strict mode is off). */
  async attempt<T>(tier: StoreTier, operation: string, call: (store: Store) => Promise<T>, key?: string): Promise<T | undefined> {
    if (!tier.available()) {
      if (this.options.strict) {
        throw new CacheError('E_BACKEND', `${tier.name}: circuit breaker is open; ${operation} not attempted`, key === undefined ? {} : { key });
      }
      return undefined;
    }
    try {
      const result = await tier.run(operation, call, key);
      if (tier.hasPending) this.scheduleReplay(tier, 0);
      return result;
    } catch (error) {
      this.storeFailed(error, `${tier.name}.${operation}`, key);
      return undefined;
    }
  }

  /** Applies a write to a store, or remembers it for replay when the store cannot take it now. */
  async write(tier: StoreTier, full: string, bytes: Uint8Array | undefined, expiresAt: number, createdAt: number): Promise<boolean> {
    const key = this.storeKey(full);
    const ok =
      bytes === undefined
        ? await this.attempt(tier, 'delete', (s) => s.delete(key), full)
        : await this.attempt(tier, 'set', (s) => s.set(key, bytes, tier.deadlineFor(expiresAt)).then(() => true), full);
    if (ok === undefined) {
      const pending = bytes === undefined ? { kind: 'delete' as const, at: createdAt } : { kind: 'set' as const, bytes, expiresAt, createdAt };
      this.remember(tier, full, pending);
      return false;
    }
    if (bytes === undefined) tier.counters.deletes++;
    else tier.counters.sets++;
    return ok;
  }

  remember(tier: StoreTier, full: string, write: Parameters<StoreTier['remember']>[1]): void {
    const { dropped } = tier.remember(full, write);
    if (dropped > 0) {
      this.emitter.reportError(
        new CacheError('E_BACKEND', `${tier.name}: ${dropped} pending writes dropped; the queue is full`),
        `${tier.name}.replay`,
      );
    }
    this.scheduleReplay(tier, tier.timeoutMs);
  }

  /** Tries the replay after `delayMs`, again and again while the store keeps failing. Never keeps the process alive. */
  scheduleReplay(tier: StoreTier, delayMs: number): void {
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.#replayTimers.delete(timer);
      if (this.closed || !tier.hasPending) return;
      if (!tier.available()) {
        this.scheduleReplay(tier, Math.max(100, tier.timeoutMs));
        return;
      }
      // Deliberately not awaited: the replay runs beside the caller's traffic and reports its own failures.
      tier.replay((key) => this.storeKey(key)).then(
        () => {
          if (tier.hasPending) this.scheduleReplay(tier, tier.timeoutMs);
        },
        (error: unknown) => {
          this.emitter.reportError(error, `${tier.name}.replay`);
          this.scheduleReplay(tier, Math.max(100, tier.timeoutMs));
        },
      );
    }, delayMs);
    timer.unref();
    this.#replayTimers.add(timer);
  }

  /**
   * Reads down the store tiers. On a hit, the memory tier and the stores above the one that answered are
   * backfilled with the entry's remaining TTL (the deadline travels in the entry).
   */
  async readStores(full: string, allowStale = false): Promise<Found | undefined> {
    const key = this.storeKey(full);
    const generation = this.generationOf(full);
    for (let i = 0; i < this.tiers.length; i++) {
      const tier = this.tiers[i] as StoreTier;
      const bytes = await this.attempt(tier, 'get', (s) => s.get(key), full);
      if (bytes === undefined) {
        tier.counters.misses++;
        continue;
      }
      const found = await this.accept(i, full, bytes, allowStale, generation);
      if (found !== undefined) return found;
    }
    return undefined;
  }

  /**
   * An entry read from tier `index`: decoded and checked (expiry, tags, grace), then copied into the memory
   * tier and the stores above. Undefined, counted as that tier's miss, when it cannot be served.
   */
  async accept(index: number, full: string, bytes: Uint8Array, allowStale: boolean, generation: number): Promise<Found | undefined> {
    const tier = this.tiers[index] as StoreTier;
    const found = this.open(tier, full, bytes);
    if (found === undefined) return undefined;
    const { value, entry } = found;
    const verdict = await this.storedVerdict(entry);
    if (verdict === INVALID || (verdict === STALE && !allowStale)) {
      tier.counters.misses++;
      return undefined;
    }
    tier.counters.hits++;
    this.counters.storeHits++;
    if (this.generationOf(full) === generation) {
      const now = this.clock.now();
      this.memory.set(full, value, this.memorySize(full, entry.value.length), this.memoryDeadline(entry.expiresAt, now), metaOf(entry));
      if (index > 0) this.backfill(full, bytes, entry.expiresAt, entry.createdAt, index);
    }
    if (this.emitter.listeners.hit !== undefined) this.emitter.emit('hit', { key: full, tier: tier.name });
    return { value, source: tier.name, stale: verdict === STALE, createdAt: entry.createdAt, freshUntil: entry.freshUntil ?? entry.expiresAt };
  }

  /** Resolves when another instance announces a write or invalidation of `full`, or after `ms`. */
  waitForKey(full: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let waiters = this.#keyWaiters.get(full);
      if (waiters === undefined) this.#keyWaiters.set(full, (waiters = new Set()));
      const set = waiters;
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0 && this.#keyWaiters.get(full) === set) this.#keyWaiters.delete(full);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
    });
  }

  /** The store tier that fences loads across processes (see compute/lease.ts), found once. */
  get fenceTier(): StoreTier | undefined {
    if (this.#fenceTier === null) this.#fenceTier = findFenceTier(this.tiers);
    return this.#fenceTier;
  }

  /** Decodes a stored entry; undefined (a miss, reported on `error`) when it is expired or unreadable. */
  open(tier: StoreTier, full: string, bytes: Uint8Array): { value: unknown; entry: ReturnType<typeof decodeEntry> } | undefined {
    try {
      const entry = decodeEntry(bytes, full);
      if (entry.lease || entry.expiresAt <= this.clock.now()) {
        tier.counters.misses++;
        return undefined;
      }
      return { value: this.codec.decode(entry.value, full), entry };
    } catch (error) {
      tier.counters.misses++;
      this.emitter.reportError(error, `${tier.name}.decode`, full);
      return undefined;
    }
  }

  /** Writes an entry found in tier `below` into the stores above it, in the background. */
  backfill(full: string, bytes: Uint8Array, expiresAt: number, createdAt: number, below: number): void {
    for (let i = 0; i < below; i++) {
      const tier = this.tiers[i] as StoreTier;
      // Deliberately not awaited: a read must not wait for the tiers it did not need; failures are reported.
      this.write(tier, full, bytes, expiresAt, createdAt).catch((error: unknown) => this.emitter.reportError(error, `${tier.name}.backfill`, full));
    }
  }

  /**
   * The memory-tier slot of a fresh entry (counted as a hit), or -1: the hot path of every read. Allocates
   * nothing; an entry whose tags need a closer look (unknown or changed stamps) returns -1 for the slow path.
   */
  freshSlot(full: string): number {
    const slot = this.memory.find(full);
    if (slot < 0) return -1;
    const meta = this.memory.metaOf(slot) as TagMeta | undefined;
    if (meta !== undefined && this.registryVerdict(meta) !== FRESH) return -1;
    this.counters.hits++;
    if (this.emitter.listeners.hit !== undefined) this.emitter.emit('hit', { key: full, tier: 'memory' });
    return slot;
  }

  /** The verdict the registry and the clock can give without asking a store (UNKNOWN when a stamp is not known). */
  registryVerdict(meta: TagMeta): number {
    const registry = this.tags;
    if (meta.verified !== registry.version && meta.tags.length !== 0) {
      const tags = registry.verdict(meta.tags, meta.stamps);
      if (tags !== FRESH) return tags;
      meta.verified = registry.version;
    }
    return meta.freshUntil !== undefined && meta.freshUntil <= this.clock.now() ? STALE : FRESH;
  }

  /**
   * A write or invalidation of `full` happened: a load already running for it (other than `writer`, the load
   * doing the write) must not cache its result, and a remembered loader failure no longer applies.
   */
  fence(full: string, writer?: Flight): void {
    (this.#generations[stripeOf(full)] as number)++;
    const flight = this.flights.get(full);
    if (flight !== undefined && flight !== writer) flight.fenced = true;
    if (this.failures.size > 0) this.failures.delete(full);
  }

  /**
   * Forgets `flight` once its promise settles (unless another load replaced it meanwhile). Also marks a rejection
   * handled: a background refresh's failure is remembered, not thrown at nobody.
   */
  untrackWhenSettled(full: string, flight: Flight): void {
    const settle = () => {
      if (this.flights.get(full) === flight) this.flights.delete(full);
    };
    flight.promise.then(settle, settle);
  }

  fenceWhere(test: (full: string) => boolean): void {
    this.#generationAll++;
    for (const [key, flight] of this.flights) if (test(key)) flight.fenced = true;
    for (const key of this.failures.keys()) if (test(key)) this.failures.delete(key);
  }

  /** Changes whenever `full` may have been written or invalidated (see `#generations`). */
  generationOf(full: string): number {
    return (this.#generations[stripeOf(full)] as number) + this.#generationAll;
  }

  /** Remembers a loader failure (bounded: the oldest are forgotten first). */
  rememberFailure(full: string, failure: Failure): void {
    this.failures.delete(full);
    this.failures.set(full, failure);
    if (this.failures.size > this.options.maxTags) this.failures.delete(this.failures.keys().next().value as string);
  }

  /** The failure still in force for `full`, if any. */
  failureOf(full: string): Failure | undefined {
    const failure = this.failures.get(full);
    if (failure === undefined) return undefined;
    if (failure.until > this.clock.now()) return failure;
    this.failures.delete(full);
    return undefined;
  }

  record(event: Omit<InvalidationEvent, 'id' | 'at'>): void {
    const full: InvalidationEvent = { ...event, id: `${this.origin}-${++this.#eventId}`, at: new Date(this.clock.now()) };
    this.events.push(full);
    if (this.events.length > EVENTS_KEPT) this.events.splice(0, this.events.length - EVENTS_KEPT);
    const tier = this.markerTier;
    if (tier?.store.appendLog === undefined) return;
    const record = new TextEncoder().encode(JSON.stringify({ ...full, at: full.at.getTime() }));
    // Chained, so a reader can wait for every append made before it asked.
    this.#logWrites = this.#logWrites.then(() =>
      this.attempt(tier, 'appendLog', (s) => (s.appendLog as NonNullable<Store['appendLog']>).call(s, EVENT_LOG, record, EVENTS_KEPT)).then(() => undefined),
    );
  }

  async readEvents(sinceMs: number, limit: number): Promise<InvalidationEvent[]> {
    const tier = this.markerTier;
    if (tier?.store.readLog !== undefined) {
      await this.#logWrites;
      const records = await this.attempt(tier, 'readLog', (s) => (s.readLog as NonNullable<Store['readLog']>).call(s, EVENT_LOG, sinceMs, limit));
      if (records !== undefined) {
        const decoder = new TextDecoder();
        return records.flatMap((bytes) => {
          try {
            const raw = JSON.parse(decoder.decode(bytes)) as Omit<InvalidationEvent, 'at'> & { at: number };
            return [{ ...raw, at: new Date(raw.at) }];
          } catch {
            return [];
          }
        });
      }
    }
    const events = this.events.filter((e) => e.at.getTime() >= sinceMs);
    return events.slice(Math.max(0, events.length - limit));
  }

  /** The store that holds tag markers: the first store (the shared one, by convention), if any. */
  get markerTier(): StoreTier | undefined {
    return this.tiers[0];
  }

  /**
   * Current stamps of `tags`, read from the marker store (or the registry, when it can be trusted).
   * `create` writes a marker for tags that have none, so the entry about to be written has something to match.
   */
  async currentStamps(tags: readonly string[], create: boolean): Promise<(string | undefined)[]> {
    const out: (string | undefined)[] = tags.map((tag) => (this.trustRegistry ? this.tags.get(tag) : undefined));
    const missing = tags.map((_, i) => i).filter((i) => out[i] === undefined);
    if (missing.length === 0) return out;
    const tier = this.markerTier;
    if (tier === undefined) {
      // No store: the registry is the only truth, and a forgotten tag starts afresh.
      for (const i of missing) {
        if (!create) continue;
        const stamp = newStamp();
        this.tags.set(tags[i] as string, stamp);
        out[i] = stamp;
      }
      return out;
    }
    const keys = missing.map((i) => this.storeKey(MARKER + (tags[i] as string)));
    const epoch = this.tags.epoch;
    const found = await this.attempt(tier, 'getMany', (s) => (s.getMany === undefined ? Promise.all(keys.map((k) => s.get(k))) : s.getMany(keys)));
    if (found === undefined) return out;
    const decoder = new TextDecoder();
    // Markers missing for several tags are created side by side: one round trip, not one per tag.
    await Promise.all(
      missing.map(async (i, j) => {
        const tag = tags[i] as string;
        let stamp = found[j] === undefined ? undefined : decoder.decode(found[j]);
        if (stamp === undefined && create) {
          const fresh = newStamp();
          const bytes = new TextEncoder().encode(fresh);
          const key = keys[j] as string;
          const deadline = this.clock.now() + MARKER_TTL_MS;
          const added = await this.attempt(tier, 'add', (s) =>
            s.add === undefined ? s.set(key, bytes, deadline).then(() => true) : s.add(key, bytes, deadline),
          );
          if (added === true) stamp = fresh;
          else if (added === false) {
            const now = await this.attempt(tier, 'get', (s) => s.get(key));
            stamp = now === undefined ? undefined : decoder.decode(now);
          }
        }
        if (stamp !== undefined) {
          if (this.tags.epoch === epoch) this.tags.set(tag, stamp);
          out[i] = stamp;
        }
      }),
    );
    return out;
  }

  /** FRESH, STALE or INVALID for an entry's recorded stamps, asking the marker store when needed. */
  async verdict(meta: TagMeta): Promise<number> {
    if (this.trustRegistry || meta.tags.length === 0) {
      const known = this.registryVerdict(meta);
      if (known !== UNKNOWN) return known;
    }
    const current = await this.currentStamps(meta.tags, false);
    let worst = meta.freshUntil !== undefined && meta.freshUntil <= this.clock.now() ? STALE : FRESH;
    for (let i = 0; i < current.length; i++) {
      const stamp = current[i];
      if (stamp === undefined) return INVALID;
      worst = Math.max(worst, compareStamp(meta.stamps[i] as string, stamp));
    }
    return worst;
  }

  /**
   * Replaces the stamps of `tags` (both tokens, or only the soft one) in the marker store, the registry and,
   * through the bus, every other instance. One write per tag, whatever the number of tagged entries.
   * Calls made within the same turn of the event loop (or `invalidationWindow`) are coalesced: one batched
   * store write and one bus message for all of them; each caller's promise settles with the batch.
   */
  invalidateTags(tags: readonly string[], soft: boolean): Promise<void> {
    let batch = this.#tagBatch;
    if (batch === undefined) {
      const created: TagBatch = { hard: new Set(), soft: new Set(), done: undefined as unknown as Promise<void> };
      created.done = new Promise<void>((resolve, reject) => {
        const flush = () => {
          if (this.#tagBatch === created) this.#tagBatch = undefined;
          this.#flushTags(created).then(resolve, reject);
        };
        // Not unref'ed: an unref'ed immediate lets the event loop block in its poll phase, delaying the flush
        // until something else wakes it. Both keep the process alive for one short window at most.
        const window = this.options.invalidationWindow;
        if (window > 0) setTimeout(flush, window);
        else setImmediate(flush);
      });
      this.#tagBatch = batch = created;
    }
    for (const tag of tags) (soft ? batch.soft : batch.hard).add(tag);
    return batch.done;
  }

  /** Sends a pending tag batch now (close() calls it so nothing is lost). */
  async flushInvalidations(): Promise<void> {
    const batch = this.#tagBatch;
    if (batch !== undefined) await batch.done;
  }

  async #flushTags(batch: TagBatch): Promise<void> {
    const hard = [...batch.hard];
    const soft = [...batch.soft].filter((tag) => !batch.hard.has(tag));
    const current = soft.length === 0 ? [] : await this.currentStamps(soft, false);
    const changed: string[] = [];
    const stamps: string[] = [];
    for (const tag of hard) {
      changed.push(tag);
      stamps.push(newStamp());
    }
    soft.forEach((tag, i) => {
      const before = current[i];
      if (before === undefined) return; // no marker: no entry of this tag can still validate
      changed.push(tag);
      stamps.push(softened(before));
    });
    changed.forEach((tag, i) => this.tags.set(tag, stamps[i] as string));
    // A load in progress for a tagged key would hand its waiters a value from before this invalidation.
    for (const flight of this.flights.values()) if (flight.tags?.some((tag) => batch.hard.has(tag) || batch.soft.has(tag)) === true) flight.fenced = true;
    const tier = this.markerTier;
    if (tier !== undefined && changed.length > 0) {
      const now = this.clock.now();
      const encoder = new TextEncoder();
      const writes = changed.map((tag, i) => ({ key: this.storeKey(MARKER + tag), value: encoder.encode(stamps[i]), expiresAt: now + MARKER_TTL_MS }));
      const ok = await this.attempt(tier, 'setMany', (s) =>
        (s.setMany === undefined ? Promise.all(writes.map((w) => s.set(w.key, w.value, w.expiresAt))) : s.setMany(writes)).then(() => true),
      );
      if (ok === undefined) {
        writes.forEach((w, i) => this.remember(tier, MARKER + (changed[i] as string), { kind: 'set', bytes: w.value, expiresAt: w.expiresAt, createdAt: now }));
      } else {
        // Another instance's invalidation of the same tags may have landed just before or after this one; what
        // this instance read meanwhile may be either. The store now holds the winner: read it again.
        this.tags.forget(changed);
      }
    }
    if (changed.length > 0) await this.announce({ type: 'tags', tags: changed, stamps });
  }

  /** Dependents of `full` as recorded here and, where the marker store can list keys, by every instance. */
  async dependentsOf(full: string): Promise<string[]> {
    const out = new Set(this.#dependents.get(full) ?? []);
    const tier = this.markerTier;
    if (tier?.store.keys !== undefined) {
      const head = this.storeKey(DEPENDENCY + escapeSegment(full) + ':');
      const listed = await this.attempt(tier, 'keys', async (s) => {
        const keys: string[] = [];
        for await (const key of (s.keys as (p: string) => AsyncIterable<string>).call(s, head + '*')) if (key.startsWith(head)) keys.push(key);
        return keys;
      });
      for (const key of listed ?? []) out.add(unescapeSegment(key.slice(head.length)));
    }
    return [...out];
  }

  /** Records that `dependent` must go when any of `sources` is invalidated. */
  async addDependency(dependent: string, sources: readonly string[], ttlMs: number): Promise<void> {
    for (const source of sources) {
      let set = this.#dependents.get(source);
      if (set === undefined) {
        set = new Set();
        this.#dependents.set(source, set);
        // Bounded like the tag registry: the oldest sources are forgotten here (the store keeps its copy).
        if (this.#dependents.size > this.options.maxTags) this.#dependents.delete(this.#dependents.keys().next().value as string);
      }
      set.add(dependent);
    }
    const tier = this.markerTier;
    if (tier?.store.keys === undefined) return;
    const now = this.clock.now();
    const one = Uint8Array.of(1);
    await Promise.all(
      sources.map((source) => this.write(tier, DEPENDENCY + escapeSegment(source) + ':' + escapeSegment(dependent), one, now + ttlMs, now)),
    );
  }

  /** Decides an entry read from a store: FRESH, STALE or INVALID. */
  async storedVerdict(entry: DecodedEntry): Promise<number> {
    const meta = metaOf(entry);
    return meta === undefined ? FRESH : this.verdict(meta);
  }

  memorySize(full: string, encodedLength: number): number {
    return encodedLength + 2 * full.length + ENTRY_OVERHEAD_BYTES;
  }

  async close(): Promise<void> {
    await this.flushInvalidations().catch((error: unknown) => this.emitter.reportError(error, 'close.flush'));
    await this.#logWrites;
    for (const timer of this.#replayTimers) clearTimeout(timer);
    this.#replayTimers.clear();
    for (const flight of this.flights.values()) flight.controller.abort(new CacheError('E_CLOSED', 'the cache closed while the loader ran'));
    this.memory.close();
    this.memory.clear();
    const closing = this.tiers.map((tier) => tier.store.close());
    if (this.options.bus !== undefined) closing.push(this.options.bus.close());
    const results = await Promise.allSettled(closing);
    for (const result of results) if (result.status === 'rejected') this.emitter.reportError(result.reason, 'close');
  }
}


/** The memory tier's per-entry data for a decoded entry: its tags and stamps and grace, or nothing. */
export function metaOf(entry: {
  tags: readonly string[] | undefined;
  stamps: readonly string[] | undefined;
  freshUntil?: number | undefined;
}): TagMeta | undefined {
  const tagged = entry.tags !== undefined && entry.stamps !== undefined && entry.tags.length > 0;
  if (!tagged && entry.freshUntil === undefined) return undefined;
  return {
    tags: tagged ? (entry.tags as readonly string[]) : NO_TAGS,
    stamps: tagged ? (entry.stamps as readonly string[]) : NO_TAGS,
    freshUntil: entry.freshUntil,
    verified: -1,
  };
}

/** A glob where `*` is any run and `?` one character; everything else is literal. */
export function globToRegExp(pattern: string): RegExp {
  let source = '^';
  for (const ch of pattern) {
    if (ch === '*') source += '[\\s\\S]*';
    else if (ch === '?') source += '[\\s\\S]';
    else source += ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(source + '$', 'u');
}
