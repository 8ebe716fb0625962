import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Cache, type CacheOptions } from '../../src/index.js';
import { redisBus } from '../../src/bus/redis.js';
import { encodeEntry } from '../../src/entry.js';
import { redisStore } from '../../src/stores/redis.js';
import { createFakeClock, deferred, until } from '../kit/index.js';

const URL = 'redis://127.0.0.1:6379';
const raw = new Redis(URL);
const open: Cache[] = [];
let run = 0;

afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await raw.quit();
});

/** Instances sharing one Redis keyspace (no bus unless asked), as separate processes would. */
function instances(count: number, options: CacheOptions = {}, bus = false): { caches: Cache[]; prefix: string } {
  const prefix = `lease-test-${process.pid}-${Date.now()}-${++run}:`;
  const caches = Array.from(
    { length: count },
    () =>
      new Cache({
        stores: [redisStore({ url: URL, prefix })],
        ...(bus ? { bus: redisBus({ url: URL, channel: `${prefix}bus` }) } : {}),
        ...options,
      }),
  );
  open.push(...caches);
  return { caches, prefix };
}

describe('fencing across instances (shared Redis, no bus)', () => {
  it('a load overtaken by another instance’s delete does not write its older value', async () => {
    const {
      caches: [a, b],
      prefix,
    } = instances(2) as { caches: [Cache, Cache]; prefix: string };
    const gate = deferred<void>();
    let started = false;
    const load = a.getOrSet('k', async () => {
      started = true;
      await gate.promise;
      return 'computed from old data';
    });
    await until(() => started, 'the loader to start');
    await b.delete('k');
    gate.resolve();
    expect(await load).toBe('computed from old data');
    expect(await raw.exists(`${prefix}k`)).toBe(0);
    expect(await b.get('k')).toBeUndefined();
    // Not even in a's own memory tier: the refused write wrote nothing anywhere.
    expect(await a.get('k')).toBeUndefined();
  });

  it('a load overtaken by another instance’s pattern invalidation does not write either', async () => {
    const {
      caches: [a, b],
    } = instances(2) as { caches: [Cache, Cache]; prefix: string };
    const gate = deferred<void>();
    let started = false;
    const load = a.getOrSet('user:1:balance', async () => {
      started = true;
      await gate.promise;
      return 100;
    });
    await until(() => started, 'the loader to start');
    await b.invalidatePattern('user:1:*');
    gate.resolve();
    await load;
    expect(await b.get('user:1:balance')).toBeUndefined();
  });

  it('a load overtaken by another instance’s write leaves that write in place', async () => {
    const {
      caches: [a, b, c],
    } = instances(3) as { caches: [Cache, Cache, Cache]; prefix: string };
    const gate = deferred<void>();
    let started = false;
    const load = a.getOrSet('k', async () => {
      started = true;
      await gate.promise;
      return 'old';
    });
    await until(() => started, 'the loader to start');
    await b.set('k', 'new');
    gate.resolve();
    expect(await load).toBe('old');
    expect(await c.get('k')).toBe('new');
    expect(await a.get('k')).toBe('new');
  });

  it('a refresh of a stale value overtaken by a delete does not bring the key back', async () => {
    // Staleness is the engines' judgement (their clock); Redis keeps the entry for its whole grace either way.
    const clock = createFakeClock(Date.now());
    const {
      caches: [a, b],
      prefix,
    } = instances(2, { clock }) as { caches: [Cache, Cache]; prefix: string };
    await a.set('k', 'v1', { ttl: 50, grace: '1m' });
    clock.advance(60);
    const gate = deferred<void>();
    let started = false;
    expect(
      await a.getOrSet(
        'k',
        async () => {
          started = true;
          await gate.promise;
          return 'v2 from old data';
        },
        { grace: '1m' },
      ),
    ).toBe('v1');
    await until(() => started, 'the loader to start');
    await b.delete('k');
    gate.resolve();
    // Kept real: the refused write would cross the network, and there is no signal for a write that never comes.
    await new Promise((r) => setTimeout(r, 50));
    expect(await raw.exists(`${prefix}k`)).toBe(0);
  });

  it('an uncontended load writes normally and leaves no marker behind on failure', async () => {
    const {
      caches: [a],
      prefix,
    } = instances(1) as { caches: [Cache]; prefix: string };
    expect(await a.getOrSet('ok', () => 1)).toBe(1);
    expect(await a.get('ok')).toBe(1);
    await expect(a.getOrSet('bad', () => Promise.reject(new Error('no')))).rejects.toThrow('no');
    expect(await raw.exists(`${prefix}bad`)).toBe(0);
  });
});

