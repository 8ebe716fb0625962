import { tracingChannel } from 'node:diagnostics_channel';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { Cache, TRACE_CHANNELS, type StoreTrace } from '../../src/index.js';
import { fileStore } from '../../src/stores/file.js';
import { postgresStore } from '../../src/stores/postgres.js';
import { sqliteStore } from '../../src/stores/sqlite.js';
import { createFakeClock, until } from '../kit/index.js';
import { serverIt, serversAvailable } from '../kit/servers.js';
import { filesUnder, removeTempDirs, tempDir } from '../stores/file-helpers.js';

// The shared test server: trust auth on 127.0.0.1, database `test`.
const connectionString = process.env.TIERCACHE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const table = `tc_maintenance_${process.pid}_${Date.now().toString(36)}`;
const admin = new pg.Pool({ connectionString, max: 1 });

afterAll(async () => {
  if (serversAvailable) await admin.query(`DROP TABLE IF EXISTS "${table}"`);
  await admin.end();
  removeTempDirs();
});

/** Calls a store saw that were neither reads, writes, deletes nor batches: the probes. */
function otherCalls(cache: Cache, store: string): number {
  return cache.getMetrics().tiers.find((tier) => tier.tier === store)?.latency.other.count ?? -1;
}

describe('background maintenance', () => {
  it('probes each store every probeInterval on the cache clock, counted and traced, until close()', async () => {
    const clock = createFakeClock();
    const directory = tempDir();
    const cache = new Cache({ clock, stores: [sqliteStore({ path: path.join(directory, 'probe.db'), pruneInterval: 0 })], maintenance: { probeInterval: '10s' } });
    const traced: StoreTrace[] = [];
    const channel = tracingChannel<unknown, StoreTrace>(TRACE_CHANNELS.store);
    const ignore = () => undefined;
    const handlers = { start: (context: StoreTrace) => void traced.push(context), end: ignore, asyncStart: ignore, asyncEnd: ignore, error: ignore };
    channel.subscribe(handlers);
    try {
      await clock.tick(9_999);
      expect(otherCalls(cache, 'sqlite'), 'no probe before the interval').toBe(0);
      await clock.tick(1);
      expect(otherCalls(cache, 'sqlite')).toBe(1);
      expect(traced.map((t) => [t.store, t.operation])).toEqual([['sqlite', 'probe']]);
      await clock.tick(20_000);
      expect(otherCalls(cache, 'sqlite')).toBe(3);
      // getHealth reuses a probe younger than maxProbeAge instead of sending another.
      expect((await cache.getHealth()).stores.sqlite).toMatchObject({ reachable: true, lastProbe: { ok: true, at: clock.now() } });
      expect(otherCalls(cache, 'sqlite')).toBe(3);
    } finally {
      channel.unsubscribe(handlers);
      await cache.close();
    }
    expect(clock.pending, 'close() leaves no timer armed').toBe(0);
    await clock.tick(60_000);
    expect(otherCalls(cache, 'sqlite'), 'no probe after close()').toBe(3);
  });

  it('sends no periodic probe with probeInterval 0; getHealth then probes when asked', async () => {
    const clock = createFakeClock();
    const db = new Database(':memory:');
    const cache = new Cache({ clock, stores: [sqliteStore({ database: db, pruneInterval: 0 })], maintenance: { probeInterval: 0 } });
    try {
      expect(clock.pending).toBe(0);
      await clock.tick(120_000);
      expect(otherCalls(cache, 'sqlite')).toBe(0);
      expect((await cache.getHealth()).stores.sqlite?.reachable).toBe(true);
      expect(otherCalls(cache, 'sqlite')).toBe(1);
    } finally {
      await cache.close();
      db.close();
    }
  });

  it('shares one probe between health checks that come while it runs', async () => {
    const db = new Database(':memory:');
    const cache = new Cache({ clock: createFakeClock(), stores: [sqliteStore({ database: db, pruneInterval: 0 })], maintenance: { probeInterval: 0 } });
    try {
      const reports = await Promise.all(Array.from({ length: 20 }, () => cache.getHealth({ maxProbeAge: 0 })));
      expect(reports.every((report) => report.status === 'ok')).toBe(true);
      expect(otherCalls(cache, 'sqlite'), 'one probe for twenty concurrent checks').toBe(1);
      await cache.getHealth({ maxProbeAge: 0 });
      expect(otherCalls(cache, 'sqlite'), 'a later check probes again').toBe(2);
    } finally {
      await cache.close();
      db.close();
    }
  });

  it('refuses a bad probeInterval by name', () => {
    expect(() => new Cache({ maintenance: { probeInterval: -1 } })).toThrow(/maintenance\.probeInterval/);
    expect(() => new Cache({ maintenance: { probeInterval: 'often' } })).toThrow(/maintenance\.probeInterval/);
  });

  serverIt('prunes expired entries of real SQLite, PostgreSQL and file stores on the cache clock, and nothing runs after close()', async () => {
    const clock = createFakeClock();
    const directory = tempDir();
    const dbFile = path.join(directory, 'cache.db');
    const filesDir = path.join(directory, 'files');
    const cache = new Cache({
      clock,
      stores: [
        sqliteStore({ path: dbFile, pruneInterval: 60_000 }),
        postgresStore({ connectionString, table, pruneInterval: 60_000 }),
        fileStore({ directory: filesDir, cleanupInterval: 60_000 }),
      ],
      // The rows and files are counted below: no fleet heartbeat among them.
      fleet: false,
    });
    const sqliteRows = () => {
      const db = new Database(dbFile, { readonly: true });
      try {
        return db.prepare('SELECT count(*) AS n FROM tiercache_entries').pluck().get() as number;
      } finally {
        db.close();
      }
    };
    const pgRows = async () => (await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${table}"`)).rows[0]?.n;
    const files = () => filesUnder(filesDir).length;
    try {
      await cache.set('a', 1, { ttl: '10s' });
      await cache.set('b', 2, { ttl: '10s' });
      await cache.set('kept', 3, { ttl: '1h' });
      clock.advance(10_001);
      // Expired, but nothing read them: the rows and files wait for the prune timers.
      expect(sqliteRows()).toBe(3);
      expect(await pgRows()).toBe(3);
      expect(files()).toBe(3);

      await clock.tick(50_000);
      // The timers fire on the fake clock; the deletes they start are real I/O, waited for in real time.
      await until(() => sqliteRows() === 1, 'the SQLite prune');
      await until(async () => (await pgRows()) === 1, 'the PostgreSQL prune');
      await until(() => files() === 1, 'the file store cleanup');
      expect(await cache.get('kept')).toBe(3);
    } finally {
      await cache.close();
    }
    expect(clock.pending, 'close() stops every prune and probe timer').toBe(0);
    // An expired row left behind after close stays: no timer of the closed cache runs any more.
    const db = new Database(dbFile);
    db.prepare('UPDATE tiercache_entries SET expires_at = 0').run();
    db.close();
    await clock.tick(120_000);
    expect(sqliteRows()).toBe(1);
  });
});
