import pg from 'pg';
import type { Pool, PoolClient, PoolConfig, QueryResultRow } from 'pg';
import { CacheBackendError } from '../errors.js';
import { compilePattern, STORE_PATTERN } from '../freshness/pattern.js';
import { assertStoreKey, assertStoreKeys } from '../keys/validate.js';
import { resolveSqlOptions, startPruneTimer } from './sql-options.js';
import type { BaseStoreOptions, Store, StoreCapabilities, StoreWrite } from './contract.js';

interface PostgresStoreCommonOptions extends BaseStoreOptions {
  /** Table holding the entries; created when missing. Letters, digits and `_`, at most 48 characters. @default 'tiercache_entries' */
  table?: string;
  /**
   * The part of the table this store owns (the rows whose `namespace` column holds it): rows under other
   * prefixes in the same table are never read, listed, pruned or cleared. @default 'default'
   */
  prefix?: string;
  /** @deprecated Use `prefix`; the same option under its old name. */
  namespace?: string;
  /** Names the store in errors, events and stats. @default 'postgres' */
  name?: string;
  /** Milliseconds between background prunes of expired rows; 0 turns them off. @default 60_000 */
  pruneInterval?: number;
}

export type PostgresStoreOptions = PostgresStoreCommonOptions &
  (
    | { connectionString: string; poolConfig?: never; pool?: never }
    | {
        /** Options for the pool the store opens; timeouts not given here get the store's defaults. */
        poolConfig: PoolConfig;
        connectionString?: never;
        pool?: never;
      }
    | {
        /** A pool the caller owns: `close()` leaves it open, and its timeouts are the caller's to set. */
        pool: Pool;
        connectionString?: never;
        poolConfig?: never;
      }
  );

// The index name adds 15 characters to the table name and PostgreSQL truncates identifiers at 63 bytes.
const KEYS_PAGE_SIZE = 500;
const PRUNE_BATCH_SIZE = 5_000;
// Bind messages carry at most 65535 parameters; 4 per row plus the prefix.
const SET_MANY_ROWS_PER_STATEMENT = 1_000;
const SCHEMA_ATTEMPTS = 5;
// Defaults for a pool the store opens, so that calls fail instead of hanging when the server is away:
// connecting gives up after 5 s, the server cancels a statement after 10 s, and the client stops waiting
// after 15 s (covering a server that has gone silent without closing the socket).
const POOL_DEFAULTS = {
  connectionTimeoutMillis: 5_000,
  statement_timeout: 10_000,
  query_timeout: 15_000,
  idleTimeoutMillis: 30_000,
  keepAlive: true,
  // A cache must never keep the process alive on its own.
  allowExitOnIdle: true,
} satisfies PoolConfig;
/**
 * bytea holds up to 1 GiB, but node-pg receives result columns in text format only (its protocol parser has no
 * binary mode), so a bytea arrives as a hex string of 2n + 2 characters and V8 strings stop at 2^29 - 24
 * characters. A larger value could be written, but reading it throws ERR_STRING_TOO_LONG inside node-pg's socket
 * handler, which is an uncaught exception that ends the reading process; so writes above this are refused.
 */
const MAX_VALUE_BYTES = 255 * 1024 * 1024;

// SQLSTATEs from concurrent `CREATE ... IF NOT EXISTS`: the existence check and the catalog insert are not
// atomic, so a racing creator fails on the unique index of pg_type/pg_class instead of skipping.
const UNIQUE_VIOLATION = '23505';
const DUPLICATE_TABLE = '42P07';
const DUPLICATE_OBJECT = '42710';
const DEADLOCK_DETECTED = '40P01';
const RETRYABLE_SCHEMA_ERRORS = new Set([UNIQUE_VIOLATION, DUPLICATE_TABLE, DUPLICATE_OBJECT, DEADLOCK_DETECTED]);

