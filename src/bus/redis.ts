import { Redis, Cluster, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';
import { CacheBackendError } from '../errors.js';
import { parseEnvelope, type Bus, type BusEnvelope, type BusHandlers } from './contract.js';

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
  #closed = false;

  constructor(options: RedisBusOptions) {
    this.name = options.name ?? 'redis-bus';
    this.#channel = options.channel ?? 'tiercache:bus';
    if (typeof this.#channel !== 'string' || this.#channel.length === 0) throw new TypeError('channel must be a non-empty string');
    const given = [options.url, options.redis, options.cluster, options.client].filter((o) => o !== undefined).length;
    if (given !== 1) throw new TypeError('redisBus needs exactly one of url, redis, cluster or client');
    // Fail fast while disconnected instead of queueing publishes for an unknown time; the cache treats a lost
    // message as a gap anyway.
    const base: RedisOptions = { maxRetriesPerRequest: 1, connectTimeout: 2_000, lazyConnect: true };
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
    subscriber.on(event, (channel: string, text: string) => {
      if (channel !== this.#channel) return;
      const envelope = parseEnvelope(text);
      if (envelope === undefined) handlers.error(new CacheBackendError(`${this.name}: ignored a malformed message`, { store: this.name }));
      else handlers.message(envelope);
    });
    let subscribed = false;
    let lost = false;
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
    try {
      if (subscriber.status === 'wait') await subscriber.connect();
      if (this.#sharded) await subscriber.ssubscribe(this.#channel);
      else await subscriber.subscribe(this.#channel);
      if (this.#publisher.status === 'wait') await this.#publisher.connect();
      subscribed = true;
    } catch (error) {
      throw new CacheBackendError(`${this.name}: cannot subscribe to ${this.#channel}: ${String(error)}`, { store: this.name, cause: error });
    }
  }

  async publish(envelope: BusEnvelope): Promise<void> {
    if (this.#closed) throw new CacheBackendError(`${this.name}: the bus is closed`, { store: this.name });
    const text = JSON.stringify(envelope);
    try {
      if (this.#sharded) await this.#publisher.spublish(this.#channel, text);
      else await this.#publisher.publish(this.#channel, text);
    } catch (error) {
      throw new CacheBackendError(`${this.name}: publish failed: ${String(error)}`, { store: this.name, cause: error });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await quit(this.#subscriber);
    if (this.#ownsPublisher) await quit(this.#publisher);
  }
}

async function quit(client: Redis | Cluster): Promise<void> {
  try {
    if (client.status === 'wait' || client.status === 'end') {
      client.disconnect();
      return;
    }
    await client.quit();
  } catch {
    client.disconnect();
  }
}
