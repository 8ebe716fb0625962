// Scenario 5: bytes the cache did not write, found under keys it reads. Each store gets real entries, which
// are then overwritten in the backend itself (random bytes, a truncated copy of the real record) or through
// the store adapter (a valid entry header around a garbage body, random bytes). A fresh cache reading them
// must see a clean miss, never a throw or a value; getOrSet must then load and replace the entry.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import memjs from 'memjs';
import pg from 'pg';
import { Cache, type Store } from '../src/index.js';
import { encodeEntry } from '../src/entry.js';
import { fileStore } from '../src/stores/file.js';
import { memcachedStore } from '../src/stores/memcached.js';
import { postgresStore } from '../src/stores/postgres.js';
import { redisStore } from '../src/stores/redis.js';
import { sqliteStore } from '../src/stores/sqlite.js';
import { bounded, describeError, seededRandom, type Section } from './lib.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PG_URL = process.env.TIERCACHE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const MEMCACHED = '127.0.0.1:11211';

export interface CorruptOptions {
  seed: number;
  /** Rounds of every corruption per store, each with fresh random bytes. @default 5 */
  rounds?: number;
}

export interface CorruptRow {
  store: string;
  corruption: string;
  reads: number;
  /** Reads that came back undefined, as they must. */
  misses: number;
  /** Reads that came back with a value: a corrupt entry served. */
  wrongValues: number;
  throws: number;
  throwKinds: string[];
  errorEvents: number;
  /** Corrupt reads that raised at least one `error` event, so that an operator can see the corruption. */
  reported: number;
  /** getOrSet after the corrupt read loaded the fresh value and the next read returned it. */
  healed: number;
}

export interface CorruptResult {
  seed: number;
  rows: CorruptRow[];
  /** Stores that could not be set up (a server missing), with why. */
  skipped: string[];
}

/** Raw access to where a store keeps the record of one key, bypassing the adapter. */
interface Backend {
  name: string;
  make(): Store;
  read(key: string): Promise<Uint8Array | undefined>;
  write(key: string, bytes: Uint8Array): Promise<void>;
  cleanup(): Promise<void>;
}

function redisBackend(seed: number): Backend {
  const prefix = `chaos-corrupt-${seed}:`;
  const raw = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  return {
    name: 'redis',
    make: () => redisStore({ url: REDIS_URL, prefix }),
    read: async (key) => (await raw.getBuffer(prefix + key)) ?? undefined,
    write: async (key, bytes) => void (await raw.set(prefix + key, Buffer.from(bytes), 'PX', 60_000)),
    cleanup: async () => {
      let cursor = '0';
      let steps = 0;
      do {
        const [next, keys] = await raw.scanBuffer(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next.toString();
        if (keys.length > 0) await raw.unlink(...keys);
      } while (cursor !== '0' && ++steps < 10_000);
      raw.disconnect();
    },
  };
}

function sqliteBackend(seed: number): Backend {
  const dir = mkdtempSync(join(tmpdir(), 'tiercache-chaos-'));
  const path = join(dir, `corrupt-${seed}.db`);
  let db: Database.Database | undefined;
  const open = () => (db ??= new Database(path));
  return {
    name: 'sqlite',
    make: () => sqliteStore({ path, pruneInterval: 0 }),
    read: async (key) => {
      const row = open().prepare('SELECT value FROM tiercache_entries WHERE namespace = ? AND key = ?').get('default', key) as { value: Buffer } | undefined;
      return Promise.resolve(row?.value);
    },
    write: async (key, bytes) => {
      open().prepare('UPDATE tiercache_entries SET value = ? WHERE namespace = ? AND key = ?').run(Buffer.from(bytes), 'default', key);
      return Promise.resolve();
    },
    cleanup: async () => {
      db?.close();
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  };
}

async function postgresBackend(seed: number): Promise<Backend> {
  const table = `chaos_corrupt_${seed}`;
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  return {
    name: 'postgres',
    make: () => postgresStore({ connectionString: PG_URL, table, prefix: 'chaos', pruneInterval: 0 }),
    read: async (key) => (await client.query<{ value: Buffer }>(`SELECT value FROM ${table} WHERE namespace = $1 AND key = $2`, ['chaos', key])).rows[0]?.value,
    write: async (key, bytes) => void (await client.query(`UPDATE ${table} SET value = $1 WHERE namespace = $2 AND key = $3`, [Buffer.from(bytes), 'chaos', key])),
    cleanup: async () => {
      await client.query(`DROP TABLE IF EXISTS ${table}`);
      await client.end();
    },
  };
}

function fileBackend(): Backend {
  const directory = mkdtempSync(join(tmpdir(), 'tiercache-chaos-'));
  // The file store names files by a hash of the key; the record holds the key itself, which finds it.
  const locate = (key: string): string | undefined => {
    const needles = [Buffer.from(key, 'utf8'), Buffer.from(key, 'utf16le')];
    const walk = (dir: string): string | undefined => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) {
          const found = walk(path);
          if (found !== undefined) return found;
        } else if (!name.includes('.tmp')) {
          const content = readFileSync(path);
          if (needles.some((n) => content.includes(n))) return path;
        }
      }
      return undefined;
    };
    return walk(directory);
  };
  return {
    name: 'file',
    make: () => fileStore({ directory, cleanupInterval: 0 }),
    read: async (key) => {
      const path = locate(key);
      return Promise.resolve(path === undefined ? undefined : readFileSync(path));
    },
    write: async (key, bytes) => {
      const path = locate(key);
      if (path === undefined) throw new Error(`no file holds ${key}`);
      writeFileSync(path, bytes);
      return Promise.resolve();
    },
    cleanup: async () => {
      rmSync(directory, { recursive: true, force: true });
      return Promise.resolve();
    },
  };
}

