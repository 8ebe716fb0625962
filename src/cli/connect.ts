import { hostname } from 'node:os';
import type { Bus } from '../bus/contract.js';
import { Cache } from '../cache.js';
import type { Store } from '../stores/contract.js';
import { DEFAULT_BACKEND_URLS, isBackend, storeFor, type StoreBackend } from '../stores/from-backend.js';

type Env = Readonly<Record<string, string | undefined>>;

/** Exit codes a script can branch on (documented in `--help` and docs/cli.md). */
export const EXIT = Object.freeze({ ok: 0, failure: 1, usage: 2, notFound: 3, down: 4, notAccepted: 5, interrupted: 130 });

/** A failure with the exit code it maps to; its message is printed as it is. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** The connection flags every command takes. */
export interface ConnectionFlags {
  url?: string;
  prefix?: string;
  storePrefix?: string;
  channel?: string;
  bus?: boolean;
  timeout?: string;
}

/** What the CLI writes into the invalidation log as `triggeredBy`. */
export const CLI_ORIGIN = `cli@${hostname()}`;

const LOCATION_VARIABLE: Record<StoreBackend, string> = {
  redis: 'REDIS_URL',
  memcached: 'MEMCACHED_SERVERS',
  sqlite: 'CACHE_SQLITE_PATH',
  postgres: 'DATABASE_URL',
  file: 'CACHE_FILE_DIR',
};

/** The opened cache with the store behind it (the CLI lists keys through it for progress). */
export interface Connection {
  cache: Cache;
  store: Store;
  backend: StoreBackend;
  location: string;
  /** The cache prefix in front of every key in the store. */
  prefix: string;
  /** Whether the cache announces on a bus (`warm` needs one). */
  bus: boolean;
}

/**
 * The cache the CLI acts through: the shared store and bus the environment names (as `cacheFromEnv` reads
 * them: `CACHE_BACKEND`, default `redis` here, `REDIS_URL`, `CACHE_PREFIX`, `CACHE_BUS`), flags first. It
 * publishes no heartbeat, runs no background probe, and is strict, so a store that fails makes the command fail
 * instead of reading as a miss.
 */
export async function connect(flags: ConnectionFlags, env: Env = process.env): Promise<Connection> {
  const backend = env.CACHE_BACKEND?.trim().toLowerCase() || 'redis';
  if (!isBackend(backend) || backend === 'memory') {
    throw new CliError(`CACHE_BACKEND must name a shared store (redis, memcached, sqlite, postgres, file), got ${JSON.stringify(backend)}`, EXIT.usage);
  }
  const fromEnv = env[LOCATION_VARIABLE[backend]]?.trim();
  const location = flags.url ?? (fromEnv === undefined || fromEnv === '' ? DEFAULT_BACKEND_URLS[backend] : fromEnv);
  const store = await storeFor(backend, { url: location, ...(flags.storePrefix === undefined ? {} : { prefix: flags.storePrefix }) });
  let bus: Bus | undefined;
  const busWanted = flags.bus !== false && backend === 'redis' && env.CACHE_BUS?.trim().toLowerCase() !== 'off';
  try {
    if (busWanted) {
      const { redisBus } = await import('../bus/redis.js');
      bus = redisBus({ url: location, ...(flags.channel === undefined ? {} : { channel: flags.channel }) });
    }
    const prefix = flags.prefix ?? env.CACHE_PREFIX;
    const cache = new Cache({
      stores: [{ store, timeout: flags.timeout ?? '2s' }],
      ...(bus === undefined ? {} : { bus }),
      ...(prefix === undefined ? {} : { prefix }),
      name: 'cli',
      strict: true,
      fleet: false,
      maintenance: { probeInterval: 0 },
      memory: { maxEntries: 1_000 },
    });
    return { cache, store, backend, location, prefix: prefix ?? '', bus: bus !== undefined };
  } catch (error) {
    await Promise.allSettled([store.close(), bus?.close()]);
    throw error;
  }
}

/** Hides a password in a URL shown to the user. */
export function redact(location: string): string {
  return location.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}
