import { randomBytes } from 'node:crypto';
import { type PatternMatcher } from '../../freshness/pattern.js';
import { assertStoreKey } from '../../keys/validate.js';
import type { StoreWrite } from '../contract.js';
import { RedisConnection, type Client, type CommandLine, type KeyArg } from './connection.js';
import type { RedisStoreOptions } from './options.js';
import { after, escapeRedisGlob, MULTI_KEY_CHUNK, pinsOneSlot, SCAN_COUNT, toBuffer, toRedisGlob, toStep, type PrefixStep } from './protocol.js';
import { ADD_OR_GET_INDEXED_SCRIPT, ADD_OR_GET_SCRIPT, CERTIFY_SCRIPT, DELETE_PREFIX_SCRIPT, DELETE_SCRIPT, INDEX_ADD_SCRIPT, SWEEP_SCRIPT, WRITE_MANY_SCRIPT, WRITE_SCRIPT } from './scripts.js';

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

/** The Redis store's prefix index and the writes and deletes that keep it (see the notes above). */
export abstract class RedisIndexedConnection extends RedisConnection {
  /** The sorted set indexing the keys, or undefined with `prefixIndex: false`. */
  protected readonly index: Buffer | undefined;
  /** The key prefixes the index covers (`prefixIndex: { prefixes }`); undefined: every key (`prefixIndex: true`). */
  protected readonly indexedPrefixes: readonly string[] | undefined;
  /** The index and every key share one slot (standalone, or a prefix with a hash tag): scripts and MULTI may span both. */
  protected readonly atomic: boolean;
  private writesSinceSweep = 0;
  private sweepEvery = SWEEP_EVERY;
  /** Where the next sweep step resumes: the last member checked, or undefined to start over. */
  private sweepCursor: Buffer | undefined;
  protected sweeping: Promise<void> | undefined;
  /** The index being built (one SCAN of every master), shared by whoever asks meanwhile. */
  protected building: Promise<boolean> | undefined;

  constructor(options: RedisStoreOptions) {
    super(options);
    this.atomic = this.cluster === undefined || pinsOneSlot(this.prefix);
    const prefixIndex = options.prefixIndex ?? false;
    this.index = prefixIndex === false ? undefined : Buffer.concat([this.prefixBytes, INDEX_SUFFIX]);
    this.indexedPrefixes = typeof prefixIndex === 'object' ? Object.freeze([...prefixIndex.prefixes]) : undefined;
  }

  /**
   * The index when `key` is one it covers, else undefined: a key no covered prefix starts with is written with a
   * plain command, since no `deletePrefix` that uses the index can ever need it.
   */
  protected indexOf(key: string): Buffer | undefined {
    const index = this.index;
    if (index === undefined) return undefined;
    const prefixes = this.indexedPrefixes;
    if (prefixes === undefined) return index;
    for (let i = 0; i < prefixes.length; i++) if (key.startsWith(prefixes[i]!)) return index;
    return undefined;
  }

