import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { CacheBackendError, InvalidKeyError } from '../errors.js';
import { compilePattern, STORE_PATTERN } from '../freshness/pattern.js';
import { assertStoreKey, assertStoreKeys } from '../keys/validate.js';
import { resolveSqlOptions, startPruneTimer } from './sql-options.js';
import type { BaseStoreOptions, Store, StoreCapabilities, StoreWrite } from './contract.js';

interface SqliteStoreCommonOptions extends BaseStoreOptions {
  /** Table holding the entries; created when missing. Letters, digits and `_`, at most 48 characters. @default 'tiercache_entries' */
  table?: string;
  /**
   * The part of the table this store owns (the rows whose `namespace` column holds it): rows under other
   * prefixes in the same table are never read, listed, pruned or cleared. @default 'default'
   */
  prefix?: string;
  /** @deprecated Use `prefix`; the same option under its old name. */
  namespace?: string;
  /** Names the store in errors, events and stats. @default 'sqlite' */
  name?: string;
  /** Milliseconds between background prunes of expired rows; 0 turns them off. @default 60_000 */
  pruneInterval?: number;
}

export type SqliteStoreOptions = SqliteStoreCommonOptions &
  (
    | {
        /** File to open (created when missing), or `':memory:'` for a private in-process database. */
        path: string;
        database?: never;
      }
    | {
        /**
         * An open connection the caller owns: `close()` leaves it open, and its journal mode, busy timeout
         * and other pragmas are left as the caller set them.
         */
        database: Database.Database;
        path?: never;
      }
  );

// How long a connection we opened waits on another process's write lock before failing with SQLITE_BUSY.
const BUSY_TIMEOUT_MS = 5_000;
// Rows per keys() page: each page is one short read, so no statement stays open across an `await`
// (an open better-sqlite3 iterator would block every write on the connection meanwhile).
const KEYS_PAGE_SIZE = 500;
// Rows per prune batch: each batch is its own write transaction, so other writers (and this process's event
// loop) get a turn between batches instead of waiting behind one huge delete.
const PRUNE_BATCH_SIZE = 1_000;
// SQLITE_MAX_LENGTH (1e9 bytes in better-sqlite3's build, also SQLite's default) bounds a whole row, so the
// key, prefix and record header need a little of it.
const MAX_VALUE_BYTES = 1_000_000_000 - 1_000_000;

/**
 * A cache store in an SQLite table, through better-sqlite3. Entries survive restarts and, for a file
 * database, are shared by every process that opens the file. SQLite has no expiry of its own: reads skip rows
 * whose deadline has passed and {@link Store.prune} (also run on a timer) deletes them.
 *
 * better-sqlite3 is synchronous, so every call runs to completion on the calling thread; the Promise API
 * exists for uniformity with the other stores.
 *
 * @example
 * const cache = new Cache({ stores: [sqliteStore({ path: './cache.db', pruneInterval: 300_000 })] });
 */
