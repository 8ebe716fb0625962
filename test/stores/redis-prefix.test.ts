import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cache } from '../../src/cache.js';
import { CacheBackendError } from '../../src/errors.js';
import { redisHashSlot, redisStore, type RedisStore, type RedisStoreOptions } from '../../src/stores/redis.js';
import { CLUSTER_NODES, countedClient, freePort, rejection, ThrowawayRedis, uniquePrefix } from './redis-helpers.js';
import { until } from '../kit/index.js';

const script = fileURLToPath(new URL('../../scripts/redis-cluster.sh', import.meta.url));
const text = (value: string) => new TextEncoder().encode(value);
const later = (ms: number) => Date.now() + ms;

/** Where the store keeps its index: prefix + 0xff + 'prefix-index' (0xff: no key given as a string can collide). */
const indexKeyOf = (prefix: string) => Buffer.concat([Buffer.from(prefix), Buffer.from([0xff]), Buffer.from('prefix-index')]);
const escapeGlob = (value: string) => value.replace(/[*?[\]\\]/g, '\\$&');

async function collect(iterable: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const key of iterable) out.push(key);
  return out.sort();
}

/** Keys given as strings, hence UTF-8 bytes: glob characters, multibyte text, and prefixes of each other. */
const NAMES = [
  'forecast:user_1:a',
  'forecast:user_1:b',
  'forecast:user_1:',
  'forecast:user_1',
  'forecast:user_12:a',
  'forecast:user_2:a',
  'forecast:user_1:*?[x]\\',
  'pat*[x]?\\:1',
  'pat*[x]?\\:2',
  'pat*[x]?',
  'patX[x]?\\:1',
  'pat?',
  'ü:1',
  'ü:2',
  'üb',
  'u:1',
  'ü😀:1',
  'ü😀',
  '😀',
  'é',
  'ê',
];
/** Removed in this order; each step is checked against `startsWith` on what is left. */
const PREFIXES = ['forecast:user_1:', 'forecast:user_1', 'pat*[x]?\\:', 'pat*', 'ü😀', 'ü', 'é', 'nothing-here', ''];

/** A raw view of the server(s) behind a store, to check the index against the keys. */
interface Backend {
  /** Every string key under `prefix` (the index is a sorted set, so it is not among them). */
  stringKeys(prefix: string): Promise<Buffer[]>;
  command: Redis | Cluster;
}

function standaloneBackend(raw: Redis): Backend {
  return {
    command: raw,
    async stringKeys(prefix) {
      const out: Buffer[] = [];
      let cursor = '0';
      do {
        const [next, found] = await raw.scanBuffer(cursor, 'MATCH', `${escapeGlob(prefix)}*`, 'COUNT', 1000, 'TYPE', 'string');
        cursor = next.toString();
        out.push(...found);
      } while (cursor !== '0');
      return out;
    },
  };
}

function clusterBackend(raw: Cluster): Backend {
  return {
    command: raw,
    async stringKeys(prefix) {
      const perNode = await Promise.all(raw.nodes('master').map((node) => standaloneBackend(node).stringKeys(prefix)));
      return perNode.flat();
    },
  };
}

/** Live keys under `prefix` that the index does not hold: deletePrefix would miss them. Must always be empty. */
async function unindexed(backend: Backend, prefix: string): Promise<string[]> {
  const keys = await backend.stringKeys(prefix);
  if (keys.length === 0) return [];
  const members = keys.map((key) => key.subarray(Buffer.byteLength(prefix)));
  const scores = await backend.command.zmscore(indexKeyOf(prefix), ...members);
  return members.filter((_, i) => scores[i] === null).map((member) => member.toString());
}

/** Builds the index up front: until it exists, writes index nothing and deletePrefix answers by SCAN. */
async function startIndex(store: RedisStore): Promise<void> {
  expect(await store.buildIndex()).toBe(true);
}

const certified = async (backend: Backend, prefix: string) => (await backend.command.zscore(indexKeyOf(prefix), Buffer.from([0xff]))) !== null;

/** Index members holding keys (the completeness certificate and rebuild markers, 0xff..., excluded). */
async function memberCount(backend: Backend, prefix: string): Promise<number> {
  return backend.command.zlexcount(indexKeyOf(prefix), '-', Buffer.from([0x28, 0xff]));
}