describe('lease: one loader call per cold key across instances', () => {
  it('4 instances x 250 concurrent callers call the loader once, and all get its value', async () => {
    const { caches } = instances(4, { compute: { lease: true } }, true);
    await Promise.all(caches.map((c) => c.ready()));
    let calls = 0;
    // Real time: the other instances poll the lease in Redis on the system clock while this load runs.
    const loader = async () => {
      calls++;
      await new Promise((r) => setTimeout(r, 100));
      return 'answer';
    };
    const results = await Promise.all(caches.flatMap((c) => Array.from({ length: 250 }, () => c.getOrSet('cold', loader))));
    expect(calls).toBe(1);
    expect(new Set(results)).toStrictEqual(new Set(['answer']));
  });

  it('without lease each instance loads (but the key still ends up with one value)', async () => {
    const { caches } = instances(4);
    let calls = 0;
    const gate = deferred<void>();
    const loader = async () => {
      const n = ++calls;
      await gate.promise;
      return `v${n}`;
    };
    const loads = Promise.all(caches.map((c) => c.getOrSet('cold', loader)));
    // Every instance misses in Redis and starts its own loader while the first is still held open.
    await until(() => calls === 4, 'all four loaders to start');
    gate.resolve();
    await loads;
    expect(calls).toBe(4);
  });

  it('a waiter takes over when the holder’s marker expires (the holder died)', async () => {
    const {
      caches: [b],
      prefix,
    } = instances(1) as { caches: [Cache]; prefix: string };
    // What a dead holder leaves: a lease marker with 300 ms to live, never renewed.
    const marker = encodeEntry(new TextEncoder().encode('dead-holder'), { createdAt: Date.now(), expiresAt: 0, tags: undefined, stamps: undefined }, true);
    await raw.set(`${prefix}k`, Buffer.from(marker), 'PX', 300);
    let calls = 0;
    const started = Date.now();
    const value = await b.getOrSet(
      'k',
      () => {
        calls++;
        return 'taken over';
      },
      { lease: { ttl: '5s', wait: '10s' } },
    );
    expect(value).toBe('taken over');
    expect(calls).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(await b.get('k')).toBe('taken over');
  });

  it('a waiter stops waiting after `wait` and loads itself, replacing a holder that is too slow', async () => {
    const {
      caches: [a, b, c],
    } = instances(3) as { caches: [Cache, Cache, Cache]; prefix: string };
    const gate = deferred<void>();
    let started = false;
    const slow = a.getOrSet(
      'k',
      async () => {
        started = true;
        await gate.promise;
        return 'slow';
      },
      { lease: { ttl: '5s' } },
    );
    await until(() => started, 'the loader to start');
    expect(await b.getOrSet('k', () => 'impatient', { lease: { wait: 100 } })).toBe('impatient');
    gate.resolve();
    expect(await slow).toBe('slow');
    // The slow holder lost its claim when the waiter took over: the impatient value stays.
    expect(await c.get('k')).toBe('impatient');
    expect(await a.get('k')).toBe('impatient');
  });

  it('the holder renews its lease while the loader runs past the lease TTL', async () => {
    const {
      caches: [a, b],
    } = instances(2) as { caches: [Cache, Cache]; prefix: string };
    let calls = 0;
    // Real time: the lease marker expires on Redis's clock, so only real renewals keep it alive.
    const loader = async () => {
      calls++;
      await new Promise((r) => setTimeout(r, 400));
      return 'long';
    };
    const first = a.getOrSet('k', loader, { lease: { ttl: 150, wait: '5s' } });
    await until(() => calls === 1, 'a to hold the lease and start loading');
    const second = b.getOrSet('k', loader, { lease: { ttl: 150, wait: '5s' } });
    expect(await Promise.all([first, second])).toStrictEqual(['long', 'long']);
    expect(calls).toBe(1);
  });
});
