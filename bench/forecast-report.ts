// The `forecast` section of `npm run bench`: runs bench/forecast.ts scenarios in child processes and renders them.
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import type { DashboardPass, DashboardResult, DirectResult, PrepareResult, Summary, WarmResult, WarmRun } from './forecast.js';
import { attemptChild } from './lib/child.js';
import { redisVersion, sweepPrefixes } from './lib/redis-admin.js';

const SCRIPT = 'forecast.ts';
const STORES = ['sqlite', 'memory'] as const;
const BACKENDS = ['memory', 'redis'] as const;
const CONCURRENCIES = [1, 4, 16] as const;

const fmt = (x: number, digits = 0) => x.toLocaleString('en', { minimumFractionDigits: digits, maximumFractionDigits: digits });
/** Milliseconds with the digits that matter at their size: 0.052, 1.24, 12.7. */
const ms = (x: number) => (Number.isNaN(x) ? 'n/a' : fmt(x, x < 1 ? 3 : x < 10 ? 2 : 1));
const times = (a: number, b: number) => (b > 0 ? `${fmt(a / b, a / b < 10 ? 1 : 0)}x` : 'n/a');
const STORE_LABEL: Readonly<Record<string, string>> = { sqlite: 'SQLite (file)', memory: 'MemoryFinanceStore' };
const CACHE_LABEL: Readonly<Record<string, string>> = { memory: 'memory only', redis: 'memory + Redis' };