interface ValueRow extends QueryResultRow {
  value: Buffer;
}
interface KeyValueRow extends QueryResultRow {
  key: string;
  value: Buffer;
}
interface KeyRow extends QueryResultRow {
  key: string;
}
interface LiveRow extends QueryResultRow {
  live: boolean;
}
interface CountRow extends QueryResultRow {
  n: number;
}
interface RegclassRow extends QueryResultRow {
  has_table: boolean;
  has_index: boolean;
}

/**
 * A cache store in a PostgreSQL table, through a node-pg pool: entries are shared by every process using the
 * table and survive restarts. PostgreSQL has no row expiry: reads skip rows whose deadline has passed and
 * {@link Store.prune} (also run on a timer) deletes them. The table is created on first use.
 *
 * Queries use unnamed statements, so the store also works behind a transaction-mode connection pooler.
 *
 * @example
 * const cache = new Cache({ stores: [postgresStore({ connectionString: 'postgres://app@db.internal:5432/app' })] });
 */
export function postgresStore(options: PostgresStoreOptions): Store {
  const { table, prefix, name, time, pruneInterval } = resolveSqlOptions(options, 'postgresStore', 'postgres');
  const sources = [options.connectionString, options.poolConfig, options.pool].filter((source) => source !== undefined);
  if (sources.length !== 1) throw new TypeError('postgresStore needs exactly one of connectionString, poolConfig or pool');
  const connectionString: unknown = options.connectionString;
  if (connectionString !== undefined && typeof connectionString !== 'string') {
    throw new TypeError(`connectionString must be a string, got ${typeof connectionString}`);
  }

  const owned = options.pool === undefined;
  const pool: Pool =
    options.pool ??
    new pg.Pool(
      options.poolConfig !== undefined ? { ...POOL_DEFAULTS, ...options.poolConfig } : { ...POOL_DEFAULTS, connectionString: options.connectionString },
    );
  if (owned) {
    // An idle client that loses its connection is dropped from the pool and the next query reconnects; without
    // a listener the 'error' event would crash the process.
    pool.on('error', () => undefined);
  }

  const t = `"${table}"`;
  const sql = {
    get: `SELECT value FROM ${t} WHERE namespace = $1 AND key = $2 AND expires_at > $3`,
    upsert: `INSERT INTO ${t} (namespace, key, value, expires_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (namespace, key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at`,
    // Under READ COMMITTED, ON CONFLICT DO UPDATE always ends in an insert or a locked update of the latest
    // row version, so two racing adds cannot both see "absent": the loser's WHERE finds the winner's live row.
    add: `INSERT INTO ${t} AS e (namespace, key, value, expires_at) VALUES ($1, $2, $3, $4)
          ON CONFLICT (namespace, key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at
          WHERE e.expires_at <= $5 RETURNING 1`,
    delete: `DELETE FROM ${t} WHERE namespace = $1 AND key = $2 RETURNING expires_at > $3 AS live`,
    deleteKeys: `DELETE FROM ${t} WHERE namespace = $1 AND key = ANY($2::text[])`,
    deleteMany: `WITH gone AS (DELETE FROM ${t} WHERE namespace = $1 AND key = ANY($2::text[]) RETURNING expires_at)
                 SELECT (count(*) FILTER (WHERE expires_at > $3))::int AS n FROM gone`,
    getMany: `SELECT key, value FROM ${t} WHERE namespace = $1 AND key = ANY($2::text[]) AND expires_at > $3`,
    clear: `DELETE FROM ${t} WHERE namespace = $1`,
    // The outer deadline check is re-evaluated on the latest row version, so a row made live again between
    // the subquery's snapshot and the delete survives.
    prune: `DELETE FROM ${t} WHERE namespace = $1 AND expires_at <= $2 AND key IN (
              SELECT key FROM ${t} WHERE namespace = $1 AND expires_at <= $2 LIMIT $3)`,
    keysFirst: `SELECT key FROM ${t} WHERE namespace = $1 AND key >= $2 AND key LIKE $3 ESCAPE '!' AND expires_at > $4
                ORDER BY key LIMIT $5`,
    keysNext: `SELECT key FROM ${t} WHERE namespace = $1 AND key > $2 AND key LIKE $3 ESCAPE '!' AND expires_at > $4
               ORDER BY key LIMIT $5`,
  };

  const capabilities: StoreCapabilities = Object.freeze({
    nativeExpiry: false,
    expiryResolutionMs: 1,
    shared: true,
    iterate: true,
    atomicAdd: true,
    maxValueBytes: MAX_VALUE_BYTES,
  });

  let closed = false;
  let closing: Promise<void> | undefined;
  let schema: Promise<void> | undefined;
  // The callbacks read `prune` and `closed` only when the timer fires, after both are defined below.
  const timer = startPruneTimer(time, pruneInterval, () => prune(), () => closed);

  const fail = (message: string, cause?: unknown, key?: string): CacheBackendError => {
    const detail = cause instanceof Error ? `: ${describe(cause)}` : '';
    return new CacheBackendError(`${name}: ${message}${detail}`, {
      store: name,
      ...(cause === undefined ? {} : { cause }),
      ...(key === undefined ? {} : { key }),
    });
  };
  // Deadlines are whole milliseconds, so comparing with the floor of a fractional "now" gives the same answer.
  const now = (): number => Math.floor(time.now());
  const assertOpen = (key?: string): void => {
    if (closed) throw fail('the store is closed', undefined, key);
  };
  const bytea = (value: Uint8Array, key: string): Buffer => {
    if (!(value instanceof Uint8Array)) throw fail('value must be a Uint8Array', undefined, key);
    if (value.byteLength > MAX_VALUE_BYTES) {
      throw fail(`value of ${value.byteLength} bytes exceeds the ${MAX_VALUE_BYTES}-byte limit`, undefined, key);
    }
    // node-pg sends a Buffer as a binary parameter; a view over the same memory avoids a copy.
    return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  };
  const checkDeadline = (expiresAt: number, key: string): void => {
    if (typeof expiresAt !== 'number' || Number.isNaN(expiresAt)) throw fail('expiresAt must be a number', undefined, key);
  };

  async function createSchema(): Promise<void> {
    const index = `${table}_ns_expires_idx`;
    for (let attempt = 1; ; attempt++) {
      const client = await pool.connect();
      let broken = false;
      try {
        // Checked first so that a role without CREATE privilege can use a table made for it in advance.
        const found = await client.query<RegclassRow>(
          'SELECT to_regclass($1) IS NOT NULL AS has_table, to_regclass($2) IS NOT NULL AS has_index',
          [t, `"${index}"`],
        );
        const row = found.rows[0];
        if (row?.has_table === true && row.has_index) return;
        await client.query('BEGIN');
        try {
          // Serializes creators that use this code; the retry below covers anyone else creating the table.
          await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`tiercache:${table}`]);
          await client.query(
            `CREATE TABLE IF NOT EXISTS ${t} (
               namespace text NOT NULL,
               key text COLLATE "C" NOT NULL,
               value bytea NOT NULL,
               expires_at bigint NOT NULL,
               PRIMARY KEY (namespace, key)
             )`,
          );
          await client.query(`CREATE INDEX IF NOT EXISTS "${index}" ON ${t} (namespace, expires_at)`);
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK').catch(() => {
            broken = true;
          });
          throw error;
        }
        return;
      } catch (error) {
        if (attempt < SCHEMA_ATTEMPTS && RETRYABLE_SCHEMA_ERRORS.has(sqlState(error) ?? '')) continue;
        throw error;
      } finally {
        client.release(broken);
      }
    }
  }

  function ready(): Promise<void> {
    if (schema === undefined) {
      schema = createSchema().catch((error: unknown) => {
        // Not cached: a server that is down at startup must not leave the store broken once it is back.
        schema = undefined;
        throw error;
      });
    }
    return schema;
  }

  async function query<R extends QueryResultRow>(what: string, text: string, values: unknown[], key?: string): Promise<R[]> {
    assertOpen(key);
    try {
      await ready();
      const result = await pool.query<R>(text, values);
      return result.rows;
    } catch (error) {
      throw fail(`${what} failed`, error, key);
    }
  }

  async function transaction<T>(what: string, work: (client: PoolClient) => Promise<T>): Promise<T> {
    assertOpen();
    let client: PoolClient | undefined;
    let broken = false;
    try {
      await ready();
      client = await pool.connect();
      await client.query('BEGIN');
      try {
        const result = await work(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        const session = client;
        await session.query('ROLLBACK').catch(() => {
          // A connection that cannot even roll back must not go back to the pool mid-transaction.
          broken = true;
        });
        throw error;
      }
    } catch (error) {
      throw fail(`${what} failed`, error);
    } finally {
      client?.release(broken);
    }
  }

  async function prune(): Promise<number> {
    let total = 0;
    for (;;) {
      const rows = await query<CountRow>('prune', `WITH gone AS (${sql.prune} RETURNING 1) SELECT count(*)::int AS n FROM gone`, [
        prefix,
        now(),
        PRUNE_BATCH_SIZE,
      ]);
      const removed = rows[0]?.n ?? 0;
      total += removed;
      // Batches keep each transaction (and the row locks it holds) short on a large backlog.
      if (removed < PRUNE_BATCH_SIZE || closed) return total;
    }
  }

  async function writeMany(client: PoolClient, entries: readonly StoreWrite[], at: number): Promise<void> {
    // One statement cannot upsert a key twice ("ON CONFLICT DO UPDATE command cannot affect row a second time"),
    // and the last write of a key is the one that counts.
    const latest = new Map<string, StoreWrite>();
    for (const entry of entries) {
      checkDeadline(entry.expiresAt, entry.key);
      latest.delete(entry.key);
      latest.set(entry.key, entry);
    }
    const expired: string[] = [];
    const live: StoreWrite[] = [];
    for (const entry of latest.values()) {
      if (entry.expiresAt <= at) expired.push(entry.key);
      else live.push(entry);
    }
    if (expired.length > 0) await client.query(sql.deleteKeys, [prefix, expired]);
    for (let start = 0; start < live.length; start += SET_MANY_ROWS_PER_STATEMENT) {
      const chunk = live.slice(start, start + SET_MANY_ROWS_PER_STATEMENT);
      const values: unknown[] = [prefix];
      const rows = chunk.map((entry) => {
        values.push(entry.key, bytea(entry.value, entry.key), deadline(entry.expiresAt));
        const n = values.length;
        return `($1, $${n - 2}, $${n - 1}, $${n})`;
      });
      await client.query(
        `INSERT INTO ${t} (namespace, key, value, expires_at) VALUES ${rows.join(', ')}
         ON CONFLICT (namespace, key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at`,
        values,
      );
    }
  }

  async function* iterateKeys(pattern: string): AsyncGenerator<string> {
    // Validated here so a bad pattern is the caller's InvalidPatternError, as on every store, not a query.
    compilePattern(pattern, 'keys(pattern)', STORE_PATTERN);
    const like = toLikePattern(pattern);
    // Every match starts with the pattern's literal prefix; with the key column in "C" collation the primary
    // key index can start the scan there.
    let cursor = literalPrefix(pattern);
    let first = true;
    for (;;) {
      const page = await query<KeyRow>('keys', first ? sql.keysFirst : sql.keysNext, [prefix, cursor, like, now(), KEYS_PAGE_SIZE]);
      first = false;
      for (const row of page) yield row.key;
      const last = page[page.length - 1];
      if (page.length < KEYS_PAGE_SIZE || last === undefined) return;
      cursor = last.key;
    }
  }

  const store: Store = {
    name,
    capabilities,

    attach(context) {
      time.attach(context);
    },

    async get(key) {
      assertStoreKey(name, key);
      const rows = await query<ValueRow>('get', sql.get, [prefix, key, now()], key);
      return rows[0]?.value;
    },

    async set(key, value, expiresAt) {
      assertStoreKey(name, key);
      checkDeadline(expiresAt, key);
      const at = now();
      if (expiresAt <= at) await query('set', sql.deleteKeys, [prefix, [key]], key);
      else await query('set', sql.upsert, [prefix, key, bytea(value, key), deadline(expiresAt)], key);
    },

    async delete(key) {
      assertStoreKey(name, key);
      // The row goes even when expired (it is garbage anyway); only a live one counts as removed.
      const rows = await query<LiveRow>('delete', sql.delete, [prefix, key, now()], key);
      return rows[0]?.live === true;
    },

    async clear() {
      await query('clear', sql.clear, [prefix]);
    },

    close() {
      if (closing === undefined) {
        closed = true;
        timer?.stop();
        closing = owned
          ? pool.end().catch((error: unknown) => {
              throw fail('close failed', error);
            })
          : Promise.resolve();
      }
      return closing;
    },

    async getMany(keys) {
      assertStoreKeys(name, keys);
      if (keys.length === 0) {
        assertOpen();
        return [];
      }
      const rows = await query<KeyValueRow>('getMany', sql.getMany, [prefix, [...new Set(keys)], now()]);
      const found = new Map(rows.map((row) => [row.key, row.value]));
      return keys.map((key) => found.get(key));
    },

    async setMany(entries) {
      for (const entry of entries) assertStoreKey(name, entry.key);
      if (entries.length === 0) {
        assertOpen();
        return;
      }
      await transaction('setMany', (client) => writeMany(client, entries, now()));
    },

    async deleteMany(keys) {
      assertStoreKeys(name, keys);
      if (keys.length === 0) {
        assertOpen();
        return 0;
      }
      const rows = await query<CountRow>('deleteMany', sql.deleteMany, [prefix, [...new Set(keys)], now()]);
      return rows[0]?.n ?? 0;
    },

    async add(key, value, expiresAt) {
      assertStoreKey(name, key);
      checkDeadline(expiresAt, key);
      const at = now();
      // Nothing to store, and a live entry must not be disturbed by a write that never existed.
      if (expiresAt <= at) {
        assertOpen(key);
        return false;
      }
      const rows = await query('add', sql.add, [prefix, key, bytea(value, key), deadline(expiresAt), at], key);
      return rows.length === 1;
    },

    prune,

    keys(pattern) {
      return iterateKeys(pattern);
    },
  };


  return store;
}

