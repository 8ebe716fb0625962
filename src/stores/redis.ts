import { createHash, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as IORedis from 'ioredis';
import type { Cluster, ClusterNode, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import { systemClock, type Clock } from '../clock.js';
import { CacheBackendError } from '../errors.js';
import { compilePattern, STORE_PATTERN, type PatternMatcher } from '../freshness/pattern.js';
import { assertStoreKey, assertStoreKeys } from '../keys/validate.js';
import type { BaseStoreOptions, Store, StoreCapabilities, StoreWrite } from './contract.js';

interface RedisStoreCommonOptions extends BaseStoreOptions {
  /**
   * Put in front of every key of this store: every key is stored as `prefix + key`, and `clear()` removes only keys that start
   * with it. An empty prefix makes `clear()` remove every key of the database.
   *
   * On a cluster, a prefix holding a hash tag (`{app}:`) sends every key to one slot, hence one node: multi-key
   * commands then need no grouping, but that node holds and serves the whole cache. Only do it on purpose.
   * @default 'tiercache:'
   */
  prefix?: string;
  /** Names the store in errors, events and stats. @default 'redis' */
  name?: string;
  /**
   * Offer `deletePrefix`, backed by a sorted index of the keys (one sorted set under the prefix), so that
   * deleting the entries under a prefix, and through it invalidating a `literal*` pattern, costs O(log N + M)
   * for M matching entries instead of a SCAN of the whole keyspace.
   *
   * The index is built on first use: the first `deletePrefix` is answered by SCAN (today's cost) and builds the
   * index in the background with one more SCAN (`buildIndex()` does it up front). From then on each write adds
   * its key in the same round trip, members of expired keys are pruned in small background steps, and Redis
   * spends about 120 bytes per entry on it (keys of ~25 bytes). On a standalone server every write becomes one
   * Lua script in place of SET, index built or not: about 1.7 µs more server time per write and 15-30% fewer
   * sets per second at saturation (bench/prefix-index.ts); reads are untouched. After `clear()`, or if Redis
   * evicts the index (allkeys-* policies), the next `deletePrefix` builds it again.
   *
   * Every process writing under this prefix must keep it on: a key written with it off, once the index
   * exists, is invisible to `deletePrefix`. Turned off, the store offers no `deletePrefix` and the core falls
   * back to SCAN.
   *
   * @default true on a standalone server, and on a cluster whose prefix pins one slot (`{tag}`); false on other
   * clusters. There the index lives in one slot that every write of the cluster would also reach (one more
   * command per write, half the concurrent set throughput on a local 3-node cluster, and a hot node at scale),
   * and no command can change the index and a key together, so it is left for those who opt in.
   */
  prefixIndex?: boolean;
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
/**
 * replaceIf: KEYS[1] the key, ARGV[1] the bytes its value must start with, ARGV[2] the new value (may be
 * empty), ARGV[3] the TTL in ms ('0' removes the key). Returns 1 when it replaced, 0 when the key held something else.
 * The script knows no entry layout: the core's lease fence sends an entry's fixed header as ARGV[1]
 * (`identityOf` in entry.ts, ENTRY_HEADER_BYTES long), and test/entry.test.ts checks that round trip.
 */
const REPLACE_IF = `
local current = redis.call('GET', KEYS[1])
if not current or string.sub(current, 1, #ARGV[1]) ~= ARGV[1] then return 0 end
if ARGV[3] == '0' then redis.call('UNLINK', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1
`;

/** SCAN hint: large enough to walk a big keyspace in few round trips, small enough to keep each step short. */
const SCAN_COUNT = 1000;
/** How long `close()` waits for QUIT (which lets pending replies arrive) before dropping the socket. */
const QUIT_TIMEOUT_MS = 2000;
/** Redis rejects a TTL that overflows a signed 64-bit deadline; beyond this a number also stops printing as digits. */
const MAX_TTL_MS = Number.MAX_SAFE_INTEGER;
const HASH_SLOTS = 16384;

/*
 * The prefix index: one sorted set per store, every member (a key without the store prefix) at score 0, so
 * Redis orders it by bytes and the keys starting with p are exactly the members in [p, p + 0xff): 0xff never
 * occurs in UTF-8. ZRANGEBYLEX finds them in O(log N + M). The invariant, while the index exists, is that
 * every live key is a member; a member whose key is gone is harmless (deletePrefix counts what UNLINK
 * removed) and is pruned.
 *
 * - Lazy: a build (buildIndex(), or started in the background by a deletePrefix that found no complete index
 *   and answered by SCAN) creates the index with a marker member, adds every key a SCAN of every master finds,
 *   and certifies it complete (member 0xff) unless the index was dropped meanwhile. Writes add their key only
 *   while the index exists (checked in the same script), so until pattern deletion is used, and after clear()
 *   or an eviction of the index (allkeys-* policies) until the next build, nothing is indexed and nothing costs
 *   more than an EXISTS. An index without the certificate is never used.
 * - Standalone, or a cluster store whose prefix pins one slot ("atomic"): a write is one Lua script that adds
 *   the member and sets the value; delete, deleteMany and each deletePrefix step unlink keys and remove their
 *   members in one script or MULTI; the sweep removes a member only inside a script that saw its key absent.
 *   No other client can interleave.
 * - Cluster: the index lives in one slot and the keys in others, so nothing spanning both can be atomic.
 *   Writes send the index script and SET together (one round trip; when the index update fails the key is
 *   unlinked and the write fails). deletePrefix removes members first and keys second; the sweep checks a
 *   key, removes its member, checks again and puts the member back if the key reappeared. One process's
 *   commands to a node share a connection and keep their order, so within a process these orders leave no
 *   live key unindexed; across processes it takes a write whose SET reaches its node more than a round trip
 *   after its index update reached the index (or a slot move redirecting it). delete/deleteMany leave members
 *   to the sweep: removing them safely would cost them a second round trip.
 * - Members of expired keys: every so many written entries a background step checks the next SWEEP_BATCH
 *   members (a cursor walking the index) and removes those whose key is gone. The interval adapts to what the
 *   steps find: halved while over a quarter of the members checked are dead, doubled while under 1 in 20 are,
 *   so the dead stay a bounded share of the index (roughly 5-25%) when keys expire, and a workload that
 *   rewrites the same keys pays almost nothing. deletePrefix also drops the dead members it meets.
 */
/** Index key = prefix + this. Starting with 0xff (never in UTF-8), no key given as a string can be it. */
const INDEX_SUFFIX = Buffer.concat([Buffer.from([0xff]), Buffer.from('prefix-index')]);
/** The member certifying the index complete; sorts after every key, and no key can equal it. */
const COMPLETE = Buffer.from([0xff]);
/** Prefix of a rebuild's marker member (followed by a random token). */
const REBUILDING = Buffer.from([0xff, 0x00]);
/** Exclusive upper bound of every key member: the certificate and markers (0xff...) lie beyond it. */
const KEYS_END = Buffer.from([0x28, 0xff]);
/** Members per deletePrefix step: about a millisecond of server time (measured ~2 µs per key unlinked and unindexed). */
const PREFIX_CHUNK = 500;
/** Members checked per sweep step: about a millisecond of server time. */
const SWEEP_BATCH = 1000;
/** Written entries between two sweep steps: starts at SWEEP_EVERY, adapts between MIN (~8 checks per write) and MAX. */
const SWEEP_EVERY = 256;
const SWEEP_EVERY_MIN = 128;
const SWEEP_EVERY_MAX = 16_384;

interface LuaScript {
  readonly source: string;
  readonly sha: string;
}

function lua(source: string): LuaScript {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

const REPLACE_IF_SCRIPT = lua(REPLACE_IF);

/**
 * KEYS: index, key. ARGV: member, value, ttl ms, '1' for NX. The member goes in first (if SET then fails, it
 * is harmless), and only into an index that exists: a missing one is rebuilt before it is used.
 */
const WRITE_SCRIPT = lua(`if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('ZADD', KEYS[1], 0, ARGV[1]) end
if ARGV[4] == '1' then return redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3], 'NX') end
return redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])`);
/**
 * KEYS: index, key1..keyN. ARGV: member, value, ttl ms for each key, in order; an empty ttl removes the key.
 * Entry by entry, so the last write of a key wins; an error stops the script before the SET of its entry.
 */
const WRITE_MANY_SCRIPT = lua(`local indexed = redis.call('EXISTS', KEYS[1]) == 1
for i = 2, #KEYS do
  local at = (i - 2) * 3
  if ARGV[at + 3] == '' then
    redis.call('UNLINK', KEYS[i])
    if indexed then redis.call('ZREM', KEYS[1], ARGV[at + 1]) end
  else
    if indexed then redis.call('ZADD', KEYS[1], 0, ARGV[at + 1]) end
    redis.call('SET', KEYS[i], ARGV[at + 2], 'PX', ARGV[at + 3])
  end
end
return #KEYS - 1`);
/** KEYS: index. ARGV: members. Adds them, but never creates the index (see WRITE_SCRIPT). */
const INDEX_ADD_SCRIPT = lua(`if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local args = {}
for i = 1, #ARGV do
  args[2 * i - 1] = 0
  args[2 * i] = ARGV[i]
end
return redis.call('ZADD', KEYS[1], unpack(args))`);
/** KEYS: index, key. ARGV: member. Returns what UNLINK removed. */
const DELETE_SCRIPT = lua(`local removed = redis.call('UNLINK', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[1])
return removed`);
/*
 * The two scripts below run only where the index and every key share a slot (standalone, or a prefix with a
 * hash tag), and build the keys they touch from members (prefix .. member) rather than receive them: shipping
 * every member to the client and back doubled the round trips and bytes of a step. Both return
 * {members seen, count, last member}.
 */
/**
 * One deletePrefix step. KEYS: index. ARGV: key prefix, range start, range end, limit, the certificate. -1 when
 * the index is not certified. ZREMRANGEBYLEX drops exactly the members read: nothing can join them meanwhile.
 */
const DELETE_PREFIX_SCRIPT = lua(`if not redis.call('ZSCORE', KEYS[1], ARGV[5]) then return {-1, 0, ''} end
local members = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[2], ARGV[3], 'LIMIT', 0, ARGV[4])
if #members == 0 then return {0, 0, ''} end
local keys = {}
for i = 1, #members do keys[i] = ARGV[1] .. members[i] end
local removed = redis.call('UNLINK', unpack(keys))
redis.call('ZREMRANGEBYLEX', KEYS[1], '[' .. members[1], '[' .. members[#members])
return {#members, removed, members[#members]}`);
/** One sweep step. KEYS: index. ARGV: key prefix, range start, limit. Removes the members whose key is gone. */
const SWEEP_SCRIPT = lua(`local members = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[2], '(\\255', 'LIMIT', 0, ARGV[3])
local removed = 0
for i = 1, #members do
  if redis.call('EXISTS', ARGV[1] .. members[i]) == 0 then removed = removed + redis.call('ZREM', KEYS[1], members[i]) end
end
return {#members, removed, members[#members] or ''}`);
/** KEYS: index. ARGV: this rebuild's marker, the certificate. Certifies only if the marker survived (index not dropped). */
const CERTIFY_SCRIPT = lua(`if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('ZADD', KEYS[1], 0, ARGV[2])
  return 1
end
return 0`);

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
/** A key as ioredis takes it: a string (sent as UTF-8) or raw bytes. */
type KeyArg = string | Buffer;
type ScriptArg = KeyArg | number;

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
 *
 * @example
 * redisHashSlot('{user:1}:profile') === redisHashSlot('{user:1}:orders'); // true: same hash tag
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

/** True when the prefix holds a non-empty `{...}`, so every key of the store (and its index) shares one hash slot. */
function pinsOneSlot(prefix: string): boolean {
  const open = prefix.indexOf('{');
  return open !== -1 && prefix.indexOf('}', open + 1) > open + 1;
}

/** Escapes what Redis's glob treats specially (`*`, `?`, `[`, `]`, `\`), so the text matches only itself. */
function escapeRedisGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/**
 * Our glob as a Redis MATCH pattern that selects at least every matching key. Redis's `?` matches one byte,
 * ours one character (up to 4 UTF-8 bytes), so `?` becomes `?*` ("one or more bytes") and the exact
 * match is left to {@link compilePattern} on the client.
 */
function toRedisGlob(pattern: string): string {
  let out = '';
  for (const char of pattern) out += char === '*' ? '*' : char === '?' ? '?*' : escapeRedisGlob(char);
  return out;
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

/** What one step over the index did: members it went through, how many it removed, the last one it saw. */
interface PrefixStep {
  seen: number;
  removed: number;
  last: Buffer;
}

/** The `{seen, removed, last}` array a step script returns. */
function toStep(reply: unknown): PrefixStep {
  if (!Array.isArray(reply)) throw new Error(`unexpected script reply ${String(reply)}`);
  const [seen, removed, last] = reply as unknown[];
  if (typeof seen !== 'number' || typeof removed !== 'number' || !Buffer.isBuffer(last)) {
    throw new Error(`unexpected script reply ${String(reply)}`);
  }
  return { seen, removed, last };
}

/** `(` + member: ZRANGEBYLEX's exclusive bound, to resume after the last member seen. */
function after(member: Buffer): Buffer {
  return Buffer.concat([Buffer.from('('), member]);
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
  /**
   * Removes every live entry whose key starts with `prefix` (a plain string, no glob); returns how many.
   * O(log N + M) through the prefix index; until the index is built (see {@link buildIndex}) a call is
   * answered by SCAN and starts the build. Present only with `prefixIndex` (the default except on a cluster).
   */
  declare readonly deletePrefix?: (prefix: string) => Promise<number>;

  private readonly client: Client;
  /** Set when `client` is a cluster, whose multi-key commands must stay within one hash slot. */
  private readonly cluster: Cluster | undefined;
  /** The store created the connection: it applies its fail-fast policy to it and closes it. */
  private readonly owned: boolean;
  private readonly prefix: string;
  private readonly prefixBytes: Buffer;
  private readonly clock: Clock;
  /** The sorted set indexing the keys, or undefined with `prefixIndex: false`. */
  private readonly index: Buffer | undefined;
  /** The index and every key share one slot (standalone, or a prefix with a hash tag): scripts and MULTI may span both. */
  private readonly atomic: boolean;
  private writesSinceSweep = 0;
  private sweepEvery = SWEEP_EVERY;
  /** Where the next sweep step resumes: the last member checked, or undefined to start over. */
  private sweepCursor: Buffer | undefined;
  private sweeping: Promise<void> | undefined;
  /** The index being built (one SCAN of every master), shared by whoever asks meanwhile. */
  private building: Promise<boolean> | undefined;
  /** The first connection attempt has ended, one way or the other; from then on the store refuses to queue. */
  private settled = false;
  private lastConnectionError: Error | undefined;
  private closing: Promise<void> | undefined;
  /** The socket is corked until the next tick (see batchWrites). */
  private corked = false;

  constructor(options: RedisStoreOptions = {}) {
    this.name = options.name ?? 'redis';
    const prefix = options.prefix ?? 'tiercache:';
    if (typeof prefix !== 'string') throw this.error('prefix must be a string');
    this.prefix = prefix;
    this.prefixBytes = Buffer.from(prefix, 'utf8');
    this.clock = options.clock ?? systemClock;
    if (options.prefixIndex !== undefined && typeof options.prefixIndex !== 'boolean') {
      throw this.error('prefixIndex must be a boolean');
    }

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
    this.atomic = this.cluster === undefined || pinsOneSlot(prefix);
    const prefixIndex = options.prefixIndex ?? this.atomic;
    this.index = prefixIndex ? Buffer.concat([this.prefixBytes, INDEX_SUFFIX]) : undefined;
    if (prefixIndex) this.deletePrefix = (p) => this.deleteByPrefix(p);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    assertStoreKey(this.name, key);
    const reply = await this.run('GET', key, (client) => client.getBuffer(this.prefix + key));
    return reply === null ? undefined : toBytes(reply);
  }

  async set(key: string, value: Uint8Array, expiresAt: number): Promise<void> {
    assertStoreKey(this.name, key);
    const ttl = this.ttl(expiresAt, key);
    if (ttl === undefined) {
      await this.remove('SET', key);
      return;
    }
    this.checkSize(value, key);
    if (this.index === undefined) {
      await this.run('SET', key, (client) => client.set(this.prefix + key, toBuffer(value), 'PX', ttl));
      return;
    }
    await this.writeIndexed('SET', key, value, ttl, false);
  }

  async add(key: string, value: Uint8Array, expiresAt: number): Promise<boolean> {
    assertStoreKey(this.name, key);
    const ttl = this.ttl(expiresAt, key);
    // Nothing would be stored, and add must not remove what another writer put there.
    if (ttl === undefined) return false;
    this.checkSize(value, key);
    if (this.index !== undefined) return this.writeIndexed('SET NX', key, value, ttl, true);
    const reply = await this.run('SET NX', key, (client) => client.set(this.prefix + key, toBuffer(value), 'PX', ttl, 'NX'));
    return reply === 'OK';
  }

  async replaceIf(key: string, expected: Uint8Array, value: Uint8Array | undefined, expiresAt: number): Promise<boolean> {
    assertStoreKey(this.name, key);
    const ttl = value === undefined ? undefined : this.ttl(expiresAt, key);
    if (value !== undefined) this.checkSize(value, key);
    // The key it replaces is live, hence already in the prefix index: the script need not touch the index.
    const args = ttl === undefined ? [toBuffer(expected), '', '0'] : [toBuffer(expected), toBuffer(value!), String(ttl)];
    const reply = await this.run('REPLACE IF', key, (client) =>
      this.evalScript(client, REPLACE_IF_SCRIPT, [this.prefix + key], args),
    );
    return reply === 1;
  }

  async delete(key: string): Promise<boolean> {
    assertStoreKey(this.name, key);
    return (await this.remove('DEL', key)) > 0;
  }

  async getMany(keys: readonly string[]): Promise<(Uint8Array | undefined)[]> {
    assertStoreKeys(this.name, keys);
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
    for (const entry of entries) assertStoreKey(this.name, entry.key);
    if (entries.length === 0) return;
    const now = this.clock.now();
    // Every entry is checked before anything is sent; undefined: the deadline has passed and the key goes.
    const ttls = entries.map((entry) => {
      const ttl = this.ttl(entry.expiresAt, entry.key, now);
      if (ttl !== undefined) this.checkSize(entry.value, entry.key);
      return ttl;
    });
    const index = this.index;
    if (index !== undefined && this.atomic) {
      await this.setManyAtomic(index, entries, ttls);
      return;
    }
    const fullKeys = entries.map((entry) => this.prefix + entry.key);
    const commands = entries.map((entry, i): CommandLine => {
      const ttl = ttls[i];
      return ttl === undefined ? ['unlink', fullKeys[i]!] : ['set', fullKeys[i]!, toBuffer(entry.value), 'PX', ttl];
    });
    if (index === undefined) await this.pipeline('SET (batch)', commands, fullKeys);
    else await this.setManyCluster(index, entries, ttls, commands, fullKeys);
  }

  async deleteMany(keys: readonly string[]): Promise<number> {
    assertStoreKeys(this.name, keys);
    if (keys.length === 0) return 0;
    const fullKeys = keys.map((key) => this.prefix + key);
    const index = this.index;
    // On a cluster the members stay for the sweep (see the notes on the prefix index).
    if (index === undefined || !this.atomic) return this.unlinkCount('DEL (batch)', fullKeys);
    return this.run('DEL (batch)', undefined, async (client) => {
      const chunks: Promise<unknown[]>[] = [];
      for (let start = 0; start < keys.length; start += MULTI_KEY_CHUNK) {
        chunks.push(
          this.exec(client, [
            ['unlink', ...fullKeys.slice(start, start + MULTI_KEY_CHUNK)],
            ['zrem', index, ...keys.slice(start, start + MULTI_KEY_CHUNK)],
          ]),
        );
      }
      return (await Promise.all(chunks)).reduce<number>((sum, [removed]) => sum + Number(removed), 0);
    });
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
    // Compiled here, not in the generator, so a bad pattern throws InvalidPatternError at the call.
    return this.scanKeys(pattern, compilePattern(pattern, 'keys(pattern)', STORE_PATTERN));
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
          // The prefix index goes too: writes racing with clear may recreate it, but never certified complete,
          // so the next deletePrefix rebuilds it rather than trust it.
          const mine = found.filter((key) => this.owns(key));
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
    // A sweep step already sent finishes first (it never throws): its replies arrive before QUIT's.
    await this.sweeping;
    // A build stops at its next SCAN step once the store is closing.
    await this.building?.catch(() => undefined);
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
  /**
   * Sends the commands issued in one tick of the event loop in one socket write instead of one each: the socket
   * is corked now and uncorked on the next tick, before any I/O, so no command waits longer than it would have.
   * Under concurrency most of the CPU went to per-command writes. A cluster spreads commands over several
   * sockets, where this is not done.
   */
  private batchWrites(client: Client): void {
    if (this.corked || this.cluster !== undefined || client.status !== 'ready') return;
    const stream = (client as Redis).stream as { cork?: () => void; uncork?: () => void } | undefined;
    if (typeof stream?.cork !== 'function' || typeof stream.uncork !== 'function') return;
    this.corked = true;
    stream.cork();
    process.nextTick(() => {
      this.corked = false;
      stream.uncork?.();
    });
  }

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
  private async pipeline(operation: string, commands: readonly CommandLine[], keys: readonly KeyArg[]): Promise<unknown[]> {
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
  private keyOf(fullKey: KeyArg): string {
    return typeof fullKey === 'string' ? fullKey.slice(this.prefix.length) : fullKey.toString('utf8', this.prefixBytes.length);
  }

  /** UNLINK of `fullKeys`: one multi-key command per slot group, sent as pipelines; returns how many existed. */
  private async unlinkCount(operation: string, fullKeys: readonly KeyArg[]): Promise<number> {
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
  private async execGroup(client: Client, commands: readonly CommandLine[]): Promise<[Error | null, unknown][]> {
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
  private slotGroups(keys: readonly KeyArg[]): number[][] {
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
  private nodeGroups(keys: readonly KeyArg[]): number[][] {
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

  private async *scanKeys(pattern: string, matcher: PatternMatcher): AsyncGenerator<string> {
    const match = escapeRedisGlob(this.prefix) + toRedisGlob(pattern);
    // SCAN may return a key more than once (rehashing, slot migration), and each master is walked separately.
    const seen = new Set<string>();
    for (const node of await this.masters('SCAN')) {
      let cursor = '0';
      do {
        const [next, found] = await this.run('SCAN', undefined, () => node.scanBuffer(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT));
        cursor = next.toString();
        for (const fullKey of found) {
          // Compared as bytes: decoded, the index key (not UTF-8) could pass for a key holding U+FFFD.
          if (!this.owns(fullKey) || this.index?.equals(fullKey) === true) continue;
          const key = fullKey.toString('utf8', this.prefixBytes.length);
          if (seen.has(key) || !matcher.test(key)) continue;
          seen.add(key);
          yield key;
        }
      } while (cursor !== '0');
    }
  }

  /** A key under this store's prefix (the glob engine aside, SCAN MATCH is only a filter). */
  private owns(fullKey: Buffer): boolean {
    return fullKey.length >= this.prefixBytes.length && fullKey.subarray(0, this.prefixBytes.length).equals(this.prefixBytes);
  }

  // ---------------------------------------------------------------------------------------------------------
  // The prefix index (see the notes next to INDEX_SUFFIX)

  /** Writes one entry and its index member; true when stored (always, unless `nx` found a live entry). */
  private async writeIndexed(operation: string, key: string, value: Uint8Array, ttl: number, nx: boolean): Promise<boolean> {
    const index = this.index!;
    const fullKey = this.prefix + key;
    const stored = await this.run(operation, key, async (client) => {
      if (this.atomic) {
        const reply = await this.evalScript(client, WRITE_SCRIPT, [index, fullKey], [key, toBuffer(value), ttl, nx ? '1' : '0']);
        return reply === 'OK';
      }
      const [data, member] = await Promise.allSettled([
        nx ? client.set(fullKey, toBuffer(value), 'PX', ttl, 'NX') : client.set(fullKey, toBuffer(value), 'PX', ttl),
        this.evalScript(client, INDEX_ADD_SCRIPT, [index], [key]),
      ]);
      if (data.status === 'rejected') throw data.reason;
      if (member.status === 'rejected') {
        // A live key missing from the index would survive every deletePrefix: take it out, then fail the write.
        if (data.value === 'OK') await client.unlink(fullKey).catch(() => undefined);
        throw member.reason;
      }
      return data.value === 'OK';
    });
    this.wrote(1);
    return stored;
  }

  /** Unlinks one key (and, where it can be done atomically, its member); returns what UNLINK removed. */
  private async remove(operation: string, key: string): Promise<number> {
    const fullKey = this.prefix + key;
    const index = this.index;
    // UNLINK is DEL that frees the value in the background, so dropping a large value does not stall the server.
    if (index === undefined || !this.atomic) return this.run(operation, key, (client) => client.unlink(fullKey));
    return Number(await this.run(operation, key, (client) => this.evalScript(client, DELETE_SCRIPT, [index, fullKey], [key])));
  }

  /** One script per chunk of entries: atomic, in entry order, and short enough not to hold the server for long. */
  private async setManyAtomic(index: Buffer, entries: readonly StoreWrite[], ttls: readonly (number | undefined)[]): Promise<void> {
    const calls: { keys: KeyArg[]; args: KeyArg[] }[] = [];
    for (let start = 0; start < entries.length; start += MULTI_KEY_CHUNK) {
      const keys: KeyArg[] = [index];
      const args: KeyArg[] = [];
      for (let i = start; i < Math.min(start + MULTI_KEY_CHUNK, entries.length); i++) {
        const entry = entries[i]!;
        const ttl = ttls[i];
        keys.push(this.prefix + entry.key);
        args.push(entry.key, ttl === undefined ? '' : toBuffer(entry.value), ttl === undefined ? '' : String(ttl));
      }
      calls.push({ keys, args });
    }
    await this.run('SET (batch)', undefined, (client) =>
      Promise.all(calls.map(({ keys, args }) => this.evalScript(client, WRITE_MANY_SCRIPT, keys, args))),
    );
    this.wrote(entries.length);
  }

  /** The per-node pipelines of SETs and the index updates, sent together (one round trip). */
  private async setManyCluster(
    index: Buffer,
    entries: readonly StoreWrite[],
    ttls: readonly (number | undefined)[],
    commands: readonly CommandLine[],
    fullKeys: readonly string[],
  ): Promise<void> {
    const members = entries.filter((_, i) => ttls[i] !== undefined).map((entry) => entry.key);
    const [data, indexed] = await Promise.allSettled([
      this.pipeline('SET (batch)', commands, fullKeys),
      this.run('SET (batch)', undefined, async (client) => {
        for (let start = 0; start < members.length; start += MULTI_KEY_CHUNK) {
          await this.evalScript(client, INDEX_ADD_SCRIPT, [index], members.slice(start, start + MULTI_KEY_CHUNK));
        }
      }),
    ]);
    if (data.status === 'rejected') throw data.reason;
    if (indexed.status === 'rejected') {
      // As in writeIndexed: no live key may stay out of the index.
      await this.unlinkCount('SET (batch)', fullKeys.filter((_, i) => ttls[i] !== undefined)).catch(() => undefined);
      throw indexed.reason;
    }
    this.wrote(entries.length);
  }

  private async deleteByPrefix(prefix: string): Promise<number> {
    if (typeof prefix !== 'string') throw this.error('deletePrefix(prefix) needs a string prefix');
    assertStoreKey(this.name, prefix, 'prefix');
    const index = this.index!;
    const bytes = Buffer.from(prefix, 'utf8');
    // Every key starting with `prefix` lies in [prefix, prefix + 0xff): the byte after the prefix is at most 0xf4.
    const first = prefix === '' ? Buffer.from('-') : Buffer.concat([Buffer.from('['), bytes]);
    const end = Buffer.concat([Buffer.from('('), bytes, COMPLETE]);
    return this.run('DEL (prefix)', undefined, async (client) => {
      const step = (from: Buffer) =>
        this.atomic ? this.prefixStepAtomic(client, index, from, end) : this.prefixStepCluster(client, index, from, end);
      let result = await step(first);
      let removed = 0;
      // Resuming after the last member seen, not from the start, bounds the walk even while writers keep
      // adding keys under the prefix.
      while (result !== undefined) {
        removed += result.removed;
        if (result.seen < PREFIX_CHUNK) return removed;
        result = await step(after(result.last));
      }
      // No index that covers every key (never built, dropped by clear() or an eviction, maybe under our feet):
      // this call is answered by SCAN, as it would be without the index, while the index is built for the next.
      void this.buildInBackground(index).catch(() => undefined);
      return removed + (await this.deleteByScan(prefix));
    });
  }

  /**
   * Builds the prefix index now if it is not complete: one SCAN of every master, as costly as the SCAN each
   * pattern deletion would otherwise make (a few times that where the index receives many keys). The first
   * `deletePrefix` starts it by itself, answering by SCAN meanwhile; call this at startup to have the index
   * ready for the first one. Resolves true when the index is complete; false when it was dropped while being
   * built (evicted, or `clear()` ran), in which case the next `deletePrefix` builds it again.
   *
   * @example
   * const store = redisStore({ url });
   * await store.buildIndex(); // at startup: the first pattern invalidation is then cheap
   */
  async buildIndex(): Promise<boolean> {
    const index = this.index;
    if (index === undefined) throw this.error('buildIndex() needs the prefix index (prefixIndex: true)');
    if (this.building === undefined) {
      const certified = await this.run('INDEX', undefined, (client) => client.zscore(index, COMPLETE));
      if (certified !== null) return true;
    }
    return this.buildInBackground(index);
  }

  private buildInBackground(index: Buffer): Promise<boolean> {
    this.building ??= this.run('INDEX', undefined, (client) => this.rebuild(client, index)).then(
      (certified) => {
        this.building = undefined;
        // Sweeps that found no index slowed down; resume the starting pace.
        if (certified) this.sweepEvery = SWEEP_EVERY;
        return certified;
      },
      (error: unknown) => {
        this.building = undefined;
        throw error;
      },
    );
    return this.building;
  }

  /** One step of deletePrefix, in a script; undefined when the index is not certified complete. */
  private async prefixStepAtomic(client: Client, index: Buffer, from: Buffer, end: Buffer): Promise<PrefixStep | undefined> {
    const args = [this.prefixBytes, from, end, PREFIX_CHUNK, COMPLETE];
    const step = toStep(await this.evalScriptBuffers(client, DELETE_PREFIX_SCRIPT, [index], args));
    return step.seen < 0 ? undefined : step;
  }

  /** One step of deletePrefix on a cluster: members first, keys second (a racing write re-adds its member after our ZREM). */
  private async prefixStepCluster(client: Client, index: Buffer, from: Buffer, end: Buffer): Promise<PrefixStep | undefined> {
    const [certified, members] = await Promise.all([
      client.zscore(index, COMPLETE),
      client.zrangebylexBuffer(index, from, end, 'LIMIT', 0, PREFIX_CHUNK),
    ]);
    if (certified === null) return undefined;
    const last = members.at(-1);
    if (last === undefined) return { seen: 0, removed: 0, last: from };
    await client.zrem(index, ...members);
    const removed = await this.unlinkCount(
      'DEL (prefix)',
      members.map((member) => Buffer.concat([this.prefixBytes, member])),
    );
    return { seen: members.length, removed, last };
  }

  /**
   * Adds every string key under the prefix to the index (SCAN on every master), then certifies it complete,
   * unless the index was dropped meanwhile (its marker gone): then false, and the caller must not trust it.
   */
  private async rebuild(client: Client, index: Buffer): Promise<boolean> {
    const marker = Buffer.concat([REBUILDING, randomBytes(8)]);
    await client.zadd(index, 0, marker);
    const match = `${escapeRedisGlob(this.prefix)}*`;
    await Promise.all(
      (await this.masters('INDEX')).map(async (node) => {
        // The next SCAN step goes out while earlier additions are still in flight (a few at most, to bound
        // memory). Each addition settles into `failed` so that none is left rejecting unobserved.
        const adding: Promise<void>[] = [];
        let failed: Error | undefined;
        let cursor = '0';
        do {
          if (this.closing !== undefined) throw this.error('the store is closed');
          // TYPE string: entries only, not the index itself nor the logs (streams) kept under the prefix.
          const [next, found] = await node.scanBuffer(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT, 'TYPE', 'string');
          cursor = next.toString();
          const members = found.filter((key) => this.owns(key)).map((key) => key.subarray(this.prefixBytes.length));
          for (let start = 0; start < members.length; start += MULTI_KEY_CHUNK) {
            if (adding.length >= 4) await adding.shift();
            if (failed !== undefined) break;
            const added = this.evalScript(client, INDEX_ADD_SCRIPT, [index], members.slice(start, start + MULTI_KEY_CHUNK));
            adding.push(
              added.then(
                () => undefined,
                (error: unknown) => {
                  failed ??= error instanceof Error ? error : new Error(String(error));
                },
              ),
            );
          }
        } while (cursor !== '0' && failed === undefined);
        await Promise.all(adding);
        if (failed !== undefined) throw failed;
      }),
    );
    return (await this.evalScript(client, CERTIFY_SCRIPT, [index], [marker, COMPLETE])) === 1;
  }

  /** deletePrefix without a trustworthy index: SCAN every master for the prefix (correct, and as slow as SCAN). */
  private async deleteByScan(prefix: string): Promise<number> {
    const match = `${escapeRedisGlob(this.prefix + prefix)}*`;
    const full = Buffer.from(this.prefix + prefix, 'utf8');
    const counts = await Promise.all(
      (await this.masters('DEL (prefix)')).map(async (node) => {
        let removed = 0;
        let cursor = '0';
        do {
          const [next, found] = await node.scanBuffer(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT, 'TYPE', 'string');
          cursor = next.toString();
          const mine = found.filter((key) => key.subarray(0, full.length).equals(full));
          if (mine.length > 0) removed += await this.unlinkCount('DEL (prefix)', mine);
        } while (cursor !== '0');
        return removed;
      }),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  /** Counts written entries and, every `sweepEvery` of them, starts one sweep step unless one is running. */
  private wrote(entries: number): void {
    this.writesSinceSweep += entries;
    if (this.writesSinceSweep < this.sweepEvery || this.sweeping !== undefined || this.closing !== undefined) return;
    this.writesSinceSweep = 0;
    // Deliberately not awaited: the write is done. A failed step only delays pruning; the next one retries.
    this.sweeping = this.sweepStep().then(
      ({ checked, removed }) => {
        this.sweeping = undefined;
        // An empty step means no index (never built, or dropped) or an empty one: nothing to prune. A short step
        // (the tail of the index before the cursor wraps) is too small a sample to judge the pace by.
        const slower = checked === 0 || (checked >= SWEEP_BATCH / 2 && removed < checked / 20);
        const faster = checked >= SWEEP_BATCH / 2 && removed > checked / 4;
        if (slower) this.sweepEvery = Math.min(SWEEP_EVERY_MAX, this.sweepEvery * 2);
        else if (faster) this.sweepEvery = Math.max(SWEEP_EVERY_MIN, this.sweepEvery / 2);
      },
      () => {
        this.sweeping = undefined;
      },
    );
  }

  /** Checks the next SWEEP_BATCH members and removes those whose key is gone. */
  private async sweepStep(): Promise<{ checked: number; removed: number }> {
    const index = this.index!;
    const client = this.connection();
    const from = this.sweepCursor === undefined ? Buffer.from('-') : after(this.sweepCursor);
    if (this.atomic) {
      const reply = await this.evalScriptBuffers(client, SWEEP_SCRIPT, [index], [this.prefixBytes, from, SWEEP_BATCH]);
      const { seen, removed, last } = toStep(reply);
      this.sweepCursor = seen < SWEEP_BATCH ? undefined : last;
      return { checked: seen, removed };
    }
    const members = await client.zrangebylexBuffer(index, from, KEYS_END, 'LIMIT', 0, SWEEP_BATCH);
    this.sweepCursor = members.length < SWEEP_BATCH ? undefined : members.at(-1);
    const checked = members.length;
    if (checked === 0) return { checked, removed: 0 };
    const fullKeys = members.map((member) => Buffer.concat([this.prefixBytes, member]));
    // Check, remove, check again: a key written between the first check and ZREM gets its member back.
    const alive = await this.exist(fullKeys);
    const dead = members.filter((_, i) => !alive[i]);
    if (dead.length === 0) return { checked, removed: 0 };
    await client.zrem(index, ...dead);
    const back = await this.exist(fullKeys.filter((_, i) => !alive[i]));
    const restore = dead.filter((_, i) => back[i]);
    if (restore.length > 0) await this.evalScript(client, INDEX_ADD_SCRIPT, [index], restore);
    return { checked, removed: dead.length - restore.length };
  }

  /** EXISTS for each key, pipelined per node. */
  private async exist(fullKeys: readonly Buffer[]): Promise<boolean[]> {
    const replies = await this.pipeline(
      'EXISTS',
      fullKeys.map((key): CommandLine => ['exists', key]),
      fullKeys,
    );
    return replies.map((reply) => reply === 1);
  }

  /** EVALSHA, and EVAL when the server does not know the script (restarted, or SCRIPT FLUSH); EVAL caches it again. */
  private async evalScript(client: Client, script: LuaScript, keys: readonly KeyArg[], args: readonly ScriptArg[]): Promise<unknown> {
    try {
      return await client.evalsha(script.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return client.eval(script.source, keys.length, ...keys, ...args);
    }
  }

  /** {@link evalScript} with bulk replies as Buffers: members are bytes, not necessarily UTF-8 (a rebuild indexes any key). */
  private async evalScriptBuffers(client: Client, script: LuaScript, keys: readonly KeyArg[], args: readonly ScriptArg[]): Promise<unknown> {
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
  private async exec(client: Client, commands: readonly CommandLine[]): Promise<unknown[]> {
    const results = await client.multi(commands.map((command) => [...command])).exec();
    if (results === null) throw new Error('the transaction was discarded');
    return results.map(([error, reply]) => {
      if (error !== null) throw error;
      return reply;
    });
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
