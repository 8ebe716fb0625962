import { createRequire } from 'node:module';
import type * as IORedis from 'ioredis';
import type { Cluster, ClusterNode, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import { systemClock, type Clock } from '../clock.js';
import { CacheBackendError } from '../errors.js';
import type { BaseStoreOptions, Store, StoreCapabilities, StoreWrite } from './contract.js';

interface RedisStoreCommonOptions extends BaseStoreOptions {
  /**
   * Namespace of this store: every key is stored as `prefix + key`, and `clear()` removes only keys that start
   * with it. An empty prefix makes `clear()` remove every key of the database.
   *
   * On a cluster, a prefix holding a hash tag (`{app}:`) sends every key to one slot, hence one node: multi-key
   * commands then need no grouping, but that node holds and serves the whole cache. Only do it on purpose.
   * @default 'tiercache:'
   */
  prefix?: string;
  /** Names the store in errors, events and stats. @default 'redis' */
  name?: string;
}

/** Connect to one Redis server (the store creates the connection and closes it on `close()`). */
export interface RedisConnectStoreOptions extends RedisStoreCommonOptions {
  /** `redis://[[user]:password@]host[:port][/db]` or `rediss://` for TLS. */
  url?: string;
  /** ioredis options; with `url`, these add to (and override) what the URL says. */
  redis?: RedisOptions;
  client?: never;
  cluster?: never;
}

/** Use a connection the caller owns: the store never closes it, and applies none of its own connection settings. */
export interface RedisClientStoreOptions extends RedisStoreCommonOptions {
  client: Redis | Cluster;
  url?: never;
  redis?: never;
  cluster?: never;
}

/** Connect to a Redis Cluster (the store creates the connections and closes them on `close()`). */
export interface RedisClusterStoreOptions extends RedisStoreCommonOptions {
  /** Startup nodes, or startup nodes with ioredis cluster options. */
  cluster: readonly ClusterNode[] | { nodes: readonly ClusterNode[]; options?: ClusterOptions };
  url?: never;
  redis?: never;
  client?: never;
}

export type RedisStoreOptions = RedisConnectStoreOptions | RedisClientStoreOptions | RedisClusterStoreOptions;

/** Redis refuses bulk strings above `proto-max-bulk-len`, 512 MiB unless reconfigured. */
const MAX_VALUE_BYTES = 512 * 1024 * 1024;
/** Keys per MGET/UNLINK: one huge multi-key command would stall every other client of the single-threaded server. */
const MULTI_KEY_CHUNK = 1000;
/** SCAN hint: large enough to walk a big keyspace in few round trips, small enough to keep each step short. */
const SCAN_COUNT = 1000;
/** How long `close()` waits for QUIT (which lets pending replies arrive) before dropping the socket. */
const QUIT_TIMEOUT_MS = 2000;
/** Redis rejects a TTL that overflows a signed 64-bit deadline; beyond this a number also stops printing as digits. */
const MAX_TTL_MS = Number.MAX_SAFE_INTEGER;
const HASH_SLOTS = 16384;

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
const OPENING = new Set(['wait', 'connecting', 'connect']);

type Client = Redis | Cluster;
type IORedisModule = typeof IORedis;
/** One command of a pipeline, as ioredis takes it: name then arguments. */
type CommandLine = [name: string, ...args: (string | Buffer | number)[]];

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

const CRC16_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[byte] = crc;
  }
  return table;
})();

function crc16(bytes: Uint8Array, start: number, end: number): number {
  let crc = 0;
  for (let i = start; i < end; i++) crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ bytes[i]!) & 0xff]!;
  return crc;
}

/**
 * The Redis Cluster hash slot of a key: CRC16/XMODEM of its UTF-8 bytes, mod 16384. When the key has a
 * non-empty `{...}` section (the first `{` and the first `}` after it), only that section is hashed, so
 * keys sharing a hash tag share a slot.
 */
export function redisHashSlot(key: string | Uint8Array): number {
  const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
  const open = bytes.indexOf(0x7b);
  if (open !== -1) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) return crc16(bytes, open + 1, close) % HASH_SLOTS;
  }
  return crc16(bytes, 0, bytes.length) % HASH_SLOTS;
}

