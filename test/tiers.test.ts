import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CacheError } from '../src/index.js';
import { Cache } from '../src/index.js';
import { decodeEntry } from '../src/entry.js';
import { redisStore } from '../src/stores/redis.js';
import { sqliteStore } from '../src/stores/sqlite.js';
import { createFakeClock, until, type FakeClock } from './kit/index.js';

const dir = mkdtempSync(join(tmpdir(), 'tiercache-tiers-'));
let redis: Redis;
let run = 0;
const open: Cache[] = [];

beforeAll(() => {
  redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: false });
});
afterAll(async () => {
  await redis.quit();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});

/** A fresh cache (new memory tier) over the same SQLite file and Redis prefix, as a second process would see them. */
function stack(clock: FakeClock, name: string, extra: Partial<ConstructorParameters<typeof Cache>[0]> = {}) {
  const cache = new Cache({
    clock,
    stores: [
      { store: redisStore({ url: 'redis://127.0.0.1:6379', prefix: `tiers-${process.pid}-${name}:`, clock }) },
      { store: sqliteStore({ path: join(dir, `${name}.db`), clock }) },
    ],
    ...extra,
  });
  open.push(cache);
  return cache;
}

function uniqueName() {
  run++;
  return `t${run}`;
}

describe('a store read in flight when its key is written or deleted', () => {
  // The read is sent first; the write or delete runs before its reply arrives. The store hit must not be
  // copied into the memory tier over what came after it.
  it.each(['get', 'getMany'] as const)('%s does not copy the older stored value over a later set or delete', async (how) => {
    const clock = createFakeClock();
    const name = uniqueName();
    const writer = stack(clock, name);
    await writer.set('k', 'old', { ttl: '1h' });
    await writer.set('gone', 'old', { ttl: '1h' });
    const reader = stack(clock, name);
    const read = (key: string) => (how === 'get' ? reader.get(key) : reader.getMany([key]).then(([v]) => v));

    const pending = read('k');
    await reader.set('k', 'new', { ttl: '1h' });
    expect(await pending).toBe('old');
    expect(await reader.get('k')).toBe('new');

    const pendingGone = read('gone');
    await reader.delete('gone');
    expect(await pendingGone).toBe('old');
    expect(await reader.get('gone')).toBeUndefined();
    expect(reader.getStats().stores.redis).toMatchObject({ hits: 2 });
  });

  it('a read during which other keys were written still fills the memory tier', async () => {
    const clock = createFakeClock();
    const name = uniqueName();
    const writer = stack(clock, name);
    await writer.set('k', 'v', { ttl: '1h' });
    const reader = stack(clock, name);
    const pending = reader.get('k');
    await reader.set('other', 1, { ttl: '1h' });
    expect(await pending).toBe('v');
    expect((await reader.getResult('k')).source).toBe('memory');
  });
});