  protected async *scanKeys(pattern: string, matcher: PatternMatcher): AsyncGenerator<string> {
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


  /** Writes one entry and its index member; true when stored (always, unless `nx` found a live entry). */
  protected async writeIndexed(operation: string, key: string, value: Uint8Array, ttl: number, nx: boolean): Promise<boolean> {
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

  /**
   * `addOrGet` for a key the index covers: the live value (nothing written), or null once `value` is stored and
   * indexed. Where the index shares the key's slot this is one script; on a cluster the member is added beside it,
   * as in {@link writeIndexed}, and a stored key whose member failed is taken out again.
   */
  protected async addOrGetIndexed(key: string, value: Uint8Array, ttl: number): Promise<Buffer | null> {
    const index = this.index!;
    const fullKey = this.prefix + key;
    const reply = await this.run('ADD OR GET', key, async (client) => {
      if (this.atomic) return this.evalScriptBuffers(client, ADD_OR_GET_INDEXED_SCRIPT, [index, fullKey], [key, toBuffer(value), ttl]);
      const [data, member] = await Promise.allSettled([
        this.evalScriptBuffers(client, ADD_OR_GET_SCRIPT, [fullKey], [toBuffer(value), ttl]),
        this.evalScript(client, INDEX_ADD_SCRIPT, [index], [key]),
      ]);
      if (data.status === 'rejected') throw data.reason;
      if (member.status === 'rejected') {
        if (data.value === null) await client.unlink(fullKey).catch(() => undefined);
        throw member.reason;
      }
      return data.value;
    });
    if (reply === null) this.wrote(1);
    return reply as Buffer | null;
  }

  /** Unlinks one key (and, where it can be done atomically, its member); returns what UNLINK removed. */
  protected async remove(operation: string, key: string): Promise<number> {
    const fullKey = this.prefix + key;
    const index = this.indexOf(key);
    // UNLINK is DEL that frees the value in the background, so dropping a large value does not stall the server.
    if (index === undefined || !this.atomic) return this.run(operation, key, (client) => client.unlink(fullKey));
    return Number(await this.run(operation, key, (client) => this.evalScript(client, DELETE_SCRIPT, [index, fullKey], [key])));
  }

  /** One script per chunk of entries: atomic, in entry order, and short enough not to hold the server for long. */
  protected async setManyAtomic(index: Buffer, entries: readonly StoreWrite[], ttls: readonly (number | undefined)[]): Promise<void> {
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
  protected async setManyCluster(
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

  protected async deleteByPrefix(prefix: string): Promise<number> {
    if (typeof prefix !== 'string') throw this.error('deletePrefix(prefix) needs a string prefix');
    assertStoreKey(this.name, prefix, 'prefix');
    const index = this.indexOf(prefix);
    // A prefix the index does not cover holds keys written without it: only a SCAN finds them all.
    if (index === undefined) return this.run('DEL (prefix)', undefined, () => this.deleteByScan(prefix));
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

  protected buildInBackground(index: Buffer): Promise<boolean> {
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
  protected async prefixStepAtomic(client: Client, index: Buffer, from: Buffer, end: Buffer): Promise<PrefixStep | undefined> {
    const args = [this.prefixBytes, from, end, PREFIX_CHUNK, COMPLETE];
    const step = toStep(await this.evalScriptBuffers(client, DELETE_PREFIX_SCRIPT, [index], args));
    return step.seen < 0 ? undefined : step;
  }

  /** One step of deletePrefix on a cluster: members first, keys second (a racing write re-adds its member after our ZREM). */
  protected async prefixStepCluster(client: Client, index: Buffer, from: Buffer, end: Buffer): Promise<PrefixStep | undefined> {
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
  protected async rebuild(client: Client, index: Buffer): Promise<boolean> {
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
          const members = found.filter((key) => this.owns(key) && this.covers(key)).map((key) => key.subarray(this.prefixBytes.length));
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

  /** Whether a full key (with the store prefix) is one the index covers. */
  private covers(fullKey: Buffer): boolean {
    const prefixes = this.indexedPrefixes;
    if (prefixes === undefined) return true;
    return prefixes.some((prefix) => fullKey.subarray(this.prefixBytes.length).toString('utf8').startsWith(prefix));
  }

  /** deletePrefix without a trustworthy index: SCAN every master for the prefix (correct, and as slow as SCAN). */
  protected async deleteByScan(prefix: string): Promise<number> {
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
  protected wrote(entries: number): void {
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
  protected async sweepStep(): Promise<{ checked: number; removed: number }> {
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
  protected async exist(fullKeys: readonly Buffer[]): Promise<boolean[]> {
    const replies = await this.pipeline(
      'EXISTS',
      fullKeys.map((key): CommandLine => ['exists', key]),
      fullKeys,
    );
    return replies.map((reply) => reply === 1);
  }
}
