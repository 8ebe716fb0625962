import type { Bus } from '../bus/contract.js';
import type { Clock } from '../clock.js';
import type { Store } from './contract.js';

/** The backends a cache can be built on by name: `memory` is the memory tier alone, the others a store behind it. */
export const BACKENDS = ['memory', 'redis', 'memcached', 'sqlite', 'postgres', 'file'] as const;
export type Backend = (typeof BACKENDS)[number];
/** A backend with a store. */
export type StoreBackend = Exclude<Backend, 'memory'>;

/** Where each backend is looked for when no `url` is given: a server on this machine, or files in the working directory. */
export const DEFAULT_BACKEND_URLS: Readonly<Record<StoreBackend, string>> = Object.freeze({
  redis: 'redis://127.0.0.1:6379',
  memcached: '127.0.0.1:11211',
  sqlite: './tiercache.db',
  postgres: 'postgres://127.0.0.1:5432/postgres',
  file: './.tiercache',
});

/** True when `value` names a backend. */
export function isBackend(value: unknown): value is Backend {
  return (BACKENDS as readonly unknown[]).includes(value);
}

/** How {@link storeFor} builds a store. */
export interface BackendStoreOptions {
  /**
   * Where the backend is: a Redis URL (`redis`), `host:port[,host:port…]` (`memcached`), a database file
   * (`sqlite`), a connection string (`postgres`), a directory (`file`).
   * @default the backend's entry in {@link DEFAULT_BACKEND_URLS}
   */
  url?: string;
  /** The part of the backend the store owns (see each store's `prefix`). @default the store's own default */
  prefix?: string;
  /** @default the system clock */
  clock?: Clock;
}

/** How {@link openBackend} builds a store and a bus. */
export interface OpenBackendOptions extends BackendStoreOptions {
  /**
   * `true` builds a Redis bus on `url` (backend `redis` only), on the channel `<prefix>bus` when a prefix is
   * given, so caches under different prefixes do not hear each other; a `Bus` is used as it is.
   * @default false
   */
  bus?: boolean | Bus;
}

/** A store (none for `memory`) and the bus that keeps instances sharing it coherent, if any. */
export interface OpenedBackend<B extends Backend = Backend> {
  store: B extends StoreBackend ? Store : Store | undefined;
  bus: Bus | undefined;
}

function checkBackend(backend: unknown): asserts backend is Backend {
  if (!isBackend(backend)) throw new TypeError(`backend must be one of ${BACKENDS.join(', ')}, got ${JSON.stringify(backend)}`);
}

/**
 * The store for a backend, built from a location and a prefix. The store's module is loaded here, on first
 * use, because it imports its client library (an optional peer): a SQLite user never needs ioredis.
 *
 * @throws {TypeError} for an unknown backend, or options the store refuses.
 * @example
 * const store = await storeFor('postgres', { url: process.env.DATABASE_URL, prefix: 'reports' });
 * const cache = new Cache({ stores: [store] });
 */
export async function storeFor(backend: StoreBackend, options: BackendStoreOptions = {}): Promise<Store> {
  checkBackend(backend);
  if ((backend as Backend) === 'memory') throw new TypeError("the memory backend has no store: leave `stores` out instead");
  const { url = DEFAULT_BACKEND_URLS[backend], prefix, clock } = options;
  if (typeof url !== 'string' || url.trim() === '') throw new TypeError(`url must be a non-empty string, got ${JSON.stringify(url)}`);
  const shared = { ...(clock === undefined ? {} : { clock }), ...(prefix === undefined ? {} : { prefix }) };
  switch (backend) {
    case 'redis': {
      const { redisStore } = await import('./redis.js');
      return redisStore({ url, ...shared });
    }
    case 'memcached': {
      const { memcachedStore } = await import('./memcached.js');
      return memcachedStore({ servers: url.split(',').map((s) => s.trim()).filter(Boolean), ...shared });
    }
    case 'sqlite': {
      const { sqliteStore } = await import('./sqlite.js');
      return sqliteStore({ path: url, ...shared });
    }
    case 'postgres': {
      const { postgresStore } = await import('./postgres.js');
      return postgresStore({ connectionString: url, ...shared });
    }
    case 'file': {
      const { fileStore } = await import('./file.js');
      return fileStore({ directory: url, ...shared });
    }
  }
}

/**
 * A backend's store (see {@link storeFor}) and, with `bus`, the bus beside it. Closes the store again when
 * the bus cannot be built, so a failed open leaves nothing behind.
 *
 * @throws {TypeError} for an unknown backend, `bus: true` with a backend other than `redis`, or options the
 * store or bus refuses.
 * @example
 * const { store, bus } = await openBackend('redis', { url: 'redis://cache:6379', prefix: 'app:', bus: true });
 * const cache = new Cache({ stores: [store], bus });
 */
export async function openBackend<B extends Backend>(backend: B, options: OpenBackendOptions = {}): Promise<OpenedBackend<B>> {
  checkBackend(backend);
  const { bus: wanted = false } = options;
  if (wanted !== false && wanted !== true && (typeof wanted !== 'object' || wanted === null)) throw new TypeError('bus must be a boolean or a Bus');
  if (wanted === true && backend !== 'redis') throw new TypeError(`bus: true builds a Redis bus, and backend ${JSON.stringify(backend)} is not redis: pass a Bus`);
  const store = backend === 'memory' ? undefined : await storeFor(backend, options);
  let bus: Bus | undefined;
  try {
    if (typeof wanted === 'object') bus = wanted;
    else if (wanted) {
      const { redisBus } = await import('../bus/redis.js');
      const { url = DEFAULT_BACKEND_URLS.redis, prefix } = options;
      bus = redisBus({ url, ...(prefix === undefined ? {} : { channel: `${prefix}bus` }) });
    }
  } catch (error) {
    await store?.close();
    throw error;
  }
  return { store, bus } as OpenedBackend<B>;
}