describe('the tier stack', () => {
  it('reads down the tiers and backfills the memory tier with the remaining TTL', async () => {
    const clock = createFakeClock();
    const name = uniqueName();
    const writer = stack(clock, name);
    await writer.set('k', { at: new Date(0), n: 1n }, { ttl: '1h', tags: ['t1'] });
    clock.advance(10 * 60_000);

    const reader = stack(clock, name);
    const first = await reader.getResult('k');
    expect(first).toMatchObject({ ok: true, value: { at: new Date(0), n: 1n }, source: 'redis' });
    const info = await reader.inspect('k');
    expect(info).toMatchObject({ tier: 'memory', ttlRemaining: 50 * 60_000, tags: ['t1'] });
    expect((await reader.getResult('k')).source).toBe('memory');
    expect(reader.getStats().stores.redis).toMatchObject({ hits: 1 });
  });

  it('backfills an upper store from a lower one with the remaining TTL, not a fresh one', async () => {
    const clock = createFakeClock();
    const name = uniqueName();
    const sqliteOnly = new Cache({ clock, stores: [sqliteStore({ path: join(dir, `${name}.db`), clock })] });
    open.push(sqliteOnly);
    await sqliteOnly.set('deep', 'value', { ttl: '1h' });
    clock.advance(30 * 60_000);

    const reader = stack(clock, name);
    expect((await reader.getResult('deep')).source).toBe('sqlite');
    const redisKey = `tiers-${process.pid}-${name}:deep`;
    await until(async () => (await redis.exists(redisKey)) === 1, 'the backfill to reach Redis');
    const pttl = await redis.pttl(redisKey);
    expect(pttl).toBeGreaterThan(29 * 60_000);
    expect(pttl).toBeLessThanOrEqual(30 * 60_000);
    const stored = await redis.getBuffer(redisKey);
    expect(decodeEntry(stored as Buffer).expiresAt).toBe(clock.now() + 30 * 60_000);
  });

  it('caps the TTL per tier: memory.maxTtl and a store maxTtl', async () => {
    const clock = createFakeClock();
    const name = uniqueName();
    const cache = new Cache({
      clock,
      memory: { maxTtl: '1m' },
      stores: [{ store: sqliteStore({ path: join(dir, `${name}.db`), clock }), maxTtl: '10m' }],
    });
    open.push(cache);
    await cache.set('k', 'v', { ttl: '1h' });
    clock.advance(2 * 60_000);
    expect((await cache.getResult('k')).source).toBe('sqlite');
    clock.advance(9 * 60_000);
    expect(await cache.get('k')).toBeUndefined();
  });

  it('writes and deletes go to every tier', async () => {
    const clock = createFakeClock();
    const name = uniqueName();
    const a = stack(clock, name);
    await a.set('k', 1);
    const b = stack(clock, name);
    expect(await b.get('k')).toBe(1);
    expect(await a.delete('k')).toBe(true);
    const c = stack(clock, name);
    expect(await c.get('k')).toBeUndefined();
    expect(await c.has('k')).toBe(false);
  });

  it('getMany asks each store once for the misses only and keeps order', async () => {
    const clock = createFakeClock();
    const name = uniqueName();
    const writer = stack(clock, name);
    await writer.setMany(Array.from({ length: 20 }, (_, i) => ({ key: `m${i}`, value: i })));
    const reader = stack(clock, name);
    await reader.get('m3');
    const keys = [...Array.from({ length: 20 }, (_, i) => `m${i}`), 'absent'];
    const values = await reader.getMany(keys);
    expect(values).toStrictEqual([...Array.from({ length: 20 }, (_, i) => i), undefined]);
    expect(reader.getStats()).toMatchObject({ hits: 21, misses: 1 });
    expect(reader.getStats().stores.redis).toMatchObject({ hits: 20 });
  });

  it('treats corrupt stored bytes as a miss and reports them', async () => {
    const clock = createFakeClock();
    const name = uniqueName();
    const cache = stack(clock, name);
    await redis.set(`tiers-${process.pid}-${name}:bad`, Buffer.from([1, 0, 1, 2, 3]));
    const errors: unknown[] = [];
    cache.on('error', (e) => errors.push(e.error));
    expect(await cache.get('bad')).toBeUndefined();
    expect(errors).toHaveLength(1);
    expect((errors[0] as CacheError).code).toBe('E_DECODE');
  });

  it('clears the stores of this cache, and a namespace view only its own keys', async () => {
    const clock = createFakeClock();
    const name = uniqueName();
    const cache = stack(clock, name);
    const users = cache.namespace('users');
    await users.set('1', 'ada');
    await cache.set('other', 'x');
    expect(await users.clear({ confirm: true })).toBe(1);
    const fresh = stack(clock, name);
    expect(await fresh.get('users:1')).toBeUndefined();
    expect(await fresh.get('other')).toBe('x');
    await cache.clear({ confirm: true });
    expect(await stack(clock, name).get('other')).toBeUndefined();
  });

  it('refuses stores with duplicate or reserved names', () => {
    const clock = createFakeClock();
    const store = () => sqliteStore({ path: ':memory:', clock });
    expect(() => new Cache({ stores: [store(), store()] })).toThrow(/two stores are named "sqlite"/);
    expect(() => new Cache({ stores: [{ store: {} as never }] })).toThrow(/stores\[0\] must be a store/);
    expect(() => new Cache({ stores: [{ store: store(), timeout: 'never' }] })).toThrow(/stores\[0\].timeout/);
  });
});
