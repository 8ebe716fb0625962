import { afterAll, describe, expect, it } from 'vitest';
import { Cache, type PatternProgress } from '../../src/index.js';
import { redisStore } from '../../src/stores/redis.js';
import { REDIS_URL, uniquePrefix } from '../stores/redis-helpers.js';

// What `tiercache invalidate --pattern` draws its bar from: PatternOptions.onProgress.
const opened: Cache[] = [];
afterAll(async () => {
  await Promise.all(opened.map((cache) => cache.close()));
});

function cacheOf(tag: string, prefixIndex = false): Cache {
  const cache = new Cache({ prefix: uniquePrefix(tag), stores: [redisStore({ url: REDIS_URL, prefix: 'tc:', prefixIndex })], fleet: false });
  opened.push(cache);
  return cache;
}

async function fill(cache: Cache, n: number): Promise<void> {
  await cache.setMany(Array.from({ length: n }, (_, i) => ({ key: `report:${i}`, value: i })));
  await cache.set('other', 1);
}

describe('pattern invalidation progress (PatternOptions.onProgress)', () => {
  it('reports the listing, then each batch removed, then the end; the count is unchanged', async () => {
    const cache = cacheOf('pattern-progress');
    await fill(cache, 2_500);
    const seen: PatternProgress[] = [];
    const removed = await cache.invalidatePattern('report:*', { onProgress: (p) => seen.push({ ...p }) });
    expect(removed).toBe(2_500);
    const listing = seen.filter((p) => p.removed === 0 && !p.done);
    expect(listing.map((p) => p.matched)).toEqual([256, 512, 768, 1024, 1280, 1536, 1792, 2048, 2304]);
    expect(seen.filter((p) => p.removed > 0)).toEqual([
      { tier: 'redis', matched: 2_500, removed: 1_000, done: false },
      { tier: 'redis', matched: 2_500, removed: 2_000, done: false },
      { tier: 'redis', matched: 2_500, removed: 2_500, done: true },
    ]);
    expect(await cache.get('report:7')).toBeUndefined();
    expect(await cache.get('other')).toBe(1);
  });

  it('goes on when the callback throws, reports a prefix delete once, and refuses a callback that is not a function', async () => {
    const cache = cacheOf('pattern-progress-throw');
    await fill(cache, 300);
    expect(await cache.invalidate({ pattern: 'report:*' }, { onProgress: () => { throw new Error('broken display'); } })).toBe(300);
    expect(await cache.get('report:1')).toBeUndefined();

    const indexed = cacheOf('pattern-progress-prefix', true);
    await fill(indexed, 50);
    const seen: PatternProgress[] = [];
    // The first prefix delete builds the index in the background and answers by SCAN; the second uses the index.
    await indexed.invalidatePattern('report:*');
    await fill(indexed, 50);
    expect(await indexed.invalidatePattern('report:*', { onProgress: (p) => seen.push({ ...p }) })).toBe(50);
    expect(seen).toEqual([{ tier: 'redis', matched: 50, removed: 50, done: true }]);

    await expect(cache.invalidatePattern('report:*', { onProgress: 'yes' as unknown as () => void })).rejects.toThrow(/onProgress must be a function/);
  });
});
