import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheBackendError } from '../../src/errors.js';
import type { Store } from '../../src/stores/contract.js';
import { sqliteStore } from '../../src/stores/sqlite.js';
import { createFakeClock, until } from '../kit/index.js';
import { storeConformance } from '../../src/testing/store-conformance.js';

const text = (value: string) => new TextEncoder().encode(value);
const decode = (value: Uint8Array | undefined) => (value === undefined ? undefined : new TextDecoder().decode(value));

async function collect(iterable: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const key of iterable) out.push(key);
  return out.sort();
}

let dir: string;
let files = 0;
const nextFile = () => path.join(dir, `cache-${++files}.db`);

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tiercache-sqlite-'));
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('sqliteStore conformance (file database)', () => {
  // One file for the whole suite, as several processes would share one: prefixes keep the cases apart.
  let file: string;
  beforeAll(() => {
    file = nextFile();
  });
  for (const c of storeConformance({ create: (prefix) => sqliteStore({ path: file, prefix, pruneInterval: 0 }) })) {
    it(c.name, (context) => c.run(context), 20_000);
  }
});

describe('sqliteStore conformance (in-memory database the caller owns)', () => {
  let db: Database.Database;
  beforeAll(() => {
    db = new Database(':memory:');
  });
  afterAll(() => {
    db.close();
  });
  for (const c of storeConformance({ create: (prefix) => sqliteStore({ database: db, prefix, pruneInterval: 0 }) })) {
    it(c.name, (context) => c.run(context), 20_000);
  }
});

