import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Cache, CacheEvents } from '../../src/index.js';
import { redisStore } from '../../src/stores/redis.js';
import { Cache as PlainCache } from '../../src/index.js';
import { until } from '../kit/index.js';
import { freePort, REDIS_URL, uniquePrefix } from '../stores/redis-helpers.js';
import { startThrowawayRedis, type ThrowawayRedis } from '../support/redis-server.js';
import { envelopeOf, redisCli, trackingCache, trackingIds } from './helpers.js';

const PORT = new URL(REDIS_URL).port || '6379';
const cli = (...args: string[]) => redisCli(['-p', PORT, ...args]);
let admin: Redis;
const open: Cache[] = [];

function track(name: string, prefix: string, extra: Parameters<typeof trackingCache>[3] = {}): Cache {
  const cache = trackingCache(name, { url: REDIS_URL }, prefix, extra);
  open.push(cache);
  return cache;
}

const invalidated = (cache: Cache) => cache.getStats().tracking?.invalidated ?? 0;

beforeAll(() => {
  admin = new Redis(REDIS_URL);
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((cache) => cache.close()));
});
afterAll(async () => {
  await admin.quit();
});

describe("coherence: 'tracking' on one Redis", () => {
  it('a plain redis-cli SET makes every instance read the new value from Redis instead of its memory tier', async () => {
    const prefix = uniquePrefix('track-set');
    const [a, b] = [track(`trk-set-a-${process.pid}`, prefix), track(`trk-set-b-${process.pid}`, prefix)];
    await Promise.all([a.ready(), b.ready()]);
    await a.set('user:1', { v: 1 }, { ttl: '1h' });
    // b hears a's write too (it is another connection); a read racing that message would not be kept.
    await until(() => invalidated(b) >= 1, "b to hear a's write", 2_000, 2);
    expect((await b.getResult('user:1')).source).toBe('redis');
    expect((await b.getResult('user:1')).source).toBe('memory');
    expect((await a.getResult('user:1')).source).toBe('memory');

    const newer = await envelopeOf(REDIS_URL, prefix, { v: 2 });
    await redisCli(['-p', PORT, '-x', 'SET', `${prefix}user:1`], newer);
    await until(() => invalidated(a) >= 1 && invalidated(b) >= 2, 'both instances to hear the outside SET', 2_000, 2);
    for (const cache of [a, b]) {
      const read = await cache.getResult('user:1');
      expect(read).toMatchObject({ ok: true, value: { v: 2 }, source: 'redis' });
    }
  });

  it('a getOrSet load is not fenced by its own claim: its value reaches Redis and the next instance reads it there', async () => {
    const prefix = uniquePrefix('track-load');
    const [a, b] = [track(`trk-load-a-${process.pid}`, prefix), track(`trk-load-b-${process.pid}`, prefix)];
    await Promise.all([a.ready(), b.ready()]);
    let loads = 0;
    expect(await a.getOrSet('report', () => ({ n: ++loads }), { ttl: '1h' })).toEqual({ n: 1 });
    // Written through the claim: another instance reads it from Redis instead of loading again.
    expect(await b.getOrSetResult('report', () => ({ n: ++loads }), { ttl: '1h' })).toMatchObject({ value: { n: 1 }, source: 'redis' });
    expect(loads).toBe(1);
    expect(a.getStats().stores.redis).toMatchObject({ sets: 1 });
  });

  it('foreign bytes written by redis-cli are a miss with a decode error event, not a crash; DEL is heard too', async () => {
    const prefix = uniquePrefix('track-foreign');
    const a = track(`trk-foreign-${process.pid}`, prefix);
    await a.ready();
    const errors: CacheEvents['error'][] = [];
    a.on('error', (e) => errors.push(e));
    await a.set('k', 'mine', { ttl: '1h' });
    await cli('SET', `${prefix}k`, 'not an envelope');
    await until(() => invalidated(a) >= 1, 'the outside SET', 2_000, 2);
    expect(await a.get('k')).toBeUndefined();
    expect(errors.map((e) => e.operation)).toContain('redis.decode');

    await a.set('gone', 'here', { ttl: '1h' });
    expect((await a.getResult('gone')).source).toBe('memory');
    await cli('DEL', `${prefix}gone`);
    await until(() => invalidated(a) >= 2, 'the outside DEL', 2_000, 2);
    expect(await a.get('gone')).toBeUndefined();
  });

  it("an instance's own writes stay in its memory tier (NOLOOP), and another tiercache instance's writes drop them", async () => {
    const prefix = uniquePrefix('track-own');
    const a = track(`trk-own-${process.pid}`, prefix);
    await a.ready();
    const other = new PlainCache({ stores: [redisStore({ url: REDIS_URL, prefix })], memory: { maxEntries: 10 } });
    try {
      for (let i = 0; i < 20; i++) await a.set(`own:${i}`, i, { ttl: '1h' });
      // A marker write from elsewhere, heard after everything above: own writes would have arrived before it.
      await cli('SET', `${prefix}marker`, 'x');
      await until(() => invalidated(a) >= 1, 'the marker write', 2_000, 2);
      expect(invalidated(a)).toBe(1);
      for (let i = 0; i < 20; i++) expect((await a.getResult(`own:${i}`)).source).toBe('memory');

      await other.set('own:3', 'from elsewhere', { ttl: '1h' });
      await until(() => invalidated(a) >= 2, "the other instance's write", 2_000, 2);
      expect(await a.getResult('own:3')).toMatchObject({ value: 'from elsewhere', source: 'redis' });
    } finally {
      await other.close();
    }
  });

  it('only the configured prefixes are tracked', async () => {
    const prefix = uniquePrefix('track-prefixes');
    const a = track(`trk-prefixes-${process.pid}`, prefix, { coherence: { mode: 'tracking', prefixes: ['hot:'] } });
    await a.ready();
    await a.set('hot:1', 1, { ttl: '1h' });
    await a.set('cold:1', 1, { ttl: '1h' });
    await cli('SET', `${prefix}cold:1`, 'outside');
    await cli('SET', `${prefix}hot:1`, 'outside');
    await until(() => invalidated(a) >= 1, 'the hot write', 2_000, 2);
    expect(invalidated(a)).toBe(1);
    expect((await a.getResult('hot:1')).source).not.toBe('memory');
    expect(await a.getResult('cold:1')).toMatchObject({ value: 1, source: 'memory' });
  });

  it('a killed subscriber connection empties the memory tier, and tracking resumes on a new one', async () => {
    const prefix = uniquePrefix('track-kill');
    const name = `trk-kill-${process.pid}`;
    const a = track(name, prefix);
    await a.ready();
    const recovers: CacheEvents['recover'][] = [];
    a.on('recover', (e) => recovers.push(e));
    for (let i = 0; i < 5; i++) await a.set(`k:${i}`, i, { ttl: '1h' });
    const [before] = await trackingIds(admin, name);
    expect(before).toBeDefined();
    await admin.client('KILL', 'ID', before!.subscriber);
    await until(() => recovers.length >= 1, 'the loss to be noticed', 2_000, 2);
    expect(recovers[0]).toMatchObject({ reason: 'tracking', dropped: 5 });
    expect(a.getStats().keyCount).toBe(0);

    await until(() => (a.getStats().tracking?.resumed ?? 0) >= 1, 'tracking to resume', 3_000, 5);
    const [after] = await trackingIds(admin, name);
    expect(after?.subscriber).not.toBe(before!.subscriber);
    await a.set('k:1', 'again', { ttl: '1h' });
    expect((await a.getResult('k:1')).source).toBe('memory');
    await cli('SET', `${prefix}k:1`, 'outside');
    await until(() => invalidated(a) >= 1, 'a write after the resume', 2_000, 2);
    expect((await a.getResult('k:1')).source).not.toBe('memory');
  });

  it("a killed store connection (the tracked one) empties the memory tier; tracking resumes when the store reconnects", async () => {
    const prefix = uniquePrefix('track-kill-writer');
    const name = `trk-killw-${process.pid}`;
    const a = track(name, prefix);
    await a.ready();
    await a.set('k', 1, { ttl: '1h' });
    const [before] = await trackingIds(admin, name);
    await admin.client('KILL', 'ID', before!.writer);
    await until(() => (a.getStats().tracking?.lost ?? 0) >= 1, 'the loss', 2_000, 2);
    expect(a.getStats().keyCount).toBe(0);
    await until(() => (a.getStats().tracking?.resumed ?? 0) >= 1, 'tracking to resume', 5_000, 5);
    await a.set('k', 2, { ttl: '1h' });
    await cli('SET', `${prefix}k`, 'outside');
    await until(() => invalidated(a) >= 1, 'a write after the resume', 2_000, 2);
    expect((await a.getResult('k')).source).not.toBe('memory');
  });

  it('refuses a coherence option it cannot honour, naming it', () => {
    expect(() => new PlainCache({ coherence: 'tracking' })).toThrow(/needs a Redis store/);
    const store = redisStore({ url: REDIS_URL, prefix: uniquePrefix('track-bad'), redis: { lazyConnect: true } });
    expect(() => new PlainCache({ stores: [store], coherence: { mode: 'tracking', prefixes: ['a', 'ab'] } })).toThrow(/coherence.prefixes must not overlap/);
    expect(() => new PlainCache({ stores: [store], coherence: { mode: 'tracking', store: 'nope' } })).toThrow(/coherence.store/);
    const first = new PlainCache({ stores: [store], coherence: 'tracking' });
    expect(() => new PlainCache({ stores: [store], coherence: 'tracking' })).toThrow(/already tracked/);
    return first.close();
  });
});

describe("coherence: 'tracking' and FLUSHDB (a private server)", () => {
  let server: ThrowawayRedis;
  beforeAll(async () => {
    server = await startThrowawayRedis(await freePort());
  });
  afterAll(async () => {
    await server.stop();
  });

  it('FLUSHDB empties the memory tier of every tracking instance', async () => {
    const a = trackingCache('trk-flush', { url: server.url }, 'app:');
    const b = trackingCache('trk-flush', { url: server.url }, 'app:');
    open.push(a, b);
    await Promise.all([a.ready(), b.ready()]);
    await a.set('x', 1, { ttl: '1h' });
    await b.set('y', 1, { ttl: '1h' });
    expect(a.getStats().keyCount + b.getStats().keyCount).toBe(2);
    await redisCli(['-p', String(server.port), 'FLUSHDB']);
    await until(() => (a.getStats().tracking?.flushes ?? 0) >= 1 && (b.getStats().tracking?.flushes ?? 0) >= 1, 'the flush', 2_000, 2);
    expect(a.getStats().keyCount).toBe(0);
    expect(b.getStats().keyCount).toBe(0);
    expect(await a.get('x')).toBeUndefined();
  });
});
