/**
 * The forecast service (`npm start`): reads its configuration from the environment (see `ServiceConfig`),
 * opens the finance database and the cache, writes demo data on a first start, listens, logs what the cache
 * does, and shuts down cleanly on SIGINT or SIGTERM.
 *
 *   PORT=3000 HOST=127.0.0.1 FORECAST_DB=.data/finance.db CACHE_DB=.data/cache.db npm start
 *   REDIS_URL=redis://127.0.0.1:6379 CACHE_PREFIX=forecast-service: npm start   # several instances, one cache
 */
import { formatDay, utcDayOf } from '../forecast/data/calendar.js';
import { ConfigError, configFromEnv, type ServiceConfig } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { describeDemo, openService, type OpenedService } from './service.js';

/** Hosts that only this machine can reach. */
const LOOPBACK: ReadonlySet<string> = new Set(['127.0.0.1', '::1', 'localhost']);

/** How long shutdown may take before the process gives up on a clean exit. */
const SHUTDOWN_LIMIT_MS = 10_000;

function readConfig(): ServiceConfig {
  try {
    return configFromEnv();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`forecast service: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}

function examples(url: string, userId: string, asOf: string): string[] {
  const base = `${url}/users/${encodeURIComponent(userId)}`;
  return [
    `curl -s '${base}/forecasts/balance?horizon=30d&algorithm=linear'`,
    `curl -s '${base}/dashboard'`,
    `curl -s --json '{"date":"${asOf}","amount":"120.00","type":"expense","category":"groceries"}' '${base}/transactions'`,
    `curl -s '${url}/events?limit=5'`,
  ];
}

function onSignals(service: OpenedService, log: Logger): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn(`${signal} again: exiting without waiting`);
      process.exit(1);
    }
    stopping = true;
    log.info(`${signal}: stopping (requests in progress may finish)`);
    const limit = setTimeout(() => {
      log.error(`shutdown took longer than ${SHUTDOWN_LIMIT_MS} ms: exiting anyway`);
      process.exit(1);
    }, SHUTDOWN_LIMIT_MS);
    limit.unref();
    service.close().then(
      () => {
        log.info('stopped');
        process.exitCode = 0;
      },
      (error: unknown) => {
        log.error('shutdown failed', error);
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

async function main(): Promise<void> {
  const config = readConfig();
  const log = createLogger({ level: config.logLevel, format: config.logFormat });
  // A bug in a handler is answered with a 500 by the app; what gets here escaped every handler, and the
  // process state is unknown: log it and stop rather than serve on.
  process.on('uncaughtException', (error) => {
    log.error('uncaught exception; exiting', error);
    process.exit(1);
  });
  // A rejection nobody awaited is a bug to fix, but not one that corrupts state: log it and keep serving.
  process.on('unhandledRejection', (reason) => log.error('unhandled rejection', reason));

  const service = await openService(config, log);
  onSignals(service, log);
  const users = service.finance.listUsers();
  log.info(`finance: ${config.financeDb} (${users.length} users)`);
  if (service.demo !== undefined && config.demo !== undefined) log.info(describeDemo(service.demo, config.demo.seed));
  log.info(`cache: ${service.cacheLabel}`);
  const asOf = config.asOf === 'today' ? 'today (UTC)' : formatDay(config.asOf);
  log.info(`forecasts are as of ${asOf} unless a request says ?asOf=YYYY-MM-DD (FORECAST_AS_OF)`);

  let url: string;
  try {
    ({ url } = await service.app.listen(config.port, config.host));
  } catch (error) {
    // EADDRINUSE and the like: close the databases before the process goes.
    await service.close().catch(() => undefined);
    throw error;
  }
  // Tests read the port from this line (PORT=0 picks a free one): keep its shape.
  log.info(`listening on ${url}`);
  if (!LOOPBACK.has(config.host)) log.warn(`HOST ${config.host} is beyond loopback: this API has no authentication, so anyone who can reach it can read and change every user's data`);
  const example = users[0]?.id;
  if (example !== undefined) {
    const day = formatDay(config.asOf === 'today' ? utcDayOf(new Date()) : config.asOf);
    for (const line of examples(url, example, day)) log.info(`try: ${line}`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`forecast service failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
