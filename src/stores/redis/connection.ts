import type { Cluster, Redis, RedisOptions } from 'ioredis';
import type * as IORedis from 'ioredis';
import { createRequire } from 'node:module';
import { CacheBackendError } from '../../errors.js';
import { StoreTime } from '../store-time.js';
import type { RedisClusterStoreOptions, RedisStoreOptions } from './options.js';
import { HASH_SLOTS, isRedirection, MAX_TTL_MS, MAX_VALUE_BYTES, messageOf, MULTI_KEY_CHUNK, QUIT_TIMEOUT_MS, redisHashSlot } from './protocol.js';
import type { LuaScript } from './scripts.js';

/**
 * Connection settings for connections the store creates, chosen so that a call fails within about a second
 * when Redis is unreachable instead of waiting in ioredis's offline queue (a cache miss is cheaper than a
 * stall; the core adds per-call timeouts and a circuit breaker on top):
 * - `connectTimeout` 2 s bounds a connection attempt to a host that does not answer at all.
 * - reconnection continues forever with a backoff capped at 1 s, so service resumes soon after Redis does.
 * - `maxRetriesPerRequest: 1`: a command in flight when the connection drops gets one reconnection attempt
 *   (surviving a blip or a failover), then fails.
 * - the offline queue stays enabled only so calls made while the first connection is being opened wait for it;
 *   once the connection has been up or has failed, the store itself refuses calls while it is not ready.
 * Every setting can be overridden through `redis` (or `cluster.options`).
 */
const CONNECT_TIMEOUT_MS = 2000;
const MAX_RETRIES_PER_REQUEST = 1;
const reconnectDelay = (attempt: number): number => Math.min(attempt * 100, 1000);

/** Statuses of a connection that is still being opened for the first time, where ioredis queues the call. */
/** Commands per socket write at most, so the server works on one batch while the next is being built. */
const BATCH_WRITES = 8;

const OPENING = new Set(['wait', 'connecting', 'connect']);

export type Client = Redis | Cluster;
type IORedisModule = typeof IORedis;
/** One command of a pipeline, as ioredis takes it: name then arguments. */
export type CommandLine = [name: string, ...args: (string | Buffer | number)[]];
/** A key as ioredis takes it: a string (sent as UTF-8) or raw bytes. */
export type KeyArg = string | Buffer;
export type ScriptArg = KeyArg | number;

let ioredis: IORedisModule | undefined;

/** Loaded on first use: ioredis is an optional peer dependency, needed only by those who create connections here. */
function loadIORedis(store: string): IORedisModule {
  if (ioredis === undefined) {
    try {
      ioredis = createRequire(import.meta.url)('ioredis') as IORedisModule;
    } catch (cause) {
      throw new CacheBackendError(
        `${store}: the redis store needs the 'ioredis' package (npm install ioredis), which could not be loaded`,
        { store, cause },
      );
    }
  }
  return ioredis;
}

/**
 * The connection side of the Redis store: creating or adopting the ioredis client, failing fast while Redis is
 * unreachable, and sending commands, pipelines and scripts so that none crosses a Cluster hash slot it must
 * not. The store's semantics (entries, the prefix index) live in the classes built on it.
 */
export abstract class RedisConnection {
  readonly name: string;
  protected readonly client: Client;
  /** Set when `client` is a cluster, whose multi-key commands must stay within one hash slot. */
  protected readonly cluster: Cluster | undefined;
  /** The store created the connection: it applies its fail-fast policy to it and closes it. */
  protected readonly owned: boolean;
  protected readonly prefix: string;
  protected readonly prefixBytes: Buffer;
  protected readonly clock: StoreTime;
  /** The first connection attempt has ended, one way or the other; from then on the store refuses to queue. */
  private settled = false;
  protected lastConnectionError: Error | undefined;
  protected closing: Promise<void> | undefined;
  /** The socket corked until the next tick (see batchWrites), while it is. */
  private corked: { cork(): void; uncork(): void } | undefined;
  /** Commands written since the socket was last corked. */
  private batched = 0;
  /** A command went out in this tick of the event loop (cleared on the next tick). */
  private sentThisTick = false;

  /** The next tick after a command: the next command goes out at once again, and a corked socket is flushed. */
  private static endTick(this: void, connection: RedisConnection): void {
    connection.sentThisTick = false;
    const corked = connection.corked;
    if (corked === undefined) return;
    connection.corked = undefined;
    corked.uncork();
  }

