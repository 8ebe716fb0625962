import type { TimeSource } from '../clock.js';
import { createdAtOf } from '../entry.js';
import { CacheBackendError, isCacheError } from '../errors.js';
import { Histogram } from '../observe/histogram.js';
import type { Store } from '../stores/contract.js';
import { adaptStore, type StoreOps } from './adapter.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  /**
   * Consecutive failures that open the breaker.
   * @default 5
   */
  failures?: number;
  /**
   * How long an open breaker skips the store before letting one probe through (half-open), in ms or a duration.
   * @default '5s'
   */
  cooldown?: number | string;
}

export interface StoreTierOptions {
  store: Store;
  /**
   * Longest an entry may live in this tier (shorter than the entry's own TTL caps it here only).
   * @default none (the entry's own TTL)
   */
  maxTtl?: number | string;
  /**
   * Longest a single operation on this store may take before it counts as failed, in ms or a duration.
   * @default '1s'
   */
  timeout?: number | string;
  /**
   * When to stop calling a failing store, and when to try it again.
   * @default { failures: 5, cooldown: '5s' }
   */
  breaker?: BreakerOptions;
  /**
   * Most keys whose failed writes wait for the store to come back. Past it, the oldest pending writes are
   * dropped (and an `error` event says so), deletions last.
   * @default 10000
   */
  maxPendingWrites?: number;
}

export interface TierCounters {
  hits: number;
  misses: number;
  sets: number;
  deletes: number;
  errors: number;
  timeouts: number;
  /** Calls not sent because the breaker was open. */
  skipped: number;
  /** Of the hits, those served stale (soft-expired, or within grace) to a caller that accepts stale values. */
  stale: number;
  /** Bytes of entries read from the store (hits and misses that came back with bytes). */
  bytesRead: number;
  /** Bytes of entries written to the store. */
  bytesWritten: number;
}

/** The operations a store tier's latency is measured by. */
export type LatencyOperation = 'get' | 'set' | 'delete' | 'batch' | 'other';

/** Every store call's duration by operation (ms), and what the breaker did. Monotonic; never reset. */
export interface TierObservations {
  readonly latency: Readonly<Record<LatencyOperation, Histogram>>;
  /** Times the breaker opened. */
  opened: number;
  /** Times it closed again after a probe succeeded. */
  closed: number;
  /** Writes replayed to the store after it came back. */
  replayed: number;
}

const LATENCY_OF: Readonly<Record<string, LatencyOperation>> = {
  get: 'get',
  set: 'set',
  delete: 'delete',
  getMany: 'batch',
  setMany: 'batch',
  deleteMany: 'batch',
};

interface InFlight {
  deadline: number;
  started: number;
  /** The call is the half-open breaker's probe. */
  probe: boolean;
  latency: Histogram;
  reject: (error: unknown) => void;
  operation: string;
  key: string | undefined;
}

/** A write the store missed while it was failing, replayed when it is back. */
export type PendingWrite =
  | { kind: 'set'; bytes: Uint8Array; expiresAt: number; createdAt: number }
  | { kind: 'delete'; at: number };

export interface ResolvedTier {
  readonly store: Store;
  readonly name: string;
  readonly timeoutMs: number;
  readonly maxTtlMs: number;
  readonly breakerFailures: number;
  readonly breakerCooldownMs: number;
  readonly maxPendingWrites: number;
}

/**
 * One store in the tier stack: every call goes through a timeout and a circuit breaker, and writes that
 * fail are remembered (last write per key) to be replayed when the store answers again.
 */