/**
 * The cases both deployments run. `name` turns a logical key into the key written: on the cluster it appends a
 * hash tag, keeping the keys on one node that the other cluster tests never move or restart.
 */
function prefixIndexCases(options: {
  open: (prefix: string, extra?: Partial<RedisStoreOptions>) => RedisStore;
  prefix: (tag: string) => string;
  backend: () => Backend;
  name: (key: string, i: number) => string;
}): void {
  const { open, backend, name } = options;

  it('deletePrefix removes exactly the keys that start with the prefix, and counts them', async () => {
    const prefix = options.prefix('exact');
    const store = open(prefix);
    try {
      const keys = NAMES.map(name);
      await store.setMany(keys.map((key) => ({ key, value: text(key), expiresAt: later(60_000) })));
      let left = [...keys];
      for (const p of PREFIXES) {
        const doomed = left.filter((key) => key.startsWith(p));
        expect(await store.deletePrefix!(p), `deletePrefix(${JSON.stringify(p)})`).toBe(doomed.length);
        left = left.filter((key) => !key.startsWith(p));
        expect(await collect(store.keys('*')), `left after ${JSON.stringify(p)}`).toEqual([...left].sort());
      }
      expect(left).toEqual([]);
      // Calls made before the index was built answered by SCAN; the build may have indexed keys they removed.
      expect(await store.buildIndex()).toBe(true);
      expect(await store.deletePrefix!('')).toBe(0);
      expect(await memberCount(backend(), prefix)).toBe(0);
    } finally {
      await store.clear();
      await store.close();
    }
  });

  it('builds the index only once deletePrefix is used, answering that first call by SCAN', async () => {
    const prefix = options.prefix('lazy');
    const raw = backend().command;
    const store = open(prefix);
    try {
      await store.setMany(Array.from({ length: 10 }, (_, i) => ({ key: name(`l:${i}`, i), value: text('v'), expiresAt: later(60_000) })));
      await store.set(name('m:1', 1), text('v'), later(60_000));
      expect(await raw.exists(indexKeyOf(prefix))).toBe(0);
      expect(await store.deletePrefix!('l:')).toBe(10);
      await until(() => certified(backend(), prefix), 'the index built in the background', 5000, 50);
      await store.set(name('m:2', 2), text('v'), later(60_000));
      expect(await unindexed(backend(), prefix)).toEqual([]);
      expect(await store.deletePrefix!('m:')).toBe(2);
    } finally {
      await store.clear();
      await store.close();
    }
  });

  it('indexes every write path, and writes after a deletePrefix', async () => {
    const prefix = options.prefix('paths');
    const store = open(prefix);
    try {
      await startIndex(store);
      await store.set(name('w:set', 0), text('v'), later(60_000));
      expect(await store.add(name('w:add', 1), text('v'), later(60_000))).toBe(true);
      await store.setMany([2, 3].map((i) => ({ key: name(`w:many${i}`, i), value: text('v'), expiresAt: later(60_000) })));
      expect(await store.addOrGet(name('w:claim', 6), text('v'), later(60_000))).toBeUndefined();
      expect(await store.addOrGet(name('w:claim', 6), text('other'), later(60_000))).toEqual(text('v'));
      expect(await unindexed(backend(), prefix)).toEqual([]);
      expect(await store.deletePrefix!('w:')).toBe(5);
      await store.set(name('w:again', 4), text('v'), later(60_000));
      await store.setMany([{ key: name('w:again2', 5), value: text('v'), expiresAt: later(60_000) }]);
      expect(await store.deletePrefix!('w:')).toBe(2);
      expect(await collect(store.keys('*'))).toEqual([]);
    } finally {
      await store.clear();
      await store.close();
    }
  });

  it('does not count expired keys, and drops their members', async () => {
    const prefix = options.prefix('expired');
    const store = open(prefix);
    try {
      await startIndex(store);
      const short = Array.from({ length: 20 }, (_, i) => name(`e:${i}`, i));
      await store.setMany(short.map((key) => ({ key, value: text('v'), expiresAt: later(40) })));
      await store.set(name('e:live', 99), text('v'), later(60_000));
      // Real time: Redis expires the keys on its own clock.
      await sleep(120);
      expect(await store.deletePrefix!('e:')).toBe(1);
      expect(await memberCount(backend(), prefix)).toBe(0);
    } finally {
      await store.clear();
      await store.close();
    }
  });

  it('clear() removes the index; later writes are found again', async () => {
    const prefix = options.prefix('clear');
    const store = open(prefix);
    try {
      await startIndex(store);
      await store.setMany(Array.from({ length: 50 }, (_, i) => ({ key: name(`c:${i}`, i), value: text('v'), expiresAt: later(60_000) })));
      expect(await memberCount(backend(), prefix)).toBe(50);
      await store.clear();
      expect(await backend().command.exists(indexKeyOf(prefix))).toBe(0);
      expect(await collect(store.keys('*'))).toEqual([]);
      await store.set(name('c:after', 7), text('v'), later(60_000));
      expect(await store.deletePrefix!('c:')).toBe(1);
    } finally {
      await store.clear();
      await store.close();
    }
  });

  it('finds keys the index never saw: written before it existed, or after it was evicted', async () => {
    const prefix = options.prefix('rebuild');
    const raw = backend().command;
    const plain = open(prefix, { prefixIndex: false });
    const store = open(prefix);
    try {
      // An older deployment (or another process) wrote these without the index.
      for (let i = 0; i < 30; i++) await plain.set(name(`r:old${i}`, i), text('v'), later(60_000));
      const log = name('log', 0);
      await store.appendLog(log, text('record'), 100);
      await store.set(name('r:new', 3), text('v'), later(60_000));
      expect(await store.buildIndex()).toBe(true);
      // Entries only: the log stream is no entry.
      expect(await unindexed(backend(), prefix)).toEqual([]);
      expect(await memberCount(backend(), prefix)).toBe(31);
      expect(await store.deletePrefix!('r:')).toBe(31);
      expect(await store.readLog(log, 0, 10)).toHaveLength(1);

      await store.set(name('r:kept', 4), text('v'), later(60_000));
      // Redis evicting the index (allkeys-* policies) must not make deletePrefix miss anything.
      await raw.del(indexKeyOf(prefix));
      await plain.set(name('r:unindexed', 5), text('v'), later(60_000));
      await store.set(name('r:indexed', 6), text('v'), later(60_000));
      expect(await store.deletePrefix!('r:')).toBe(3);
      expect(await collect(store.keys('*'))).toEqual([log]);
    } finally {
      await store.clear();
      await store.close();
      await plain.close();
    }
  });

  it('a write whose index update fails is not left live', async () => {
    const prefix = options.prefix('broken');
    const raw = backend().command;
    const store = open(prefix);
    try {
      // A string where the sorted set should be: every ZADD fails with WRONGTYPE.
      await raw.set(indexKeyOf(prefix), 'not a sorted set');
      for (const write of [
        () => store.set(name('b:1', 1), text('v'), later(60_000)),
        () => store.add(name('b:2', 2), text('v'), later(60_000)),
        () => store.setMany([{ key: name('b:3', 3), value: text('v'), expiresAt: later(60_000) }]),
      ]) {
        const { error } = await rejection(write());
        expect(error).toBeInstanceOf(CacheBackendError);
        expect((error as Error).message).toMatch(/WRONGTYPE/);
      }
      expect(await store.getMany([name('b:1', 1), name('b:2', 2), name('b:3', 3)])).toEqual([undefined, undefined, undefined]);
      await raw.del(indexKeyOf(prefix));
      await store.set(name('b:1', 1), text('v'), later(60_000));
      expect(await store.deletePrefix!('b:')).toBe(1);
    } finally {
      await store.clear();
      await store.close();
    }
  });

  it('keeps every live key indexed while writes, deletes and deletePrefix race', async () => {
    const prefix = options.prefix('race');
    const writer = open(prefix);
    const other = open(prefix);
    try {
      await startIndex(writer);
      const keys = Array.from({ length: 400 }, (_, i) => name(`k:${i % 40}:${i}`, i));
      await writer.setMany(keys.map((key) => ({ key, value: text('v'), expiresAt: later(60_000) })));
      await Promise.all([
        ...keys.map((key, i) => (i % 3 === 0 ? writer.set(key, text('again'), later(60_000)) : other.add(key, text('new'), later(60_000)))),
        ...Array.from({ length: 40 }, (_, i) => other.deletePrefix!(`k:${i}:`)),
        writer.deleteMany(keys.filter((_, i) => i % 7 === 0)),
        ...keys.filter((_, i) => i % 5 === 0).map((key) => other.set(key, text('short'), later(5))),
      ]);
      expect(await unindexed(backend(), prefix)).toEqual([]);
      // Real time: the 5 ms keys must expire on Redis's clock before the count.
      await sleep(30);
      const live = await collect(writer.keys('*'));
      expect(await writer.deletePrefix!('k:')).toBe(live.length);
      expect(await collect(writer.keys('*'))).toEqual([]);
    } finally {
      await writer.clear();
      await writer.close();
      await other.close();
    }
  });

  it('keeps the index near the live keys under churn with expiry', async () => {
    const prefix = options.prefix('churn');
    const store = open(prefix);
    try {
      await startIndex(store);
      const rounds = 24;
      const perRound = 400;
      for (let round = 0; round < rounds; round++) {
        await store.setMany(
          Array.from({ length: perRound }, (_, i) => ({ key: name(`churn:${round}:${i}`, i), value: text('v'), expiresAt: later(15) })),
        );
        // Real time: each round's 15 ms keys expire on Redis's clock before the next round writes.
        await sleep(25);
      }
      // Without pruning the index would hold all 9,600 members; each write funds ~4 member checks.
      await until(async () => (await memberCount(backend(), prefix)) <= 2 * perRound, 'the sweep to catch up', 2000, 50);
      expect(await store.deletePrefix!('churn:')).toBe(0);
    } finally {
      await store.clear();
      await store.close();
    }
  });
}

