import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/stores/contract.js';
import { openBackend, storeFor, type StoreBackend } from '../../src/stores/from-backend.js';
import { createFakeClock } from '../../src/testing/index.js';

const directory = mkdtempSync(path.join(tmpdir(), 'tiercache-from-backend-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

const run = `fb${process.pid}x${Date.now().toString(36)}`;
const bytes = (text: string) => new TextEncoder().encode(text);
// Some stores hand back a Buffer, others a plain Uint8Array: compare the text.
const text = (value: Uint8Array | undefined) => (value === undefined ? undefined : new TextDecoder().decode(value));

const backends: { backend: StoreBackend; url: string; prefix: (tag: string) => string }[] = [
  { backend: 'redis', url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', prefix: (tag) => `tc-test:${run}:${tag}:` },
  { backend: 'memcached', url: process.env.MEMCACHED_SERVERS ?? '127.0.0.1:11211', prefix: (tag) => `tc-test:${run}:${tag}:` },
  { backend: 'sqlite', url: path.join(directory, 'cache.db'), prefix: (tag) => `${run}-${tag}` },
  { backend: 'postgres', url: process.env.TIERCACHE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test', prefix: (tag) => `${run}-${tag}` },
  { backend: 'file', url: directory, prefix: (tag) => `${run}-${tag}` },
];

describe.each(backends)('storeFor($backend)', ({ backend, url, prefix }) => {
  it('builds a working store on the location, kept apart from another prefix and on the given clock', async () => {
    const clock = createFakeClock(Date.now());
    const opened: Store[] = [];
    const open = async (tag: string) => {
      const store = await storeFor(backend, { url, prefix: prefix(tag), clock });
      opened.push(store);
      return store;
    };
    try {
      const a = await open('a');
      const again = await open('a');
      const b = await open('b');
      expect(a.name).toBe(backend);
      await a.set('k', bytes('from a'), clock.now() + 60_000);
      expect(text(await again.get('k'))).toBe('from a');
      expect(text(await b.get('k'))).toBeUndefined();
      await b.clear();
      expect(text(await a.get('k'))).toBe('from a');
    } finally {
      await Promise.all(opened.map(async (store) => {
        await store.clear();
        await store.close();
      }));
    }
  }, 20_000);
});

describe('openBackend', () => {
  it('puts a Redis bus on <prefix>bus next to a Redis store, and none unless asked', async () => {
    const withBus = await openBackend('redis', { prefix: `tc-test:${run}:bus:`, bus: true });
    try {
      expect(withBus.store.name).toBe('redis');
      expect(withBus.bus).toBeDefined();
    } finally {
      await Promise.all([withBus.store.close(), withBus.bus?.close()]);
    }
    const without = await openBackend('sqlite', { url: path.join(directory, 'no-bus.db') });
    expect(without.bus).toBeUndefined();
    await without.store.close();
    expect(await openBackend('memory')).toEqual({ store: undefined, bus: undefined });
  });

  it('refuses what it cannot build, naming the option', async () => {
    await expect(openBackend('mongo' as never)).rejects.toThrow(/^backend must be one of memory, redis, memcached, sqlite, postgres, file, got "mongo"$/);
    await expect(openBackend('sqlite', { url: path.join(directory, 'x.db'), bus: true })).rejects.toThrow(/bus: true builds a Redis bus/);
    await expect(storeFor('memory' as StoreBackend)).rejects.toThrow(/memory backend has no store/);
    await expect(storeFor('file', { url: '' })).rejects.toThrow(/^url must be a non-empty string/);
  });
});
