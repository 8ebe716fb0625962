import type { WarmRequestMessage } from './bus/contract.js';
import { BusSync, type SyncTarget } from './bus/sync.js';
import { ClientTracking } from './coherence/tracking.js';
import type { TimeSource } from './clock.js';
import type { Codec } from './codec/types.js';
import { Flights } from './compute/flights.js';
import { CacheError } from './errors.js';
import { Emitter } from './events.js';
import { Dependencies } from './freshness/dependencies.js';
import { Fleet } from './fleet/fleet.js';
import { Fences } from './freshness/fencing.js';
import { InvalidationLog } from './freshness/log.js';
import type { PatternMatcher } from './freshness/pattern.js';
import { Rules } from './freshness/rules.js';
import { TagStamps } from './freshness/stamps.js';
import { MemoryTier } from './memory/memory-tier.js';
import { Maintenance } from './observe/maintenance.js';
import { Metrics } from './observe/metrics.js';
import type { RemovalCause } from './memory/types.js';
import { resolveOptions, type CacheOptions, type ResolvedOptions } from './options.js';
import { TierStack } from './tiers/stack.js';

/**
 * Bytes an entry counts for beyond its encoded value and key: the tier's per-entry slots and the key map's
 * share, measured at about this size in `npm run bench`.
 */
export const ENTRY_OVERHEAD_BYTES = 96;

/**
 * The cache's read and write counters: plain fields, bumped as operations happen (O(1) stats). They only
 * grow (the metrics exporters need that); `getStats({ reset })` subtracts a baseline it keeps.
 */
export class Counters {
  hits = 0;
  misses = 0;
  sets = 0;
  deletes = 0;
  evictions = 0;
  expirations = 0;
  /** Reads the memory tier missed but a store answered. */
  storeHits = 0;
  /** Memory-tier hits served stale (soft-expired, or within grace) to callers that accept stale values. */
  memoryStale = 0;
}

/**
 * The rooms a cache and its namespace views share, wired together once: the memory tier, the store tiers
 * (`tiers/stack.ts`), fencing and tag stamps, rules, dependencies and the invalidation log (`freshness/`), the
 * loads in flight (`compute/flights.ts`) and the bus (`bus/sync.ts`). Each room owns its state; the read,
 * write, load and pattern paths (`tiers/reader.ts`, `tiers/writer.ts`, `compute/loads.ts`,
 * `freshness/patterns.ts`) go through their methods.
 */
export class Engine implements SyncTarget {
  readonly options: ResolvedOptions;
  readonly clock: TimeSource;
  readonly codec: Codec;
  readonly emitter = new Emitter();
  readonly counters = new Counters();
  readonly metrics: Metrics;
  /** `metrics` when the hot path samples (detailed metrics on), else undefined: one check per read. */
  readonly sampling: Metrics | undefined;
  readonly memory: MemoryTier<unknown>;
  readonly stack: TierStack;
  readonly flights: Flights;
  readonly fences: Fences;
  readonly stamps: TagStamps;
  readonly rules = new Rules();
  readonly dependencies: Dependencies;
  readonly log: InvalidationLog;
  readonly sync: BusSync;
  /** Redis client tracking (`coherence: 'tracking'`), when on. */
  readonly tracking: ClientTracking | undefined;
  /** The periodic store and bus probes, and the last result of each (`observe/maintenance.ts`). */
  readonly maintenance: Maintenance;
  /** The heartbeat this instance publishes to the first store, and the fleet it reads back (`fleet/fleet.ts`). */
  readonly fleet: Fleet;
  closed = false;
  /** Some entry was written with grace: the TTL means of `getStats` then look at each entry's freshness. */
  graceUsed = false;
  /** What `close()` stops first: monitors, maintenance timers (`observe/`). */
  readonly #closers = new Set<() => void>();
  /** Loads waiting for another instance's lease on a key, woken by its announcement. */
  readonly #keyWaiters = new Map<string, Set<() => void>>();

  constructor(options: CacheOptions) {
    const resolved = resolveOptions(options);
    this.options = resolved;
    this.clock = resolved.clock;
    this.codec = resolved.codec;
    this.metrics = new Metrics(resolved.metrics);
    this.sampling = this.metrics.detailed ? this.metrics : undefined;
    this.memory = new MemoryTier<unknown>({
      maxEntries: resolved.maxEntries,
      maxBytes: resolved.maxBytes,
      policy: resolved.policy,
      clock: this.clock,
      sweepInterval: resolved.sweepInterval,
      onRemove: (key, cause) => this.#onRemove(key, cause),
    });
    this.stack = new TierStack(resolved.tiers, { prefix: resolved.prefix, cache: resolved.name, clock: this.clock, emitter: this.emitter, strict: resolved.strict });
    this.flights = new Flights(resolved.maxTags);
    this.fences = new Fences(this.flights);
    this.sync = new BusSync(
      {
        bus: resolved.bus,
        prefix: resolved.prefix,
        clock: this.clock,
        emitter: this.emitter,
        publishTimeoutMs: resolved.busTimeouts.publishMs,
        connectTimeoutMs: resolved.busTimeouts.connectMs,
        breakerFailures: resolved.busTimeouts.breakerFailures,
        breakerCooldownMs: resolved.busTimeouts.breakerCooldownMs,
      },
      this,
    );
    this.stamps = new TagStamps({
      maxTags: resolved.maxTags,
      hasBus: resolved.bus !== undefined,
      stack: this.stack,
      clock: this.clock,
      flights: this.flights,
      announce: (message) => this.sync.announce(message),
      invalidationWindow: resolved.invalidationWindow,
    });
    this.dependencies = new Dependencies(resolved.maxTags, this.stack, this.clock);
    this.log = new InvalidationLog(this.sync.origin, this.clock, this.stack);
    this.maintenance = new Maintenance(this);
    this.fleet = new Fleet(this, resolved.fleet);
    this.tracking = resolved.coherence === undefined ? undefined : new ClientTracking(resolved.coherence, this);
  }