function packageVersion(name: string): string {
  try {
    const text = readFileSync(new URL(`../node_modules/${name}/package.json`, import.meta.url), 'utf8');
    return (JSON.parse(text) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

const calls = (pass: DashboardPass | undefined) => (pass === undefined ? '–' : pass.callsMin === pass.callsMax ? `${pass.callsMin}` : `${pass.callsMin}–${pass.callsMax}`);
const pair = (s: Summary | undefined) => (s === undefined ? '– | –' : `${ms(s.p50)} | ${ms(s.p99)}`);

// ---------------------------------------------------------------------------------------------------------

function dashboardSection(results: readonly (DashboardResult | string)[], direct: readonly (DirectResult | string)[]): string[] {
  const ok = results.filter((r): r is DashboardResult => typeof r !== 'string');
  const users = ok[0]?.users ?? 0;
  const lines = [
    '### 1. The seed\'s dashboard: cold vs warm',
    '',
    `\`getDashboard(userId)\` for ${fmt(users)} users, one after another, each load timed on its own (\`performance.now()\``,
    'around the awaited call). With its default horizons it is the seed\'s dashboard: balance 30d linear, burn_rate',
    '90d simple, runway 1y simple, and goal_progress for each goal of the user, all in parallel (`Promise.all`),',
    'after one `listGoals` read. **Cold**: the first load of each user on an empty cache (every forecast computed',
    'and written to every tier). **Warm**: the second load, same instance (memory-tier hits). **Warm from Redis**:',
    'a new ForecastCache on the same prefix, its memory tier empty, loading the same users (every forecast read',
    'from Redis, decoded and copied into memory). Before the measured users, 100 others go through the same',
    'passes to warm the JIT up. "Calls" is the number of calculator calls per dashboard, counted by wrapping the',
    'registered calculators: it confirms each cold load computes all 7 forecasts and the warm ones none. The last',
    'rows are the same 7 calculator functions called directly with no cache (scenario 3): the work a cold load',
    'cannot avoid.',
    '',
    '| finance store | cache | cold p50 (ms) | cold p99 (ms) | warm p50 (ms) | warm p99 (ms) | warm from Redis p50 (ms) | warm from Redis p99 (ms) | cold ÷ warm (p50) | cold ÷ from Redis (p50) | calls cold / warm / from Redis |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  results.forEach((r, i) => {
    const store = STORES[Math.floor(i / BACKENDS.length)] as string;
    const backend = BACKENDS[i % BACKENDS.length] as string;
    if (typeof r === 'string') {
      lines.push(`| ${STORE_LABEL[store]} | ${CACHE_LABEL[backend]} | _${r}_ | | | | | | | | |`);
      return;
    }
    const fromRedis = r.fromRedis?.timing;
    lines.push(
      `| ${STORE_LABEL[r.store]} | ${CACHE_LABEL[r.backend]} | ${pair(r.cold.timing)} | ${pair(r.warm.timing)} | ${pair(fromRedis)} | ${times(r.cold.timing.p50, r.warm.timing.p50)} | ${fromRedis === undefined ? '–' : times(r.cold.timing.p50, fromRedis.p50)} | ${calls(r.cold)} / ${calls(r.warm)} / ${calls(r.fromRedis)} |`,
    );
  });
  direct.forEach((d, i) => {
    const store = STORES[i] as string;
    if (typeof d === 'string') return;
    const n = d.dashboard.forecastsMin === d.dashboard.forecastsMax ? `${d.dashboard.forecastsMin}` : `${d.dashboard.forecastsMin}–${d.dashboard.forecastsMax}`;
    lines.push(`| ${STORE_LABEL[store]} | no cache: \`listGoals\` + the ${n} calculators | ${pair(d.dashboard.perUser)} | | | | | | | ${n} / – / – |`);
  });
  const evictions = ok.reduce((sum, r) => sum + r.evictions, 0);
  const entries = Math.max(0, ...ok.map((r) => r.entries));
  lines.push('', `Memory-tier evictions during these runs: ${fmt(evictions)} (an instance holds at most ${fmt(entries)} forecasts, within the 10,000-entry default).`);
  const sqliteMemory = ok.find((r) => r.store === 'sqlite' && r.backend === 'memory');
  const sqliteRedis = ok.find((r) => r.store === 'sqlite' && r.backend === 'redis');
  const floor = direct.find((d): d is DirectResult => typeof d !== 'string' && d.store === 'sqlite');
  if (sqliteMemory !== undefined) {
    const overhead =
      floor === undefined
        ? ''
        : ` The cache's own share of a cold load is roughly the difference from the no-cache row (measured in another process): ${ms(sqliteMemory.cold.timing.p50 - floor.dashboard.perUser.p50)} ms at p50 with the memory tier${sqliteRedis === undefined ? '' : `, ${ms(sqliteRedis.cold.timing.p50 - floor.dashboard.perUser.p50)} ms with Redis (its reads, the entry and tag-marker writes, the bus messages)`}.`;
    lines.push(
      '',
      `With SQLite, the realistic case, a cold dashboard takes ${ms(sqliteMemory.cold.timing.p50)} ms at p50 and a warm one ${ms(sqliteMemory.warm.timing.p50)} ms:`,
      `${times(sqliteMemory.cold.timing.p50, sqliteMemory.warm.timing.p50)} (the seed's example: 3.2 s to 15 ms, 213x, with far slower calculators).`,
      `A warm load still reads the user's goal list from the finance store: \`getDashboard\` needs it to know which goal forecasts to read.${overhead}`,
    );
  }
  lines.push('');
  return lines;
}

function warmCell(run: WarmRun | undefined, forecasts: number): string {
  if (run === undefined) return '– | –';
  const bad = run.errors > 0 ? `, **${fmt(run.errors)} errors** (${run.firstError ?? ''})` : '';
  return `${ms(run.ms)} | ${fmt(run.skipped)} of ${fmt(forecasts)}${run.calculatorCalls > 0 ? `, ${fmt(run.calculatorCalls)} computed` : ''}${bad}`;
}

function warmSection(results: readonly (WarmResult | string)[], direct: readonly (DirectResult | string)[]): string[] {
  const ok = results.filter((r): r is WarmResult => typeof r !== 'string');
  const sample = ok[0];
  const plan = sample?.plan;
  const runs = ok.flatMap((r) => [r.first, r.second, ...(r.fromRedis === undefined ? [] : [r.fromRedis])]);
  const drift = Math.max(0, ...runs.map((x) => Math.abs(x.ms - x.reportedSeconds * 1000)));
  const lines = [
    '### 2. Batch warming: `warm()`',
    '',
    `One \`warm({ userIds, metrics, horizons, algorithms, concurrency })\` call for ${fmt(sample?.users ?? 0)} users × ${sample === undefined ? 'n/a' : fmt(sample.forecasts / sample.users)} forecasts (${fmt(sample?.forecasts ?? 0)}),`,
    `reading the SQLite file: metrics ${plan?.metrics.map((m) => `\`${m}\``).join(', ') ?? 'n/a'}; horizons ${plan?.horizons.map((h) => `\`${h}\``).join(', ') ?? 'n/a'};`,
    `algorithms ${plan?.algorithms.map((a) => `\`${a}\``).join(', ') ?? 'n/a'}. warm() gives each metric the algorithms of that list it accepts, so the cross`,
    'product is exactly six per user: balance 90d trend_adjusted, burn_rate 90d ema, runway 90d ema, expenses and',
    'income 90d trailing, goals_summary standard (its horizon is its subject, `all`). Without `force`, as a nightly',
    'job runs it: each forecast is first checked with `has()`, then computed and written. Each configuration runs in',
    'its own process; a throwaway instance (its own prefix) warms 100 users twice beforehand. Time is',
    `\`performance.now()\` around the awaited call (warm()'s own \`durationSeconds\` differs by at most ${ms(drift)} ms).`,
    'Then the same call again on the same instance (everything is cached: all skipped, nothing computed), and with',
    'Redis the same call from a new instance whose memory tier is empty, so each `has()` asks Redis.',
    '',
    '| cache | concurrency | first warm() (s) | forecasts / s | computed (calculator calls) | errors | second warm(), same instance (ms) | skipped | new instance, from Redis (ms) | skipped |',
    '|---|---:|---:|---:|---:|---:|---:|---|---:|---|',
  ];
  results.forEach((r, i) => {
    const backend = BACKENDS[Math.floor(i / CONCURRENCIES.length)] as string;
    const concurrency = CONCURRENCIES[i % CONCURRENCIES.length] as number;
    if (typeof r === 'string') {
      lines.push(`| ${CACHE_LABEL[backend]} | ${concurrency} | _${r}_ | | | | | | | |`);
      return;
    }
    const first = r.first;
    const errors = first.errors > 0 ? `**${fmt(first.errors)}** (${first.firstError ?? ''})` : '0';
    lines.push(
      `| ${CACHE_LABEL[r.backend]} | ${r.concurrency} | ${fmt(first.ms / 1000, 2)} | ${fmt(first.generated / (first.ms / 1000))} | ${fmt(first.generated)} (${fmt(first.calculatorCalls)} calls) | ${errors} | ${warmCell(r.second, r.forecasts)} | ${warmCell(r.fromRedis, r.forecasts)} |`,
    );
  });
  const evictions = ok.reduce((sum, r) => sum + r.evictions, 0);
  lines.push('', `Memory-tier evictions: ${fmt(evictions)} (${fmt(sample?.forecasts ?? 0)} forecasts fit the default bounds, so the second call finds them all).`);
  const floor = direct.find((d): d is DirectResult => typeof d !== 'string' && d.store === 'sqlite');
  const best = (backend: string) =>
    ok.filter((r) => r.backend === backend).reduce<WarmResult | undefined>((a, r) => (a === undefined || r.first.ms < a.first.ms ? r : a), undefined);
  const memoryBest = best('memory');
  const redisBest = best('redis');
  if (floor !== undefined) {
    const rate = floor.warmSet.forecasts / (floor.warmSet.ms / 1000);
    lines.push(
      '',
      `The same ${fmt(floor.warmSet.forecasts)} calculator calls without a cache take ${fmt(floor.warmSet.ms / 1000, 2)} s (${fmt(rate)} forecasts/s, scenario 3):`,
      `${memoryBest === undefined ? '' : `the fastest memory-only warm() runs at ${fmt((memoryBest.first.generated / memoryBest.first.ms) * 1000)}/s (concurrency ${memoryBest.concurrency}), `}` +
        `${redisBest === undefined ? '' : `the fastest with Redis at ${fmt((redisBest.first.generated / redisBest.first.ms) * 1000)}/s (concurrency ${redisBest.concurrency}).`}`,
      'The calculators and both finance stores are synchronous, so concurrency cannot overlap them; it only overlaps',
      'the cache\'s own awaits (with Redis: the `has()` check, the entry and tag-marker writes, the bus message).',
    );
  }
  lines.push('');
  return lines;
}

