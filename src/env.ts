import { Cache } from './cache.js';
import type { Bus } from './bus/contract.js';
import type { CacheOptions } from './options.js';
import type { Store } from './stores/contract.js';
import { parseDuration } from './ttl.js';

type Env = Readonly<Record<string, string | undefined>>;

export const BACKENDS = ['memory', 'redis', 'memcached', 'sqlite', 'postgres', 'file'] as const;
export type Backend = (typeof BACKENDS)[number];

/** The environment variables {@link cacheFromEnv} reads, with their defaults. */
export const ENV_DEFAULTS = Object.freeze({
  CACHE_BACKEND: 'memory',
  REDIS_URL: 'redis://127.0.0.1:6379',
  MEMCACHED_SERVERS: '127.0.0.1:11211',
  DATABASE_URL: 'postgres://127.0.0.1:5432/postgres',
  CACHE_SQLITE_PATH: './tiercache.db',
  CACHE_FILE_DIR: './.tiercache',
});

function read(env: Env, name: keyof typeof ENV_DEFAULTS): string {
  const value = env[name];
  return value === undefined || value.trim() === '' ? ENV_DEFAULTS[name] : value.trim();
}

/**
 * `CACHE_DEFAULT_TTL` follows the seed convention: a bare number is seconds (`300`), a duration string is
 * read as usual (`'5m'`).
 */
function envTtl(value: string): number {
  return /^\d+(\.\d+)?$/.test(value) ? Number(value) * 1000 : parseDuration(value, 'CACHE_DEFAULT_TTL');
}

function envInteger(env: Env, name: string): number | undefined {
  const value = env[name]?.trim();
  if (value === undefined || value === '') return undefined;
  if (!/^\d+$/.test(value)) throw new TypeError(`${name} must be a whole number, got ${JSON.stringify(value)}`);
  return Number(value);
}

/** The shared store the environment asks for, or none for `CACHE_BACKEND=memory`. */
export async function storeFromEnv(env: Env = process.env): Promise<{ backend: Backend; store: Store | undefined; bus: Bus | undefined }> {
  const backend = read(env, 'CACHE_BACKEND').toLowerCase();
  if (!(BACKENDS as readonly string[]).includes(backend)) {
    throw new TypeError(`CACHE_BACKEND must be one of ${BACKENDS.join(', ')}, got ${JSON.stringify(env.CACHE_BACKEND)}`);
  }
  switch (backend as Backend) {
    case 'memory':
      return { backend: 'memory', store: undefined, bus: undefined };
    case 'redis': {
      const url = read(env, 'REDIS_URL');
      const [{ redisStore }, { redisBus }] = await Promise.all([import('./stores/redis.js'), import('./bus/redis.js')]);
      const bus = env.CACHE_BUS?.trim().toLowerCase() === 'off' ? undefined : redisBus({ url });
      return { backend: 'redis', store: redisStore({ url }), bus };
    }
    case 'memcached': {
      const { memcachedStore } = await import('./stores/memcached.js');
      const servers = read(env, 'MEMCACHED_SERVERS').split(',').map((s) => s.trim()).filter(Boolean);
      return { backend: 'memcached', store: memcachedStore({ servers }), bus: undefined };
    }
    case 'sqlite': {
      const { sqliteStore } = await import('./stores/sqlite.js');
      return { backend: 'sqlite', store: sqliteStore({ path: read(env, 'CACHE_SQLITE_PATH') }), bus: undefined };
    }
    case 'postgres': {
      const { postgresStore } = await import('./stores/postgres.js');
      return { backend: 'postgres', store: postgresStore({ connectionString: read(env, 'DATABASE_URL') }), bus: undefined };
    }
    case 'file': {
      const { fileStore } = await import('./stores/file.js');
      return { backend: 'file', store: fileStore({ directory: read(env, 'CACHE_FILE_DIR') }), bus: undefined };
    }
  }
}

/**
 * A cache configured from the environment (seed 003), for the common case:
 * - `CACHE_BACKEND`: `memory` (default), `redis`, `memcached`, `sqlite`, `postgres` or `file`: the shared
 *   tier behind the memory tier.
 * - `REDIS_URL` (with `redis`; the bus is on unless `CACHE_BUS=off`), `MEMCACHED_SERVERS` (comma-separated),
 *   `DATABASE_URL` (with `postgres`), `CACHE_SQLITE_PATH`, `CACHE_FILE_DIR`.
 * - `CACHE_DEFAULT_TTL`: seconds as a bare number (`300`), or a duration (`'5m'`).
 * - `CACHE_PREFIX`, `CACHE_MEMORY_MAX_ENTRIES`, `CACHE_MEMORY_MAX_BYTES`, `CACHE_MEMORY_POLICY`.
 * `overrides` win over the environment.
 *
 * @example
 * const cache = await cacheFromEnv(); // CACHE_BACKEND=redis REDIS_URL=redis://cache:6379 node app.js
 */
export async function cacheFromEnv(env: Env = process.env, overrides: CacheOptions = {}): Promise<Cache> {
  const { store, bus } = await storeFromEnv(env);
  const options: CacheOptions = {};
  const ttl = env.CACHE_DEFAULT_TTL?.trim();
  if (ttl !== undefined && ttl !== '') options.defaultTtl = envTtl(ttl);
  if (env.CACHE_PREFIX !== undefined) options.prefix = env.CACHE_PREFIX;
  const maxEntries = envInteger(env, 'CACHE_MEMORY_MAX_ENTRIES');
  const maxBytes = envInteger(env, 'CACHE_MEMORY_MAX_BYTES');
  const policy = env.CACHE_MEMORY_POLICY?.trim();
  if (maxEntries !== undefined || maxBytes !== undefined || (policy !== undefined && policy !== '')) {
    options.memory = {};
    if (maxEntries !== undefined) options.memory.maxEntries = maxEntries;
    if (maxBytes !== undefined) options.memory.maxBytes = maxBytes;
    if (policy !== undefined && policy !== '') options.memory.policy = policy as NonNullable<CacheOptions['memory']>['policy'] & string;
  }
  if (store !== undefined) options.stores = [store];
  if (bus !== undefined) options.bus = bus;
  try {
    return new Cache({ ...options, ...overrides });
  } catch (error) {
    await Promise.allSettled([store?.close(), bus?.close()]);
    throw error;
  }
}