export class StoreTier {
  readonly store: Store;
  /** What every call goes to: the store's operations and their emulations, chosen once here. */
  readonly ops: StoreOps;
  readonly name: string;
  readonly timeoutMs: number;
  readonly maxTtlMs: number;
  readonly counters: TierCounters = { hits: 0, misses: 0, sets: 0, deletes: 0, errors: 0, timeouts: 0, skipped: 0, stale: 0, bytesRead: 0, bytesWritten: 0 };
  readonly observed: TierObservations = {
    latency: { get: new Histogram(), set: new Histogram(), delete: new Histogram(), batch: new Histogram(), other: new Histogram() },
    opened: 0,
    closed: 0,
    replayed: 0,
  };
  readonly pending = new Map<string, PendingWrite>();
  /** A `clear()` that did not reach the store; replayed before any pending write. */
  pendingClear = false;
  #state: BreakerState = 'closed';
  #failures = 0;
  #openedAt = 0;
  #probing = false;
  #replaying = false;
  readonly #inflight = new Set<InFlight>();
  #watchdog: NodeJS.Timeout | undefined;
  readonly #breakerFailures: number;
  readonly #cooldownMs: number;
  readonly #maxPending: number;
  readonly #clock: TimeSource;

  constructor(resolved: ResolvedTier, clock: TimeSource) {
    this.store = resolved.store;
    this.ops = adaptStore(resolved.store, clock);
    this.name = resolved.name;
    this.timeoutMs = resolved.timeoutMs;
    this.maxTtlMs = resolved.maxTtlMs;
    this.#breakerFailures = resolved.breakerFailures;
    this.#cooldownMs = resolved.breakerCooldownMs;
    this.#maxPending = resolved.maxPendingWrites;
    this.#clock = clock;
  }