export function sqliteStore(options: SqliteStoreOptions): Store {
  const { table, prefix, name, time, pruneInterval } = resolveSqlOptions(options, 'sqliteStore', 'sqlite');
  const hasPath = options.path !== undefined;
  const hasDatabase = options.database !== undefined;
  if (hasPath === hasDatabase) throw new TypeError('sqliteStore needs exactly one of path or database');
  const path: unknown = options.path;
  if (hasPath && typeof path !== 'string') throw new TypeError(`path must be a string, got ${typeof path}`);

  const fail = (message: string, cause?: unknown, key?: string): CacheBackendError => {
    const detail = cause instanceof Error ? `: ${cause.message}` : '';
    return new CacheBackendError(`${name}: ${message}${detail}`, {
      store: name,
      ...(cause === undefined ? {} : { cause }),
      ...(key === undefined ? {} : { key }),
    });
  };

  const owned = options.database === undefined;
  const { db, statements } = openDatabase(options, table, (message, cause) => fail(message, cause));

  const capabilities: StoreCapabilities = Object.freeze({
    nativeExpiry: false,
    expiryResolutionMs: 1,
    // ':memory:' and '' (a private temporary file) belong to this connection alone.
    shared: !db.memory,
    iterate: true,
    atomicAdd: true,
    maxValueBytes: MAX_VALUE_BYTES,
  });

  let closed = false;
  // The callbacks read `prune` and `closed` only when the timer fires, after both are defined below.
  const timer = startPruneTimer(time, pruneInterval, () => prune(), () => closed);

  const now = (): number => time.now();
  const assertOpen = (key?: string): void => {
    if (closed) throw fail('the store is closed', undefined, key);
  };
  const blob = (value: Uint8Array, key: string): Uint8Array => {
    if (!(value instanceof Uint8Array)) throw fail('value must be a Uint8Array', undefined, key);
    if (value.byteLength > MAX_VALUE_BYTES) {
      throw fail(`value of ${value.byteLength} bytes exceeds the ${MAX_VALUE_BYTES}-byte limit`, undefined, key);
    }
    return value;
  };
  const bytesOf = (row: unknown, key: string): Uint8Array => {
    // Only a table someone else wrote into could hold a non-blob here; returning it would corrupt the decode.
    if (!(row instanceof Uint8Array)) throw fail(`row holds a ${typeof row} instead of a blob`, undefined, key);
    return row;
  };

  const writeOne = (key: string, value: Uint8Array, expiresAt: number, at: number): void => {
    if (Number.isNaN(expiresAt)) throw fail('expiresAt is NaN', undefined, key);
    if (expiresAt <= at) statements.delete.run(prefix, key);
    else statements.upsert.run(prefix, key, blob(value, key), deadline(expiresAt));
  };

  const setManyTx = db.transaction((entries: readonly StoreWrite[], at: number) => {
    for (const entry of entries) writeOne(entry.key, entry.value, entry.expiresAt, at);
  });
  const getManyTx = db.transaction((keys: readonly string[], at: number) =>
    keys.map((key) => {
      const row = statements.get.get(prefix, key, at);
      return row === undefined ? undefined : bytesOf(row, key);
    }),
  );
  const deleteManyTx = db.transaction((keys: readonly string[], at: number) => {
    let removed = 0;
    for (const key of keys) {
      const expiresAt = statements.delete.get(prefix, key);
      if (expiresAt !== undefined && expiresAt > at) removed++;
    }
    return removed;
  });

  async function prune(): Promise<number> {
    assertOpen();
    let total = 0;
    for (;;) {
      let removed: number;
      try {
        const at = now();
        removed = statements.pruneBatch.run(prefix, prefix, at, PRUNE_BATCH_SIZE, at).changes;
      } catch (error) {
        throw fail('prune failed', error);
      }
      total += removed;
      if (removed < PRUNE_BATCH_SIZE) return total;
      await yieldToEventLoop();
      // close() may have run meanwhile; what was deleted so far stays deleted.
      if (closed) return total;
    }
  }

  const store: Store = {
    name,
    capabilities,

    attach(context) {
      time.attach(context);
    },

    get(key) {
      return run(() => {
        assertOpen(key);
        assertStoreKey(name, key);
        const row = statements.get.get(prefix, key, now());
        return row === undefined ? undefined : bytesOf(row, key);
      }, 'get', key);
    },

    set(key, value, expiresAt) {
      return run(() => {
        assertOpen(key);
        assertStoreKey(name, key);
        writeOne(key, value, expiresAt, now());
      }, 'set', key);
    },

    delete(key) {
      return run(() => {
        assertOpen(key);
        assertStoreKey(name, key);
        // The row goes even when expired (it is garbage anyway); only a live one counts as removed.
        const expiresAt = statements.delete.get(prefix, key);
        return expiresAt !== undefined && expiresAt > now();
      }, 'delete', key);
    },

    clear() {
      return run(() => {
        assertOpen();
        statements.clear.run(prefix);
      }, 'clear');
    },

    close() {
      if (closed) return Promise.resolve();
      closed = true;
      timer?.stop();
      return run(() => {
        if (owned && db.open) db.close();
      }, 'close');
    },

    getMany(keys) {
      return run(() => {
        assertOpen();
        assertStoreKeys(name, keys);
        if (keys.length === 0) return [];
        // One read transaction so the batch sees a single snapshot even while other processes write.
        return getManyTx.deferred(keys, now());
      }, 'getMany');
    },

    setMany(entries) {
      return run(() => {
        assertOpen();
        for (const entry of entries) assertStoreKey(name, entry.key);
        if (entries.length === 0) return;
        // IMMEDIATE takes the write lock up front: a deferred transaction upgrading to a writer can hit
        // SQLITE_BUSY_SNAPSHOT in WAL mode, which busy_timeout does not retry.
        setManyTx.immediate(entries, now());
      }, 'setMany');
    },

    deleteMany(keys) {
      return run(() => {
        assertOpen();
        assertStoreKeys(name, keys);
        if (keys.length === 0) return 0;
        return deleteManyTx.immediate(keys, now());
      }, 'deleteMany');
    },

    add(key, value, expiresAt) {
      return run(() => {
        assertOpen(key);
        assertStoreKey(name, key);
        if (Number.isNaN(expiresAt)) throw fail('expiresAt is NaN', undefined, key);
        const at = now();
        // Nothing to store, and a live entry must not be disturbed by a write that never existed.
        if (expiresAt <= at) return false;
        // One statement: SQLite serializes writers, so insert-or-replace-if-expired is atomic across processes.
        return statements.add.run(prefix, key, blob(value, key), deadline(expiresAt), at).changes === 1;
      }, 'add', key);
    },

    prune,

    keys(pattern) {
      return iterateKeys(pattern);
    },
  };

  async function* iterateKeys(pattern: string): AsyncGenerator<string> {
    // Validated here: GLOB itself rejects long patterns as a backend failure ("pattern too complex"), which
    // would count against the store instead of naming the caller's mistake.
    compilePattern(pattern, 'keys(pattern)', STORE_PATTERN);
    const glob = toSqliteGlob(pattern);
    // Keys matching the pattern all start with its literal prefix, so the scan can start there.
    let cursor = literalPrefix(pattern);
    let first = true;
    for (;;) {
      assertOpen();
      let page: string[];
      try {
        const statement = first ? statements.keysFirst : statements.keysNext;
        page = statement.all(prefix, cursor, glob, now(), KEYS_PAGE_SIZE);
      } catch (error) {
        throw fail('keys failed', error);
      }
      first = false;
      for (const key of page) yield key;
      const last = page[page.length - 1];
      if (page.length < KEYS_PAGE_SIZE || last === undefined) return;
      cursor = last;
      // Each page runs synchronously; let other work in this process through before the next one.
      await yieldToEventLoop();
    }
  }

  function run<T>(operation: () => T, what: string, key?: string): Promise<T> {
    try {
      return Promise.resolve(operation());
    } catch (error) {
      return Promise.reject(error instanceof CacheBackendError || error instanceof InvalidKeyError ? error : fail(`${what} failed`, error, key));
    }
  }


  return store;
}

