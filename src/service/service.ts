import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import type { Bus } from '../bus/contract.js';
import { formatDay } from '../forecast/data/calendar.js';
import { generateDemoData, type DemoDataSummary } from '../forecast/data/demo-data.js';
import { DuplicateRecordError } from '../forecast/data/errors.js';
import { SqliteFinanceStore } from '../forecast/data/sqlite-store.js';
import { ForecastCache } from '../forecast/forecast-cache.js';
import type { Store } from '../stores/contract.js';
import { openBackend } from '../stores/from-backend.js';
import { createApp, type App } from './app.js';
import type { ServiceConfig } from './config.js';
import type { Logger } from './logger.js';

/** The parts of a running service, for `main` to listen with and to close. */
export interface OpenedService {
  readonly app: App;
  readonly forecasts: ForecastCache;
  readonly finance: SqliteFinanceStore;
  /** What the cache is made of, e.g. `memory → sqlite (/srv/.data/cache.db)`. */
  readonly cacheLabel: string;
  /** What the demo generator wrote on this start; undefined when the database already had users. */
  readonly demo: DemoDataSummary | undefined;
  /** Stops the HTTP server (letting requests finish), then closes the cache and the finance database. */
  close(): Promise<void>;
}

/** The URL without its password, for logs. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/** The shared tier and bus: Redis with its bus when `REDIS_URL` is set, else a SQLite file on this machine. */
async function openCacheStore(config: ServiceConfig): Promise<{ store: Store; bus: Bus | undefined; label: string }> {
  const redis = config.redisUrl !== undefined;
  // No bus without Redis: a SQLite file is shared only by the processes of this machine, and each keeps its own
  // memory tier, so run one instance per cache file (or set REDIS_URL for several).
  if (!redis) mkdirSync(dirname(config.cacheDb), { recursive: true });
  // The store modules load only when asked for: ioredis is an optional peer, and the embedded default must not need it.
  const { store, bus } = await openBackend(redis ? 'redis' : 'sqlite', { url: config.redisUrl ?? config.cacheDb, prefix: config.cachePrefix, bus: redis });
  const label =
    config.redisUrl !== undefined
      ? `memory → redis (${redact(config.redisUrl)}, prefix ${JSON.stringify(config.cachePrefix)}) + bus ${JSON.stringify(`${config.cachePrefix}bus`)}`
      : `memory → sqlite (${config.cacheDb})`;
  return { store, bus, label };
}

/** Writes the demo data when the database has no user yet; undefined when it had some. */
function seedDemo(finance: SqliteFinanceStore, config: ServiceConfig, log: Logger): DemoDataSummary | undefined {
  const demo = config.demo;
  if (demo === undefined || finance.listUsers().length > 0) return undefined;
  try {
    return generateDemoData(finance, { users: demo.users, months: demo.months, seed: demo.seed, endDate: demo.endDate });
  } catch (error) {
    // Another instance sharing the file started at the same moment and wrote the users first: its data is ours.
    if (error instanceof DuplicateRecordError) {
      log.info('demo data: another instance is writing it');
      return undefined;
    }
    throw error;
  }
}

/**
 * Opens everything the service runs on: the finance database (creating its folder, and the demo data on a
 * first start), the cache (memory tier in front of SQLite, or of Redis with its bus), the ForecastCache over
 * both, and the HTTP app. Closes what it opened if a later step fails.
 *
 * @example
 * const service = await openService(configFromEnv(), createLogger());
 * await service.app.listen(3000);
 */
export async function openService(config: ServiceConfig, log: Logger): Promise<OpenedService> {
  mkdirSync(dirname(config.financeDb), { recursive: true });
  const finance = new SqliteFinanceStore(config.financeDb);
  let forecasts: ForecastCache | undefined;
  try {
    const demo = seedDemo(finance, config, log);
    const { store, bus, label } = await openCacheStore(config);
    forecasts = await ForecastCache.create({
      store,
      ...(bus === undefined ? {} : { bus }),
      finance,
      // Each instance signs its invalidations, so the event log says which one fired a trigger.
      triggeredBy: `forecast-service@${hostname()}:${process.pid}`,
    });
    const app = await createApp({ forecasts, finance, logger: log, asOf: config.asOf, cacheLabel: label, httpCache: config.httpCacheTtl === undefined ? false : { ttl: config.httpCacheTtl }, ...config.http });
    const opened = forecasts;
    // Forecasts read often are recomputed before they expire; every forecast, nightly (one instance per firing).
    await opened.refreshHotForecasts();
    if (config.warmCron !== undefined) {
      opened.scheduleWarm(config.warmCron, config.asOf === 'today' ? {} : { params: { asOf: config.asOf } }, {
        timezone: config.warmTimezone,
        onReport: (report) =>
          log.info(`scheduled warm: ${report.forecastsGenerated} computed, ${report.cacheHitsSkipped} already cached, ${report.errors.length} errors in ${report.durationSeconds.toFixed(2)} s`),
      });
      log.info(`scheduled warm: ${config.warmCron} (${config.warmTimezone})`);
    }
    return {
      app,
      forecasts: opened,
      finance,
      cacheLabel: label,
      demo,
      async close() {
        await app.close();
        await opened.close();
        finance.close();
      },
    };
  } catch (error) {
    await forecasts?.close().catch(() => undefined);
    finance.close();
    throw error;
  }
}

/** One line describing the demo data a start wrote. */
export function describeDemo(demo: DemoDataSummary, seed: number): string {
  return `demo data written: ${demo.users.length} users, ${demo.transactions} transactions, ${demo.goals} goals, ${formatDay(demo.from)} to ${formatDay(demo.to)} (seed ${seed})`;
}