describe('sqliteStore', () => {
  const stores: Store[] = [];
  const open = (options: Parameters<typeof sqliteStore>[0]) => {
    const store = sqliteStore(options);
    stores.push(store);
    return store;
  };
  afterAll(async () => {
    for (const store of stores) await store.close();
  });

  it('survives a restart: live entries are still there, expired ones are not', async () => {
    const file = nextFile();
    const clock = createFakeClock();
    const first = open({ path: file, clock, pruneInterval: 0 });
    await first.set('live', text('kept'), clock.now() + 60_000);
    await first.set('short', text('gone'), clock.now() + 1_000);
    await first.setMany?.([{ key: 'batch', value: text('b'), expiresAt: clock.now() + 60_000 }]);
    await first.close();

    clock.advance(5_000);
    const second = open({ path: file, clock, pruneInterval: 0 });
    expect(decode(await second.get('live'))).toBe('kept');
    expect(decode(await second.get('batch'))).toBe('b');
    expect(await second.get('short')).toBeUndefined();
    expect(await collect(second.keys!('*'))).toEqual(['batch', 'live']);
  });

  it('opens files in WAL mode with a busy timeout', () => {
    const file = nextFile();
    open({ path: file, pruneInterval: 0 });
    const probe = new Database(file, { readonly: true });
    try {
      expect(probe.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      probe.close();
    }
  });

  it('creates the expiry index, and prune deletes expired rows of its own prefix only', async () => {
    const db = new Database(nextFile());
    try {
      const clock = createFakeClock();
      const store = open({ database: db, clock, pruneInterval: 0, table: 'entries' });
      const neighbour = open({ database: db, clock, pruneInterval: 0, table: 'entries', prefix: 'neighbour' });
      const indexes = db.prepare(`SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'entries'`).all() as {
        name: string;
        sql: string | null;
      }[];
      expect(indexes.some((index) => index.sql?.includes('expires_at') === true)).toBe(true);

      await store.setMany!(Array.from({ length: 2_500 }, (_, i) => ({ key: `old${i}`, value: text('v'), expiresAt: clock.now() + 1_000 })));
      await store.set('new', text('v'), clock.now() + 60_000);
      await neighbour.set('old', text('v'), clock.now() + 1_000);
      clock.advance(2_000);

      // More rows than one prune batch, to cover the batching loop.
      expect(await store.prune!()).toBe(2_500);
      const count = (namespace: string) =>
        (db.prepare('SELECT count(*) AS n FROM entries WHERE namespace = ?').get(namespace) as { n: number }).n;
      expect(count('default')).toBe(1);
      expect(count('neighbour')).toBe(1);
      expect(await store.prune!()).toBe(0);
      expect(decode(await store.get('new'))).toBe('v');
    } finally {
      db.close();
    }
  });

  it('prunes on a timer', async () => {
    const db = new Database(':memory:');
    try {
      // Deadlines and the prune timer both run on the store's clock.
      const clock = createFakeClock(Date.now());
      const store = open({ database: db, pruneInterval: 50, clock });
      await store.set('soon', text('v'), clock.now() + 20);
      await store.set('kept', text('v'), clock.now() + 60_000);
      const rows = () => db.prepare('SELECT count(*) AS n FROM tiercache_entries').pluck().get();
      await clock.tick(49);
      expect(rows(), 'expired, but the timer has not fired yet').toBe(2);
      await clock.tick(1);
      await until(() => rows() === 1, 'the prune timer to remove the expired row', 3_000);
      await store.close();
    } finally {
      db.close();
    }
  });

  it('leaves a database the caller owns open after close', async () => {
    const db = new Database(nextFile());
    try {
      const store = sqliteStore({ database: db, pruneInterval: 0 });
      await store.set('k', text('v'), Date.now() + 60_000);
      await store.close();
      await store.close();
      expect(db.open).toBe(true);
      expect(db.prepare('SELECT count(*) FROM tiercache_entries').pluck().get()).toBe(1);
      await expect(store.get('k')).rejects.toBeInstanceOf(CacheBackendError);
    } finally {
      db.close();
    }
  });

  it('closes the connection it opened', async () => {
    const file = nextFile();
    const store = sqliteStore({ path: file, pruneInterval: 0 });
    await store.set('k', text('v'), Date.now() + 60_000);
    expect(fs.existsSync(`${file}-wal`)).toBe(true);
    await store.close();
    // The last connection to a WAL database checkpoints it and removes the -wal and -shm files: the file is
    // complete on its own (safe to copy or back up) only once ours is really gone.
    expect(fs.existsSync(`${file}-wal`)).toBe(false);
    expect(fs.existsSync(`${file}-shm`)).toBe(false);
    // Leaving WAL mode needs the database to itself: SQLite refuses it while any other connection is open
    // (an exclusive transaction would not tell, since WAL lets one run beside open readers).
    const probe = new Database(file, { timeout: 0 });
    try {
      expect(probe.pragma('journal_mode = DELETE', { simple: true })).toBe('delete');
      expect(probe.prepare('SELECT count(*) AS n FROM sqlite_master').get()).toBeDefined();
    } finally {
      probe.close();
    }
  });

  it('isolates prefixes in one table', async () => {
    const file = nextFile();
    const a = open({ path: file, prefix: 'a', pruneInterval: 0 });
    const b = open({ path: file, prefix: 'b', pruneInterval: 0 });
    await a.set('k', text('a'), Date.now() + 60_000);
    await b.setMany!([
      { key: 'k', value: text('b'), expiresAt: Date.now() + 60_000 },
      { key: 'only-b', value: text('b'), expiresAt: Date.now() + 60_000 },
    ]);
    expect(decode(await a.get('k'))).toBe('a');
    expect((await a.getMany!(['k', 'only-b'])).map(decode)).toEqual(['a', undefined]);
    expect(await collect(a.keys!('*'))).toEqual(['k']);
    expect(await a.add!('only-b', text('a'), Date.now() + 60_000)).toBe(true);
    expect(await a.deleteMany!(['k', 'only-b'])).toBe(2);
    expect(decode(await b.get('k'))).toBe('b');
    expect(decode(await b.get('only-b'))).toBe('b');
  });

  it('still reads the deprecated namespace option as the prefix, and refuses the two disagreeing', async () => {
    const file = nextFile();
    const current = open({ path: file, prefix: 'shared', pruneInterval: 0 });
    // `namespace` is deprecated, not gone: code written before the rename must keep working.
    const old = open({ path: file, namespace: 'shared', pruneInterval: 0 });
    await old.set('k', text('old'), Date.now() + 60_000);
    expect(decode(await current.get('k'))).toBe('old');
    expect(() => sqliteStore({ path: file, prefix: 'a', namespace: 'b' })).toThrow(/sqliteStore: prefix and namespace .* disagree/);
  });

  it('matches %, _, [, ] and \\ in keys() literally, and tells case apart', async () => {
    const store = open({ path: nextFile(), pruneInterval: 0 });
    const keys = ['100%', '100x', 'a_b', 'axb', 'star*', 'starX', '[x]', 'x', 'back\\slash', 'Upper', 'upper'];
    for (const key of keys) await store.set(key, text(key), Date.now() + 60_000);
    expect(await collect(store.keys!('100%'))).toEqual(['100%']);
    expect(await collect(store.keys!('a_b'))).toEqual(['a_b']);
    expect(await collect(store.keys!('star*'))).toEqual(['star*', 'starX']);
    expect(await collect(store.keys!('star?'))).toEqual(['star*', 'starX']);
    expect(await collect(store.keys!('[x]'))).toEqual(['[x]']);
    expect(await collect(store.keys!('[x?'))).toEqual(['[x]']);
    expect(await collect(store.keys!('back\\*'))).toEqual(['back\\slash']);
    expect(await collect(store.keys!('upper'))).toEqual(['upper']);
    expect(await collect(store.keys!('%'))).toEqual([]);
    expect(await collect(store.keys!('*'))).toEqual([...keys].sort());
  });

  it('pages through many keys', async () => {
    const store = open({ path: nextFile(), pruneInterval: 0 });
    const expiresAt = Date.now() + 60_000;
    const keys = Array.from({ length: 1_234 }, (_, i) => `p:${String(i).padStart(5, '0')}`);
    await store.setMany!(keys.map((key) => ({ key, value: text(key), expiresAt })));
    await store.set('q:1', text('v'), expiresAt);
    expect(await collect(store.keys!('p:*'))).toEqual(keys);
    expect(await collect(store.keys!('*1'))).toEqual([...keys.filter((key) => key.endsWith('1')), 'q:1'].sort());
  });

  it('applies setMany in order, so the last write of a key wins', async () => {
    const store = open({ path: nextFile(), pruneInterval: 0 });
    const later = Date.now() + 60_000;
    await store.setMany!([
      { key: 'k', value: text('1'), expiresAt: later },
      { key: 'k', value: text('2'), expiresAt: later },
      { key: 'gone', value: text('1'), expiresAt: later },
      { key: 'gone', value: text('2'), expiresAt: Date.now() - 1 },
    ]);
    expect(decode(await store.get('k'))).toBe('2');
    expect(await store.get('gone')).toBeUndefined();
  });

  it('lets add replace an expired entry, atomically', async () => {
    const clock = createFakeClock();
    const store = open({ path: nextFile(), clock, pruneInterval: 0 });
    await store.set('k', text('old'), clock.now() + 1_000);
    expect(await store.add!('k', text('new'), clock.now() + 60_000)).toBe(false);
    clock.advance(1_000);
    expect(await store.add!('k', text('new'), clock.now() + 60_000)).toBe(true);
    expect(decode(await store.get('k'))).toBe('new');
    expect(await store.add!('other', text('v'), clock.now())).toBe(false);
    expect(await store.get('other')).toBeUndefined();
  });

  it('does not see entries at their deadline, and keeps fractional deadlines', async () => {
    const clock = createFakeClock();
    const store = open({ path: nextFile(), clock, pruneInterval: 0 });
    await store.set('k', text('v'), clock.now() + 10.5);
    clock.advance(10);
    expect(decode(await store.get('k'))).toBe('v');
    clock.advance(1);
    expect(await store.get('k')).toBeUndefined();
  });

  it('reports capabilities', () => {
    const onFile = open({ path: nextFile(), pruneInterval: 0 });
    expect(onFile.capabilities).toMatchObject({ nativeExpiry: false, shared: true, iterate: true, atomicAdd: true, expiryResolutionMs: 1 });
    expect(onFile.capabilities.maxValueBytes).toBeGreaterThan(900_000_000);
    expect(open({ path: ':memory:', pruneInterval: 0 }).capabilities.shared).toBe(false);
  });

  it('refuses bad options with a TypeError naming the option', () => {
    expect(() => sqliteStore({ path: ':memory:', table: 'x; DROP TABLE y' })).toThrow(/table/);
    expect(() => sqliteStore({ path: ':memory:', table: 'x; DROP TABLE y' })).toThrow(TypeError);
    expect(() => sqliteStore({ path: ':memory:', table: 'a"b' })).toThrow(TypeError);
    expect(() => sqliteStore({ path: ':memory:', table: '1abc' })).toThrow(TypeError);
    expect(() => sqliteStore({ path: ':memory:', pruneInterval: -1 })).toThrow(/pruneInterval/);
    // @ts-expect-error -- exactly one of path and database
    expect(() => sqliteStore({})).toThrow(/path or database/);
  });

  it('fails with a CacheBackendError naming the store when the file cannot be opened', () => {
    const error = (() => {
      try {
        sqliteStore({ path: path.join(dir, 'missing-dir', 'x.db'), name: 'sessions' });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(CacheBackendError);
    expect((error as CacheBackendError).store).toBe('sessions');
    expect((error as CacheBackendError).message).toMatch(/^sessions: /);
  });

  it('wraps backend failures with the store name and key', async () => {
    const db = new Database(':memory:');
    const store = open({ database: db, pruneInterval: 0 });
    db.close();
    const error: unknown = await store.get('k').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CacheBackendError);
    expect((error as CacheBackendError).message).toMatch(/^sqlite: get failed: /);
    expect((error as CacheBackendError).key).toBe('k');
    await expect(collect(store.keys!('*'))).rejects.toBeInstanceOf(CacheBackendError);
    await expect(store.setMany!([{ key: 'k', value: text('v'), expiresAt: Date.now() + 1_000 }])).rejects.toThrow(/^sqlite: setMany failed/);
  });
});
