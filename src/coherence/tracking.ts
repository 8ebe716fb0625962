import type { Cluster, Redis } from 'ioredis';
import type { TimeSource, TimerHandle } from '../clock.js';
import { BusTimeoutError, CacheBackendError } from '../errors.js';
import type { ResolvedCoherence } from './options.js';

/** The channel Redis publishes invalidations on for a client that redirects its tracking (RESP2). */
export const INVALIDATE_CHANNEL = '__redis__:invalidate';

/** What tracking changes in the engine; `Engine` has this shape (kept structural so no import cycle forms). */
export interface TrackedEngine {
  readonly clock: TimeSource;
  readonly stack: { storeKey(full: string): string; fullKeyOf(storeKey: string): string | undefined };
  readonly memory: { clear(): void };
  readonly fences: { all(): void };
  readonly emitter: { reportError(error: unknown, operation: string): void };
  /** Drops the keys from memory, fences their loads and wakes waiters (as a bus `keys` message does). */
  keys(keys: readonly string[]): void;
  clear(): void;
  recover(reason: 'tracking'): void;
}

/** Running totals of one cache's tracking. */
export interface TrackingStats {
  /** Keys Redis reported written or deleted by someone else. */
  readonly invalidated: number;
  /** `FLUSHDB`/`FLUSHALL` heard (the memory tier was emptied). */
  readonly flushes: number;
  /** Tracking connections lost (the memory tier was emptied each time). */
  readonly lost: number;
  /** Tracking set up again after a loss. */
  readonly resumed: number;
  /** Connections tracked right now: one per Redis server, one per master on a cluster. */
  readonly connections: number;
}

type Counters = { -readonly [K in keyof TrackingStats]: number };

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 1_000;
/** Connections whose tracking belongs to a cache: a second cache on the same store would redirect it away. */
const claimed = new WeakSet<Redis | Cluster>();

/**
 * Redis client-side caching in broadcast mode for one cache: Redis sends the key of every write under the
 * tracked prefixes to a subscriber connection, and the memory tier drops it.
 *
 * Tracking is switched on for the store's own connection (one per master on a cluster) with `NOLOOP`, so the
 * writes this instance makes are not reported back (they must stay in its memory tier), and redirected to a
 * dedicated subscriber of the same server. Redis sends nothing about writes made while either connection was
 * down, so a lost connection empties the memory tier, and so does setting tracking up again.
 */
export class ClientTracking {
  /** Settles once every server is tracked, or rejects after `connectTimeoutMs` (tracking keeps trying). */
  readonly ready: Promise<void>;
  readonly #engine: TrackedEngine;
  readonly #options: ResolvedCoherence;
  readonly #client: Redis | Cluster;
  readonly #redisPrefix: string;
  readonly #trackArgs: string[];
  readonly #sessions = new Map<Redis, Session>();
  readonly #counters: Counters = { invalidated: 0, flushes: 0, lost: 0, resumed: 0, connections: 0 };
  #markReady: () => void = () => undefined;
  #isReady = false;
  #readyTimer: TimerHandle | undefined;
  #closed = false;