interface Statements {
  get: Database.Statement<[string, string, number], Uint8Array>;
  upsert: Database.Statement<[string, string, Uint8Array, number], unknown>;
  add: Database.Statement<[string, string, Uint8Array, number, number], unknown>;
  delete: Database.Statement<[string, string], number>;
  clear: Database.Statement<[string], unknown>;
  pruneBatch: Database.Statement<[string, string, number, number, number], unknown>;
  keysFirst: Database.Statement<[string, string, string, number, number], string>;
  keysNext: Database.Statement<[string, string, string, number, number], string>;
}

function openDatabase(
  options: SqliteStoreOptions,
  table: string,
  fail: (message: string, cause: unknown) => CacheBackendError,
): { db: Database.Database; statements: Statements } {
  let db: Database.Database | undefined;
  try {
    if (options.database !== undefined) {
      db = options.database;
      if (!db.open) throw new Error('the connection is closed');
    } else {
      db = new Database(options.path ?? ':memory:', { timeout: BUSY_TIMEOUT_MS });
      // WAL lets readers in other processes proceed while one writes; SQLite keeps 'memory' for ':memory:'.
      db.pragma('journal_mode = WAL');
    }
    db.exec(
      `CREATE TABLE IF NOT EXISTS "${table}" (
         namespace TEXT NOT NULL,
         key TEXT NOT NULL,
         value BLOB NOT NULL,
         expires_at INTEGER NOT NULL,
         PRIMARY KEY (namespace, key)
       ) WITHOUT ROWID;
       CREATE INDEX IF NOT EXISTS "${table}_ns_expires_idx" ON "${table}" (namespace, expires_at);`,
    );
    // Prepared once: a table of the same name but another shape fails here, not on the first get.
    return { db, statements: prepare(db, `"${table}"`) };
  } catch (error) {
    // A connection we opened must not leak when the schema cannot be set up.
    if (options.database === undefined && db?.open === true) db.close();
    const what = options.path === undefined ? 'the database' : JSON.stringify(options.path);
    throw fail(`cannot open ${what}`, error);
  }
}