  constructor(options: RedisStoreOptions = {}) {
    this.name = options.name ?? 'redis';
    const prefix = options.prefix ?? 'tiercache:';
    if (typeof prefix !== 'string') throw this.error('prefix must be a string');
    this.prefix = prefix;
    this.prefixBytes = Buffer.from(prefix, 'utf8');
    this.clock = new StoreTime(options.clock);
    checkPrefixIndex(options.prefixIndex, (message) => this.error(message));

    const given = [options.client, options.cluster, options.url ?? options.redis].filter((o) => o !== undefined);
    if (given.length > 1) throw this.error('pass only one of `client`, `cluster`, or `url`/`redis`');

    if (options.client !== undefined) {
      this.client = options.client;
      this.owned = false;
    } else {
      this.client = options.cluster !== undefined ? this.createCluster(options.cluster) : this.createRedis(options.url, options.redis);
      this.owned = true;
      this.watch(this.client);
    }
    this.cluster = this.client.isCluster ? (this.client as Cluster) : undefined;
  }

  protected createRedis(url: string | undefined, redisOptions: RedisOptions | undefined): Redis {
    const { Redis: RedisClient } = loadIORedis(this.name);
    const settings: RedisOptions = {
      connectTimeout: CONNECT_TIMEOUT_MS,
      maxRetriesPerRequest: MAX_RETRIES_PER_REQUEST,
      retryStrategy: reconnectDelay,
      // ioredis auto-pipelining is left off: it defers every command by a tick, which measured +15 µs on a lone
      // read (docs/benchmarks.md); under heavy concurrency, `redis: { enableAutoPipelining: true }` gains ~45%
      // throughput instead.
      ...redisOptions,
    };
    try {
      return url === undefined ? new RedisClient(settings) : new RedisClient(url, settings);
    } catch (cause) {
      throw this.error(`cannot create the connection: ${messageOf(cause)}`, { cause });
    }
  }

  protected createCluster(cluster: RedisClusterStoreOptions['cluster']): Cluster {
    const { Cluster: ClusterClient } = loadIORedis(this.name);
    const nodes = 'nodes' in cluster ? cluster.nodes : cluster;
    const options = 'nodes' in cluster ? (cluster.options ?? {}) : {};
    try {
      return new ClusterClient([...nodes], {
        // No auto-pipelining here: a pipelined batch answered with MOVED is not re-sent by ioredis, which
        // breaks the slot-move recovery of setMany/deleteMany (see the cluster tests).
        clusterRetryStrategy: reconnectDelay,
        ...options,
        redisOptions: {
          connectTimeout: CONNECT_TIMEOUT_MS,
          maxRetriesPerRequest: MAX_RETRIES_PER_REQUEST,
          ...options.redisOptions,
        },
      });
    } catch (cause) {
      throw this.error(`cannot create the cluster connection: ${messageOf(cause)}`, { cause });
    }
  }

  /** Tracks the connection the store owns; the listener on `error` also keeps ioredis from logging each failure. */
  protected watch(client: Client): void {
    client.on('ready', () => {
      this.settled = true;
      this.lastConnectionError = undefined;
    });
    client.on('close', () => {
      this.settled = true;
      // A server that goes away cleanly closes the socket without an error; the next attempt says more.
      this.lastConnectionError ??= new Error('the connection to Redis was closed');
    });
    const remember = (error: unknown) => {
      this.lastConnectionError = error instanceof Error ? error : new Error(String(error));
    };
    client.on('error', remember);
    client.on('node error', remember);
  }