describe('redis store: prefix index (standalone)', () => {
  // A server of its own: these tests send bursts of scripts, which on the shared 6379 would flood the MONITOR
  // feed that redis.test.ts reads (ioredis mistakes feed lines that arrive with MONITOR's reply for replies).
  let server: ThrowawayRedis;
  let url: string;
  let raw: Redis;
  beforeAll(async () => {
    server = new ThrowawayRedis(await freePort());
    await server.start();
    url = server.url;
    raw = new Redis(url);
  });
  afterAll(async () => {
    await raw.quit();
    await server.kill();
  });

  prefixIndexCases({
    open: (prefix, extra) => redisStore({ url, prefix, prefixIndex: true, ...extra } as RedisStoreOptions),
    // Glob characters in the store prefix too: the rebuild's SCAN must treat it as literal text.
    prefix: (tag) => `${uniquePrefix(tag)}p*[?]\\:`,
    backend: () => standaloneBackend(raw),
    name: (key) => key,
  });

  it('deletePrefix costs in proportion to the matches: no SCAN, one step per 500 matches', async () => {
    const prefix = uniquePrefix('cost');
    const filler = redisStore({ url, prefix, prefixIndex: true });
    const { client, sent } = countedClient(url);
    const store = redisStore({ client, prefix, prefixIndex: true });
    try {
      const entries = [
        ...Array.from({ length: 17_450 }, (_, i) => `cold:${i}`),
        ...Array.from({ length: 50 }, (_, i) => `hot:${i}`),
        ...Array.from({ length: 2_500 }, (_, i) => `warm:${i}`),
      ].map((key) => ({ key, value: text('v'), expiresAt: later(60_000) }));
      for (let i = 0; i < entries.length; i += 5000) await filler.setMany(entries.slice(i, i + 5000));
      // The filler builds the index (one SCAN), and runs its own sweeps.
      expect(await filler.buildIndex()).toBe(true);
      await filler.close();
      const members = await memberCount(standaloneBackend(raw), prefix);
      expect(members).toBe(20_000);

      const measure = async (p: string) => {
        sent.length = 0;
        const removed = await store.deletePrefix!(p);
        return { removed, sent: [...sent] };
      };
      // 20,000 keys, 50 of them match: one command, not a walk over the keyspace.
      const hot = await measure('hot:');
      expect(hot.removed).toBe(50);
      expect(hot.sent).not.toContain('scan');
      expect(hot.sent.length).toBeLessThanOrEqual(2);
      expect(await memberCount(standaloneBackend(raw), prefix)).toBe(members - 50);

      const warm = await measure('warm:');
      expect(warm.removed).toBe(2_500);
      expect(warm.sent).not.toContain('scan');
      // Five full steps of 500, then one that finds the range empty (and one more if the script had to be loaded).
      expect(warm.sent.length).toBeGreaterThanOrEqual(6);
      expect(warm.sent.length).toBeLessThanOrEqual(7);
      expect(await memberCount(standaloneBackend(raw), prefix)).toBe(members - 2_550);
      expect(await store.get('cold:0')).toBeDefined();
    } finally {
      await store.clear();
      await store.close();
      await client.quit();
    }
  });

  it('removals keep the index in step: delete, deleteMany, and writes with a passed deadline', async () => {
    const prefix = uniquePrefix('instep');
    const store = redisStore({ url, prefix, prefixIndex: true });
    const backend = standaloneBackend(raw);
    try {
      await startIndex(store);
      await store.setMany(Array.from({ length: 10 }, (_, i) => ({ key: `s:${i}`, value: text('v'), expiresAt: later(60_000) })));
      expect(await store.delete('s:0')).toBe(true);
      expect(await store.deleteMany(['s:1', 's:2', 'missing'])).toBe(2);
      await store.set('s:3', text('v'), Date.now() - 1);
      // In one batch the last write of a key wins, for the index as for the value.
      await store.setMany([
        { key: 's:4', value: text('v'), expiresAt: Date.now() - 1 },
        { key: 's:5', value: text('v'), expiresAt: later(60_000) },
        { key: 's:5', value: text('v'), expiresAt: Date.now() - 1 },
        { key: 's:6', value: text('v'), expiresAt: Date.now() - 1 },
        { key: 's:6', value: text('again'), expiresAt: later(60_000) },
      ]);
      expect(await collect(store.keys('*'))).toEqual(['s:6', 's:7', 's:8', 's:9']);
      expect(await memberCount(backend, prefix)).toBe(4);
      expect(await unindexed(backend, prefix)).toEqual([]);
    } finally {
      await store.clear();
      await store.close();
    }
  });

  it('does not trust an index dropped while it was being built, and deletes by SCAN until it is rebuilt', async () => {
    const prefix = uniquePrefix('dropped');
    const client = new Redis(url);
    const scan = client.scanBuffer.bind(client) as (...args: unknown[]) => Promise<[Buffer, Buffer[]]>;
    let drops = 0;
    // The first SCAN step of the first build finds the index gone, as after an eviction or a concurrent clear().
    client.scanBuffer = async (...args: unknown[]) => {
      if (args[2] === `${prefix}*` && drops === 0) {
        drops++;
        await raw.del(indexKeyOf(prefix));
      }
      return scan(...args);
    };
    const store = redisStore({ client, prefix, prefixIndex: true });
    try {
      const doomed = ['d:1', 'd:*?[x]\\', 'd:ü😀'];
      await store.setMany([...doomed, 'd*:x', 'dd:', 'e:1'].map((key) => ({ key, value: text('v'), expiresAt: later(60_000) })));
      expect(await store.buildIndex()).toBe(false);
      expect(drops).toBe(1);
      expect(await raw.exists(indexKeyOf(prefix))).toBe(0);
      // Answered by SCAN, with the same meaning; the build it starts meets no trouble this time.
      expect(await store.deletePrefix!('d:')).toBe(doomed.length);
      expect(await collect(store.keys('*'))).toEqual(['d*:x', 'dd:', 'e:1']);
      expect(await store.buildIndex()).toBe(true);
      expect(await store.deletePrefix!('e:')).toBe(1);
      expect(await store.deletePrefix!('d')).toBe(2);
    } finally {
      await store.clear();
      await store.close();
      await client.quit();
    }
  });

  it('keys() hides the index but lists a key that would decode like it', async () => {
    const prefix = uniquePrefix('hidden');
    const store = redisStore({ url, prefix, prefixIndex: true });
    try {
      await startIndex(store);
      await store.set('\ufffdprefix-index', text('v'), later(60_000));
      await store.set('k', text('v'), later(60_000));
      expect(await raw.exists(indexKeyOf(prefix))).toBe(1);
      expect(await collect(store.keys('*'))).toEqual(['k', '\ufffdprefix-index'].sort());
      expect(await store.deletePrefix!('\ufffd')).toBe(1);
    } finally {
      await store.clear();
      await store.close();
    }
  });

  it('by default (and with prefixIndex: false), offers no deletePrefix and writes no index', async () => {
    const prefix = uniquePrefix('off');
    const store = redisStore({ url, prefix });
    try {
      expect('deletePrefix' in store).toBe(false);
      await expect(store.buildIndex()).rejects.toThrow(/prefixIndex/);
      await store.set('k', text('v'), later(60_000));
      await store.setMany([{ key: 'k2', value: text('v'), expiresAt: later(60_000) }]);
      expect(await raw.exists(indexKeyOf(prefix))).toBe(0);
      expect(await store.delete('k')).toBe(true);
    } finally {
      await store.clear();
      await store.close();
    }
  });

  it('refuses a prefixIndex that is neither a boolean nor { prefixes }', () => {
    expect(() => redisStore({ url, prefixIndex: 'yes' } as unknown as RedisStoreOptions)).toThrow(/prefixIndex/);
    expect(() => redisStore({ url, prefixIndex: { prefixes: [] } })).toThrow(/prefixIndex\.prefixes is empty/);
    expect(() => redisStore({ url, prefixIndex: { prefixes: ['a:', ''] } })).toThrow(/prefixIndex\.prefixes\[1\]/);
    expect(() => redisStore({ url, prefixIndex: { prefixes: 'a:' } } as unknown as RedisStoreOptions)).toThrow(/prefixIndex/);
  });

  it('invalidatePattern removes every matching key whether the index covers its prefix or not', async () => {
    const prefix = uniquePrefix('cachepat');
    const open = () => new Cache({ prefix: 'app:', stores: [redisStore({ url, prefix, prefixIndex: { prefixes: ['app:user:'] } })] });
    const writer = open();
    const keys = ['user:1:a', 'user:1:b', 'user:2:a', 'item:1', 'item:2', 'other'];
    try {
      for (const key of keys) await writer.set(key, key, { ttl: '1m' });
      expect(await writer.invalidatePattern('user:1:*')).toBe(2);
      expect(await writer.invalidatePattern('item:*')).toBe(2);
      expect(await writer.invalidatePattern('user:?:a')).toBe(1);
      const reader = open();
      try {
        // A fresh instance has nothing in memory: what it finds is what Redis still holds.
        expect(await Promise.all(keys.map((key) => reader.get(key)))).toEqual([undefined, undefined, undefined, undefined, undefined, 'other']);
      } finally {
        await reader.close();
      }
    } finally {
      await writer.clear({ confirm: true });
      await writer.close();
    }
  });

  it('with { prefixes }, writes outside them are one plain SET and deletePrefix still removes every match', async () => {
    const prefix = uniquePrefix('narrow');
    const { client, sent } = countedClient(url);
    const store = redisStore({ client, prefix, prefixIndex: { prefixes: ['tenant:'] } });
    const backend = standaloneBackend(raw);
    try {
      await store.set('tenant:1:a', text('v'), later(60_000));
      await startIndex(store);
      sent.length = 0;
      await store.set('plain:1', text('v'), later(60_000));
      await store.add('plain:2', text('v'), later(60_000));
      expect(sent).toEqual(['set', 'set']);
      sent.length = 0;
      await store.set('tenant:1:b', text('v'), later(60_000));
      expect(sent).toEqual(['evalsha']);
      // A batch mixing both: the covered keys join the index, the others do not.
      await store.setMany(['tenant:2:a', 'plain:3', 'tenant:2:b', 'plain:4'].map((key) => ({ key, value: text('v'), expiresAt: later(60_000) })));
      expect(await memberCount(backend, prefix)).toBe(4);
      expect((await unindexed(backend, prefix)).sort()).toEqual(['plain:1', 'plain:2', 'plain:3', 'plain:4']);
      // A covered prefix is answered from the index, an uncovered one by SCAN; both find every key.
      sent.length = 0;
      expect(await store.deletePrefix!('tenant:2:')).toBe(2);
      expect(sent).not.toContain('scan');
      sent.length = 0;
      expect(await store.deletePrefix!('plain:')).toBe(4);
      expect(sent).toContain('scan');
      expect(await store.deletePrefix!('')).toBe(2);
      expect(await collect(store.keys('*'))).toEqual([]);
    } finally {
      await store.clear();
      await store.close();
      await client.quit();
    }
  });
});

