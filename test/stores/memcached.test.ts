import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import memjs from 'memjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheBackendError } from '../../src/errors.js';
import type { Store } from '../../src/stores/contract.js';
import {
  MEMCACHED_MAX_RELATIVE_EXPIRY_S,
  memcachedExpiration,
  memcachedStore,
  type MemcachedClient,
  type MemcachedStore,
  type MemcachedStoreOptions,
} from '../../src/stores/memcached.js';
import { storeConformance } from '../../src/testing/store-conformance.js';
import { createFakeClock } from '../kit/index.js';
import { closedPort, ensureMemcached, silentServer, startMemcached, stopProcess } from './memcached-helpers.js';

const run = `tct${process.pid}x${Date.now().toString(36)}`;
let sequence = 0;
const prefix = () => `${run}x${++sequence}:`;
const text = (value: string) => new TextEncoder().encode(value);
const decoded = (value: Uint8Array | undefined) => (value === undefined ? undefined : new TextDecoder().decode(value));
const later = (ms: number) => Date.now() + ms;
const DAY = 86_400_000;

const silent = { log: () => undefined };
let raw: MemcachedClient;
const opened: Store[] = [];
function open(options: MemcachedStoreOptions = {}): MemcachedStore {
  const store = memcachedStore({ prefix: prefix(), ...options });
  opened.push(store);
  return store;
}

/** The server-side key of `key`, for looking behind the store: reads the prefix's generation like the store does. */
async function rawKey(storePrefix: string, key: string): Promise<string> {
  const { value } = await raw.get(`${storePrefix}__ns`);
  if (value === null) throw new Error('no generation yet');
  const generation = value.toString('latin1');
  return /^[\x21-\x7e]+$/.test(key) && key.length < 150
    ? `${storePrefix}${generation}:${key}`
    : `${storePrefix}${generation}#${createHash('sha256').update(key).digest('base64url')}`;
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (error: unknown) => error,
  );
}

beforeAll(() => {
  ensureMemcached();
  raw = memjs.Client.create('127.0.0.1:11211', { logger: silent });
}, 600_000);

afterAll(async () => {
  for (const store of opened) await store.close();
  raw.close();
});

describe('memcachedStore: conformance', () => {
  for (const c of storeConformance({ create: (prefix) => memcachedStore({ prefix: `${run}${prefix}:` }) })) {
    it(c.name, (context) => c.run(context), 20_000);
  }
});

describe('memcachedStore: expiry arithmetic', () => {
  const now = Date.UTC(2026, 0, 1);

  it('rounds the remaining time up to seconds, plus one tick of the server clock', () => {
    expect(memcachedExpiration(now + 1, now)).toBe(2);
    expect(memcachedExpiration(now + 1000, now)).toBe(2);
    expect(memcachedExpiration(now + 1200, now)).toBe(3);
    expect(memcachedExpiration(now + 59_001, now)).toBe(61);
  });

  it('a deadline at or before now means delete', () => {
    expect(memcachedExpiration(now, now)).toBeUndefined();
    expect(memcachedExpiration(now - 1, now)).toBeUndefined();
    expect(memcachedExpiration(Number.NaN, now)).toBeUndefined();
  });

  it('beyond 30 days sends an absolute Unix time from the wall clock', () => {
    const wall = Date.UTC(2030, 5, 1, 12, 0, 0, 500);
    expect(memcachedExpiration(now + (MEMCACHED_MAX_RELATIVE_EXPIRY_S - 1) * 1000, now, wall)).toBe(MEMCACHED_MAX_RELATIVE_EXPIRY_S);
    const forty = memcachedExpiration(now + 40 * DAY, now, wall);
    expect(forty).toBe(Math.ceil(wall / 1000) + 40 * 86_400 + 1);
    // The fake clock's "now" only measures the remaining time; the absolute time comes from the wall clock.
    expect(memcachedExpiration(now + 31 * DAY, now, wall)).toBeGreaterThan(wall / 1000);
  });

  it('past the 32-bit Unix time range it relies on the deadline check and LRU (0 = no server expiry)', () => {
    expect(memcachedExpiration(now + 200 * 365 * DAY, now, now)).toBe(0);
    expect(memcachedExpiration(Number.POSITIVE_INFINITY, now, now)).toBe(0);
  });
});