function directSection(results: readonly (DirectResult | string)[]): string[] {
  const lines = [
    '### 3. The calculators without a cache',
    '',
    'The same calculator functions ForecastCache runs on a miss (`registerBuiltinCalculators` into a registry of',
    'the scenario\'s own, each called with the same context a cache miss would give), one user after another, no',
    'cache anywhere: what every load would cost without ForecastCache. First the dashboard\'s `listGoals` and seven',
    'forecasts for the dashboard users of scenario 1, then the six forecasts of scenario 2 for every user (total',
    'time and per-user figures). 100 other users go through both first, to warm the JIT up.',
    '',
    '| finance store | 6 forecasts × users: total (s) | forecasts / s | per user p50 (ms) | per user p99 (ms) | dashboard (7) per user p50 (ms) | dashboard p99 (ms) |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  results.forEach((r, i) => {
    const store = STORES[i] as string;
    if (typeof r === 'string') {
      lines.push(`| ${STORE_LABEL[store]} | _${r}_ | | | | | |`);
      return;
    }
    const w = r.warmSet;
    lines.push(
      `| ${STORE_LABEL[r.store]} | ${fmt(w.ms / 1000, 2)} (${fmt(w.users)} users) | ${fmt(w.forecasts / (w.ms / 1000))} | ${pair(w.perUser)} | ${pair(r.dashboard.perUser)} |`,
    );
  });
  lines.push('');
  return lines;
}

