import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheBackendError } from '../../src/errors.js';
import type { Store } from '../../src/stores/contract.js';
import { postgresStore } from '../../src/stores/postgres.js';
import { createFakeClock, until } from '../kit/index.js';
import { storeConformance } from '../../src/testing/store-conformance.js';

// The shared test server: trust auth on 127.0.0.1, database `test`.
const connectionString = process.env.TIERCACHE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const run = `${process.pid}_${Date.now().toString(36)}`;
const tables: string[] = [];
const tableName = (label: string) => {
  const table = `tc_${label}_${run}`;
  tables.push(table);
  return table;
};

const text = (value: string) => new TextEncoder().encode(value);
const decode = (value: Uint8Array | undefined) => (value === undefined ? undefined : new TextDecoder().decode(value));

async function collect(iterable: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const key of iterable) out.push(key);
  return out.sort();
}

let admin: pg.Pool;

beforeAll(() => {
  admin = new pg.Pool({ connectionString, max: 2 });
});

afterAll(async () => {
  for (const table of tables) await admin.query(`DROP TABLE IF EXISTS "${table}"`);
  await admin.end();
});

const count = async (table: string, where = 'TRUE', values: unknown[] = []) =>
  (await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${table}" WHERE ${where}`, values)).rows[0]?.n;

describe('postgresStore conformance', () => {
  const table = tableName('conf');
  for (const c of storeConformance({ create: (prefix) => postgresStore({ connectionString, table, prefix, pruneInterval: 0 }) })) {
    it(c.name, (context) => c.run(context), 20_000);
  }
});

describe('postgresStore', () => {
  const stores: Store[] = [];
  const open = (options: Parameters<typeof postgresStore>[0]) => {
    const store = postgresStore(options);
    stores.push(store);
    return store;
  };
  afterAll(async () => {
    for (const store of stores) await store.close();
  });

  it('creates the table from several stores at once without failing', async () => {
    for (let round = 0; round < 3; round++) {
      const table = tableName(`race${round}`);
      const racers = Array.from({ length: 3 }, (_, i) => open({ connectionString, table, prefix: `n${i}`, pruneInterval: 0 }));
      await Promise.all(racers.map((store, i) => store.set('k', text(`v${i}`), Date.now() + 60_000)));
      for (const [i, store] of racers.entries()) expect(decode(await store.get('k'))).toBe(`v${i}`);
      const index = await admin.query(`SELECT indexdef FROM pg_indexes WHERE tablename = $1 AND indexdef LIKE '%expires_at%'`, [table]);
      expect(index.rowCount).toBe(1);
    }
  });

  it('retries when another session creates the table between its check and its CREATE', async () => {
    const table = tableName('foreign');
    // Another session's uncommitted CREATE makes ours wait on the catalog's unique index, then fail with
    // unique_violation once that session commits: the race `IF NOT EXISTS` does not cover.
    const other = await admin.connect();
    try {
      await other.query('BEGIN');
      await other.query(
        `CREATE TABLE "${table}" (namespace text NOT NULL, key text COLLATE "C" NOT NULL, value bytea NOT NULL,
         expires_at bigint NOT NULL, PRIMARY KEY (namespace, key))`,
      );
      const store = open({ connectionString, table, pruneInterval: 0 });
      const pending = store.set('k', text('v'), Date.now() + 60_000);
      await until(async () => (await admin.query('SELECT 1 FROM pg_locks WHERE NOT granted')).rowCount! > 0, 'our CREATE to wait on the other session');
      await other.query('COMMIT');
      await pending;
      expect(decode(await store.get('k'))).toBe('v');
    } finally {
      other.release();
    }
  });

  it('upserts: writing a key again keeps one row', async () => {
    const table = tableName('upsert');
    const store = open({ connectionString, table, pruneInterval: 0 });
    await store.set('k', text('one'), Date.now() + 60_000);
    await store.set('k', text('two'), Date.now() + 120_000);
    await store.setMany!([{ key: 'k', value: text('three'), expiresAt: Date.now() + 60_000 }]);
    expect(await count(table)).toBe(1);
    expect(decode(await store.get('k'))).toBe('three');
  });

  it('applies setMany in order, with duplicate keys, expired entries and more rows than one statement holds', async () => {
    const table = tableName('batch');
    const store = open({ connectionString, table, pruneInterval: 0 });
    const later = Date.now() + 60_000;
    await store.set('gone', text('old'), later);
    const many = Array.from({ length: 2_345 }, (_, i) => ({ key: `m${i}`, value: text(String(i)), expiresAt: later }));
    await store.setMany!([
      ...many,
      { key: 'k', value: text('1'), expiresAt: later },
      { key: 'gone', value: text('x'), expiresAt: Date.now() - 1 },
      { key: 'k', value: text('2'), expiresAt: later },
      { key: 'back', value: text('1'), expiresAt: Date.now() - 1 },
      { key: 'back', value: text('2'), expiresAt: later },
    ]);
    expect(decode(await store.get('k'))).toBe('2');
    expect(decode(await store.get('back'))).toBe('2');
    expect(await store.get('gone')).toBeUndefined();
    expect(await count(table)).toBe(2_345 + 2);
    const got = await store.getMany!(['m2344', 'm0', 'm0', 'nope']);
    expect(got.map(decode)).toEqual(['2344', '0', '0', undefined]);
    expect(await store.deleteMany!(['m0', 'm0', 'm1', 'nope'])).toBe(2);
  });

  it('rolls a failed setMany back entirely', async () => {
    const table = tableName('rollback');
    const store = open({ connectionString, table, pruneInterval: 0 });
    const later = Date.now() + 60_000;
    await store.set('a', text('before'), later);
    // A NUL character is valid in a JS string but not in PostgreSQL text, so the second row fails.
    const error: unknown = await store
      .setMany!([
        { key: 'a', value: text('after'), expiresAt: later },
        { key: 'bad\u0000key', value: text('x'), expiresAt: later },
      ])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CacheBackendError);
    expect((error as Error).message).toMatch(/^postgres: setMany failed/);
    expect(decode(await store.get('a'))).toBe('before');
  });

  it('leaves a pool the caller owns open after close', async () => {
    const pool = new pg.Pool({ connectionString, max: 2 });
    try {
      const store = postgresStore({ pool, table: tableName('owned'), pruneInterval: 0 });
      await store.set('k', text('v'), Date.now() + 60_000);
      await store.close();
      await store.close();
      expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one).toBe(1);
      await expect(store.get('k')).rejects.toBeInstanceOf(CacheBackendError);
    } finally {
      await pool.end();
    }
  });

  it('fails within seconds, with a CacheBackendError naming the store, when the server is unreachable', async () => {
    const store = open({ connectionString: 'postgres://postgres@127.0.0.1:5999/test', pruneInterval: 0 });
    const started = Date.now();
    const error: unknown = await store.get('k').catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(6_000);
    expect(error).toBeInstanceOf(CacheBackendError);
    expect((error as CacheBackendError).store).toBe('postgres');
    expect((error as CacheBackendError).message).toMatch(/^postgres: get failed: /);
    expect((error as CacheBackendError).key).toBe('k');
    await expect(store.setMany!([{ key: 'k', value: text('v'), expiresAt: Date.now() + 1_000 }])).rejects.toThrow(/^postgres: setMany failed/);
    await expect(collect(store.keys!('*'))).rejects.toBeInstanceOf(CacheBackendError);
  });

  it('uses its name in errors', async () => {
    const store = open({ connectionString: 'postgres://postgres@127.0.0.1:5999/test', name: 'sessions', pruneInterval: 0 });
    await expect(store.get('k')).rejects.toThrow(/^sessions: get failed/);
  });

  it('prunes expired rows of its own prefix only, in batches', async () => {
    const table = tableName('prune');
    const clock = createFakeClock();
    const store = open({ connectionString, table, clock, pruneInterval: 0 });
    const neighbour = open({ connectionString, table, clock, prefix: 'neighbour', pruneInterval: 0 });
    await store.setMany!(Array.from({ length: 6_000 }, (_, i) => ({ key: `old${i}`, value: text('v'), expiresAt: clock.now() + 1_000 })));
    await store.set('new', text('v'), clock.now() + 60_000);
    await neighbour.set('old', text('v'), clock.now() + 1_000);
    clock.advance(1_000);
    expect(await store.prune!()).toBe(6_000);
    expect(await count(table, 'namespace = $1', ['default'])).toBe(1);
    expect(await count(table, 'namespace = $1', ['neighbour'])).toBe(1);
    expect(await store.prune!()).toBe(0);
    expect(decode(await store.get('new'))).toBe('v');
  });

  it('prunes on a timer', async () => {
    const table = tableName('timer');
    // The deadline is the store's clock; the prune interval itself is a real timer (the store has no other).
    const clock = createFakeClock(Date.now());
    const store = open({ connectionString, table, pruneInterval: 50, clock });
    await store.set('soon', text('v'), clock.now() + 50);
    await store.set('kept', text('v'), clock.now() + 60_000);
    clock.advance(50);
    await until(async () => (await count(table)) === 1, 'the prune timer to remove the expired row', 3_000);
    expect(await store.get('kept')).toBeDefined();
  });

  it('lets add replace an expired entry, and only one of many concurrent adds win', async () => {
    const table = tableName('add');
    const clock = createFakeClock();
    const store = open({ connectionString, table, clock, pruneInterval: 0 });
    const other = open({ connectionString, table, clock, pruneInterval: 0 });
    await store.set('k', text('old'), clock.now() + 1_000);
    expect(await store.add!('k', text('new'), clock.now() + 60_000)).toBe(false);
    clock.advance(1_000);
    const wins = await Promise.all([store, other, store, other].map((s, i) => s.add!('k', text(`new${i}`), clock.now() + 60_000)));
    expect(wins.filter(Boolean)).toHaveLength(1);
    expect(await store.add!('past', text('v'), clock.now())).toBe(false);
    expect(await store.get('past')).toBeUndefined();
  });

  it('matches %, _, !, [ and \\ in keys() literally, and tells case apart', async () => {
    const store = open({ connectionString, table: tableName('glob'), pruneInterval: 0 });
    const keys = ['100%', '100x', 'a_b', 'axb', 'star*', 'starX', 'bang!', 'bang!x', '[x]', 'back\\slash', 'Upper', 'upper'];
    for (const key of keys) await store.set(key, text(key), Date.now() + 60_000);
    expect(await collect(store.keys!('100%'))).toEqual(['100%']);
    expect(await collect(store.keys!('a_b'))).toEqual(['a_b']);
    expect(await collect(store.keys!('star*'))).toEqual(['star*', 'starX']);
    expect(await collect(store.keys!('bang!'))).toEqual(['bang!']);
    expect(await collect(store.keys!('bang!?'))).toEqual(['bang!x']);
    expect(await collect(store.keys!('[x?'))).toEqual(['[x]']);
    expect(await collect(store.keys!('back\\*'))).toEqual(['back\\slash']);
    expect(await collect(store.keys!('upper'))).toEqual(['upper']);
    expect(await collect(store.keys!('*'))).toEqual([...keys].sort());
  });

  it('pages through many keys', async () => {
    const store = open({ connectionString, table: tableName('pages'), pruneInterval: 0 });
    const expiresAt = Date.now() + 60_000;
    const keys = Array.from({ length: 1_234 }, (_, i) => `p:${String(i).padStart(5, '0')}`);
    await store.setMany!(keys.map((key) => ({ key, value: text(key), expiresAt })));
    await store.set('q:1', text('v'), expiresAt);
    expect(await collect(store.keys!('p:*'))).toEqual(keys);
    expect(await collect(store.keys!('*1'))).toEqual([...keys.filter((key) => key.endsWith('1')), 'q:1'].sort());
  });

  it('survives a restart', async () => {
    const table = tableName('restart');
    const clock = createFakeClock(Date.now());
    const first = postgresStore({ connectionString, table, pruneInterval: 0, clock });
    await first.set('live', text('kept'), clock.now() + 60_000);
    await first.set('short', text('gone'), clock.now() + 50);
    await first.close();
    clock.advance(100);
    const second = open({ connectionString, table, pruneInterval: 0, clock });
    expect(decode(await second.get('live'))).toBe('kept');
    expect(await second.get('short')).toBeUndefined();
  });

  it('reports capabilities', () => {
    const store = open({ connectionString, table: tableName('caps'), pruneInterval: 0 });
    expect(store.capabilities).toMatchObject({ nativeExpiry: false, expiryResolutionMs: 1, shared: true, iterate: true, atomicAdd: true });
    expect(store.capabilities.maxValueBytes).toBe(255 * 1024 * 1024);
  });

  it('refuses a value larger than it could read back', async () => {
    const store = open({ connectionString, table: tableName('big'), pruneInterval: 0 });
    const tooBig = new Uint8Array(store.capabilities.maxValueBytes + 1);
    await expect(store.set('k', tooBig, Date.now() + 60_000)).rejects.toThrow(/^postgres: .*exceeds/);
  });

  it('refuses bad options with a TypeError naming the option', () => {
    expect(() => postgresStore({ connectionString, table: 'x; DROP TABLE y' })).toThrow(/table/);
    expect(() => postgresStore({ connectionString, table: 'x; DROP TABLE y' })).toThrow(TypeError);
    expect(() => postgresStore({ connectionString, table: 'a"b' })).toThrow(TypeError);
    expect(() => postgresStore({ connectionString, table: 'x'.repeat(49) })).toThrow(TypeError);
    expect(() => postgresStore({ connectionString, pruneInterval: Number.NaN })).toThrow(/pruneInterval/);
    // @ts-expect-error -- exactly one connection source
    expect(() => postgresStore({})).toThrow(/connectionString, poolConfig or pool/);
  });
});