/** Connecting to a host name with several addresses fails with an AggregateError whose own message is empty. */
function describe(error: Error): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return error.errors.map((inner: unknown) => (inner instanceof Error ? inner.message : String(inner))).join('; ');
  }
  return error.message || error.name;
}

function sqlState(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}

/**
 * Rounds up so that a fractional deadline never expires early (bigint refuses fractions anyway), and caps at
 * the largest exact integer so a far-future (or infinite) deadline stays a valid bigint.
 */
function deadline(expiresAt: number): number {
  return Math.min(Math.ceil(expiresAt), Number.MAX_SAFE_INTEGER);
}

/**
 * Our glob has only `*` and `?` as wildcards and no escape character. LIKE's wildcards are `%` and `_`, so those
 * (and the escape character itself) are escaped to match literally. `!` is the escape rather than `\` so the
 * pattern means the same whatever standard_conforming_strings is.
 */
function toLikePattern(pattern: string): string {
  let like = '';
  for (const char of pattern) {
    if (char === '*') like += '%';
    else if (char === '?') like += '_';
    else if (char === '%' || char === '_' || char === '!') like += `!${char}`;
    else like += char;
  }
  return like;
}

function literalPrefix(pattern: string): string {
  const wildcard = pattern.search(/[*?]/);
  return wildcard === -1 ? pattern : pattern.slice(0, wildcard);
}