describe('memcachedStore', () => {
  it('a 300-character key and keys with spaces work, and do not collide', async () => {
    const p = prefix();
    const store = open({ prefix: p });
    const keys = ['x'.repeat(300), `${'x'.repeat(299)}y`, 'with space', 'with_space', 'with  space', ' ', 'tab\there', 'ünï', 'k'.repeat(1024)];
    for (const key of keys) await store.set(key, text(`v:${key}`), later(60_000));
    for (const key of keys) expect(decoded(await store.get(key))).toBe(`v:${key}`);
    // Hashing is deterministic: another client (another process) finds the same entries.
    const other = open({ prefix: p });
    for (const key of keys) expect(decoded(await other.get(key))).toBe(`v:${key}`);
    // What reached the server is a legal memcached key.
    const long = await rawKey(p, 'x'.repeat(300));
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(250);
    expect(long).toMatch(/^[\x21-\x7e]+$/);
    expect((await raw.get(long)).value).not.toBeNull();
  });

  it('a TTL of 40 days is stored, not taken for a date in 1970', async () => {
    const p = prefix();
    const store = open({ prefix: p });
    await store.set('forty', text('v'), later(40 * DAY));
    expect(decoded(await store.get('forty'))).toBe('v');
    expect((await raw.get(await rawKey(p, 'forty'))).value).not.toBeNull();
  });

  it('a TTL of 1.2 s is rounded up on the server and the entry is gone by ~2.2 s', async () => {
    const p = prefix();
    const store = open({ prefix: p });
    // Real time throughout: what is measured is the server's one-second clock.
    const start = Date.now();
    await store.set('short', text('v'), start + 1200);
    const key = await rawKey(p, 'short');
    await sleep(900 - (Date.now() - start));
    expect(decoded(await store.get('short'))).toBe('v');
    await sleep(1500 - (Date.now() - start));
    // Exact deadline on reads, though the server still holds the item: it was not rounded down to 1 s.
    expect(await store.get('short')).toBeUndefined();
    expect((await raw.get(key)).value).not.toBeNull();
    await sleep(2200 - (Date.now() - start));
    expect(await store.get('short')).toBeUndefined();
    // The server's own expiry (3 s: 2 rounded up, plus one clock tick) reclaims it.
    await sleep(3300 - (Date.now() - start));
    expect((await raw.get(key)).value).toBeNull();
  });

  it('clear() of one prefix leaves another readable', async () => {
    const a = open();
    const b = open();
    await a.set('k', text('a'), later(60_000));
    await b.set('k', text('b'), later(60_000));
    await a.clear();
    expect(await a.get('k')).toBeUndefined();
    expect(decoded(await b.get('k'))).toBe('b');
    await a.set('k', text('a2'), later(60_000));
    expect(decoded(await a.get('k'))).toBe('a2');
  });

  it("another process's clear() is seen by the very next operation", async () => {
    const p = prefix();
    const first = open({ prefix: p });
    const second = open({ prefix: p });
    await first.set('k', text('v'), later(60_000));
    expect(decoded(await second.get('k'))).toBe('v');
    await second.clear();
    expect(await first.get('k')).toBeUndefined();
    expect(await first.getMany(['k'])).toEqual([undefined]);
    // Writes and invalidations also land in the current generation.
    await first.set('k', text('after'), later(60_000));
    expect(decoded(await second.get('k'))).toBe('after');
    await second.clear();
    expect(await first.delete('k')).toBe(false);
    await second.set('k', text('second'), later(60_000));
    expect(await first.delete('k')).toBe(true);
    expect(await second.get('k')).toBeUndefined();
  });

  it('a lost generation (evicted, server restarted) never brings old entries back', async () => {
    const p = prefix();
    const store = open({ prefix: p });
    await store.set('k', text('v'), later(60_000));
    await raw.delete(`${p}__ns`);
    expect(await store.get('k')).toBeUndefined();
    await store.set('k', text('new'), later(60_000));
    expect(decoded(await open({ prefix: p }).get('k'))).toBe('new');
  });

  it('add replaces an entry past its deadline that the server still holds, with exactly one winner', async () => {
    // The store's clock passes the deadline while the server, whose expiry is rounded up to whole seconds,
    // still holds the item.
    const clock = createFakeClock(Date.now());
    const store = open({ clock });
    const add = store.add.bind(store);
    await store.set('lock', text('old'), clock.now() + 300);
    clock.advance(450);
    const wins = await Promise.all(Array.from({ length: 20 }, (_, i) => add('lock', text(`w${i}`), clock.now() + 60_000)));
    expect(wins.filter(Boolean)).toHaveLength(1);
    expect(decoded(await store.get('lock'))).toBe(`w${wins.indexOf(true)}`);
    expect(await add('lock', text('late'), clock.now() + 60_000)).toBe(false);
    expect(await add('gone', text('v'), clock.now() - 1)).toBe(false);
    expect(await store.get('gone')).toBeUndefined();
  });

  it('a value over the limit is refused with an error naming the store and the sizes, and not sent', async () => {
    const store = open({ maxValueBytes: 1000 });
    expect(store.capabilities.maxValueBytes).toBe(1000);
    const error = await failure(store.set('big', new Uint8Array(1001), later(60_000)));
    expect(error).toBeInstanceOf(CacheBackendError);
    expect((error as CacheBackendError).store).toBe('memcached');
    expect((error as Error).message).toMatch(/^memcached: .*1001 bytes.*1000 bytes/);
    expect(await store.get('big')).toBeUndefined();
    await expect(store.add('big', new Uint8Array(1001), later(60_000))).rejects.toBeInstanceOf(CacheBackendError);
    await expect(store.setMany([{ key: 'big', value: new Uint8Array(1001), expiresAt: later(60_000) }])).rejects.toThrow(/^memcached: /);
    const named = open({ name: 'sessions', maxValueBytes: 10 });
    await expect(named.set('k', new Uint8Array(11), later(60_000))).rejects.toThrow(/^sessions: .*11 bytes/);
  });

  it('the default limit is 1 MiB less 1 KiB', () => {
    expect(open().capabilities).toEqual({
      nativeExpiry: true,
      expiryResolutionMs: 1000,
      shared: true,
      iterate: false,
      atomicAdd: true,
      maxValueBytes: 1024 * 1024 - 1024,
    });
  });

  it('a store pointed at a closed port fails within its timeout, naming the store', async () => {
    const port = await closedPort();
    const store = open({ servers: `127.0.0.1:${port}`, timeout: 400 });
    const started = Date.now();
    const error = await failure(store.get('k'));
    expect(Date.now() - started).toBeLessThan(400 + 150);
    expect(error).toBeInstanceOf(CacheBackendError);
    expect((error as CacheBackendError).store).toBe('memcached');
    expect((error as Error).message).toMatch(/^memcached: get "k" failed/);
    await expect(store.set('k', text('v'), later(1000))).rejects.toBeInstanceOf(CacheBackendError);
  });

  it('a server that accepts but never answers fails the call at the timeout', async () => {
    const silentOne = await silentServer();
    try {
      const store = open({ servers: [`127.0.0.1:${silentOne.port}`], timeout: '300ms' });
      const started = Date.now();
      const error = await failure(store.get('k'));
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(290);
      expect(elapsed).toBeLessThan(300 + 200);
      expect(error).toBeInstanceOf(CacheBackendError);
      expect((error as Error).message).toMatch(/^memcached: /);
    } finally {
      await silentOne.close();
    }
  });

  it('close() leaves a client the user passed open', async () => {
    const client = memjs.Client.create('127.0.0.1:11211', { logger: silent });
    try {
      const store = memcachedStore({ client, prefix: prefix() });
      await store.set('k', text('v'), later(60_000));
      await store.close();
      await store.close();
      await expect(store.get('k')).rejects.toThrow(/^memcached: .*closed/);
      await client.set(`${run}:probe`, 'v', { expires: 60 });
      expect((await client.get(`${run}:probe`)).value?.toString()).toBe('v');
    } finally {
      client.close();
    }
  });

  it('refuses a prefix memcached could not carry', () => {
    expect(() => memcachedStore({ prefix: 'has space:' })).toThrow(TypeError);
    expect(() => memcachedStore({ prefix: 'p'.repeat(240) })).toThrow(/^memcached: prefix/);
    expect(() => memcachedStore({ timeout: -1 })).toThrow(TypeError);
  });
});