// ---------------------------------------------------------------------------------------------------------

export async function runForecastBenchmarks(): Promise<string> {
  const loads: number[] = [];
  const run = randomBytes(4).toString('hex');
  const prefix = `tcbench:forecast:${run}:`;
  const db = join(os.tmpdir(), `tiercache-forecast-bench-${run}.db`);
  const sections: string[] = [];
  let prepared: PrepareResult | string = 'not run';
  let dbBytes = 0;
  let swept = 0;
  const version = await redisVersion();
  // A Redis child's keys go as soon as it is done, so Redis never holds more than one scenario's.
  const withRedis = async <T>(label: string, scenario: (prefix: string) => T): Promise<T> => {
    const own = `${prefix}${label}:`;
    try {
      return scenario(own);
    } finally {
      swept += await sweepPrefixes([own]).catch((error: unknown) => {
        console.error(`forecast: sweep of ${own} failed: ${String(error)}`);
        return 0;
      });
    }
  };
  try {
    prepared = attemptChild<PrepareResult>('forecast', SCRIPT, 'writing the demo data to SQLite', ['prepare', `--db=${db}`], loads);
    dbBytes = statSync(db, { throwIfNoEntry: false })?.size ?? 0;
    const dbArg = `--db=${db}`;
    const direct = STORES.map((store) => attemptChild<DirectResult>('forecast', SCRIPT, `calculators without a cache: ${store}`, ['direct', store, dbArg], loads));
    const dashboards: (DashboardResult | string)[] = [];
    for (const store of STORES) {
      for (const backend of BACKENDS) {
        const what = `dashboards: ${store} store, ${backend} cache`;
        dashboards.push(
          backend === 'redis'
            ? await withRedis(`dashboard-${store}`, (own) => attemptChild<DashboardResult>('forecast', SCRIPT, what, ['dashboard', store, backend, dbArg, `--prefix=${own}`], loads))
            : attemptChild<DashboardResult>('forecast', SCRIPT, what, ['dashboard', store, backend, dbArg], loads),
        );
      }
    }
    const warms: (WarmResult | string)[] = [];
    for (const backend of BACKENDS) {
      for (const concurrency of CONCURRENCIES) {
        const what = `warm(): ${backend} cache, concurrency ${concurrency}`;
        const args = ['warm', backend, String(concurrency), dbArg];
        warms.push(
          backend === 'redis'
            ? await withRedis(`warm-${concurrency}`, (own) => attemptChild<WarmResult>('forecast', SCRIPT, what, [...args, `--prefix=${own}`], loads))
            : attemptChild<WarmResult>('forecast', SCRIPT, what, args, loads),
        );
      }
    }
    sections.push(...dashboardSection(dashboards, direct), ...warmSection(warms, direct), ...directSection(direct));
  } finally {
    for (const file of [db, `${db}-wal`, `${db}-shm`]) rmSync(file, { force: true });
    swept += await sweepPrefixes([prefix]).catch(() => 0);
  }
  console.error(`forecast: removed ${fmt(swept)} Redis keys under ${prefix}`);

  const data =
    typeof prepared === 'string'
      ? `_${prepared}_`
      : [
          `Data: \`generateDemoData\` with seed ${prepared.seed}, ${fmt(prepared.users)} users × ${prepared.months} months ending ${prepared.endDate}, ${fmt(prepared.transactions)} transactions.`,
          `The demo data gives each user 2 or 3 goals (a dashboard of 5 or 6 forecasts); the benchmark adds goals,`,
          `deterministically, up to ${prepared.goalsPerUser} per user (${fmt(prepared.goals)} goals), so that \`getDashboard\` is the seed's 3 forecasts + 4 goals.`,
          `Written once to a SQLite file (${fmt(dbBytes / 2 ** 20, 1)} MiB, in ${fmt(prepared.ms / 1000, 1)} s) that the SQLite scenarios open; the`,
          'MemoryFinanceStore scenarios generate the same records in-process.',
        ].join('\n');
  const header = [
    '## Forecasts: the seed\'s dashboard, batch warming, and the calculators behind them',
    '',
    'ForecastCache (`src/forecast`) over its built-in calculators, which read a `FinanceStore`:',
    '`SqliteFinanceStore` (better-sqlite3, a file on local disk in WAL mode: the realistic case) or',
    '`MemoryFinanceStore` holding the same records.',
    data,
    'Every forecast is as of 2025-06-30, the last day with data: the cache\'s clock is injected at noon that day',
    'and advances in real time. Caches are built with `ForecastCache.create`: "memory only" is the default',
    '(the memory tier, LRU, 64 MiB / 10,000 entries); "memory + Redis" is `backend: \'redis\'` with its defaults',
    '(the Redis store behind the memory tier and a Redis bus), on a fresh key prefix per process, removed',
    'afterwards. Every scenario runs in its own process (bench/forecast.ts, driven by bench/forecast-report.ts),',
    'one after another; percentiles are nearest-rank. Reproduce with `npm run bench -- forecast`.',
    '',
    `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.type()} ${os.release()};`,
    `Redis ${version} on 127.0.0.1 (loopback), better-sqlite3 ${packageVersion('better-sqlite3')}, decimal.js ${packageVersion('decimal.js')}.`,
    `One-minute load average while the scenarios ran: ${fmt(Math.min(...loads), 2)}–${fmt(Math.max(...loads), 2)} on ${os.cpus().length} cores (a shared machine: other`,
    'processes, Redis among them, compete for the same cores, which shows most in the p99 figures).',
    ...(Math.max(...loads) > os.cpus().length
      ? [
          'The load exceeded the core count during this run: each configuration ran once, in its own process, so a',
          'difference of less than about a third between two rows (the warm() concurrencies especially) is within noise.',
        ]
      : []),
    '',
  ];
  return [...header, ...sections].join('\n');
}