function prepare(db: Database.Database, table: string): Statements {
  return {
    get: db.prepare<[string, string, number], Uint8Array>(`SELECT value FROM ${table} WHERE namespace = ? AND key = ? AND expires_at > ?`).pluck(),
    upsert: db.prepare<[string, string, Uint8Array, number], unknown>(
      `INSERT INTO ${table} (namespace, key, value, expires_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
    ),
    add: db.prepare<[string, string, Uint8Array, number, number], unknown>(
      `INSERT INTO ${table} (namespace, key, value, expires_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
       WHERE ${table}.expires_at <= ?`,
    ),
    delete: db.prepare<[string, string], number>(`DELETE FROM ${table} WHERE namespace = ? AND key = ? RETURNING expires_at`).pluck(),
    clear: db.prepare<[string], unknown>(`DELETE FROM ${table} WHERE namespace = ?`),
    // WITHOUT ROWID tables have no rowid to batch on, hence the primary-key subquery.
    pruneBatch: db.prepare<[string, string, number, number, number], unknown>(
      `DELETE FROM ${table} WHERE namespace = ? AND key IN (
         SELECT key FROM ${table} WHERE namespace = ? AND expires_at <= ? LIMIT ?
       ) AND expires_at <= ?`,
    ),
    keysFirst: db.prepare<[string, string, string, number, number], string>(
      `SELECT key FROM ${table} WHERE namespace = ? AND key >= ? AND key GLOB ? AND expires_at > ? ORDER BY key LIMIT ?`,
    ).pluck(),
    keysNext: db.prepare<[string, string, string, number, number], string>(
      `SELECT key FROM ${table} WHERE namespace = ? AND key > ? AND key GLOB ? AND expires_at > ? ORDER BY key LIMIT ?`,
    ).pluck(),
  };
}

/**
 * Rounds up so that a fractional deadline never expires early, and caps at the largest exact integer so a
 * far-future (or infinite) deadline stays a valid INTEGER.
 */
function deadline(expiresAt: number): number {
  return Math.min(Math.ceil(expiresAt), Number.MAX_SAFE_INTEGER);
}

/**
 * Our glob has only `*` and `?` as wildcards, exactly as in SQLite's GLOB; GLOB's only other special character
 * is `[`, written literally as the one-character class `[[]`. (`]` is literal outside a class, and GLOB has no
 * escape character, so `\` already matches itself.) LIKE would not do: it ignores ASCII case.
 */
function toSqliteGlob(pattern: string): string {
  return pattern.replaceAll('[', '[[]');
}

function literalPrefix(pattern: string): string {
  const wildcard = pattern.search(/[*?]/);
  return wildcard === -1 ? pattern : pattern.slice(0, wildcard);
}