async function memcachedBackend(seed: number): Promise<Backend> {
  const prefix = `chaos${seed}:`;
  const client = memjs.Client.create(MEMCACHED, { retries: 1, timeout: 1, logger: { log: () => undefined } });
  // The store keeps a generation under prefix + '__ns' and puts it in every key (see stores/memcached.ts).
  const fullKey = async (key: string) => {
    const generation = (await client.get(`${prefix}__ns`)).value;
    if (generation === null) throw new Error('no memcached generation yet');
    return `${prefix}${generation.toString()}:${key}`;
  };
  // Fails here, and the store is reported as skipped, when no memcached answers.
  await client.get(`${prefix}__ns`);
  return {
    name: 'memcached',
    make: () => memcachedStore({ servers: MEMCACHED, prefix }),
    read: async (key) => (await client.get(await fullKey(key))).value ?? undefined,
    write: async (key, bytes) => void (await client.set(await fullKey(key), Buffer.from(bytes), { expires: 60 })),
    cleanup: async () => {
      await client.delete(`${prefix}__ns`).catch(() => false);
      client.close();
    },
  };
}

type Corruption = { name: string; how: 'raw' | 'store'; bytes: (real: Uint8Array, random: () => number) => Uint8Array };

const CORRUPTIONS: readonly Corruption[] = [
  { name: 'random bytes in the backend', how: 'raw', bytes: (_real, random) => randomBytes(1 + Math.floor(random() * 300)) },
  { name: 'truncated record in the backend', how: 'raw', bytes: (real, random) => real.subarray(0, Math.max(1, Math.floor(real.length * random()))) },
  {
    name: 'valid entry header, garbage body (through the store)',
    how: 'store',
    bytes: (_real, random) => encodeEntry(randomBytes(1 + Math.floor(random() * 200)), { createdAt: Date.now(), expiresAt: Date.now() + 60_000, tags: undefined, stamps: undefined }),
  },
  { name: 'random bytes (through the store)', how: 'store', bytes: (_real, random) => randomBytes(1 + Math.floor(random() * 300)) },
];

