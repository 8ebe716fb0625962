import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { Cache } from '../../src/index.js';
import { fileStore } from '../../src/stores/file.js';
import { sqliteStore } from '../../src/stores/sqlite.js';
import { createFakeClock, until } from '../kit/index.js';
import { removeTempDirs, tempDir } from './file-helpers.js';

afterAll(() => removeTempDirs());

// A store built without a clock serves a cache on fake time: its deadlines and its housekeeping timer must
// follow the cache's clock (Store.attach), or a fake clock that starts away from the wall clock sees every
// entry either already dead in the store or never expiring there.
describe('a store built without a clock runs on the clock of the cache it serves', () => {
  it('sqliteStore: entries expire, and the prune timer fires, by the fake clock', async () => {
    const db = new Database(':memory:');
    const clock = createFakeClock();
    const store = sqliteStore({ database: db, pruneInterval: 60_000 });
    const cache = new Cache({ clock, stores: [store], fleet: false });
    try {
      const rows = () => db.prepare('SELECT count(*) AS n FROM tiercache_entries').pluck().get() as number;
      await cache.set('k', 'v', { ttl: '10s' });
      expect(await store.get('k'), 'live in the store by the fake clock').toBeInstanceOf(Uint8Array);
      clock.advance(10_001);
      expect(await store.get('k'), 'expired in the store by the fake clock').toBeUndefined();
      expect(rows(), 'the row waits for the prune timer').toBe(1);
      await clock.tick(60_000);
      expect(rows(), 'the prune timer ran on the fake clock').toBe(0);
    } finally {
      await cache.close();
      db.close();
    }
  });

  it('fileStore: entries expire, and the cleanup timer fires, by the fake clock', async () => {
    const directory = tempDir();
    const clock = createFakeClock();
    const store = fileStore({ directory, cleanupInterval: 60_000 });
    const cache = new Cache({ clock, stores: [store], fleet: false });
    const files = () => (fs.readdirSync(directory, { recursive: true }) as string[]).filter((name) => fs.statSync(path.join(directory, name)).isFile());
    try {
      await cache.set('read', 'v', { ttl: '10s' });
      await cache.set('left', 'v', { ttl: '10s' });
      expect(await store.get('read'), 'live in the store by the fake clock').toBeInstanceOf(Uint8Array);
      clock.advance(10_001);
      // A read of an expired entry removes its file; the other one is left for the cleanup timer.
      expect(await store.get('read'), 'expired in the store by the fake clock').toBeUndefined();
      expect(files(), 'the file waits for the cleanup timer').toHaveLength(1);
      // The timer fires on fake time; the removal it starts is real file I/O, waited for in real time.
      await clock.tick(60_000);
      await until(() => files().length === 0, 'the cleanup timer (fired on the fake clock) to remove the file');
      expect(files(), 'the cleanup timer ran on the fake clock').toHaveLength(0);
    } finally {
      await cache.close();
    }
  });

  it('a clock given to the store itself is kept', async () => {
    const db = new Database(':memory:');
    const own = createFakeClock(Date.now());
    const store = sqliteStore({ database: db, clock: own, pruneInterval: 0 });
    const cache = new Cache({ clock: createFakeClock(), stores: [store] });
    try {
      await store.set('k', new Uint8Array([1]), own.now() + 1_000);
      own.advance(1_001);
      expect(await store.get('k')).toBeUndefined();
    } finally {
      await cache.close();
      db.close();
    }
  });
});
