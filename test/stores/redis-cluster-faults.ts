import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { until } from '../kit/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cache } from '../../src/index.js';
import { redisBus } from '../../src/bus/redis.js';
import { redisStore } from '../../src/stores/redis.js';

const run = promisify(execFile);
const script = fileURLToPath(new URL('../../scripts/redis-cluster.sh', import.meta.url));
const nodes = [7001, 7002, 7003].map((port) => ({ host: '127.0.0.1', port }));
const prefix = `cf-${process.pid}:`;
const caches: Cache[] = [];

function instance() {
  const cache = new Cache({
    prefix,
    stores: [{ store: redisStore({ cluster: nodes, prefix: 'tc:' }), timeout: '500ms', breaker: { failures: 50, cooldown: '200ms' } }],
    bus: redisBus({ cluster: nodes, channel: `${prefix}bus` }),
  });
  cache.on('error', () => undefined);
  caches.push(cache);
  return cache;
}


/**
 * Registered from redis-cluster.test.ts, after its own tests: restarting a node must not overlap the slot
 * migrations those tests make, and test files run in parallel while the tests of one file do not.
 */
export function clusterFaultTests(): void {
  beforeAll(async () => {
    await run('bash', [script, 'start'], { timeout: 120_000 });
  }, 130_000);
  afterAll(async () => {
    await Promise.all(caches.map((c) => c.close()));
  });

  describe('a Redis Cluster behind the cache', () => {
    it('keeps instances coherent over sharded pub/sub', async () => {
      const a = instance();
      const b = instance();
      await Promise.all([a.ready(), b.ready()]);
      const keys = Array.from({ length: 30 }, (_, i) => `key:${i}`);
      await a.setMany(keys.map((key, i) => ({ key, value: i })));
      expect(await b.getMany(keys)).toStrictEqual(keys.map((_, i) => i));
      const remote: string[] = [];
      b.on('remote', (e) => remote.push(...(e.keys ?? [])));
      await a.set('key:7', 'changed');
      await until(() => remote.includes('key:7'), 'the invalidation on b', 15_000, 50);
      expect(await b.getResult('key:7')).toMatchObject({ value: 'changed', source: 'redis' });
    });

    it('keeps answering while a node restarts, and works on every slot afterwards', async () => {
      const a = instance();
      await a.ready();
      const keys = Array.from({ length: 60 }, (_, i) => `slot-spread:${i}`);
      await a.setMany(keys.map((key, i) => ({ key, value: i })));

      const restart = run('bash', [script, 'restart-node', '7002', '1'], { timeout: 60_000 });
      let calls = 0;
      let thrown = 0;
      const started = Date.now();
      while (Date.now() - started < 3_000) {
        const key = keys[calls % keys.length] as string;
        try {
          const t0 = Date.now();
          await a.set(key, calls);
          await a.get(`absent:${calls}`);
          expect(Date.now() - t0).toBeLessThan(2_500);
        } catch {
          thrown++;
        }
        calls++;
      }
      await restart;
      expect(thrown).toBe(0);
      expect(calls).toBeGreaterThan(10);

      // After the restart (the node comes back empty: no persistence), every slot takes writes and reads again.
      await until(async () => {
        const fresh = keys.map((key, i) => ({ key, value: `after-${i}` }));
        await a.setMany(fresh);
        const reader = new Cache({ prefix, stores: [redisStore({ cluster: nodes, prefix: 'tc:' })] });
        try {
          const values = await reader.getMany(keys);
          return values.every((v, i) => v === `after-${i}`);
        } finally {
          await reader.close();
        }
      }, 'every slot to work again', 15_000, 50);
    }, 90_000);
  });
}
