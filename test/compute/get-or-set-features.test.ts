import { afterEach, describe, expect, it, vi } from 'vitest';
import { Cache, LoaderTimeoutError, type CacheOptions } from '../../src/index.js';
import { createFakeClock, type FakeClock } from '../../src/testing/index.js';
import { deferred, drain } from '../kit/index.js';

const open: Cache[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(open.splice(0).map((c) => c.close()));
});

function make(options: CacheOptions = {}): { cache: Cache; clock: FakeClock } {
  const clock = createFakeClock();
  const cache = new Cache({ clock, ...options });
  open.push(cache);
  return { cache, clock };
}

describe('grace: stale-while-revalidate', () => {
  it('past its TTL, within grace, the stale value is returned at once and one refresh runs for all callers', async () => {
    const { cache, clock } = make();
    await cache.getOrSet('k', () => 'v1', { ttl: '1m', grace: '10m' });
    clock.advance(2 * 60_000);
    const refresh = deferred<string>();
    let calls = 0;
    const loader = () => {
      calls++;
      return refresh.promise;
    };
    const answers = await Promise.all(Array.from({ length: 10 }, () => cache.getOrSet('k', loader, { ttl: '1m', grace: '10m' })));
    expect(answers).toStrictEqual(Array(10).fill('v1'));
    expect(calls).toBe(1);
    refresh.resolve('v2');
    await drain();
    expect(await cache.get('k')).toBe('v2');
    expect(calls).toBe(1);
  });

  it('the loader gets the stale value in its context', async () => {
    const { cache, clock } = make();
    await cache.getOrSet('k', () => 1, { ttl: '1m', grace: '10m' });
    clock.advance(61_000);
    const seen: unknown[] = [];
    await cache.getOrSet('k', ({ staleValue }) => {
      seen.push(staleValue);
      return 2;
    }, { grace: '10m' });
    await drain();
    expect(seen).toStrictEqual([1]);
  });

  it('beyond grace the caller waits for the loader', async () => {
    const { cache, clock } = make();
    await cache.getOrSet('k', () => 'v1', { ttl: '1m', grace: '10m' });
    clock.advance(12 * 60_000);
    expect(await cache.getOrSet('k', () => 'v2', { grace: '10m' })).toBe('v2');
  });

  it('a caller without grace does not get a stale value; nor does plain get, unless it asks for stale values', async () => {
    const { cache, clock } = make();
    await cache.set('k', 'v1', { ttl: '1m', grace: '10m' });
    clock.advance(2 * 60_000);
    expect(await cache.get('k')).toBeUndefined();
    expect(await cache.has('k')).toBe(false);
    expect(await cache.get('k', { stale: true })).toBe('v1');
    expect(await cache.getOrSet('k', () => 'v2')).toBe('v2');
  });

  it('the cache-wide default grace applies to set and getOrSet', async () => {
    const { cache, clock } = make({ compute: { grace: '5m' } });
    await cache.set('k', 'v1', { ttl: '1m' });
    clock.advance(3 * 60_000);
    const slow = deferred<string>();
    expect(await cache.getOrSet('k', () => slow.promise)).toBe('v1');
    slow.resolve('v2');
    await drain();
    expect(await cache.get('k')).toBe('v2');
  });

  it('a hard invalidation removes the value whatever the grace', async () => {
    const { cache } = make();
    await cache.getOrSet('k', () => 'v1', { ttl: '1m', grace: '1h', tags: ['t'] });
    await cache.invalidateTags(['t']);
    expect(await cache.getOrSet('k', () => 'v2', { grace: '1h' })).toBe('v2');
    await cache.set('p:1', 'old', { grace: '1h' });
    await cache.invalidatePattern('p:*');
    expect(await cache.getOrSet('p:1', () => 'new', { grace: '1h' })).toBe('new');
  });

  it('a soft tag expiry is served stale within grace while the refresh runs, and waited for without grace', async () => {
    const { cache } = make();
    await cache.getOrSet('a', () => 'a1', { tags: ['t'], grace: '1h' });
    await cache.getOrSet('b', () => 'b1', { tags: ['t'] });
    await cache.expireTags(['t']);
    const slow = deferred<string>();
    expect(await cache.getOrSet('a', () => slow.promise, { tags: ['t'], grace: '1h' })).toBe('a1');
    expect(await cache.getOrSet('b', () => 'b2', { tags: ['t'] })).toBe('b2');
    slow.resolve('a2');
    await drain();
    expect(await cache.get('a')).toBe('a2');
  });
});

