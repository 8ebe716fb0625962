import { compilePattern, STORE_PATTERN } from '../../freshness/pattern.js';
import { assertStoreKey, assertStoreKeys } from '../../keys/validate.js';
import type { SharedLog, Store, StoreCapabilities, StoreContext, StoreWrite } from '../contract.js';
import type { Client, CommandLine } from './connection.js';
import type { RedisStoreOptions } from './options.js';
import { RedisIndexedConnection } from './prefix-index.js';
import { escapeRedisGlob, MAX_VALUE_BYTES, MULTI_KEY_CHUNK, SCAN_COUNT, toBuffer, toBytes } from './protocol.js';
import { ADD_MEMBER_SCRIPT, MEMBERS_SCRIPT, REPLACE_IF_SCRIPT } from './scripts.js';

/**
 * A {@link Store} on Redis (standalone or Cluster) through ioredis. Values are stored as raw bytes under
 * `prefix + key` with a millisecond TTL computed from the store's clock, so the server's clock never matters.
 */
export class RedisStore extends RedisIndexedConnection implements Store, SharedLog {
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
   * O(log N + M) through the prefix index when the index covers `prefix`; until the index is built (see
   * {@link buildIndex}) such a call is answered by SCAN and starts the build. A prefix the index does not cover is
   * answered by SCAN. Present only with `prefixIndex` (off by default).
   */
  declare readonly deletePrefix?: (prefix: string) => Promise<number>;
  /** The server takes `SET … NX GET` (Redis 7.0 and later); cleared at the first refusal. */
  private setNxGet = true;

  constructor(options: RedisStoreOptions = {}) {
    super(options);
    if (this.index !== undefined) this.deletePrefix = (p) => this.deleteByPrefix(p);
  }

  // --- hook for server-assisted invalidation (src/coherence/tracking.ts, `coherence: 'tracking'`) ---
  /**
   * The connection this store writes through and its key prefix. Tracking is switched on for this very
   * connection with `NOLOOP`, so the store's own writes are not reported back to the cache that made them.
   * @internal
   */
  trackingTarget(): { readonly client: Client; readonly prefix: string } {
    return { client: this.client, prefix: this.prefix };
  }
  // --- end of the tracking hook ---

  get(key: string): Promise<Uint8Array | undefined> {
    // One promise over the client's, not two async layers: the read every L2 hit makes.
    let client: Client;
    try {
      assertStoreKey(this.name, key);
      client = this.connection();
    } catch (error) {
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- what assertStoreKey or connection() threw, as is
      return Promise.reject(error);
    }
    this.batchWrites(client);
    return client.getBuffer(this.prefix + key).then(
      (reply) => (reply === null ? undefined : toBytes(reply)),
      (cause: unknown) => {
        throw this.failure('GET', cause, key);
      },
    );
  }