  #onRemove(key: string, cause: RemovalCause): void {
    if (cause === 'capacity') {
      this.counters.evictions++;
      if (this.emitter.listeners.evict !== undefined) this.emitter.emit('evict', { key, tier: 'memory' });
    } else {
      this.counters.expirations++;
      if (this.emitter.listeners.expire !== undefined) this.emitter.emit('expire', { key, tier: 'memory' });
    }
  }

  /** Bytes an entry counts for in the memory tier. */
  memorySize(full: string, encodedLength: number): number {
    return encodedLength + 2 * full.length + ENTRY_OVERHEAD_BYTES;
  }

  /** The memory tier's deadline for an entry: its own, capped by `memory.maxTtl`. */
  memoryDeadline(expiresAt: number, now: number): number {
    const cap = this.options.memoryMaxTtl;
    return cap === Number.POSITIVE_INFINITY ? expiresAt : Math.min(expiresAt, now + cap);
  }

  /** Drops the memory-tier copies of the keys passing `test` and fences them. */
  dropWhere(test: (full: string) => boolean): string[] {
    const dropped: string[] = [];
    for (const key of this.memory.keys()) if (test(key)) dropped.push(key);
    for (const key of dropped) this.memory.delete(key);
    this.fences.where(test);
    return dropped;
  }

  /** Resolves when another instance announces a write or invalidation of `full`, or after `ms`. */
  waitForKey(full: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let waiters = this.#keyWaiters.get(full);
      if (waiters === undefined) this.#keyWaiters.set(full, (waiters = new Set()));
      const set = waiters;
      const done = () => {
        this.clock.clearTimeout(timer);
        set.delete(done);
        if (set.size === 0 && this.#keyWaiters.get(full) === set) this.#keyWaiters.delete(full);
        resolve();
      };
      const timer = this.clock.setTimeout(done, ms);
      set.add(done);
    });
  }

  // What messages from other instances do here (bus/sync.ts validates and orders them first).

  keys(keys: readonly string[]): void {
    this.metrics.invalidated('keys', 'remote', undefined);
    for (const key of keys) {
      this.memory.delete(key);
      this.fences.key(key);
      const waiters = this.#keyWaiters.get(key);
      if (waiters !== undefined) for (const wake of [...waiters]) wake();
    }
  }

  clear(): void {
    this.metrics.invalidated('clear', 'remote', undefined);
    this.memory.clear();
    this.fences.all();
  }

  namespace(namespace: string): void {
    this.metrics.invalidated('namespace', 'remote', undefined);
    this.dropWhere((key) => key.startsWith(namespace));
  }

  tags(tags: readonly string[], stamps: readonly string[]): void {
    this.metrics.invalidated('tags', 'remote', undefined);
    this.stamps.remote(tags, stamps);
  }

  pattern(matcher: PatternMatcher): void {
    this.metrics.invalidated('pattern', 'remote', undefined);
    this.dropWhere((key) => matcher.test(key));
  }

  warm(request: WarmRequestMessage): void {
    this.fleet.warms.receive(request);
  }

  recover(reason: 'gap' | 'reconnect' | 'publish' | 'tracking', origin?: string): void {
    const dropped = this.memory.count;
    this.memory.clear();
    this.stamps.registry.clear();
    this.fences.all();
    if (this.emitter.listeners.recover !== undefined) {
      this.emitter.emit('recover', origin === undefined ? { reason, dropped } : { reason, dropped, origin });
    }
  }

  /** Runs `stop` when the cache closes (at once if it is closed); returns a function that forgets it. */
  onClose(stop: () => void): () => void {
    if (this.closed) {
      stop();
      return () => undefined;
    }
    this.#closers.add(stop);
    return () => this.#closers.delete(stop);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const stop of this.#closers) {
      try {
        stop();
      } catch (error) {
        this.emitter.reportError(error, 'close');
      }
    }
    this.#closers.clear();
    await this.fleet.close();
    await this.stamps.flush().catch((error: unknown) => this.emitter.reportError(error, 'close.flush'));
    await this.log.flush();
    this.flights.abortAll(new CacheError('E_CLOSED', 'the cache closed while the loader ran'));
    this.memory.close();
    this.memory.clear();
    // Before the stores: tracking hands their connections back with tracking off.
    await this.tracking?.close().catch((error: unknown) => this.emitter.reportError(error, 'close.tracking'));
    const failures = await Promise.all([this.stack.close(), this.sync.close().then(() => [], (error: unknown) => [error])]);
    for (const error of failures.flat()) this.emitter.reportError(error, 'close');
  }
}