describe('fail-safe and negative caching', () => {
  it('a failing refresh keeps the stale value served and rests the loader for failSafeBackoff', async () => {
    const { cache, clock } = make();
    await cache.getOrSet('k', () => 'good', { ttl: '1m', grace: '1h' });
    clock.advance(2 * 60_000);
    let calls = 0;
    const failing = () => {
      calls++;
      throw new Error('upstream down');
    };
    const options = { ttl: '1m', grace: '1h', failSafeBackoff: '30s' };
    expect(await cache.getOrSet('k', failing, options)).toBe('good');
    await drain();
    expect(calls).toBe(1);
    for (let i = 0; i < 20; i++) expect(await cache.getOrSet('k', failing, options)).toBe('good');
    expect(calls).toBe(1);
    clock.advance(31_000);
    expect(await cache.getOrSet('k', () => 'better', options)).toBe('good');
    await drain();
    expect(await cache.get('k')).toBe('better');
  });

  it('with a soft timeout the caller waits for the refresh, and gets the stale value when it fails', async () => {
    const { cache, clock } = make();
    await cache.getOrSet('k', () => 'good', { ttl: '1m', grace: '1h' });
    clock.advance(2 * 60_000);
    const value = await cache.getOrSet('k', async () => Promise.reject(new Error('boom')), { grace: '1h', softTimeout: '1s' });
    expect(value).toBe('good');
  });

  it('without a stale value, negativeTtl replays the failure without calling the loader, until a write', async () => {
    const { cache, clock } = make();
    let calls = 0;
    const failing = () => {
      calls++;
      throw new Error(`down #${calls}`);
    };
    await expect(cache.getOrSet('k', failing, { negativeTtl: '10s' })).rejects.toThrow('down #1');
    await expect(cache.getOrSet('k', failing, { negativeTtl: '10s' })).rejects.toThrow('down #1');
    expect(calls).toBe(1);
    clock.advance(11_000);
    await expect(cache.getOrSet('k', failing, { negativeTtl: '10s' })).rejects.toThrow('down #2');
    await cache.set('k', 'written');
    expect(await cache.getOrSet('k', failing)).toBe('written');
    expect(calls).toBe(2);
  });

  it('without negativeTtl every call after a failure tries the loader again', async () => {
    const { cache } = make();
    let calls = 0;
    const failing = () => {
      calls++;
      throw new Error('down');
    };
    await expect(cache.getOrSet('k', failing)).rejects.toThrow('down');
    await expect(cache.getOrSet('k', failing)).rejects.toThrow('down');
    expect(calls).toBe(2);
  });
});

describe('timeouts', () => {
  it('hardTimeout aborts the loader through its signal and rejects every waiter with LoaderTimeoutError', async () => {
    const { cache, clock } = make();
    let aborted: unknown;
    const loader = ({ signal }: { signal: AbortSignal }) =>
      new Promise<string>((_, reject) => {
        signal.addEventListener('abort', () => {
          aborted = signal.reason;
          reject(new Error('stopped'));
        });
      });
    const waiters = Array.from({ length: 5 }, () => cache.getOrSet('k', loader, { hardTimeout: '2s' }));
    const settled = Promise.allSettled(waiters);
    await clock.tick(2_000);
    const results = await settled;
    for (const result of results) {
      expect(result.status).toBe('rejected');
      const reason = (result as PromiseRejectedResult).reason as LoaderTimeoutError;
      expect(reason).toBeInstanceOf(LoaderTimeoutError);
      expect(reason.code).toBe('E_LOADER_TIMEOUT');
      expect(reason.timeoutMs).toBe(2_000);
    }
    expect(aborted).toBeInstanceOf(LoaderTimeoutError);
    expect(await cache.has('k')).toBe(false);
  });

  it('a result arriving after the hard timeout is not cached', async () => {
    const { cache, clock } = make();
    const late = deferred<string>();
    const call = cache.getOrSet('k', () => late.promise, { hardTimeout: 1_000 });
    const outcome = call.catch((error: unknown) => error);
    await clock.tick(1_000);
    expect(await outcome).toBeInstanceOf(LoaderTimeoutError);
    late.resolve('too late');
    await drain();
    expect(await cache.get('k')).toBeUndefined();
  });

  it('hardTimeout with a stale value returns the stale value (fail-safe)', async () => {
    const { cache, clock } = make();
    await cache.getOrSet('k', () => 'stale', { ttl: '1m', grace: '1h' });
    clock.advance(2 * 60_000);
    const call = cache.getOrSet('k', () => new Promise<string>(() => undefined), { grace: '1h', softTimeout: '10s', hardTimeout: '5s' });
    await clock.tick(5_000);
    expect(await call).toBe('stale');
  });

  it('softTimeout: a slow refresh answers with the stale value, then caches its own result when done', async () => {
    const { cache, clock } = make();
    await cache.getOrSet('k', () => 'old', { ttl: '1m', grace: '1h' });
    clock.advance(2 * 60_000);
    const slow = deferred<string>();
    const call = cache.getOrSet('k', () => slow.promise, { ttl: '1m', grace: '1h', softTimeout: 200 });
    await clock.tick(200);
    expect(await call).toBe('old');
    slow.resolve('new');
    await drain();
    expect(await cache.get('k')).toBe('new');
  });

  it('softTimeout: a refresh done in time answers with the fresh value', async () => {
    const { cache, clock } = make();
    await cache.getOrSet('k', () => 'old', { ttl: '1m', grace: '1h' });
    clock.advance(2 * 60_000);
    const result = await cache.getOrSetResult('k', () => 'new', { grace: '1h', softTimeout: 200 });
    expect(result).toMatchObject({ ok: true, value: 'new', source: 'loader', stale: false });
  });
});

