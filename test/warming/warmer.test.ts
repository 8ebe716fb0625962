import { afterEach, describe, expect, it } from 'vitest';
import { Cache } from '../../src/cache.js';
import { createFakeClock, type FakeClock } from '../../src/testing/index.js';
import { warm, Warmer, type WarmingTask, type WarmProgress } from '../../src/warming/warmer.js';
import { deferred, drain } from '../kit/index.js';

const open: Cache[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});
function memoryCache(clock: FakeClock = createFakeClock()): Cache {
  const cache = new Cache({ clock });
  open.push(cache);
  return cache;
}

const task = (id: string, extra: Partial<WarmingTask> = {}): WarmingTask => ({ id, key: `k:${id}`, loader: () => `v:${id}`, ...extra });

describe('warm', () => {
  it('caches every task with its TTL and tags and reports what it generated', async () => {
    const clock = createFakeClock();
    const cache = memoryCache(clock);
    const report = await warm(cache, [task('a', { ttl: '1h', tags: ['config'] }), task('b', { ttl: 5_000 })], { clock });
    expect(report).toStrictEqual({ generated: 2, skipped: 0, errors: [], durationMs: 0, aborted: false });
    expect(await cache.get('k:a')).toBe('v:a');
    expect(await cache.inspect('k:a')).toMatchObject({ ttlRemaining: 3_600_000, tags: ['config'] });
    expect(await cache.inspect('k:b')).toMatchObject({ ttlRemaining: 5_000 });
  });

  it('runs higher priorities first, equal priorities in the order given', async () => {
    const cache = memoryCache();
    const order: string[] = [];
    const tracked = (id: string, priority?: number) =>
      task(id, {
        ...(priority === undefined ? {} : { priority }),
        loader: () => {
          order.push(id);
          return id;
        },
      });
    await warm(cache, [tracked('low', -5), tracked('plain1'), tracked('top', 100), tracked('plain2'), tracked('mid', 10), tracked('top2', 100)], {
      concurrency: 1,
    });
    expect(order).toStrictEqual(['top', 'top2', 'mid', 'plain1', 'plain2', 'low']);
  });

  it('never runs more loaders at once than the concurrency limit, and starts the next as one finishes', async () => {
    const cache = memoryCache();
    const gates = Array.from({ length: 5 }, () => deferred<string>());
    const started: number[] = [];
    const tasks = gates.map((gate, i) =>
      task(`t${i}`, {
        priority: 10 - i,
        loader: () => {
          started.push(i);
          return gate.promise;
        },
      }),
    );
    const run = warm(cache, tasks, { concurrency: 2 });
    await drain();
    expect(started).toStrictEqual([0, 1]);
    gates[1]?.resolve('one');
    await drain();
    expect(started).toStrictEqual([0, 1, 2]);
    for (const gate of gates) gate.resolve('x');
    expect((await run).generated).toBe(5);
    expect(started).toStrictEqual([0, 1, 2, 3, 4]);
  });

  it('skips keys that hold a fresh value, unless forced; stale or expired keys are regenerated', async () => {
    const clock = createFakeClock();
    const cache = memoryCache(clock);
    await cache.set('k:fresh', 'cached', { ttl: '1h' });
    await cache.set('k:stale', 'cached', { ttl: '1h', tags: ['soft'] });
    await cache.expireTags(['soft']);
    await cache.set('k:expired', 'cached', { ttl: 1_000 });
    clock.advance(1_000);
    const tasks = [task('fresh'), task('stale'), task('expired'), task('missing')];

    const first = await warm(cache, tasks);
    expect(first).toMatchObject({ generated: 3, skipped: 1 });
    expect(await cache.get('k:fresh')).toBe('cached');
    expect(await cache.get('k:stale')).toBe('v:stale');
    expect(await cache.get('k:expired')).toBe('v:expired');

    const again = await warm(cache, tasks);
    expect(again).toMatchObject({ generated: 0, skipped: 4 });

    const forced = await warm(cache, tasks, { force: true });
    expect(forced).toMatchObject({ generated: 4, skipped: 0 });
    expect(await cache.get('k:fresh')).toBe('v:fresh');
  });

  it('a failing task is reported and the others still run', async () => {
    const cache = memoryCache();
    const boom = new Error('upstream down');
    const report = await warm(
      cache,
      [
        task('a', { priority: 3 }),
        task('bad', {
          priority: 2,
          loader: () => {
            throw boom;
          },
        }),
        task('badkey', { priority: 1, key: 'x'.repeat(5_000) }),
        task('c'),
      ],
      { concurrency: 1 },
    );
    expect(report.generated).toBe(2);
    expect(report.errors).toHaveLength(2);
    expect(report.errors[0]).toStrictEqual({ taskId: 'bad', key: 'k:bad', error: boom });
    expect(report.errors[1]).toMatchObject({ taskId: 'badkey', error: { code: 'E_INVALID_KEY' } });
    expect(await cache.get('k:c')).toBe('v:c');
    expect(await cache.has('k:bad')).toBe(false);
  });

  it('reports progress after each task', async () => {
    const cache = memoryCache();
    await cache.set('k:b', 'cached');
    const seen: WarmProgress[] = [];
    await warm(
      cache,
      [
        task('a', { priority: 3 }),
        task('b', { priority: 2 }),
        task('c', {
          priority: 1,
          loader: () => {
            throw new Error('no');
          },
        }),
      ],
      { concurrency: 1, onProgress: (p) => seen.push(p) },
    );
    expect(seen).toStrictEqual([
      { done: 1, total: 3, generated: 1, skipped: 0, errors: 0, current: 'a' },
      { done: 2, total: 3, generated: 1, skipped: 1, errors: 0, current: 'b' },
      { done: 3, total: 3, generated: 1, skipped: 1, errors: 1, current: 'c' },
    ]);
  });

  it('a progress callback that throws does not stop the run', async () => {
    const cache = memoryCache();
    const report = await warm(cache, [task('a'), task('b')], {
      onProgress: () => {
        throw new Error('display broken');
      },
    });
    expect(report).toMatchObject({ generated: 2, errors: [] });
  });

  it('an abort signal stops starting tasks; running ones finish and the report says so', async () => {
    const cache = memoryCache();
    const controller = new AbortController();
    const report = await warm(cache, [task('a', { priority: 2 }), task('b', { priority: 1 }), task('c')], {
      concurrency: 1,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.done === 1) controller.abort();
      },
    });
    expect(report).toMatchObject({ generated: 1, skipped: 0, aborted: true });
    expect(await cache.has('k:a')).toBe(true);
    expect(await cache.has('k:b')).toBe(false);

    const already = await warm(cache, [task('b')], { signal: AbortSignal.abort() });
    expect(already).toMatchObject({ generated: 0, aborted: true });
  });

  it('measures the duration on the injected clock', async () => {
    const clock = createFakeClock();
    const cache = memoryCache(clock);
    const slow = task('a', {
      loader: () => {
        clock.advance(1_500);
        return 1;
      },
    });
    expect((await warm(cache, [slow], { clock })).durationMs).toBe(1_500);
  });

  describe('never writes back a value for data invalidated while it ran', () => {
    it('the key is invalidated during the load', async () => {
      const cache = memoryCache();
      const gate = deferred<string>();
      const run = warm(cache, [task('a', { loader: () => gate.promise })]);
      await drain();
      await cache.delete('k:a');
      gate.resolve('computed from old data');
      expect((await run).generated).toBe(1);
      expect(await cache.has('k:a')).toBe(false);
      expect(await cache.get('k:a')).toBeUndefined();
    });

    it('one of its tags is invalidated during the load', async () => {
      const cache = memoryCache();
      const gate = deferred<string>();
      const run = warm(cache, [task('a', { tags: ['user:1'], loader: () => gate.promise })]);
      await drain();
      await cache.invalidateTags(['user:1']);
      gate.resolve('computed from old data');
      await run;
      expect(await cache.get('k:a')).toBeUndefined();
    });

    it('the same load, left alone, is cached (the two tests above can fail)', async () => {
      const cache = memoryCache();
      const gate = deferred<string>();
      const run = warm(cache, [task('a', { tags: ['user:1'], loader: () => gate.promise })]);
      await drain();
      await cache.invalidateTags(['user:2']);
      gate.resolve('current');
      await run;
      expect(await cache.get('k:a')).toBe('current');
    });
  });

  it('refuses malformed tasks and options before running anything', async () => {
    const cache = memoryCache();
    let calls = 0;
    const counted = task('ok', {
      loader: () => {
        calls++;
        return 1;
      },
    });
    await expect(warm(cache, [counted, task('')])).rejects.toThrow(/task id must be a non-empty string/);
    await expect(warm(cache, [counted, task('a', { key: '' })])).rejects.toThrow(/task "a": key must be a non-empty string/);
    await expect(warm(cache, [counted, { id: 'a', key: 'k' } as WarmingTask])).rejects.toThrow(/task "a": loader must be a function/);
    await expect(warm(cache, [counted, task('a', { priority: Number.NaN })])).rejects.toThrow(/task "a": priority must be a finite number/);
    await expect(warm(cache, [counted, task('a', { ttl: '5 parsecs' })])).rejects.toThrow(/task "a": ttl must be a duration/);
    await expect(warm(cache, [counted, task('a', { tags: 'x' as unknown as string[] })])).rejects.toThrow(/task "a": tags must be an array/);
    await expect(warm(cache, [counted, task('ok')])).rejects.toThrow(/id "ok" is used twice/);
    await expect(warm(cache, [counted], { concurrency: 0 })).rejects.toThrow(/concurrency must be an integer >= 1, got 0/);
    await expect(warm(cache, [counted])).resolves.toMatchObject({ generated: 1 });
    expect(calls).toBe(1);
  });
});