  get state(): BreakerState {
    if (this.#state === 'open' && this.#clock.now() - this.#openedAt >= this.#cooldownMs) return 'half-open';
    return this.#state;
  }

  /** True when a call may go to the store now: closed, or half-open with no probe in flight. */
  available(): boolean {
    const state = this.state;
    if (state === 'closed') return true;
    if (state === 'half-open' && !this.#probing) return true;
    this.counters.skipped++;
    return false;
  }

  /** The deadline to give this store: the entry's own, capped by the tier's `maxTtl`. */
  deadlineFor(expiresAt: number): number {
    return this.maxTtlMs === Number.POSITIVE_INFINITY ? expiresAt : Math.min(expiresAt, this.#clock.now() + this.maxTtlMs);
  }

  /**
   * Runs one store call under the timeout and the breaker. Rejects with a `CacheBackendError` naming the
   * store; the caller decides whether that reaches the user. One promise per call, settled by the call or by the
   * watchdog: one watchdog timer serves every call in flight, since a timer per call (set, race, clear) measured
   * as a third of the overhead of a Redis read, and each extra promise layer costs a read a few hundred ns.
   */
  run<T>(operation: string, call: (store: StoreOps) => Promise<T>, key?: string): Promise<T> {
    const probe = this.#state !== 'closed';
    if (probe) this.#probing = true;
    const started = performance.now();
    const latency = this.observed.latency[LATENCY_OF[operation] ?? 'other'];
    return new Promise<T>((resolve, reject) => {
      const pending: InFlight = { deadline: started + this.timeoutMs, started, probe, latency, reject, operation, key };
      this.#inflight.add(pending);
      if (this.#watchdog === undefined) this.#startWatchdog();
      let running: Promise<T>;
      try {
        running = call(this.ops);
      } catch (error) {
        this.#fail(pending, error);
        return;
      }
      running.then(
        (value) => {
          if (!this.#inflight.delete(pending)) return;
          latency.record(performance.now() - started);
          if (probe) this.#probing = false;
          this.#succeeded();
          resolve(value);
        },
        (error: unknown) => this.#fail(pending, error),
      );
    });
  }

  /** A call that failed or timed out (unless it was settled already): recorded, and its caller rejected. */
  #fail(pending: InFlight, error: unknown): void {
    if (!this.#inflight.delete(pending)) return;
    pending.latency.record(performance.now() - pending.started);
    if (pending.probe) this.#probing = false;
    this.#failed();
    this.counters.errors++;
    pending.reject(this.#wrap(error, pending.operation, pending.key));
  }

  /** Whatever the store threw, as a `CacheBackendError` naming the store. */
  #wrap(error: unknown, operation: string, key: string | undefined): unknown {
    if (isCacheError(error) && error.code === 'E_BACKEND') return error;
    return new CacheBackendError(`${this.name}: ${operation} failed: ${error instanceof Error ? error.message : String(error)}`, {
      store: this.name,
      cause: error,
      ...(key === undefined ? {} : { key }),
    });
  }

  #startWatchdog(): void {
    // Checks a few times per timeout period, so a call fails at most a quarter period late.
    const period = Math.max(5, Math.min(250, this.timeoutMs / 4));
    this.#watchdog = setInterval(() => {
      const now = performance.now();
      for (const pending of this.#inflight) {
        if (pending.deadline > now) continue;
        this.counters.timeouts++;
        this.#fail(
          pending,
          new CacheBackendError(
            `${this.name}: ${pending.operation} timed out after ${this.timeoutMs} ms`,
            pending.key === undefined ? { store: this.name } : { store: this.name, key: pending.key },
          ),
        );
      }
      if (this.#inflight.size === 0) {
        clearInterval(this.#watchdog);
        this.#watchdog = undefined;
      }
    }, period);
    this.#watchdog.unref();
  }

  /** Remembers a write the store missed. The newest write of a key replaces older ones. */
  remember(key: string, write: PendingWrite): { dropped: number } {
    this.pending.delete(key);
    this.pending.set(key, write);
    let dropped = 0;
    if (this.pending.size > this.#maxPending) {
      // Drop the oldest sets first: a lost set costs a miss; a lost delete could serve stale data.
      for (const [k, w] of this.pending) {
        if (this.pending.size <= this.#maxPending) break;
        if (w.kind === 'set') {
          this.pending.delete(k);
          dropped++;
        }
      }
      for (const k of this.pending.keys()) {
        if (this.pending.size <= this.#maxPending) break;
        this.pending.delete(k);
        dropped++;
      }
    }
    return { dropped };
  }

  /** True when writes wait to be replayed. */
  get hasPending(): boolean {
    return this.pendingClear || this.pending.size > 0;
  }

  /**
   * Replays what the store missed, oldest first; a clear goes first. An entry the store already holds with a
   * newer `createdAt` than the pending write is left alone: somebody wrote after us. Stops at the first failure
   * and keeps the rest for the next attempt. Resolves to the number of writes applied.
   */
  async replay(storeKey: (key: string) => string): Promise<number> {
    if (this.#replaying || !this.hasPending) return 0;
    this.#replaying = true;
    let applied = 0;
    try {
      if (this.pendingClear) {
        await this.run('clear', (s) => s.clear());
        this.pendingClear = false;
        applied++;
        this.observed.replayed++;
      }
      for (const [key, write] of [...this.pending]) {
        const target = storeKey(key);
        const current = await this.run('get', (s) => s.get(target), key);
        const currentAt = current === undefined ? undefined : createdAtOf(current);
        const writtenAt = write.kind === 'set' ? write.createdAt : write.at;
        if (currentAt === undefined || currentAt <= writtenAt) {
          if (write.kind === 'set') {
            const deadline = this.deadlineFor(write.expiresAt);
            await this.run('set', (s) => s.set(target, write.bytes, deadline), key);
          } else {
            await this.run('delete', (s) => s.delete(target), key);
          }
          applied++;
          this.observed.replayed++;
        }
        // Only forget it if nothing newer was queued for the key meanwhile.
        if (this.pending.get(key) === write) this.pending.delete(key);
      }
      return applied;
    } finally {
      this.#replaying = false;
    }
  }

  #succeeded(): void {
    this.#failures = 0;
    if (this.#state !== 'closed') this.observed.closed++;
    this.#state = 'closed';
  }

  #failed(): void {
    this.#failures++;
    if (this.#state !== 'closed' || this.#failures >= this.#breakerFailures) {
      if (this.#state === 'closed') this.observed.opened++;
      this.#state = 'open';
      this.#openedAt = this.#clock.now();
    }
  }
}