  /**
   * Sends the commands issued in one tick of the event loop in a few socket writes instead of one each. The first
   * command of a tick goes out at once, so a lone command (or the store read a thousand callers of a cold key
   * wait for) is not held back by the synchronous work after it. From the second command of the tick on, the
   * socket is corked, and uncorked on the next tick, before any I/O; every `BATCH_WRITES` commands go out at
   * once, so the server works on a batch while this process builds the next. With one write per command, 64 reads
   * in flight through a tiered cache ran at 0.64x raw ioredis; with batches of 8, 0.78x: under concurrency most of
   * the CPU went to per-command writes. A cluster spreads commands over several sockets, where this is not done.
   */
  protected batchWrites(client: Client): void {
    if (this.cluster !== undefined) return;
    const corked = this.corked;
    if (corked !== undefined) {
      // A full batch goes out now: the server starts on it while this process works on what comes next. The
      // stream corked at the start of the batch is the one flushed, even if the client has another by now.
      if (++this.batched < BATCH_WRITES) return;
      this.batched = 0;
      corked.uncork();
      corked.cork();
      return;
    }
    if (!this.sentThisTick) {
      this.sentThisTick = true;
      // `this`, not a closure over the store: a wrapper made with Object.create(store) keeps its own state.
      process.nextTick(RedisConnection.endTick, this);
      return;
    }
    if (client.status !== 'ready') return;
    const stream = (client as Redis).stream as { cork?: () => void; uncork?: () => void } | undefined;
    if (typeof stream?.cork !== 'function' || typeof stream.uncork !== 'function') return;
    const cork = { cork: () => stream.cork?.(), uncork: () => stream.uncork?.() };
    this.corked = cork;
    this.batched = 0;
    cork.cork();
  }

  /** The client, or an error when the store is closed or (for its own connection) Redis is not reachable now. */
  protected connection(): Client {
    if (this.closing !== undefined) throw this.error('the store is closed');
    const status = this.client.status;
    if (this.owned && status !== 'ready' && (this.settled || !OPENING.has(status))) {
      const last = this.lastConnectionError;
      throw this.error(
        `not connected to Redis (connection ${status}${last === undefined ? '' : `: ${last.message}`}); failing fast`,
        { cause: last },
      );
    }
    return this.client;
  }

  protected async run<T>(operation: string, key: string | undefined, action: (client: Client) => Promise<T>): Promise<T> {
    const client = this.connection();
    this.batchWrites(client);
    try {
      return await action(client);
    } catch (cause) {
      throw this.failure(operation, cause, key);
    }
  }

  /**
   * Runs write commands as pipelines: one on a standalone server, one per node on a cluster (grouped by the
   * client's slot map, so no command meets CROSSSLOT). A command redirected because slots moved is sent again
   * on its own, which lets ioredis follow the redirection. Returns the replies in command order.
   */
  protected async pipeline(operation: string, commands: readonly CommandLine[], keys: readonly KeyArg[]): Promise<unknown[]> {
    return this.run(operation, undefined, async (client) => {
      const replies = new Array<unknown>(commands.length);
      await Promise.all(
        this.nodeGroups(keys).map(async (indexes) => {
          const results = await this.execGroup(client, indexes.map((i) => commands[i]!));
          await Promise.all(
            indexes.map(async (index, j) => {
              const [error, reply] = results[j] ?? [new Error('missing pipeline reply'), undefined];
              if (error === null) {
                replies[index] = reply;
              } else if (this.cluster !== undefined && isRedirection(error)) {
                const [name, ...args] = commands[index]!;
                replies[index] = await client.call(name, args);
              } else {
                throw this.failure(operation, error, this.keyOf(keys[index]!));
              }
            }),
          );
        }),
      );
      return replies;
    });
  }

  /** A full key as the key the caller gave (without the prefix), for error messages. */
  protected keyOf(fullKey: KeyArg): string {
    return typeof fullKey === 'string' ? fullKey.slice(this.prefix.length) : fullKey.toString('utf8', this.prefixBytes.length);
  }

  /** UNLINK of `fullKeys`: one multi-key command per slot group, sent as pipelines; returns how many existed. */
  protected async unlinkCount(operation: string, fullKeys: readonly KeyArg[]): Promise<number> {
    if (fullKeys.length === 0) return 0;
    const groups = this.slotGroups(fullKeys).map((indexes) => indexes.map((i) => fullKeys[i]!));
    const replies = await this.pipeline(
      operation,
      groups.map((group): CommandLine => ['unlink', ...group]),
      groups.map((group) => group[0]!),
    );
    return replies.reduce<number>((sum, reply) => sum + (typeof reply === 'number' ? reply : 0), 0);
  }