/** Escapes what Redis's glob treats specially (`*`, `?`, `[`, `]`, `\`), so the text matches only itself. */
function escapeRedisGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/**
 * Our glob as a Redis MATCH pattern that selects at least every matching key. Redis's `?` matches one byte,
 * ours one character (up to 4 UTF-8 bytes), so `?` becomes `?*` ("one or more bytes") and the exact
 * match is left to {@link globToRegExp} on the client.
 */
function toRedisGlob(pattern: string): string {
  let out = '';
  for (const char of pattern) out += char === '*' ? '*' : char === '?' ? '?*' : escapeRedisGlob(char);
  return out;
}

/** Our glob as an exact, anchored matcher: `*` any run, `?` one code point, everything else literal. */
function globToRegExp(pattern: string): RegExp {
  let source = '';
  for (const char of pattern) {
    source += char === '*' ? '.*' : char === '?' ? '.' : char.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 'su');
}

/** ioredis sends only Buffers as binary; any other Uint8Array would be stringified. A view, not a copy. */
function toBuffer(value: Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/**
 * A reply Buffer as a plain Uint8Array. Small replies are views into the parser's shared pool or the socket's
 * read chunk; copying those lets that memory go instead of pinning it for as long as the value lives.
 */
function toBytes(reply: Buffer): Uint8Array {
  return reply.byteLength === reply.buffer.byteLength
    ? new Uint8Array(reply.buffer, reply.byteOffset, reply.byteLength)
    : new Uint8Array(reply);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Redirections that a per-node pipeline meets when slots moved after the client last read the slot map. */
function isRedirection(error: Error): boolean {
  return /^(MOVED|ASK) /.test(error.message);
}

/**
 * A {@link Store} on Redis (standalone or Cluster) through ioredis. Values are stored as raw bytes under
 * `prefix + key` with a millisecond TTL computed from the store's clock, so the server's clock never matters.
 */
export class RedisStore implements Store {
  readonly name: string;
  readonly capabilities: StoreCapabilities = {
    nativeExpiry: true,
    expiryResolutionMs: 1,
    shared: true,
    iterate: true,
    atomicAdd: true,
    maxValueBytes: MAX_VALUE_BYTES,
  };

  private readonly client: Client;
  /** Set when `client` is a cluster, whose multi-key commands must stay within one hash slot. */
  private readonly cluster: Cluster | undefined;
  /** The store created the connection: it applies its fail-fast policy to it and closes it. */
  private readonly owned: boolean;
  private readonly prefix: string;
  private readonly prefixBytes: Buffer;
  private readonly clock: Clock;
  /** The first connection attempt has ended, one way or the other; from then on the store refuses to queue. */
  private settled = false;
  private lastConnectionError: Error | undefined;
  private closing: Promise<void> | undefined;

  constructor(options: RedisStoreOptions = {}) {
    this.name = options.name ?? 'redis';
    const prefix = options.prefix ?? 'tiercache:';
    if (typeof prefix !== 'string') throw this.error('prefix must be a string');
    this.prefix = prefix;
    this.prefixBytes = Buffer.from(prefix, 'utf8');
    this.clock = options.clock ?? systemClock;

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

  async get(key: string): Promise<Uint8Array | undefined> {
    const reply = await this.run('GET', key, (client) => client.getBuffer(this.prefix + key));
    return reply === null ? undefined : toBytes(reply);
  }

  async set(key: string, value: Uint8Array, expiresAt: number): Promise<void> {
    const ttl = this.ttl(expiresAt, key);
    if (ttl === undefined) {
      await this.run('SET', key, (client) => client.unlink(this.prefix + key));
      return;
    }
    this.checkSize(value, key);
    await this.run('SET', key, (client) => client.set(this.prefix + key, toBuffer(value), 'PX', ttl));
  }

  async add(key: string, value: Uint8Array, expiresAt: number): Promise<boolean> {
    const ttl = this.ttl(expiresAt, key);
    // Nothing would be stored, and add must not remove what another writer put there.
    if (ttl === undefined) return false;
    this.checkSize(value, key);
    const reply = await this.run('SET NX', key, (client) => client.set(this.prefix + key, toBuffer(value), 'PX', ttl, 'NX'));
    return reply === 'OK';
  }

  async delete(key: string): Promise<boolean> {
    // UNLINK is DEL that frees the value in the background, so dropping a large value does not stall the server.
    const removed = await this.run('DEL', key, (client) => client.unlink(this.prefix + key));
    return removed > 0;
  }

  async getMany(keys: readonly string[]): Promise<(Uint8Array | undefined)[]> {
    const out: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(keys.length).fill(undefined);
    if (keys.length === 0) return out;
    const fullKeys = keys.map((key) => this.prefix + key);
    await this.run('MGET', undefined, (client) =>
      Promise.all(
        this.slotGroups(fullKeys).map(async (indexes) => {
          const replies = await client.mgetBuffer(indexes.map((i) => fullKeys[i]!));
          indexes.forEach((index, j) => {
            const reply = replies[j];
            out[index] = reply === null || reply === undefined ? undefined : toBytes(reply);
          });
        }),
      ),
    );
    return out;
  }

  async setMany(entries: readonly StoreWrite[]): Promise<void> {
    if (entries.length === 0) return;
    const now = this.clock.now();
    const commands = entries.map((entry): CommandLine => {
      const fullKey = this.prefix + entry.key;
      const ttl = this.ttl(entry.expiresAt, entry.key, now);
      if (ttl === undefined) return ['unlink', fullKey];
      this.checkSize(entry.value, entry.key);
      return ['set', fullKey, toBuffer(entry.value), 'PX', ttl];
    });
    await this.pipeline(
      'SET (batch)',
      commands,
      entries.map((entry) => this.prefix + entry.key),
    );
  }

  async deleteMany(keys: readonly string[]): Promise<number> {
    if (keys.length === 0) return 0;
    const fullKeys = keys.map((key) => this.prefix + key);
    // One multi-key UNLINK per slot group (a single group on a standalone server), sent as pipelines.
    const groups = this.slotGroups(fullKeys).map((indexes) => indexes.map((i) => fullKeys[i]!));
    const replies = await this.pipeline(
      'DEL (batch)',
      groups.map((group): CommandLine => ['unlink', ...group]),
      groups.map((group) => group[0]!),
    );
    return replies.reduce<number>((sum, reply) => sum + (typeof reply === 'number' ? reply : 0), 0);
  }

  async appendLog(log: string, record: Uint8Array, maxLength: number): Promise<void> {
    // MAXLEN ~ trims in whole radix-tree nodes: cheap, and keeps at least maxLength records.
    await this.run('XADD', log, (client) => client.xadd(this.prefix + log, 'MAXLEN', '~', String(maxLength), '*', 'r', toBuffer(record)));
  }

  async readLog(log: string, sinceMs: number, limit: number): Promise<Uint8Array[]> {
    const start = Number.isFinite(sinceMs) && sinceMs > 0 ? `${Math.floor(sinceMs)}-0` : '-';
    const replies = await this.run('XREVRANGE', log, (client) => client.xrevrangeBuffer(this.prefix + log, '+', start, 'COUNT', String(limit)));
    const out: Uint8Array[] = [];
    for (const [, fields] of replies) {
      const at = fields.findIndex((field, i) => i % 2 === 0 && field.toString() === 'r');
      const value = at >= 0 ? fields[at + 1] : undefined;
      if (value !== undefined) out.push(toBytes(value));
    }
    return out.reverse();
  }

  keys(pattern: string): AsyncIterable<string> {
    if (typeof pattern !== 'string') throw this.error('keys(pattern) needs a string pattern');
    return this.scanKeys(pattern);
  }

  async clear(): Promise<void> {
    const match = `${escapeRedisGlob(this.prefix)}*`;
    const nodes = await this.masters('CLEAR');
    await Promise.all(
      nodes.map(async (node) => {
        let cursor = '0';
        do {
          const [next, found] = await this.run('CLEAR', undefined, () =>
            node.scanBuffer(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT),
          );
          cursor = next.toString();
          // MATCH already selects the prefix; this check keeps clear inside it whatever the glob engine does.
          const mine = found.filter((key) => key.subarray(0, this.prefixBytes.length).equals(this.prefixBytes));
          if (mine.length > 0) await this.unlinkAll(mine);
        } while (cursor !== '0');
      }),
    );
  }

  async close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
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

  private createRedis(url: string | undefined, redisOptions: RedisOptions | undefined): Redis {
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

  private createCluster(cluster: RedisClusterStoreOptions['cluster']): Cluster {
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
  private watch(client: Client): void {
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

  /** The client, or an error when the store is closed or (for its own connection) Redis is not reachable now. */
  private connection(): Client {
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

  private async run<T>(operation: string, key: string | undefined, action: (client: Client) => Promise<T>): Promise<T> {
    const client = this.connection();
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
  private async pipeline(operation: string, commands: readonly CommandLine[], keys: readonly string[]): Promise<unknown[]> {
    return this.run(operation, undefined, async (client) => {
      const replies = new Array<unknown>(commands.length);
      await Promise.all(
        this.nodeGroups(keys).map(async (indexes) => {
          const results = await client.pipeline(indexes.map((i) => commands[i]!)).exec();
          if (results === null) throw new Error('the pipeline was discarded');
          await Promise.all(
            indexes.map(async (index, j) => {
              const [error, reply] = results[j] ?? [new Error('missing pipeline reply'), undefined];
              if (error === null) {
                replies[index] = reply;
              } else if (this.cluster !== undefined && isRedirection(error)) {
                const [name, ...args] = commands[index]!;
                replies[index] = await client.call(name, args);
              } else {
                throw this.failure(operation, error, keys[index]!.slice(this.prefix.length));
              }
            }),
          );
        }),
      );
      return replies;
    });
  }

  /** Indexes of `keys` split so that each group can be one multi-key command: same hash slot on a cluster. */
  private slotGroups(keys: readonly string[]): number[][] {
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
  private nodeGroups(keys: readonly string[]): number[][] {
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

  private async unlinkAll(keys: readonly Buffer[]): Promise<void> {
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
  private async masters(operation: string): Promise<Redis[]> {
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

  private async *scanKeys(pattern: string): AsyncGenerator<string> {
    const matcher = globToRegExp(pattern);
    const match = escapeRedisGlob(this.prefix) + toRedisGlob(pattern);
    // SCAN may return a key more than once (rehashing, slot migration), and each master is walked separately.
    const seen = new Set<string>();
    for (const node of await this.masters('SCAN')) {
      let cursor = '0';
      do {
        const [next, found] = await this.run('SCAN', undefined, () => node.scan(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT));
        cursor = next;
        for (const fullKey of found) {
          if (!fullKey.startsWith(this.prefix)) continue;
          const key = fullKey.slice(this.prefix.length);
          if (seen.has(key) || !matcher.test(key)) continue;
          seen.add(key);
          yield key;
        }
      } while (cursor !== '0');
    }
  }

  /** Milliseconds to live from the store's clock, rounded up; undefined when the deadline has passed. */
  private ttl(expiresAt: number, key: string, now = this.clock.now()): number | undefined {
    if (typeof expiresAt !== 'number' || Number.isNaN(expiresAt)) {
      throw this.error(`invalid deadline ${String(expiresAt)}`, { key });
    }
    const ms = Math.ceil(expiresAt - now);
    return ms > 0 ? Math.min(ms, MAX_TTL_MS) : undefined;
  }

  private checkSize(value: Uint8Array, key: string): void {
    if (value.byteLength > MAX_VALUE_BYTES) {
      throw this.error(`value of ${value.byteLength} bytes exceeds the Redis limit of ${MAX_VALUE_BYTES}`, { key });
    }
  }

  private failure(operation: string, cause: unknown, key: string | undefined): CacheBackendError {
    if (cause instanceof CacheBackendError) return cause;
    // ioredis reports a dropped command as "max retries" or "connection closed"; the socket error says why.
    const last = this.lastConnectionError;
    const reason =
      last !== undefined && this.client.status !== 'ready'
        ? `cannot reach Redis (${last.message}): ${messageOf(cause)}`
        : messageOf(cause);
    return this.error(`${operation} failed: ${reason}`, key === undefined ? { cause } : { cause, key });
  }

  private error(message: string, options: { cause?: unknown; key?: string } = {}): CacheBackendError {
    return new CacheBackendError(`${this.name}: ${message}`, { ...options, store: this.name });
  }
}

/**
 * A Redis (or Redis Cluster) store.
 *
 * @example
 * redisStore({ url: 'redis://127.0.0.1:6379', prefix: 'myapp:' })
 * redisStore({ cluster: [{ host: '10.0.0.1', port: 6379 }] })
 * redisStore({ client: existingIoredisClient }) // left open by close()
 */
export function redisStore(options: RedisStoreOptions = {}): RedisStore {
  return new RedisStore(options);
}
