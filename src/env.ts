import { Cache } from './cache.js';
import type { Bus } from './bus/contract.js';
import type { CacheOptions } from './options.js';
import type { Store } from './stores/contract.js';
import { BACKENDS, DEFAULT_BACKEND_URLS, isBackend, openBackend, type Backend, type StoreBackend } from './stores/from-backend.js';
import { parseDuration } from './ttl.js';

type Env = Readonly<Record<string, string | undefined>>;

export { BACKENDS, type Backend } from './stores/from-backend.js';

/** The environment variables {@link cacheFromEnv} reads, with their defaults. */
export const ENV_DEFAULTS = Object.freeze({
  CACHE_BACKEND: 'memory',
  REDIS_URL: DEFAULT_BACKEND_URLS.redis,
  MEMCACHED_SERVERS: DEFAULT_BACKEND_URLS.memcached,
  DATABASE_URL: DEFAULT_BACKEND_URLS.postgres,
  CACHE_SQLITE_PATH: DEFAULT_BACKEND_URLS.sqlite,
  CACHE_FILE_DIR: DEFAULT_BACKEND_URLS.file,
});

/** The variable that says where each backend is. */
const LOCATION_VARIABLE = Object.freeze({
  redis: 'REDIS_URL',
  memcached: 'MEMCACHED_SERVERS',
  sqlite: 'CACHE_SQLITE_PATH',
  postgres: 'DATABASE_URL',
  file: 'CACHE_FILE_DIR',
} as const satisfies Record<StoreBackend, keyof typeof ENV_DEFAULTS>);

function read(env: Env, name: keyof typeof ENV_DEFAULTS): string {
  const value = env[name];
  return value === undefined || value.trim() === '' ? ENV_DEFAULTS[name] : value.trim();
}

/**
 * A duration read from an environment variable. The one rule for durations in the environment: a bare number
 * is seconds (`300`, `1.5`), as the seeds' configuration files write them, and anything else is a duration
 * string (`'5m'`, `'1h30m'`). Both are read by `parseDuration`, the bare number as `'<n>s'`; inside the code a
 * bare number stays milliseconds, so this rule applies to environment variables only.
 *
 * @throws {TypeError} naming the variable.
 * @example
 * envDuration('300', 'CACHE_DEFAULT_TTL') // 300_000
 * envDuration('5m', 'CACHE_DEFAULT_TTL')  // 300_000
 */
export function envDuration(value: string, name: string): number {
  const text = value.trim();
  // Number('') is 0 and Number('5m') NaN: only a bare number (or a spelling parseDuration refuses) gets in.
  if (text !== '' && !Number.isNaN(Number(text))) {
    try {
      return parseDuration(`${text}s`, name);
    } catch {
      throw new TypeError(`${name} must be a number of seconds such as 300, or a duration such as '5m', got ${JSON.stringify(value)}`);
    }
  }
  return parseDuration(text, name);
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
  if (!isBackend(backend)) {
    throw new TypeError(`CACHE_BACKEND must be one of ${BACKENDS.join(', ')}, got ${JSON.stringify(env.CACHE_BACKEND)}`);
  }
  if (backend === 'memory') return { backend, store: undefined, bus: undefined };
  const bus = backend === 'redis' && env.CACHE_BUS?.trim().toLowerCase() !== 'off';
  return { backend, ...(await openBackend(backend, { url: read(env, LOCATION_VARIABLE[backend]), bus })) };
}

/**
 * A cache configured from the environment (seed 003), for the common case:
 * - `CACHE_BACKEND`: `memory` (default), `redis`, `memcached`, `sqlite`, `postgres` or `file`: the shared
 *   tier behind the memory tier.
 * - `REDIS_URL` (with `redis`; the bus is on unless `CACHE_BUS=off`), `MEMCACHED_SERVERS` (comma-separated),
 *   `DATABASE_URL` (with `postgres`), `CACHE_SQLITE_PATH`, `CACHE_FILE_DIR`.
 * - `CACHE_DEFAULT_TTL`: seconds as a bare number (`300`), or a duration (`'5m'`): see {@link envDuration}.
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
  if (ttl !== undefined && ttl !== '') options.defaultTtl = envDuration(ttl, 'CACHE_DEFAULT_TTL');
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
