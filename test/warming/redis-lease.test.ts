import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/stores/contract.js';
import { redisStore, type RedisStore } from '../../src/stores/redis.js';
import { createFakeClock } from '../../src/testing/index.js';
import { storeLease } from '../../src/warming/lease.js';
import { Scheduler } from '../../src/warming/scheduler.js';
import { createFakeTimers, until } from '../kit/index.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const START = Date.UTC(2026, 0, 1, 0, 0, 30);

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** Two connections to one Redis under one fresh prefix, as two instances of a service would have. */
function twoStores(clock: { now(): number }): [RedisStore, RedisStore] {
  const prefix = `warming-test:${randomUUID()}:`;
  const stores: [RedisStore, RedisStore] = [redisStore({ url: REDIS_URL, prefix, clock }), redisStore({ url: REDIS_URL, prefix, clock })];
  cleanup.push(async () => {
    await stores[0].clear();
    await Promise.all(stores.map((s) => s.close()));
  });
  return stores;
}

describe('storeLease on Redis', () => {
  it('one of two instances wins; release only removes the lease of the token that holds it', async () => {
    const clock = createFakeClock();
    const [storeA, storeB] = twoStores(clock);
    const a = storeLease(storeA, { clock });
    const b = storeLease(storeB, { clock });

    const [tokenA, tokenB] = await Promise.all([a.acquire('job@t1', 60_000), b.acquire('job@t1', 60_000)]);
    expect([tokenA, tokenB].filter((t) => t !== undefined)).toHaveLength(1);
    const winner = (tokenA ?? tokenB) as string;

    await b.release('job@t1', 'not-the-token');
    await a.release('job@t1', 'not-the-token');
    expect(await b.acquire('job@t1', 60_000)).toBeUndefined();

    await (tokenA === undefined ? b : a).release('job@t1', winner);
    expect(await b.acquire('job@t1', 60_000)).toEqual(expect.any(String));
  });

  it('the lease key lives ttlMs on the store clock, under the store prefix', async () => {
    const clock = createFakeClock();
    const [store] = twoStores(clock);
    const lease = storeLease(store, { clock });
    const token = await lease.acquire('job@t1', 5_000);
    // The token names the lease entry held: the same entries getOrSet takes for a cold key.
    expect(Buffer.from((await store.get('\u0001lease:job@t1')) ?? []).toString('base64url')).toBe(token);
    const other = storeLease(store, { clock, prefix: 'other-lease:' });
    expect(await other.acquire('job@t1', 5_000)).toEqual(expect.any(String));
  });

  it('refuses stores that cannot hold a lease, and bad arguments', async () => {
    const base = { name: 'x', get: () => Promise.resolve(undefined), delete: () => Promise.resolve(true) };
    const caps = { nativeExpiry: true, expiryResolutionMs: 1, shared: true, iterate: false, maxValueBytes: 1 };
    expect(() => storeLease({ ...base, capabilities: { ...caps, atomicAdd: true } } as unknown as Store)).toThrow(/has no add\(\)/);
    expect(() =>
      storeLease({ ...base, add: () => Promise.resolve(true), capabilities: { ...caps, atomicAdd: false } } as unknown as Store),
    ).toThrow(/no atomic add\(\)/);
    const [store] = twoStores(createFakeClock());
    const lease = storeLease(store);
    await expect(lease.acquire('', 1_000)).rejects.toThrow(/non-empty string/);
    await expect(lease.acquire('j', 0)).rejects.toThrow(/ttlMs must be a finite number > 0/);
  });
});

describe('Scheduler + storeLease on Redis', () => {
  it('two schedulers sharing a Redis store: exactly one of them runs each firing', async () => {
    const clock = createFakeClock(START);
    const timers = createFakeTimers(clock);
    const [storeA, storeB] = twoStores(clock);
    const runs: string[] = [];
    const schedulers = (
      [
        ['A', storeA],
        ['B', storeB],
      ] as const
    ).map(([id, store]) => {
      const scheduler = new Scheduler({ timezone: 'UTC', clock, setTimer: timers.setTimer, lease: storeLease(store, { clock }) });
      scheduler.add({
        name: 'warm',
        cron: '* * * * *',
        run: ({ fireAt }) => {
          runs.push(`${fireAt.toISOString()} ${id}`);
          return Promise.resolve();
        },
      });
      cleanup.push(() => scheduler.stop());
      return scheduler;
    });
    const accounted = () =>
      schedulers.reduce((sum, s) => {
        const status = s.status('warm');
        return sum + (status === undefined ? 0 : status.runs + status.skippedLease + status.errors);
      }, 0);

    for (let firing = 1; firing <= 5; firing++) {
      await timers.advance(firing === 1 ? 30_000 : 60_000);
      // Both instances ask Redis for the lease; wait (on real I/O) until each has its answer.
      await until(() => accounted() === firing * 2, `both instances to settle firing ${firing}`);
    }

    const firings = runs.map((r) => r.split(' ')[0]);
    expect(firings).toStrictEqual([
      '2026-01-01T00:01:00.000Z',
      '2026-01-01T00:02:00.000Z',
      '2026-01-01T00:03:00.000Z',
      '2026-01-01T00:04:00.000Z',
      '2026-01-01T00:05:00.000Z',
    ]);
    const statuses = schedulers.map((s) => s.status('warm'));
    expect(statuses.map((s) => s?.errors)).toStrictEqual([0, 0]);
    expect(statuses.reduce((sum, s) => sum + (s?.skippedLease ?? 0), 0)).toBe(5);
  });
});
