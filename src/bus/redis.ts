import { Redis, Cluster, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';
import { BusTimeoutError, CacheBackendError, isCacheError } from '../errors.js';
import type { Bus, BusEnvelope, BusHandlers } from './contract.js';
import { within } from '../within.js';

export interface RedisBusOptions {
  /** `redis://...` URL of a standalone server. */
  url?: string;
  /** ioredis options for a standalone server. */
  redis?: RedisOptions;
  /** Startup nodes of a Redis Cluster; the bus then uses sharded pub/sub (`SPUBLISH`/`SSUBSCRIBE`). */
  cluster?: ClusterNode[];
  clusterOptions?: ClusterOptions;
  /** A client you own, used to publish (a duplicate subscribes); `close()` leaves it open. */
  client?: Redis | Cluster;
  /**
   * Channel every instance of the application publishes on and listens to.
   * @default 'tiercache:bus'
   */
  channel?: string;
  /** @default 'redis-bus' */
  name?: string;
  /**
   * How long `start()` waits to be connected and subscribed before it rejects with `BusTimeoutError`, in ms. A
   * server that accepts the connection and never answers is caught by this, not by the socket. Also bounds
   * `close()`. The subscriber keeps trying in the background; if it gets through later, the handlers hear
   * `reconnected()`.
   * @default 2000
   */
  connectTimeout?: number;
  /**
   * How long one publish may wait for the server before it rejects with `BusTimeoutError`, in ms. The cache
   * bounds publishes with its own timeout and breaker as well; this one guards other callers of the transport.
   * @default 1000
   */
  publishTimeout?: number;
}

/**
 * Invalidations between instances over Redis pub/sub (sharded pub/sub on a cluster, so one channel lives on
 * one shard instead of being broadcast to every node).
 *
 * @example
 * const cache = new Cache({ stores: [redisStore({ url })], bus: redisBus({ url }) });
 */
export function redisBus(options: RedisBusOptions = {}): Bus {
  return new RedisBus(options);
}

class RedisBus implements Bus {
  readonly name: string;
  readonly #channel: string;
  readonly #publisher: Redis | Cluster;
  readonly #ownsPublisher: boolean;
  readonly #subscriber: Redis | Cluster;

  readonly #sharded: boolean;
  readonly #connectTimeout: number;
  readonly #publishTimeout: number;
  #closed = false;

  constructor(options: RedisBusOptions) {
    this.name = options.name ?? 'redis-bus';
    this.#connectTimeout = timeoutOption(options.connectTimeout, 'connectTimeout', 2_000);
    this.#publishTimeout = timeoutOption(options.publishTimeout, 'publishTimeout', 1_000);
    this.#channel = options.channel ?? 'tiercache:bus';
    if (typeof this.#channel !== 'string' || this.#channel.length === 0) throw new TypeError('channel must be a non-empty string');
    const given = [options.url, options.redis, options.cluster, options.client].filter((o) => o !== undefined).length;
    if (given !== 1) throw new TypeError('redisBus needs exactly one of url, redis, cluster or client');
    // Fail fast while disconnected instead of queueing publishes for an unknown time; the cache treats a lost
    // message as a gap anyway.
    const base: RedisOptions = { maxRetriesPerRequest: 1, connectTimeout: this.#connectTimeout, lazyConnect: true };
    if (options.client !== undefined) {
      this.#publisher = options.client;
      this.#ownsPublisher = false;
    } else if (options.cluster !== undefined) {
      this.#publisher = new Cluster(options.cluster, { ...options.clusterOptions, lazyConnect: true, redisOptions: { ...base, ...options.clusterOptions?.redisOptions } });
      this.#ownsPublisher = true;
    } else {
      this.#publisher = options.url !== undefined ? new Redis(options.url, base) : new Redis({ ...base, ...options.redis });
      this.#ownsPublisher = true;
    }
    this.#sharded = this.#publisher instanceof Cluster;
    if (this.#publisher instanceof Cluster) {
      // A user's cluster client does not expose its startup nodes; the nodes it knows serve as well.
      const nodes = options.cluster ?? this.#publisher.nodes('master').map((n) => ({ host: n.options.host, port: n.options.port }));
      this.#subscriber = new Cluster(nodes, { ...this.#publisher.options, lazyConnect: true, shardedSubscribers: true });
    } else {
      // The subscriber waits through outages (ioredis resubscribes on reconnect); only publishes fail fast.
      this.#subscriber = this.#publisher.duplicate({ lazyConnect: true, maxRetriesPerRequest: null });
    }
  }

  async start(handlers: BusHandlers): Promise<void> {
    const subscriber = this.#subscriber;
    const event = this.#sharded ? 'smessage' : 'message';
    // The text goes to the receiver as it came: it bounds, parses and validates it before anything runs.
    subscriber.on(event, (channel: string, text: string) => {
      if (channel === this.#channel) handlers.message(text);
    });
    let subscribed = false;
    let lost = false;
    let gaveUp = false;
    subscriber.on('error', (error: unknown) => handlers.error(error));
    if (this.#ownsPublisher) this.#publisher.on('error', (error: unknown) => handlers.error(error));
    subscriber.on('close', () => {
      if (subscribed) lost = true;
    });
    // ioredis re-subscribes by itself after reconnecting; 'ready' tells us the subscription is back.
    subscriber.on('ready', () => {
      if (lost) {
        lost = false;
        handlers.reconnected();
      }
    });
    const subscribing = (async () => {
      if (subscriber.status === 'wait') await subscriber.connect();
      if (this.#sharded) await subscriber.ssubscribe(this.#channel);
      else await subscriber.subscribe(this.#channel);
      if (this.#publisher.status === 'wait') await this.#publisher.connect();
    })();
    subscribing.then(
      () => {
        subscribed = true;
        // Subscribed after start() gave up: messages sent until now were not heard here.
        if (gaveUp && !this.#closed) handlers.reconnected();
      },
      () => undefined,
    );
    const ms = this.#connectTimeout;
    try {
      await within(subscribing, ms, () => {
        gaveUp = true;
        return new BusTimeoutError(`${this.name}: not subscribed to ${this.#channel} within ${ms} ms`, { bus: this.name, timeoutMs: ms });
      });
    } catch (error) {
      if (isCacheError(error)) throw error;
      throw new CacheBackendError(`${this.name}: cannot subscribe to ${this.#channel}: ${String(error)}`, { store: this.name, cause: error });
    }
  }

  async publish(envelope: BusEnvelope): Promise<void> {
    if (this.#closed) throw new CacheBackendError(`${this.name}: the bus is closed`, { store: this.name });
    const text = JSON.stringify(envelope);
    const ms = this.#publishTimeout;
    try {
      // ioredis queues commands while it is not connected, and a server that never answers never fails them.
      const sent = this.#sharded ? this.#publisher.spublish(this.#channel, text) : this.#publisher.publish(this.#channel, text);
      await within(sent, ms, () => new BusTimeoutError(`${this.name}: publish not answered within ${ms} ms`, { bus: this.name, timeoutMs: ms }));
    } catch (error) {
      if (isCacheError(error)) throw error;
      throw new CacheBackendError(`${this.name}: publish failed: ${String(error)}`, { store: this.name, cause: error });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await quit(this.#subscriber, this.#connectTimeout);
    if (this.#ownsPublisher) await quit(this.#publisher, this.#connectTimeout);
  }
}

function timeoutOption(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new TypeError(`${name} must be a finite number of ms > 0, got ${String(value)}`);
  return value;
}

async function quit(client: Redis | Cluster, ms: number): Promise<void> {
  // A connection that never got ready has nothing to hand over, and QUIT would queue behind a server that may
  // never answer.
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  try {
    // QUIT waits behind whatever is queued, which on a server that never answers is forever.
    await within(client.quit(), ms, () => new Error('quit timed out'));
  } catch {
    client.disconnect();
  }
}