describe('memcachedStore: a server that dies and comes back', () => {
  const port = 11299;

  it('calls fail fast while it is down and work again once it is back', async () => {
    let server = await startMemcached(port);
    const store = open({ servers: `127.0.0.1:${port}`, timeout: 1500 });
    try {
      await store.set('k', text('v'), later(60_000));
      expect(decoded(await store.get('k'))).toBe('v');
      // The default limit fits a server running with the default 1 MiB item size, even under the longest key.
      const biggest = new Uint8Array(store.capabilities.maxValueBytes).fill(7);
      await store.set('k'.repeat(1024), biggest, later(60_000));
      expect((await store.get('k'.repeat(1024)))?.length).toBe(biggest.length);

      await stopProcess(server);
      for (const call of [() => store.get('k'), () => store.set('k', text('v'), later(60_000)), () => store.delete('k')]) {
        const started = Date.now();
        const error = await failure(call());
        expect(Date.now() - started).toBeLessThan(1500);
        expect(error).toBeInstanceOf(CacheBackendError);
        expect((error as Error).message).toMatch(/^memcached: /);
      }

      server = await startMemcached(port);
      // A new server holds nothing; the store carries on with a new generation.
      expect(await store.get('k')).toBeUndefined();
      await store.set('k', text('again'), later(60_000));
      expect(decoded(await store.get('k'))).toBe('again');
    } finally {
      await store.close();
      await stopProcess(server);
    }
  }, 30_000);
});