  constructor(options: ResolvedCoherence, engine: TrackedEngine) {
    this.#engine = engine;
    this.#options = options;
    const target = options.store.trackingTarget();
    this.#client = target.client;
    if (claimed.has(this.#client)) {
      throw new TypeError(`coherence: the connection of store ${JSON.stringify(options.storeName)} is already tracked by another cache`);
    }
    claimed.add(this.#client);
    this.#redisPrefix = target.prefix;
    const prefixes = options.prefixes.map((p) => target.prefix + engine.stack.storeKey(p));
    // An empty prefix would be refused by Redis; no PREFIX at all tracks every key, which is what it means.
    this.#trackArgs = prefixes.includes('') ? [] : prefixes.flatMap((p) => ['PREFIX', p]);
    const ms = options.connectTimeoutMs;
    this.ready = new Promise<void>((resolve, reject) => {
      this.#markReady = () => {
        if (this.#readyTimer !== undefined) engine.clock.clearTimeout(this.#readyTimer);
        resolve();
      };
      this.#readyTimer = engine.clock.setTimeout(() => {
        if (!this.#isReady) reject(new BusTimeoutError(`coherence: tracking not set up within ${ms} ms`, { bus: 'tracking', timeoutMs: ms }));
      }, ms);
    });
    // A caller who never awaits ready() must not get an unhandled rejection.
    this.ready.catch(() => undefined);
    if (this.#client.isCluster) {
      const cluster = this.#client as Cluster;
      const sync = () => this.#syncNodes(cluster);
      cluster.on('refresh', sync);
      cluster.on('+node', sync);
      cluster.on('-node', sync);
      if (cluster.status === 'ready') sync();
      else cluster.once('ready', sync);
    } else {
      this.#add(this.#client as Redis);
    }
  }

  get stats(): TrackingStats {
    this.#counters.connections = [...this.#sessions.values()].filter((s) => s.up).length;
    return { ...this.#counters };
  }

  /** Redis client ids of the subscriber connections (one per tracked server), for diagnostics and tests. */
  subscriberIds(): number[] {
    return [...this.#sessions.values()].flatMap((s) => (s.subscriberId === undefined ? [] : [s.subscriberId]));
  }

  /** Redis client ids of the tracked (writing) connections. */
  trackedIds(): number[] {
    return [...this.#sessions.values()].flatMap((s) => (s.writerId === undefined ? [] : [s.writerId]));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#readyTimer !== undefined) this.#engine.clock.clearTimeout(this.#readyTimer);
    await Promise.all([...this.#sessions.values()].map((s) => s.close()));
    this.#sessions.clear();
    claimed.delete(this.#client);
  }

  #syncNodes(cluster: Cluster): void {
    if (this.#closed) return;
    const masters = new Set(cluster.nodes('master'));
    for (const [node, session] of this.#sessions) {
      if (masters.has(node)) continue;
      // A master that left took its reports with it: what it owned may have changed unheard.
      this.#sessions.delete(node);
      if (session.up) this.#lost();
      void session.close();
    }
    for (const node of masters) if (!this.#sessions.has(node)) this.#add(node);
  }

  #add(writer: Redis): void {
    const session = new Session(writer, this);
    this.#sessions.set(writer, session);
    session.open();
  }

  // Called by sessions.

  get closed(): boolean {
    return this.#closed;
  }

  get clock(): TimeSource {
    return this.#engine.clock;
  }

  get stepTimeoutMs(): number {
    return this.#options.connectTimeoutMs;
  }

  trackingCommand(subscriberId: number): string[] {
    return ['TRACKING', 'on', 'REDIRECT', String(subscriberId), 'BCAST', ...this.#trackArgs, 'NOLOOP'];
  }

  /** A session is tracking: whatever the memory tier took in before may have changed unheard. */
  up(wasLost: boolean): void {
    if (wasLost) {
      this.#counters.resumed++;
      this.#engine.recover('tracking');
    } else {
      this.#engine.memory.clear();
      this.#engine.fences.all();
    }
    if (!this.#isReady && [...this.#sessions.values()].every((s) => s.up)) {
      this.#isReady = true;
      this.#markReady();
    }
  }

  /** A session stopped tracking. */
  #lost(): void {
    this.#counters.lost++;
    this.#engine.recover('tracking');
  }

  down(): void {
    if (!this.#closed) this.#lost();
  }

  message(data: unknown): void {
    if (data === null) {
      this.#counters.flushes++;
      this.#engine.clear();
      return;
    }
    if (!Array.isArray(data)) return;
    const fulls: string[] = [];
    for (const item of data as unknown[]) {
      const redisKey = Buffer.isBuffer(item) ? item.toString('utf8') : typeof item === 'string' ? item : undefined;
      if (redisKey === undefined || !redisKey.startsWith(this.#redisPrefix)) continue;
      const full = this.#engine.stack.fullKeyOf(redisKey.slice(this.#redisPrefix.length));
      // Reserved records (\u0001: tag markers, the log, fleet heartbeats) never live in the memory tier.
      if (full !== undefined && full.charCodeAt(0) !== 1) fulls.push(full);
    }
    if (fulls.length === 0) return;
    this.#counters.invalidated += fulls.length;
    this.#engine.keys(fulls);
  }

  error(error: unknown, operation: string): void {
    if (!this.#closed) this.#engine.emitter.reportError(error, operation);
  }
}

/**
 * Tracking of one server: the writing connection (the store's) and the subscriber it redirects to. Any loss
 * tears the subscriber down and builds a new one once the writer is ready: a new subscriber has a new client
 * id, and the writer's tracking must point at it.
 */
class Session {
  up = false;
  subscriberId: number | undefined;
  writerId: number | undefined;
  readonly #writer: Redis;
  readonly #owner: ClientTracking;
  #subscriber: Redis | undefined;
  /** Bumped by every loss, so a set-up overtaken by one stops. */
  #epoch = 0;
  #everUp = false;
  #attempts = 0;
  #retry: TimerHandle | undefined;
  #closed = false;

  constructor(writer: Redis, owner: ClientTracking) {
    this.#writer = writer;
    this.#owner = owner;
    writer.on('close', this.#onWriterClose);
    writer.on('ready', this.#onWriterReady);
  }

  readonly #onWriterClose = (): void => this.#lose();
  readonly #onWriterReady = (): void => {
    if (this.up || this.#subscriber !== undefined) return;
    if (this.#retry !== undefined) this.#owner.clock.clearTimeout(this.#retry);
    this.#retry = undefined;
    this.open();
  };

  /** Sets tracking up once the writer is usable; a writer still connecting is waited for by its `ready`. */
  open(): void {
    if (this.#closed || this.#owner.closed) return;
    const status = this.#writer.status;
    // A lazily created cluster node ('wait') connects on its first command.
    if (status !== 'ready' && status !== 'wait') return;
    const epoch = ++this.#epoch;
    void this.#setUp(epoch).then(
      () => {
        this.#attempts = 0;
      },
      (error: unknown) => {
        if (epoch !== this.#epoch || this.#closed) return;
        this.#owner.error(error, 'tracking');
        this.#teardown();
        this.#later();
      },
    );
  }

  async #setUp(epoch: number): Promise<void> {
    const subscriber = this.#writer.duplicate({ lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, autoResubscribe: false, enableOfflineQueue: true });
    this.#subscriber = subscriber;
    subscriber.on('error', (error: unknown) => this.#owner.error(error, 'tracking.subscriber'));
    subscriber.on('close', () => {
      if (this.#subscriber === subscriber) this.#lose();
    });
    subscriber.on('messageBuffer', (channel: Buffer, data: unknown) => {
      if (this.#subscriber === subscriber && channel.toString() === INVALIDATE_CHANNEL) this.#owner.message(data);
    });
    const step = <T>(work: Promise<T>): Promise<T> => this.#within(work, epoch);
    await step(subscriber.connect());
    const id = Number(await step(subscriber.client('ID')));
    await step(subscriber.subscribe(INVALIDATE_CHANNEL));
    // Off first: a writer that tracked for an older subscriber refuses a second BCAST set-up with overlapping prefixes.
    await step(this.#writer.call('CLIENT', 'TRACKING', 'off'));
    await step(this.#writer.call('CLIENT', ...this.#owner.trackingCommand(id)));
    const writerId = Number(await step(this.#writer.client('ID')));
    if (epoch !== this.#epoch) throw new Error('tracking set-up overtaken by a lost connection');
    this.subscriberId = id;
    this.writerId = writerId;
    this.up = true;
    const wasLost = this.#everUp;
    this.#everUp = true;
    this.#owner.up(wasLost);
  }

  #within<T>(work: Promise<T>, epoch: number): Promise<T> {
    const ms = this.#owner.stepTimeoutMs;
    return new Promise<T>((resolve, reject) => {
      const timer = this.#owner.clock.setTimeout(() => reject(new BusTimeoutError(`coherence: a tracking set-up step took over ${ms} ms`, { bus: 'tracking', timeoutMs: ms })), ms);
      work.then(
        (value) => {
          this.#owner.clock.clearTimeout(timer);
          if (epoch === this.#epoch) resolve(value);
          else reject(new Error('tracking set-up overtaken by a lost connection'));
        },
        (error: unknown) => {
          this.#owner.clock.clearTimeout(timer);
          reject(error instanceof Error ? error : new CacheBackendError(`coherence: ${String(error)}`, { store: 'tracking', cause: error }));
        },
      );
    });
  }

  #lose(): void {
    if (this.#closed) return;
    this.#epoch++;
    const wasUp = this.up;
    this.up = false;
    this.#teardown();
    if (wasUp) this.#owner.down();
    if (this.#retry === undefined) this.#later();
  }

  /** Tries again after a short back-off; the writer's `ready` also starts a set-up as soon as it reconnects. */
  #later(): void {
    if (this.#closed || this.#owner.closed || this.#retry !== undefined) return;
    const ms = Math.min(RETRY_MIN_MS * ++this.#attempts, RETRY_MAX_MS);
    this.#retry = this.#owner.clock.setTimeout(() => {
      this.#retry = undefined;
      if (!this.up && this.#subscriber === undefined) this.open();
      if (!this.up && this.#subscriber === undefined) this.#later();
    }, ms);
  }

  #teardown(): void {
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    this.subscriberId = undefined;
    this.writerId = undefined;
    subscriber?.disconnect();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#epoch++;
    if (this.#retry !== undefined) this.#owner.clock.clearTimeout(this.#retry);
    this.#retry = undefined;
    this.#writer.off('close', this.#onWriterClose);
    this.#writer.off('ready', this.#onWriterReady);
    const wasUp = this.up;
    this.up = false;
    this.#teardown();
    // A connection the user owns is handed back without tracking; the store closes its own anyway.
    if (wasUp && this.#writer.status === 'ready') {
      await this.#within(this.#writer.call('CLIENT', 'TRACKING', 'off'), this.#epoch).catch(() => undefined);
    }
  }
}
