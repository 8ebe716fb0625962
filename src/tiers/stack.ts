import type { TimeSource, TimerHandle } from '../clock.js';
import { storeTraced, traceStore } from '../observe/tracing.js';
import { CacheError } from '../errors.js';
import type { Emitter } from '../events.js';
import type { StoreWrite } from '../stores/contract.js';
import type { StoreOps } from './adapter.js';
import { StoreTier, type PendingWrite, type ResolvedTier } from './store-tier.js';

/** The store that fences loads: the first shared one that can add and compare-and-set atomically. */
function findFenceTier(tiers: readonly StoreTier[]): StoreTier | undefined {
  for (const tier of tiers) {
    const ops = tier.ops;
    if (ops.capabilities.shared && ops.capabilities.atomicAdd && ops.replaceIf !== undefined && ops.add !== undefined) return tier;
  }
  return undefined;
}

/**
 * The shared tiers below the memory tier, in read order: every store call goes through here, under each
 * tier's timeout and breaker, and every write a store missed is remembered and replayed. Calls go to each
 * tier's `ops` (`tiers/adapter.ts`), where the batch fallbacks were chosen once when the tier was built.
 */
export class TierStack {
  readonly tiers: readonly StoreTier[];
  /** The store that holds tag markers, the dependency graph and the shared invalidation log: the first one. */
  readonly markerTier: StoreTier | undefined;
  /** The store that fences loads across processes (see compute/lease.ts). */
  readonly fenceTier: StoreTier | undefined;
  readonly #prefix: string;
  /** The cache's name, for the trace of each store call. */
  readonly #cache: string;
  readonly #clock: TimeSource;
  readonly #emitter: Emitter;
  readonly #strict: boolean;
  readonly #replayTimers = new Set<TimerHandle>();
  #closed = false;

  constructor(tiers: readonly ResolvedTier[], options: { prefix: string; cache: string; clock: TimeSource; emitter: Emitter; strict: boolean }) {
    this.#prefix = options.prefix;
    this.#cache = options.cache;
    this.#clock = options.clock;
    this.#emitter = options.emitter;
    this.#strict = options.strict;
    this.tiers = tiers.map((tier) => new StoreTier(tier, options.clock));
    this.markerTier = this.tiers[0];
    this.fenceTier = findFenceTier(this.tiers);
  }

  get length(): number {
    return this.tiers.length;
  }

  /** The key a store sees for a full key: the cache's prefix in front. */
  storeKey(full: string): string {
    return this.#prefix === '' ? full : this.#prefix + full;
  }