/** The cluster script's lock: held, no other test restarts a node under these tests (see scripts/redis-cluster.sh). */
const CLUSTER_LOCK = join(process.env.TIERCACHE_STATE_DIR ?? join(process.env.TMPDIR ?? '/tmp', 'tiercache-test-servers'), 'redis-cluster', 'lock');

async function holdClusterLock(): Promise<() => void> {
  const child = spawn('flock', ['-w', '120', CLUSTER_LOCK, '-c', 'echo locked; exec cat'], { stdio: ['pipe', 'pipe', 'ignore'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`flock exited with ${String(code)}`)));
  });
  // cat ends with its stdin, then flock releases the lock (also if this process dies).
  return () => child.stdin.end();
}

describe('redis store: prefix index (cluster)', () => {
  let raw: Cluster;
  let release: (() => void) | undefined;
  /** Slots served by the master on 7003, which the other cluster tests neither reshard (7001 <-> 7002) nor restart (7002). */
  let quiet: Set<number>;
  let tags: string[];

  beforeAll(async () => {
    await promisify(execFile)('bash', [script, 'start'], { timeout: 110_000 });
    release = await holdClusterLock();
    raw = new Cluster(CLUSTER_NODES);
    quiet = new Set();
    for (const [first, last, master] of await raw.cluster('SLOTS')) {
      if (master?.[1] === 7003) for (let slot = first; slot <= last; slot++) quiet.add(slot);
    }
    expect(quiet.size).toBeGreaterThan(1000);
    tags = [];
    for (let n = 0; tags.length < 16; n++) if (quiet.has(redisHashSlot(`t${n}`))) tags.push(`t${n}`);
  }, 150_000);

  afterAll(async () => {
    await raw.quit();
    release?.();
  });

  /** A unique store prefix whose index key also lands on the quiet node. */
  const quietPrefix = (tag: string) => {
    for (;;) {
      const prefix = uniquePrefix(`cl-${tag}`);
      if (quiet.has(redisHashSlot(indexKeyOf(prefix)))) return prefix;
    }
  };

  prefixIndexCases({
    // Off by default on a cluster (see the option); these stores opt in.
    open: (prefix, extra) => redisStore({ cluster: CLUSTER_NODES, prefix, prefixIndex: true, ...extra } as RedisStoreOptions),
    prefix: quietPrefix,
    backend: () => clusterBackend(raw),
    // A trailing hash tag spreads the keys over 16 slots of the quiet node and keeps `startsWith` meaningful.
    name: (key, i) => `${key}{${tags[i % tags.length]!}}`,
  });

  it('keeps the index off by default, even for a prefix that pins one slot', async () => {
    const spread = redisStore({ cluster: CLUSTER_NODES, prefix: quietPrefix('default') });
    const pinned = redisStore({ cluster: CLUSTER_NODES, prefix: `${uniquePrefix('pinned')}{${tags[0]!}}:` });
    try {
      expect('deletePrefix' in spread).toBe(false);
      expect('deletePrefix' in pinned).toBe(false);
    } finally {
      await spread.close();
      await pinned.close();
    }
  });

  it('a prefix with a hash tag keeps the index in the keys slot, so writes are atomic there too', async () => {
    const tag = tags[0]!;
    const prefix = `${uniquePrefix('pinned')}{${tag}}:`;
    const store = redisStore({ cluster: CLUSTER_NODES, prefix, prefixIndex: true });
    try {
      await startIndex(store);
      expect(redisHashSlot(indexKeyOf(prefix))).toBe(redisHashSlot(`${prefix}anything`));
      await store.setMany(Array.from({ length: 30 }, (_, i) => ({ key: `p:${i}`, value: text('v'), expiresAt: later(60_000) })));
      expect(await store.delete('p:0')).toBe(true);
      expect(await memberCount(clusterBackend(raw), prefix)).toBe(29);
      expect(await store.deletePrefix!('p:')).toBe(29);
    } finally {
      await store.clear();
      await store.close();
    }
  });
});