  async set(key: string, value: Uint8Array, expiresAt: number): Promise<void> {
    assertStoreKey(this.name, key);
    const ttl = this.ttl(expiresAt, key);
    if (ttl === undefined) {
      await this.remove('SET', key);
      return;
    }
    this.checkSize(value, key);
    if (this.indexOf(key) === undefined) {
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
    if (this.indexOf(key) !== undefined) return this.writeIndexed('SET NX', key, value, ttl, true);
    const reply = await this.run('SET NX', key, (client) => client.set(this.prefix + key, toBuffer(value), 'PX', ttl, 'NX'));
    return reply === 'OK';
  }

  async addOrGet(key: string, value: Uint8Array, expiresAt: number): Promise<Uint8Array | undefined> {
    assertStoreKey(this.name, key);
    const ttl = this.ttl(expiresAt, key);
    if (ttl === undefined) throw this.error(`addOrGet needs a deadline after now, got ${String(expiresAt)}`, { key });
    this.checkSize(value, key);
    let reply: Buffer | null;
    if (this.indexOf(key) !== undefined) reply = await this.addOrGetIndexed(key, value, ttl);
    else if (this.setNxGet) {
      // A plain command, not a script: Redis reports a script's writes to client tracking even under NOLOOP, so a
      // cache with `coherence: 'tracking'` would hear its own claim as a foreign write and fence its own load.
      try {
        reply = await this.run('SET NX GET', key, (client) => client.setBuffer(this.prefix + key, toBuffer(value), 'PX', ttl, 'NX', 'GET'));
      } catch (error) {
        // NX and GET together need Redis 7.0; an older server gets two commands.
        if (!(error instanceof Error) || !/syntax error/i.test(error.message)) throw error;
        this.setNxGet = false;
        return this.addOrGet(key, value, expiresAt);
      }
    } else reply = await this.addThenGet(key, value, ttl);
    return reply === null ? undefined : toBytes(reply);
  }

  /**
   * `addOrGet` where the server lacks `SET … NX GET` (before Redis 7.0): a `SET … NX`, then a `GET` when refused,
   * again if the key went in between. Not one atomic step: the bytes returned may be a write later than the one
   * that refused ours, which a claim (the one caller) takes in its stride. Not a script, for the reason above.
   */
  private async addThenGet(key: string, value: Uint8Array, ttl: number): Promise<Buffer | null> {
    const fullKey = this.prefix + key;
    for (let attempt = 0; attempt < 3; attempt++) {
      const stored = await this.run('SET NX', key, (client) => client.set(fullKey, toBuffer(value), 'PX', ttl, 'NX'));
      if (stored === 'OK') return null;
      const held = await this.run('GET', key, (client) => client.getBuffer(fullKey));
      if (held !== null) return held;
    }
    throw this.error('addOrGet: the key changed between SET NX and GET three times in a row', { key });
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
    if (this.cluster === undefined) {
      // One server: one MGET, without the grouping by slot a cluster needs.
      const replies = await this.run('MGET', undefined, (client) => client.mgetBuffer(fullKeys));
      for (let i = 0; i < replies.length; i++) {
        const reply = replies[i];
        if (reply !== null && reply !== undefined) out[i] = toBytes(reply);
      }
      return out;
    }
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
    if (index === undefined) {
      await this.setManyPlain(entries, ttls);
      return;
    }
    // Keys the index covers and keys it does not go separately; a key is always on the same side, so the last
    // write of a key in the batch still wins.
    const covered: number[] = [];
    const plain: number[] = [];
    entries.forEach((entry, i) => (this.indexOf(entry.key) === undefined ? plain : covered).push(i));
    const pick = <T>(from: readonly T[], at: readonly number[]) => at.map((i) => from[i]!);
    const indexed = async (part: readonly StoreWrite[], partTtls: readonly (number | undefined)[]) => {
      if (this.atomic) await this.setManyAtomic(index, part, partTtls);
      else await this.setManyCluster(index, part, partTtls, this.setCommands(part, partTtls), part.map((entry) => this.prefix + entry.key));
    };
    if (plain.length === 0) return indexed(entries, ttls);
    if (covered.length === 0) return this.setManyPlain(entries, ttls);
    await Promise.all([indexed(pick(entries, covered), pick(ttls, covered)), this.setManyPlain(pick(entries, plain), pick(ttls, plain))]);
  }

  /** SET (or UNLINK, for an entry whose deadline has passed) per entry, as pipelines. */
  private async setManyPlain(entries: readonly StoreWrite[], ttls: readonly (number | undefined)[]): Promise<void> {
    await this.pipeline('SET (batch)', this.setCommands(entries, ttls), entries.map((entry) => this.prefix + entry.key));
  }

  private setCommands(entries: readonly StoreWrite[], ttls: readonly (number | undefined)[]): CommandLine[] {
    return entries.map((entry, i): CommandLine => {
      const ttl = ttls[i];
      const fullKey = this.prefix + entry.key;
      return ttl === undefined ? ['unlink', fullKey] : ['set', fullKey, toBuffer(entry.value), 'PX', ttl];
    });
  }

  async deleteMany(keys: readonly string[]): Promise<number> {
    assertStoreKeys(this.name, keys);
    if (keys.length === 0) return 0;
    const fullKeys = keys.map((key) => this.prefix + key);
    const index = this.index;
    // On a cluster the members stay for the sweep (see the notes on the prefix index); so do members of keys the
    // index does not cover (there are none).
    if (index === undefined || !this.atomic || keys.every((key) => this.indexOf(key) === undefined)) return this.unlinkCount('DEL (batch)', fullKeys);
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

  attach(context: StoreContext): void {
    this.clock.attach(context);
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

  async addMember(index: string, member: string, expiresAt: number): Promise<void> {
    assertStoreKeys(this.name, [index, member]);
    const now = this.clock.now();
    const ttl = this.ttl(expiresAt, index, now);
    if (ttl === undefined) return this.removeMember(index, member);
    // Scored by the deadline on the store's clock (capped like every TTL), never by the server's clock.
    await this.run('ZADD', index, (client) => this.evalScript(client, ADD_MEMBER_SCRIPT, [this.prefix + index], [String(now + ttl), member, String(now)]));
  }

  async removeMember(index: string, member: string): Promise<void> {
    assertStoreKeys(this.name, [index, member]);
    await this.run('ZREM', index, (client) => client.zrem(this.prefix + index, member));
  }

  async members(index: string, limit: number): Promise<string[]> {
    assertStoreKey(this.name, index);
    if (!Number.isSafeInteger(limit) || limit < 1) throw new TypeError(`members: limit must be a whole number >= 1, got ${String(limit)}`);
    const reply = await this.run('ZRANGE', index, (client) => this.evalScript(client, MEMBERS_SCRIPT, [this.prefix + index], [String(this.clock.now()), String(limit)]));
    return Array.isArray(reply) ? reply.filter((member): member is string => typeof member === 'string') : [];
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
    await this.disconnect();
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