describe('refresh-ahead', () => {
  it('after the given fraction of the TTL, a hit starts one background refresh and keeps serving the current value', async () => {
    const { cache, clock } = make();
    let version = 0;
    const loader = () => ++version;
    const options = { ttl: 100_000, refreshAhead: 0.8 };
    expect(await cache.getOrSet('k', loader, options)).toBe(1);
    clock.advance(50_000);
    expect(await cache.getOrSet('k', loader, options)).toBe(1);
    await drain();
    expect(version).toBe(1);
    clock.advance(31_000);
    const hits = await Promise.all(Array.from({ length: 10 }, () => cache.getOrSet('k', loader, options)));
    expect(hits).toStrictEqual(Array(10).fill(1));
    await drain();
    expect(version).toBe(2);
    expect(await cache.getOrSet('k', loader, options)).toBe(2);
    expect((await cache.inspect('k'))?.ttlRemaining).toBe(100_000);
  });
});

describe('the loader context (adaptive caching)', () => {
  it('setTtl, setTags and skipCache change what is cached', async () => {
    const { cache } = make();
    await cache.getOrSet('a', (ctx) => {
      ctx.setTtl('5m');
      ctx.setTags(['x']);
      return 'A';
    }, { ttl: '1h' });
    expect(await cache.inspect('a')).toMatchObject({ ttlRemaining: 300_000, tags: ['x'] });
    await cache.invalidateTags(['x']);
    expect(await cache.get('a')).toBeUndefined();

    expect(await cache.getOrSet('b', (ctx) => {
      ctx.skipCache();
      return 'B';
    })).toBe('B');
    expect(await cache.has('b')).toBe(false);
  });

  it('a tag set by the loader fences the load against that tag from then on', async () => {
    const { cache } = make();
    const gate = deferred<void>();
    const load = cache.getOrSet('k', async (ctx) => {
      ctx.setTags(['late']);
      await gate.promise;
      return 'computed before the invalidation';
    });
    await drain();
    await cache.invalidateTags(['late']);
    gate.resolve();
    expect(await load).toBe('computed before the invalidation');
    expect(await cache.get('k')).toBeUndefined();
  });

  it('the TTL counts from when the value is written, not from when the load started', async () => {
    const { cache, clock } = make();
    await cache.getOrSet('k', () => {
      clock.advance(30_000);
      return 'slow';
    }, { ttl: '1m' });
    expect((await cache.inspect('k'))?.ttlRemaining).toBe(60_000);
  });

  it('getOrSetResult says where the value came from', async () => {
    const { cache } = make();
    expect(await cache.getOrSetResult('k', () => 1)).toMatchObject({ ok: true, value: 1, source: 'loader' });
    expect(await cache.getOrSetResult('k', () => 2)).toMatchObject({ ok: true, value: 1, source: 'memory' });
    const failed = await cache.getOrSetResult('f', () => {
      throw new Error('nope');
    });
    expect(failed.ok).toBe(false);
    expect((failed.error as Error).message).toBe('nope');
    expect(failed.durationMs).toBeGreaterThanOrEqual(0);
  });
});

