import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cache } from '../../src/index.js';
import { redisHashSlot } from '../../src/stores/redis.js';
import { until } from '../kit/index.js';
import { CLUSTER_NODES, startLocalCluster, uniquePrefix } from '../stores/redis-helpers.js';
import { redisCli, trackingCache } from './helpers.js';

let raw: Cluster;

beforeAll(async () => {
  raw = await startLocalCluster();
}, 120_000);
afterAll(async () => {
  await raw.quit();
});

/** One key per master: tracking must be set up on each, since a node reports only the keys it owns. */
function keyPerMaster(prefix: string): string[] {
  const masters = raw.nodes('master').map((n) => `${n.options.host}:${n.options.port}`);
  const found = new Map<string, string>();
  for (let i = 0; found.size < masters.length && i < 10_000; i++) {
    const key = `k${i}`;
    const owner = raw.slots[redisHashSlot(`${prefix}${key}`)]?.[0] ?? '';
    if (owner !== '' && !found.has(owner)) found.set(owner, key);
  }
  return [...found.values()];
}

describe("coherence: 'tracking' on a Redis Cluster", () => {
  it('an outside SET on any master drops the key from every instance, and own writes stay', async () => {
    const prefix = uniquePrefix('track-cluster');
    const caches: Cache[] = [trackingCache(`trk-cl-a-${process.pid}`, { cluster: CLUSTER_NODES }, prefix), trackingCache(`trk-cl-b-${process.pid}`, { cluster: CLUSTER_NODES }, prefix)];
    try {
      await Promise.all(caches.map((c) => c.ready()));
      expect(caches[0]!.getStats().tracking?.connections).toBe(3);
      const keys = keyPerMaster(prefix);
      expect(keys).toHaveLength(3);
      for (const key of keys) await caches[0]!.set(key, 'mine', { ttl: '1h' });
      for (const key of keys) await caches[1]!.get(key);
      for (const key of keys) expect((await caches[0]!.getResult(key)).source).toBe('memory');
      for (const key of keys) await redisCli(['-c', '-p', String(CLUSTER_NODES[0]!.port), 'SET', `${prefix}${key}`, 'outside']);
      await until(() => caches.every((c) => (c.getStats().tracking?.invalidated ?? 0) >= 3), 'every master to report', 3_000, 2);
      for (const cache of caches) for (const key of keys) expect((await cache.getResult(key)).source).not.toBe('memory');
    } finally {
      await Promise.all(caches.map((c) => c.close()));
    }
  });
});