  /**
   * One pipeline of commands that `nodeGroups` put together. ioredis checks a cluster pipeline against its own
   * slot groups, which for a moment after a redirection can disagree with the slot map the grouping read, and
   * then refuses it before sending anything: those commands go one by one, each routed (and redirected) alone.
   */
  protected async execGroup(client: Client, commands: readonly CommandLine[]): Promise<[Error | null, unknown][]> {
    try {
      const results = await client.pipeline(commands.map((command) => [...command])).exec();
      if (results === null) throw new Error('the pipeline was discarded');
      return results;
    } catch (error) {
      if (this.cluster === undefined || !(error instanceof Error) || !error.message.includes('same slots allocation group')) throw error;
      return Promise.all(
        commands.map(async ([name, ...args]): Promise<[Error | null, unknown]> => {
          try {
            return [null, await client.call(name, args)];
          } catch (failure) {
            return [failure instanceof Error ? failure : new Error(String(failure)), undefined];
          }
        }),
      );
    }
  }

  /** Indexes of `keys` split so that each group can be one multi-key command: same hash slot on a cluster. */
  protected slotGroups(keys: readonly KeyArg[]): number[][] {
    const groups: number[][] = [];
    if (this.cluster === undefined) {
      for (let start = 0; start < keys.length; start += MULTI_KEY_CHUNK) {
        groups.push(Array.from({ length: Math.min(MULTI_KEY_CHUNK, keys.length - start) }, (_, i) => start + i));
      }
      return groups;
    }
    const bySlot = new Map<number, number[]>();
    keys.forEach((key, index) => {
      const slot = redisHashSlot(key);
      const group = bySlot.get(slot);
      if (group === undefined) bySlot.set(slot, [index]);
      else group.push(index);
    });
    for (const group of bySlot.values()) {
      for (let start = 0; start < group.length; start += MULTI_KEY_CHUNK) groups.push(group.slice(start, start + MULTI_KEY_CHUNK));
    }
    return groups;
  }

  /**
   * Indexes of `keys` grouped by the nodes serving their slot, which is what ioredis requires of a cluster
   * pipeline. Before the slot map is known every slot is its own group, which is always accepted.
   */
  protected nodeGroups(keys: readonly KeyArg[]): number[][] {
    if (this.cluster === undefined) return [keys.map((_, i) => i)];
    const slots = this.cluster.slots;
    const byNode = new Map<string, number[]>();
    keys.forEach((key, index) => {
      const slot = redisHashSlot(key);
      const node = slots[slot]?.join(',') ?? `slot ${slot}`;
      const group = byNode.get(node);
      if (group === undefined) byNode.set(node, [index]);
      else group.push(index);
    });
    return [...byNode.values()];
  }

  protected async unlinkAll(keys: readonly Buffer[]): Promise<void> {
    const groups: Buffer[][] = [];
    if (this.cluster === undefined) {
      groups.push([...keys]);
    } else {
      const bySlot = new Map<number, Buffer[]>();
      for (const key of keys) {
        const slot = redisHashSlot(key);
        const group = bySlot.get(slot);
        if (group === undefined) bySlot.set(slot, [key]);
        else group.push(key);
      }
      groups.push(...bySlot.values());
    }
    // Through the cluster client (not the scanned node), which follows a slot that moved meanwhile.
    await this.run('CLEAR', undefined, (client) => Promise.all(groups.map((group) => client.unlink(group))));
  }

  /** The servers to SCAN: the one server, or every master of a cluster. */
  protected async masters(operation: string): Promise<Redis[]> {
    const cluster = this.cluster;
    if (cluster === undefined) {
      return [this.connection() as Redis];
    }
    return this.run(operation, undefined, async () => {
      // Until the slot map has been loaded the cluster knows no masters; PING waits for it (offline queue).
      if (cluster.status !== 'ready') await cluster.ping();
      // ioredis drops a node it lost from `nodes()` while the slot map still names it: walking only the masters
      // at hand would report success for a partial SCAN, so every slot's master must be there.
      const connected = new Map(cluster.nodes('master').map((node) => [`${node.options.host}:${node.options.port}`, node]));
      const owners = new Set<string>();
      for (let slot = 0; slot < HASH_SLOTS; slot++) {
        const owner = cluster.slots[slot]?.[0];
        if (owner === undefined) throw new Error(`no node serves hash slot ${slot}`);
        owners.add(owner);
      }
      return [...owners].map((owner) => {
        const node = connected.get(owner);
        if (node === undefined) throw new Error(`the master ${owner} is not connected`);
        return node;
      });
    });
  }

  /** A key under this store's prefix (the glob engine aside, SCAN MATCH is only a filter). */
  protected owns(fullKey: Buffer): boolean {
    return fullKey.length >= this.prefixBytes.length && fullKey.subarray(0, this.prefixBytes.length).equals(this.prefixBytes);
  }