describe('bad options', () => {
  it('are refused with a TypeError naming the option, before the loader runs', async () => {
    const { cache } = make();
    let calls = 0;
    const loader = () => ++calls;
    await expect(cache.getOrSet('k', loader, { refreshAhead: 1.5 })).rejects.toThrow(/refreshAhead/);
    await expect(cache.getOrSet('k', loader, { hardTimeout: 0 })).rejects.toThrow(/hardTimeout/);
    await expect(cache.getOrSet('k', loader, { grace: '-1m' })).rejects.toThrow(/grace/);
    await expect(cache.getOrSet('k', loader, { lease: 'yes' as unknown as boolean })).rejects.toThrow(/lease/);
    expect(calls).toBe(0);
    expect(() => new Cache({ compute: { softTimeout: 'soon' } })).toThrow(/compute\.softTimeout/);
  });
});

describe('getOrSetMany', () => {
  it('loads only the misses, in one call, and caches them', async () => {
    const { cache } = make();
    await cache.set('u:1', 'one');
    const calls: string[][] = [];
    const values = await cache.getOrSetMany(['u:1', 'u:2', 'u:3'], (keys) => {
      calls.push(keys);
      return keys.map((k) => k.toUpperCase());
    }, { ttl: '1m', tags: ['users'] });
    expect(values).toStrictEqual(['one', 'U:2', 'U:3']);
    expect(calls).toStrictEqual([['u:2', 'u:3']]);
    expect(await cache.inspect('u:3')).toMatchObject({ ttlRemaining: 60_000, tags: ['users'] });
    expect(await cache.getOrSetMany(['u:2', 'u:3'], () => { throw new Error('not called'); })).toStrictEqual(['U:2', 'U:3']);
  });

  it('accepts a Map; keys it leaves out come back undefined and are not cached', async () => {
    const { cache } = make();
    const values = await cache.getOrSetMany(['a', 'b'], () => new Map([['a', 1]]));
    expect(values).toStrictEqual([1, undefined]);
    expect(await cache.has('b')).toBe(false);
  });

  it('joins loads already running for some keys and shares single-flight with getOrSet', async () => {
    const { cache } = make();
    const slow = deferred<string>();
    let single = 0;
    const running = cache.getOrSet('a', () => {
      single++;
      return slow.promise;
    });
    await drain();
    const batchCalls: string[][] = [];
    const many = cache.getOrSetMany(['a', 'b', 'b'], (keys) => {
      batchCalls.push(keys);
      return keys.map(() => 'batch');
    });
    // Once the batch's loads are running, a getOrSet of one of its keys joins the batch's.
    await drain();
    const alsoB = cache.getOrSet('b', () => 'single');
    slow.resolve('from getOrSet');
    expect(await many).toStrictEqual(['from getOrSet', 'batch', 'batch']);
    expect(await running).toBe('from getOrSet');
    expect(await alsoB).toBe('batch');
    expect(single).toBe(1);
    expect(batchCalls).toStrictEqual([['b']]);
  });

  it('a key invalidated while the batch loads is returned but not cached; the others are', async () => {
    const { cache } = make();
    const gate = deferred<void>();
    const many = cache.getOrSetMany(['x', 'y'], async (keys) => {
      await gate.promise;
      return keys.map((k) => `${k}-old`);
    });
    await drain();
    await cache.delete('x');
    gate.resolve();
    expect(await many).toStrictEqual(['x-old', 'y-old']);
    expect(await cache.has('x')).toBe(false);
    expect(await cache.get('y')).toBe('y-old');
  });

  it('a batch loader failure rejects every key; a wrong-sized answer is a TypeError', async () => {
    const { cache } = make();
    await expect(cache.getOrSetMany(['a', 'b'], () => Promise.reject(new Error('db down')))).rejects.toThrow('db down');
    await expect(cache.getOrSetMany(['a', 'b'], () => [1])).rejects.toThrow(/1 values for 2 keys/);
    await expect(cache.getOrSetMany('a' as unknown as string[], () => [])).rejects.toThrow(TypeError);
    expect(await cache.getOrSetMany([], () => [])).toStrictEqual([]);
    await expect(cache.getOrSetMany(['a'], () => [1], { lease: true, negativeTtl: '1m' })).rejects.toThrow(/does not take lease, negativeTtl/);
  });
});