  /** The full key of a store key under this cache's prefix, or undefined for a key outside it. */
  fullKeyOf(storeKey: string): string | undefined {
    return storeKey.startsWith(this.#prefix) ? storeKey.slice(this.#prefix.length) : undefined;
  }

  /** Stores that cannot list keys (a pattern or a namespace clear cannot reach into them). */
  unlistable(): StoreTier | undefined {
    return this.tiers.find((tier) => tier.ops.keys === undefined);
  }

  /**
   * A store call that failed: told to `error` listeners, thrown in strict mode. Returns normally otherwise
   * so the caller carries on with the other tiers.
   */
  failed(error: unknown, operation: string, key: string | undefined): void {
    this.#emitter.reportError(error, operation, key);
    if (this.#strict) throw error;
  }

  /** Runs a store call; undefined when it failed or was skipped (and strict mode is off). */
  attempt<T>(tier: StoreTier, operation: string, call: (store: StoreOps) => Promise<T>, key?: string): Promise<T | undefined> {
    if (!tier.available()) {
      if (this.#strict) {
        return Promise.reject(new CacheError('E_BACKEND', `${tier.name}: circuit breaker is open; ${operation} not attempted`, key === undefined ? {} : { key }));
      }
      return Promise.resolve(undefined);
    }
    const running = storeTraced() ? traceStore(this.#cache, tier.name, operation, key, () => tier.run(operation, call, key)) : tier.run(operation, call, key);
    return running.then(
      (result) => {
        if (tier.hasPending) this.scheduleReplay(tier, 0);
        return result;
      },
      (error: unknown) => {
        this.failed(error, `${tier.name}.${operation}`, key);
        return undefined;
      },
    );
  }

  /** One read of a full key (undefined when missing or when the store failed); the caller counts its bytes. */
  get(tier: StoreTier, full: string): Promise<Uint8Array | undefined> {
    const key = this.storeKey(full);
    return this.attempt(tier, 'get', (s) => s.get(key), full);
  }

  /** One batched read of store keys (undefined when the store failed). */
  async getMany(tier: StoreTier, keys: readonly string[], operation = 'getMany'): Promise<(Uint8Array | undefined)[] | undefined> {
    const got = await this.attempt(tier, operation, (s) => s.getMany(keys));
    if (got !== undefined) for (const bytes of got) if (bytes !== undefined) tier.counters.bytesRead += bytes.length;
    return got;
  }

  /** One batched write of store keys; true when the store took it. */
  async setMany(tier: StoreTier, writes: readonly StoreWrite[]): Promise<true | undefined> {
    const ok = await this.attempt(tier, 'setMany', (s) => s.setMany(writes).then(() => true as const));
    if (ok !== undefined) for (const write of writes) tier.counters.bytesWritten += write.value.length;
    return ok;
  }

  /** One batched delete of store keys; how many the store removed, undefined when it failed. */
  deleteMany(tier: StoreTier, keys: readonly string[]): Promise<number | undefined> {
    return this.attempt(tier, 'deleteMany', (s) => s.deleteMany(keys));
  }

  /**
   * Stores only when the key has no live value where the store can tell (its `add`); a store without `add`
   * takes the write unconditionally (`StoreOps.addOrSet`). True when stored, false when taken, undefined when failed.
   */
  add(tier: StoreTier, storeKey: string, bytes: Uint8Array, expiresAt: number): Promise<boolean | undefined> {
    return this.attempt(tier, 'add', (s) => s.addOrSet(storeKey, bytes, expiresAt));
  }

  /** Store keys matching a store-key glob, listed without blocking the store (`keys` must exist). */
  listKeys(tier: StoreTier, pattern: string, accept: (storeKey: string) => boolean): Promise<string[] | undefined> {
    return this.attempt(tier, 'keys', async (s) => {
      if (s.keys === undefined) throw new TypeError(`${tier.name}: the store cannot list keys`);
      const out: string[] = [];
      for await (const key of s.keys(pattern)) if (accept(key)) out.push(key);
      return out;
    });
  }

  /** Applies a write (bytes) or a delete (undefined) to a store, or remembers it for replay when the store cannot take it now. */
  async write(tier: StoreTier, full: string, bytes: Uint8Array | undefined, expiresAt: number, createdAt: number): Promise<boolean> {
    const key = this.storeKey(full);
    const ok =
      bytes === undefined
        ? await this.attempt(tier, 'delete', (s) => s.delete(key), full)
        : await this.attempt(tier, 'set', (s) => s.set(key, bytes, tier.deadlineFor(expiresAt)).then(() => true), full);
    if (ok === undefined) {
      this.remember(tier, full, bytes === undefined ? { kind: 'delete', at: createdAt } : { kind: 'set', bytes, expiresAt, createdAt });
      return false;
    }
    if (bytes === undefined) tier.counters.deletes++;
    else {
      tier.counters.sets++;
      tier.counters.bytesWritten += bytes.length;
    }
    return ok;
  }

  /** Writes an entry to every store (but `skip`, which already has it); one result per store. */
  writeAll(full: string, bytes: Uint8Array, expiresAt: number, createdAt: number, skip?: StoreTier): Promise<boolean[]> {
    return Promise.all(this.tiers.map((tier) => (tier === skip ? Promise.resolve(true) : this.write(tier, full, bytes, expiresAt, createdAt))));
  }

  /** Deletes a key from every store; one result per store (true when a live value was removed). */
  deleteAll(full: string, at: number): Promise<boolean[]> {
    return Promise.all(this.tiers.map((tier) => this.write(tier, full, undefined, 0, at)));
  }

  /** Writes an entry found in tier `below` into the stores above it, in the background. */
  backfill(full: string, bytes: Uint8Array, expiresAt: number, createdAt: number, below: number): void {
    for (let i = 0; i < below; i++) {
      const tier = this.tiers[i] as StoreTier;
      // Deliberately not awaited: a read must not wait for the tiers it did not need; failures are reported.
      this.write(tier, full, bytes, expiresAt, createdAt).catch((error: unknown) => this.#emitter.reportError(error, `${tier.name}.backfill`, full));
    }
  }

  /**
   * Remembers a write the store missed and schedules its replay. When the queue is full the oldest sets are
   * dropped first (a lost set costs a miss; a lost delete could serve stale data), and that is reported.
   */
  remember(tier: StoreTier, full: string, write: PendingWrite): void {
    const { dropped } = tier.remember(full, write);
    if (dropped > 0) {
      this.#emitter.reportError(new CacheError('E_BACKEND', `${tier.name}: ${dropped} pending writes dropped; the queue is full`), `${tier.name}.replay`);
    }
    this.scheduleReplay(tier, tier.timeoutMs);
  }

  /** A clear the store missed: it goes first when the store is back, and makes every older pending write moot. */
  rememberClear(tier: StoreTier): void {
    tier.pendingClear = true;
    tier.pending.clear();
    this.scheduleReplay(tier, tier.timeoutMs);
  }

  /** Tries the replay after `delayMs`, again and again while the store keeps failing. Never keeps the process alive. */
  scheduleReplay(tier: StoreTier, delayMs: number): void {
    if (this.#closed) return;
    const timer = this.#clock.setTimeout(() => {
      this.#replayTimers.delete(timer);
      if (this.#closed || !tier.hasPending) return;
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
          this.#emitter.reportError(error, `${tier.name}.replay`);
          this.scheduleReplay(tier, Math.max(100, tier.timeoutMs));
        },
      );
    }, delayMs);
    this.#replayTimers.add(timer);
  }

  /** Stops the replay timers and closes every store. */
  async close(): Promise<unknown[]> {
    this.#closed = true;
    for (const timer of this.#replayTimers) this.#clock.clearTimeout(timer);
    this.#replayTimers.clear();
    const results = await Promise.allSettled(this.tiers.map((tier) => tier.ops.close()));
    return results.flatMap((result) => (result.status === 'rejected' ? [result.reason as unknown] : []));
  }
}