describe('Warmer', () => {
  it('runs its registered tasks, or only the ones named', async () => {
    const cache = memoryCache();
    const warmer = new Warmer(cache, { concurrency: 2 });
    warmer.register(task('a', { priority: 1 })).register(task('b', { priority: 5 }));
    expect(warmer.size).toBe(2);
    expect(warmer.tasks().map((t) => t.id)).toStrictEqual(['b', 'a']);
    expect(await warmer.run({ ids: ['a'] })).toMatchObject({ generated: 1 });
    expect(await cache.has('k:b')).toBe(false);
    expect(await warmer.run()).toMatchObject({ generated: 1, skipped: 1 });
    await expect(warmer.run({ ids: ['nope'] })).rejects.toThrow(/unknown warming task ids: "nope"/);
  });

  it('register replaces a task by id; a second task for the same key is refused', () => {
    const warmer = new Warmer(memoryCache());
    warmer.register(task('a'));
    warmer.register(task('a', { key: 'k:moved' }));
    expect(warmer.taskForKey('k:a')).toBeUndefined();
    expect(warmer.taskForKey('k:moved')?.id).toBe('a');
    expect(() => warmer.register(task('b', { key: 'k:moved' }))).toThrow(/key "k:moved" is already warmed by task "a"/);
    expect(warmer.unregister('a')).toBe(true);
    expect(warmer.unregister('a')).toBe(false);
    expect(warmer.taskForKey('k:moved')).toBeUndefined();
    warmer.register(task('b', { key: 'k:moved' }));
  });

  it('keeps its own copy of a task', async () => {
    const cache = memoryCache();
    const warmer = new Warmer(cache);
    const mutable = task('a');
    warmer.register(mutable);
    mutable.key = 'k:elsewhere';
    await warmer.run();
    expect(await cache.has('k:a')).toBe(true);
    expect(await cache.has('k:elsewhere')).toBe(false);
  });

  it('validates its options', () => {
    expect(() => new Warmer(memoryCache(), { concurrency: 1.5 })).toThrow(/concurrency must be an integer >= 1/);
    expect(() => new Warmer({} as Cache)).toThrow(/has\(\) and getOrSet\(\)/);
  });
});
