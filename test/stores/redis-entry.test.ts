// The Redis half of test/entry.test.ts: the store's replaceIf script fed the core's entry identity.
import { CREATED, sampleEntry as entry } from '../kit/entries.js';
import { afterAll, describe, expect, it } from 'vitest';
import { createdAtOf, identityOf } from '../../src/entry.js';
import { redisStore } from '../../src/stores/redis.js';
import { REDIS_URL, uniquePrefix } from './redis-helpers.js';

describe("Redis replaceIf, fed the core's entry identity", () => {
  const store = redisStore({ url: REDIS_URL, prefix: uniquePrefix('entry-header') });
  afterAll(async () => {
    await store.clear();
    await store.close();
  });

  it('replaces the write it was given the identity of, and no other', async () => {
    const written = entry(CREATED, { tags: ['user:1'] });
    await store.set('k', written, Date.now() + 60_000);
    const newer = entry(CREATED + 5);

    // A fence expecting another write (an older createdAt) leaves the key alone.
    expect(await store.replaceIf('k', identityOf(entry(CREATED - 1, { tags: ['user:1'] })), newer, Date.now() + 60_000)).toBe(false);
    expect(await store.get('k')).toEqual(written);

    expect(await store.replaceIf('k', identityOf(written), newer, Date.now() + 60_000)).toBe(true);
    const stored = await store.get('k');
    expect(stored).toEqual(newer);
    expect(createdAtOf(stored as Uint8Array)).toBe(CREATED + 5);
  });
});
