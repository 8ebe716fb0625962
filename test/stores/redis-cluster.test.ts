import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisHashSlot, redisStore } from '../../src/stores/redis.js';
import { storeConformance } from '../../src/testing/index.js';
import { clusterFaultTests } from './redis-cluster-faults.js';
import { CLUSTER_NODES, startLocalCluster, uniquePrefix } from './redis-helpers.js';

const text = (value: string) => new TextEncoder().encode(value);
const decode = (value: Uint8Array | undefined) => (value === undefined ? undefined : new TextDecoder().decode(value));
const later = (ms: number) => Date.now() + ms;

async function collect(iterable: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const key of iterable) out.push(key);
  return out.sort();
}

let raw: Cluster;

/** Keys under `prefix` on each master, read straight from that node. */
async function keysPerMaster(prefix: string): Promise<number[]> {
  return Promise.all(
    raw.nodes('master').map(async (node) => {
      let cursor = '0';
      let count = 0;
      do {
        const [next, found] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        count += found.length;
      } while (cursor !== '0');
      return count;
    }),
  );
}

beforeAll(async () => {
  raw = await startLocalCluster();
}, 120_000);

afterAll(async () => {
  await raw.quit();
});

describe('redis store: conformance (cluster)', () => {
  for (const c of storeConformance({ create: (ns) => redisStore({ cluster: CLUSTER_NODES, prefix: `${ns}:` }) })) {
    it(c.name, (context) => c.run(context));
  }
});

// A hash tag pins the whole prefix to one slot, which turns the prefix index (and deletePrefix) on.
describe('redis store: conformance (cluster, prefix with a hash tag)', () => {
  for (const c of storeConformance({ create: (ns) => redisStore({ cluster: CLUSTER_NODES, prefix: `{${ns}}:` }) })) {
    it(c.name, (context) => c.run(context));
  }
});