async function corruptOne(backend: Backend, rounds: number, random: () => number): Promise<CorruptRow[]> {
  const writerStore = backend.make();
  const writer = new Cache({ stores: [writerStore] });
  const reader = new Cache({ stores: [backend.make()] });
  writer.on('error', () => undefined);
  let errorEvents = 0;
  reader.on('error', () => void errorEvents++);
  const rows: CorruptRow[] = [];
  try {
    for (const corruption of CORRUPTIONS) {
      const row: CorruptRow = { store: backend.name, corruption: corruption.name, reads: 0, misses: 0, wrongValues: 0, throws: 0, throwKinds: [], errorEvents: 0, reported: 0, healed: 0 };
      const kinds = new Set<string>();
      const eventsBefore = errorEvents;
      for (let round = 0; round < rounds; round++) {
        const key = `corrupt-${CORRUPTIONS.indexOf(corruption)}-${round}`;
        await writer.set(key, { real: true, round, text: 'x'.repeat(Math.floor(random() * 500)) }, { ttl: '5m' });
        const real = await backend.read(key);
        if (real === undefined) throw new Error(`${backend.name}: the real entry of ${key} is not where it was expected`);
        const bad = corruption.bytes(real, random);
        if (corruption.how === 'raw') await backend.write(key, bad);
        else await writerStore.set(key, bad, Date.now() + 60_000);
        row.reads++;
        const seenBefore = errorEvents;
        const read = await bounded(() => reader.get(key), 10_000);
        if (errorEvents > seenBefore) row.reported++;
        if (read.kind === 'value') {
          if (read.value === undefined) row.misses++;
          else row.wrongValues++;
        } else {
          row.throws++;
          kinds.add(read.kind === 'stuck' ? 'stuck' : describeError(read.error));
        }
        const loaded = await bounded(() => reader.getOrSet(key, () => 'fresh', { ttl: '5m' }), 10_000);
        if (loaded.kind === 'error') kinds.add(`getOrSet: ${describeError(loaded.error)}`);
        const third = new Cache({ stores: [backend.make()] });
        third.on('error', () => undefined);
        const again = await bounded(() => third.get(key), 10_000);
        await bounded(() => third.close(), 5_000);
        if (loaded.kind === 'value' && loaded.value === 'fresh' && again.kind === 'value' && again.value === 'fresh') row.healed++;
      }
      row.errorEvents = errorEvents - eventsBefore;
      row.throwKinds = [...kinds];
      rows.push(row);
    }
  } finally {
    await bounded(() => writer.close(), 5_000);
    await bounded(() => reader.close(), 5_000);
  }
  return rows;
}

export async function runCorruptBytes(options: CorruptOptions): Promise<CorruptResult> {
  const rounds = options.rounds ?? 5;
  const random = seededRandom(options.seed);
  const rows: CorruptRow[] = [];
  const skipped: string[] = [];
  const makers: [string, () => Promise<Backend> | Backend][] = [
    ['redis', () => redisBackend(options.seed)],
    ['sqlite', () => sqliteBackend(options.seed)],
    ['postgres', () => postgresBackend(options.seed)],
    ['file', () => fileBackend()],
    ['memcached', () => memcachedBackend(options.seed)],
  ];
  for (const [name, make] of makers) {
    let backend: Backend;
    try {
      backend = await make();
    } catch (error) {
      skipped.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
      continue;
    }
    try {
      rows.push(...(await corruptOne(backend, rounds, random)));
    } catch (error) {
      skipped.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      await backend.cleanup().catch(() => undefined);
    }
  }
  return { seed: options.seed, rows, skipped };
}

export function corruptBytesSection(result: CorruptResult): Section {
  const bad = result.rows.filter((r) => r.misses !== r.reads);
  return {
    title: '5. Corrupt bytes in every store',
    setup:
      'Real entries are written through a cache, then replaced under the same key: in the backend itself (Redis SET, an SQL UPDATE, the file rewritten, a memcached set under the store\'s generation) or through the store adapter. ' +
      'A second cache (empty memory tier) reads each key, then getOrSet loads a fresh value, which a third cache must read back ("healed").',
    table: {
      head: ['store', 'corruption', 'reads', 'clean misses', 'wrong values', 'throws', 'reads reported on `error`', 'healed'],
      rows: result.rows.map((r) => [r.store, r.corruption, r.reads, r.misses, r.wrongValues, r.throwKinds.length === 0 ? r.throws : `${r.throws} (${r.throwKinds.join(', ')})`, r.reported, r.healed]),
    },
    targets: [
      { what: 'every corrupt read is a clean miss: no throw, no wrong value', ok: bad.length === 0 && result.rows.length > 0, detail: bad.map((r) => `${r.store} / ${r.corruption}`).join('; ') || `${result.rows.reduce((n, r) => n + r.reads, 0)} reads` },
      { what: 'every corrupt read raises an error event', ok: result.rows.every((r) => r.reported === r.reads), detail: result.rows.filter((r) => r.reported !== r.reads).map((r) => `${r.store} / ${r.corruption}: ${r.reported}/${r.reads}`).join('; ') || 'all' },
      { what: 'getOrSet replaces the corrupt entry', ok: result.rows.every((r) => r.healed === r.reads), detail: result.rows.filter((r) => r.healed !== r.reads).map((r) => `${r.store} / ${r.corruption}: ${r.healed}/${r.reads}`).join('; ') || 'all' },
      { what: 'every store was exercised', ok: result.skipped.length === 0, detail: result.skipped.join('; ') || 'all five' },
    ],
  };
}