  /** Closes the connection the store created (QUIT, or a plain disconnect when QUIT cannot be answered). */
  protected async disconnect(): Promise<void> {
    if (!this.owned) return;
    const client = this.client;
    if (client.status === 'end') return;
    // QUIT on a connection that is down would wait in the offline queue for a reconnection that may never come.
    if (client.status !== 'ready') {
      client.disconnect();
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.quit(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('QUIT timed out')), QUIT_TIMEOUT_MS);
        }),
      ]);
    } catch {
      client.disconnect();
    } finally {
      clearTimeout(timer);
    }
  }

  /** EVALSHA, and EVAL when the server does not know the script (restarted, or SCRIPT FLUSH); EVAL caches it again. */
  protected async evalScript(client: Client, script: LuaScript, keys: readonly KeyArg[], args: readonly ScriptArg[]): Promise<unknown> {
    try {
      return await client.evalsha(script.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return client.eval(script.source, keys.length, ...keys, ...args);
    }
  }

  /** {@link evalScript} with bulk replies as Buffers: members are bytes, not necessarily UTF-8 (a rebuild indexes any key). */
  protected async evalScriptBuffers(client: Client, script: LuaScript, keys: readonly KeyArg[], args: readonly ScriptArg[]): Promise<unknown> {
    try {
      return await client.callBuffer('evalsha', script.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return client.callBuffer('eval', script.source, keys.length, ...keys, ...args);
    }
  }

  /**
   * MULTI/EXEC of `commands` (all in one slot); the replies, or the first command error. Used only where a
   * failed command leaves nothing unindexed: EXEC rolls back nothing once it runs.
   */
  protected async exec(client: Client, commands: readonly CommandLine[]): Promise<unknown[]> {
    const results = await client.multi(commands.map((command) => [...command])).exec();
    if (results === null) throw new Error('the transaction was discarded');
    return results.map(([error, reply]) => {
      if (error !== null) throw error;
      return reply;
    });
  }

  /** Milliseconds to live from the store's clock, rounded up; undefined when the deadline has passed. */
  protected ttl(expiresAt: number, key: string, now = this.clock.now()): number | undefined {
    if (typeof expiresAt !== 'number' || Number.isNaN(expiresAt)) {
      throw this.error(`invalid deadline ${String(expiresAt)}`, { key });
    }
    const ms = Math.ceil(expiresAt - now);
    return ms > 0 ? Math.min(ms, MAX_TTL_MS) : undefined;
  }

  protected checkSize(value: Uint8Array, key: string): void {
    if (value.byteLength > MAX_VALUE_BYTES) {
      throw this.error(`value of ${value.byteLength} bytes exceeds the Redis limit of ${MAX_VALUE_BYTES}`, { key });
    }
  }

  protected failure(operation: string, cause: unknown, key: string | undefined): CacheBackendError {
    if (cause instanceof CacheBackendError) return cause;
    // ioredis reports a dropped command as "max retries" or "connection closed"; the socket error says why.
    const last = this.lastConnectionError;
    const reason =
      last !== undefined && this.client.status !== 'ready'
        ? `cannot reach Redis (${last.message}): ${messageOf(cause)}`
        : messageOf(cause);
    return this.error(`${operation} failed: ${reason}`, key === undefined ? { cause } : { cause, key });
  }

  protected error(message: string, options: { cause?: unknown; key?: string } = {}): CacheBackendError {
    return new CacheBackendError(`${this.name}: ${message}`, { ...options, store: this.name });
  }
}

/** `prefixIndex` is a boolean or `{ prefixes }` with at least one non-empty string prefix. */
function checkPrefixIndex(value: unknown, error: (message: string) => Error): void {
  if (value === undefined || typeof value === 'boolean') return;
  const prefixes = typeof value === 'object' && value !== null ? (value as { prefixes?: unknown }).prefixes : undefined;
  if (!Array.isArray(prefixes)) throw error('prefixIndex must be a boolean or { prefixes: string[] }');
  if (prefixes.length === 0) throw error('prefixIndex.prefixes is empty: pass false for no index');
  prefixes.forEach((prefix: unknown, i) => {
    if (typeof prefix !== 'string' || prefix.length === 0) throw error(`prefixIndex.prefixes[${i}] must be a non-empty string`);
  });
}