describe('redis store (cluster)', () => {
  it('computes the same hash slot as the server', async () => {
    const keys = ['', 'a', 'tiercache:user:1', '{user1}:a', 'x{user1}y', '{}x', '{{a}}', 'a{b', 'a}b{c}', 'ünï©ødé ✓', 'k'.repeat(1024)];
    // Empty first braces: Redis hashes the whole key even when a later `}` closes something that looks like a tag.
    keys.push('{}x}y', '{}{a}', 'a{}b}c', '{}', '{}}');
    // A lone surrogate travels as U+FFFD's bytes.
    keys.push('x\ud800y', '{\udc00}z');
    for (const key of keys) expect(redisHashSlot(key), key).toBe(await raw.cluster('KEYSLOT', key));
  });

  it('batches over keys in many slots on every master', async () => {
    const prefix = uniquePrefix('batch');
    const store = redisStore({ cluster: CLUSTER_NODES, prefix });
    try {
      const keys = Array.from({ length: 300 }, (_, i) => `k${i}`);
      expect(new Set(keys.map((key) => redisHashSlot(prefix + key))).size).toBeGreaterThan(250);
      await store.setMany([
        ...keys.map((key) => ({ key, value: text(key), expiresAt: later(60_000) })),
        { key: 'gone', value: text('x'), expiresAt: Date.now() - 1 },
      ]);
      const perMaster = await keysPerMaster(prefix);
      expect(perMaster).toHaveLength(3);
      for (const count of perMaster) expect(count).toBeGreaterThan(0);

      const asked = [...keys].reverse().flatMap((key, i) => (i % 50 === 0 ? [key, `missing${i}`] : [key]));
      const values = await store.getMany(asked);
      expect(values.map(decode)).toEqual(asked.map((key) => (key.startsWith('missing') ? undefined : key)));
      expect(await store.get('gone')).toBeUndefined();

      const removed = await store.deleteMany([...keys.slice(0, 150), 'missing', 'k0']);
      expect(removed).toBe(150);
      const after = await store.getMany(keys);
      expect(after.filter((value) => value !== undefined)).toHaveLength(150);
      expect(decode(after[150])).toBe('k150');
    } finally {
      await store.clear();
      await store.close();
    }
  });

  it('keys and clear cover every master and nothing outside the prefix', async () => {
    const prefix = uniquePrefix('scan');
    const foreignPrefix = `${prefix.slice(0, -1)}-other:`;
    const store = redisStore({ cluster: CLUSTER_NODES, prefix });
    const foreign = redisStore({ cluster: CLUSTER_NODES, prefix: foreignPrefix });
    try {
      const keys = Array.from({ length: 200 }, (_, i) => `user:${i}`);
      await store.setMany(keys.map((key) => ({ key, value: text('v'), expiresAt: later(60_000) })));
      await foreign.setMany(keys.map((key) => ({ key, value: text('v'), expiresAt: later(60_000) })));
      expect(await collect(store.keys('*'))).toEqual([...keys].sort());
      expect(await collect(store.keys('user:1?'))).toEqual(['user:10', 'user:11', 'user:12', 'user:13', 'user:14', 'user:15', 'user:16', 'user:17', 'user:18', 'user:19']);

      await store.clear();
      expect(await keysPerMaster(prefix)).toEqual([0, 0, 0]);
      expect(await collect(store.keys('*'))).toEqual([]);
      const foreignLeft = await keysPerMaster(foreignPrefix);
      expect(foreignLeft.reduce((a, b) => a + b, 0)).toBe(200);
      for (const count of foreignLeft) expect(count).toBeGreaterThan(0);
    } finally {
      await store.clear();
      await foreign.clear();
      await store.close();
      await foreign.close();
    }
  });

  it('works with hash tags in keys and in the prefix', async () => {
    const tagged = redisStore({ cluster: CLUSTER_NODES, prefix: uniquePrefix('tags') });
    // A hash tag in the prefix pins the whole store to one slot, on purpose here.
    const pinnedPrefix = `{${uniquePrefix('pinned')}}`;
    const pinned = redisStore({ cluster: CLUSTER_NODES, prefix: pinnedPrefix });
    try {
      await tagged.setMany(['{u1}:a', '{u1}:b', '{u2}:a'].map((key) => ({ key, value: text(key), expiresAt: later(60_000) })));
      expect((await tagged.getMany(['{u1}:a', '{u2}:a', '{u1}:b'])).map(decode)).toEqual(['{u1}:a', '{u2}:a', '{u1}:b']);
      expect(await collect(tagged.keys('{u1}:*'))).toEqual(['{u1}:a', '{u1}:b']);

      const keys = Array.from({ length: 50 }, (_, i) => `k${i}`);
      expect(new Set(keys.map((key) => redisHashSlot(pinnedPrefix + key))).size).toBe(1);
      await pinned.setMany(keys.map((key) => ({ key, value: text(key), expiresAt: later(60_000) })));
      expect((await pinned.getMany(keys)).map(decode)).toEqual(keys);
      expect(await pinned.deleteMany(keys.slice(0, 10))).toBe(10);
      expect(await collect(pinned.keys('*'))).toHaveLength(40);
      await pinned.clear();
      expect(await collect(pinned.keys('*'))).toEqual([]);
    } finally {
      await tagged.clear();
      await pinned.clear();
      await tagged.close();
      await pinned.close();
    }
  });

  it('batch writes follow slots that moved after the client read the slot map', async () => {
    const run = promisify(execFile);
    const nodeId = async (port: number) => (await run('redis-cli', ['-p', String(port), 'cluster', 'myid'])).stdout.trim();
    const reshard = async (from: number, to: number) => {
      const args = ['--cluster', 'reshard', '127.0.0.1:7001', '--cluster-from', await nodeId(from), '--cluster-to', await nodeId(to)];
      await run('redis-cli', [...args, '--cluster-slots', '200', '--cluster-yes'], { timeout: 20_000 });
    };
    const ownerOfSlot = async () => {
      const owners = new Map<number, number>();
      for (const [first, last, master] of await raw.cluster('SLOTS')) {
        for (let slot = first; slot <= last; slot++) owners.set(slot, master?.[1] ?? -1);
      }
      return owners;
    };
    const prefix = uniquePrefix('moved');
    const store = redisStore({ cluster: CLUSTER_NODES, prefix });
    const keys = Array.from({ length: 3000 }, (_, i) => `k${i}`);
    const write = (value: string) => store.setMany(keys.map((key) => ({ key, value: text(value), expiresAt: later(60_000) })));
    try {
      await write('before');
      const before = await ownerOfSlot();
      await reshard(7001, 7002);
      try {
        const after = await ownerOfSlot();
        const moved = keys.filter((key) => before.get(redisHashSlot(prefix + key)) !== after.get(redisHashSlot(prefix + key)));
        expect(moved.length).toBeGreaterThan(0);
        await write('after');
        expect((await store.getMany(keys)).every((value) => decode(value) === 'after')).toBe(true);
        expect(await store.deleteMany(keys)).toBe(keys.length);
      } finally {
        await reshard(7002, 7001);
      }
    } finally {
      await store.clear();
      await store.close();
    }
  });

  it('leaves a user-owned cluster client open on close', async () => {
    const client = new Cluster(CLUSTER_NODES);
    const store = redisStore({ client, prefix: uniquePrefix('owned') });
    try {
      await store.set('k', text('v'), later(60_000));
      expect(decode(await store.get('k'))).toBe('v');
      await store.clear();
      await store.close();
      expect(client.status).toBe('ready');
      expect(await client.ping()).toBe('PONG');
    } finally {
      await client.quit();
    }
  });
});

clusterFaultTests();
