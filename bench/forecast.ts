// The `forecast` scenarios of `npm run bench`, one per process (bench/forecast-report.ts runs them):
//   tsx bench/forecast.ts prepare --db=PATH                                writes the demo data to a SQLite file
//   tsx bench/forecast.ts direct <sqlite|memory> [--db=PATH]               the calculators called without a cache
//   tsx bench/forecast.ts dashboard <sqlite|memory> <memory|redis> [--db=PATH] [--prefix=P]   cold vs warm dashboards
//   tsx bench/forecast.ts warm <memory|redis> <concurrency> --db=PATH [--prefix=P]           batch warming
// Each prints its result as JSON on its last line.
import { setTimeout as sleep } from 'node:timers/promises';
import { Decimal } from 'decimal.js';
import type { Clock } from '../src/clock.js';
import { SqliteFinanceStore } from '../src/forecast/data/sqlite-store.js';
import {
  addDays,
  addMonths,
  CalculatorRegistry,
  ForecastCache,
  generateDemoData,
  MemoryFinanceStore,
  parseDay,
  registerBuiltinCalculators,
  type Calculator,
  type FinanceStore,
  type ForecastCacheOptions,
  type ForecastWarmReport,
} from '../src/forecast/index.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** The demo data: fixed seed and end day, so every run and every store holds the same records. */
const DATA = { users: 1_000, months: 12, seed: 42, endDate: '2025-06-30' } as const;
const END_DATE = parseDay(DATA.endDate, 'endDate');
/** Goals per user on the seed's dashboard ("3 forecasts + 4 goals"); the demo data gives each user 2 or 3. */
const DASHBOARD_GOALS = 4;
/** Users whose dashboards are measured (user_1 …) and users loaded beforehand to warm the JIT up (the last ones). */
const DASHBOARD_USERS = 400;
const DASHBOARD_WARMUP_USERS = 100;
/** Users of the warming scenario, and how many of them a throwaway instance warms first. */
const WARM_USERS = 1_000;
const WARM_WARMUP_USERS = 100;
/**
 * One `warm()` call, six forecasts per user: every built-in metric but goal_progress, on a 3-month horizon.
 * `algorithms` is a list each metric takes its own from (balance → trend_adjusted, burn_rate and runway → ema,
 * expenses and income → trailing, goals_summary → standard), so the cross product is exactly six.
 */
const WARM_PLAN = {
  metrics: ['balance', 'burn_rate', 'runway', 'expenses', 'income', 'goals_summary'],
  horizons: ['90d'],
  algorithms: ['trend_adjusted', 'ema', 'trailing', 'standard'],
} as const;
/** What WARM_PLAN computes per user, for the direct calls (goals_summary's horizon is its subject, `all`). */
const WARM_FORECASTS = [
  ['balance', '90d', 'trend_adjusted'],
  ['burn_rate', '90d', 'ema'],
  ['runway', '90d', 'ema'],
  ['expenses', '90d', 'trailing'],
  ['income', '90d', 'trailing'],
  ['goals_summary', 'all', 'standard'],
] as const;
/** What getDashboard computes (its default horizons and algorithms), besides one goal_progress per goal. */
const DASHBOARD_FORECASTS = [
  ['balance', '30d', 'linear'],
  ['burn_rate', '90d', 'simple'],
  ['runway', '1y', 'simple'],
] as const;
/** Noon of the last day with data: every forecast is as of that day, whatever day the benchmark runs. */
const NOW = END_DATE.getTime() + 12 * 3_600_000;

const userId = (i: number) => `user_${i}`;
const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => userId(from + i));

/** A clock at NOW that advances with real time, so TTLs behave and the as-of day is fixed. */
function benchClock(): Clock {
  const offset = NOW - Date.now();
  return { now: () => Date.now() + offset };
}

/** Nearest-rank percentile of sorted samples: with 400 samples, p99 is the fourth largest. */
function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] ?? Number.NaN;
}

/** Per-call figures in milliseconds. */
export interface Summary {
  samples: number;
  p50: number;
  p99: number;
  mean: number;
  max: number;
}

function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const sum = sorted.reduce((s, x) => s + x, 0);
  return { samples: sorted.length, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), mean: sum / Math.max(1, sorted.length), max: sorted.at(-1) ?? Number.NaN };
}

/** Rejects after `ms`, so a scenario that hangs fails instead of stalling the whole run. */
async function within<T>(promise: Promise<T>, ms: number, label: string): Promise<T> {
  const ac = new AbortController();
  const timeout = sleep(ms, undefined, { signal: ac.signal }).then(() => {
    throw new Error(`${label}: not done within ${ms} ms`);
  });
  timeout.catch(() => undefined);
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    ac.abort();
  }
}

function argOf(flag: string): string | undefined {
  return process.argv.find((a) => a.startsWith(`--${flag}=`))?.slice(flag.length + 3);
}

function requireArg(flag: string): string {
  const value = argOf(flag);
  if (value === undefined) throw new Error(`--${flag}= is required`);
  return value;
}

// ---------------------------------------------------------------------------------------------------------
// Data

const EXTRA_GOALS = ['Wedding', 'Home office', 'Bicycle', 'Course fees'] as const;

/**
 * Tops every user up to DASHBOARD_GOALS goals, deterministically, so the dashboard is the seed's seven
 * forecasts. Half get a monthly contribution (pace from it), half do not (pace from the saved history).
 */
function topUpGoals(store: FinanceStore, users: number): number {
  let added = 0;
  for (let i = 1; i <= users; i++) {
    const id = userId(i);
    const have = store.listGoals(id).length;
    for (let n = have; n < DASHBOARD_GOALS; n++) {
      const target = 1_000 + ((i * 37 + n * 211) % 40) * 100;
      store.addGoal({
        id: `${id}_g${n + 1}`,
        userId: id,
        name: EXTRA_GOALS[n % EXTRA_GOALS.length] as string,
        target: new Decimal(target),
        saved: new Decimal(target).times((i * 13 + n * 7) % 80).div(100).toDecimalPlaces(2),
        createdAt: addDays(addMonths(END_DATE, -DATA.months), 30 + ((i + n) % 150)),
        deadline: addMonths(END_DATE, 3 + ((i + n) % 18)),
        ...((i + n) % 2 === 0 ? { monthlyContribution: new Decimal(50 + ((i * 3 + n) % 12) * 25) } : {}),
      });
      added++;
    }
  }
  return added;
}

function fill(store: FinanceStore): { transactions: number; goals: number } {
  const summary = generateDemoData(store, { users: DATA.users, months: DATA.months, seed: DATA.seed, endDate: END_DATE });
  return { transactions: summary.transactions, goals: summary.goals + topUpGoals(store, DATA.users) };
}

/** The finance store a scenario reads: the prepared SQLite file, or the same data generated into memory. */
function openFinance(kind: string): { finance: FinanceStore; loadMs: number } {
  const t0 = performance.now();
  let finance: FinanceStore;
  if (kind === 'sqlite') finance = new SqliteFinanceStore(requireArg('db'));
  else if (kind === 'memory') {
    finance = new MemoryFinanceStore();
    fill(finance);
  } else throw new Error(`unknown finance store ${kind}`);
  return { finance, loadMs: performance.now() - t0 };
}

export interface PrepareResult {
  users: number;
  months: number;
  seed: number;
  endDate: string;
  goalsPerUser: number;
  transactions: number;
  goals: number;
  ms: number;
}

function prepare(): PrepareResult {
  const t0 = performance.now();
  const store = new SqliteFinanceStore(requireArg('db'));
  try {
    const { transactions, goals } = fill(store);
    return { users: DATA.users, months: DATA.months, seed: DATA.seed, endDate: DATA.endDate, goalsPerUser: DASHBOARD_GOALS, transactions, goals, ms: performance.now() - t0 };
  } finally {
    store.close();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Caches

async function openCache(finance: FinanceStore, backend: string, prefix: string | undefined): Promise<ForecastCache> {
  let options: ForecastCacheOptions = { finance, clock: benchClock() };
  if (backend === 'redis') {
    if (prefix === undefined) throw new Error('--prefix= is required with redis');
    // ForecastCache's defaults otherwise: the Redis store as the shared tier and a Redis bus (`bus` defaults to true).
    options = { ...options, backend: 'redis', url: REDIS_URL, prefix };
  } else if (backend !== 'memory') throw new Error(`unknown backend ${backend}`);
  return within(ForecastCache.create(options), 10_000, `open ${backend} cache`);
}

/** Wraps every calculator of the instance with a call counter (a few ns per call), so "computed" is counted, not assumed. */
function countCalls(forecasts: ForecastCache): { count: number } {
  const counter = { count: 0 };
  const registry = forecasts.calculators;
  for (const metric of registry.metrics()) {
    const calculate: Calculator = registry.require(metric).calculate;
    // Registering again keeps the metric's options (algorithms, subjects…); only the function changes.
    registry.register(metric, (context) => {
      counter.count++;
      return calculate(context);
    });
  }
  return counter;
}

// ---------------------------------------------------------------------------------------------------------
// 1. The seed's dashboard: cold, warm, and warm from Redis in a new instance

export interface DashboardPass {
  timing: Summary;
  /** Calculator calls per dashboard: fewest and most over the users. */
  callsMin: number;
  callsMax: number;
}

export interface DashboardResult {
  store: string;
  backend: string;
  users: number;
  loadMs: number;
  cold: DashboardPass;
  warm: DashboardPass;
  /** Redis only: a new instance (empty memory tier) on the same prefix. */
  fromRedis?: DashboardPass;
  /** Memory-tier evictions of the measured instance (0, or warm loads would recompute). */
  evictions: number;
  /** Entries in its memory tier at the end. */
  entries: number;
}

async function dashboardPass(forecasts: ForecastCache, counter: { count: number }, users: readonly string[]): Promise<DashboardPass> {
  const times: number[] = [];
  let callsMin = Number.POSITIVE_INFINITY;
  let callsMax = 0;
  for (const id of users) {
    const before = counter.count;
    const t0 = performance.now();
    await forecasts.getDashboard(id);
    times.push(performance.now() - t0);
    const calls = counter.count - before;
    callsMin = Math.min(callsMin, calls);
    callsMax = Math.max(callsMax, calls);
  }
  return { timing: summarize(times), callsMin, callsMax };
}

async function dashboard(store: string, backend: string): Promise<DashboardResult> {
  const { finance, loadMs } = openFinance(store);
  const prefix = argOf('prefix');
  const measured = range(1, DASHBOARD_USERS);
  const warmup = range(DATA.users - DASHBOARD_WARMUP_USERS + 1, DASHBOARD_WARMUP_USERS);
  const first = await openCache(finance, backend, prefix);
  const counter = countCalls(first);
  let result: DashboardResult;
  try {
    // The warm-up users go through the same cold and warm paths first, so the measured loads meet compiled code.
    await within(dashboardPass(first, counter, warmup), 60_000, 'dashboard warm-up (cold)');
    await within(dashboardPass(first, counter, warmup), 60_000, 'dashboard warm-up (warm)');
    const cold = await within(dashboardPass(first, counter, measured), 120_000, 'cold dashboards');
    const warm = await within(dashboardPass(first, counter, measured), 60_000, 'warm dashboards');
    const { evictions, keyCount } = await first.getStats();
    result = { store, backend, users: measured.length, loadMs, cold, warm, evictions, entries: keyCount };
  } finally {
    await first.close();
  }
  if (backend === 'redis') {
    // Opened after the first instance is closed, so its bus traffic cannot land in these timings.
    const second = await openCache(finance, backend, prefix);
    const secondCounter = countCalls(second);
    try {
      await within(dashboardPass(second, secondCounter, warmup), 60_000, 'from-Redis warm-up');
      result.fromRedis = await within(dashboardPass(second, secondCounter, measured), 60_000, 'dashboards from Redis');
    } finally {
      await second.close();
    }
  }
  finance.close();
  return result;
}

// ---------------------------------------------------------------------------------------------------------
// 2. Batch warming: 1,000 users x 6 forecasts

export interface WarmRun {
  /** performance.now() around the awaited warm() call. */
  ms: number;
  /** warm()'s own durationSeconds. */
  reportedSeconds: number;
  generated: number;
  skipped: number;
  errors: number;
  firstError?: string;
  calculatorCalls: number;
}

export interface WarmResult {
  backend: string;
  concurrency: number;
  users: number;
  forecasts: number;
  /** The warm() options besides userIds and concurrency. */
  plan: typeof WARM_PLAN;
  first: WarmRun;
  /** The same call again on the same instance, without force. */
  second: WarmRun;
  /** Redis only: the same call from a new instance (empty memory tier), without force. */
  fromRedis?: WarmRun;
  evictions: number;
}

async function timedWarm(forecasts: ForecastCache, counter: { count: number }, userIds: readonly string[], concurrency: number): Promise<WarmRun> {
  const before = counter.count;
  const t0 = performance.now();
  const report: ForecastWarmReport = await within(
    forecasts.warm({ userIds, metrics: WARM_PLAN.metrics, horizons: WARM_PLAN.horizons, algorithms: WARM_PLAN.algorithms, concurrency }),
    150_000,
    'warm()',
  );
  const ms = performance.now() - t0;
  const run: WarmRun = {
    ms,
    reportedSeconds: report.durationSeconds,
    generated: report.forecastsGenerated,
    skipped: report.cacheHitsSkipped,
    errors: report.errors.length,
    calculatorCalls: counter.count - before,
  };
  const failure = report.errors[0];
  if (failure !== undefined) run.firstError = `${failure.key ?? failure.userId}: ${failure.message}`;
  return run;
}

async function warmScenario(backend: string, concurrency: number): Promise<WarmResult> {
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`bad concurrency ${concurrency}`);
  const { finance } = openFinance('sqlite');
  const prefix = argOf('prefix');
  const users = range(1, WARM_USERS);
  // A throwaway instance (its own prefix) warms some users first: JIT, SQLite statements, Redis connections.
  const throwaway = await openCache(finance, backend, prefix === undefined ? undefined : `${prefix}warmup:`);
  try {
    await timedWarm(throwaway, { count: 0 }, users.slice(0, WARM_WARMUP_USERS), concurrency);
    await timedWarm(throwaway, { count: 0 }, users.slice(0, WARM_WARMUP_USERS), concurrency);
  } finally {
    await throwaway.close();
  }
  const forecasts = await openCache(finance, backend, prefix);
  const counter = countCalls(forecasts);
  let result: WarmResult;
  try {
    const first = await timedWarm(forecasts, counter, users, concurrency);
    const second = await timedWarm(forecasts, counter, users, concurrency);
    const { evictions } = await forecasts.getStats();
    result = { backend, concurrency, users: users.length, forecasts: users.length * WARM_FORECASTS.length, plan: WARM_PLAN, first, second, evictions };
  } finally {
    await forecasts.close();
  }
  if (backend === 'redis') {
    const fresh = await openCache(finance, backend, prefix);
    const freshCounter = countCalls(fresh);
    try {
      result.fromRedis = await timedWarm(fresh, freshCounter, users, concurrency);
    } finally {
      await fresh.close();
    }
  }
  finance.close();
  return result;
}

// ---------------------------------------------------------------------------------------------------------
// 3. The calculators without a cache

export interface DirectResult {
  store: string;
  loadMs: number;
  /** WARM_FORECASTS for every user, one user after another. */
  warmSet: { users: number; forecasts: number; ms: number; perUser: Summary };
  /** listGoals plus the dashboard's 3 + 4 forecasts, for the measured dashboard users. */
  dashboard: { users: number; forecastsMin: number; forecastsMax: number; perUser: Summary };
}

async function direct(store: string): Promise<DirectResult> {
  const { finance, loadMs } = openFinance(store);
  const clock = benchClock();
  // The same functions ForecastCache runs on a miss, called straight from a registry of its own.
  const registry = registerBuiltinCalculators(new CalculatorRegistry(), finance, { clock });
  const signal = new AbortController().signal;
  const compute = (user: string, metric: string, horizon: string, algorithm: string) =>
    registry.require(metric).calculate({ userId: user, metric, horizon, algorithm, params: {}, asOf: new Date(clock.now()), signal });

  const warmSet = async (users: readonly string[]) => {
    const times: number[] = [];
    for (const user of users) {
      const t0 = performance.now();
      for (const [metric, horizon, algorithm] of WARM_FORECASTS) await compute(user, metric, horizon, algorithm);
      times.push(performance.now() - t0);
    }
    return times;
  };
  let forecastsMin = Number.POSITIVE_INFINITY;
  let forecastsMax = 0;
  const dashboards = async (users: readonly string[]) => {
    const times: number[] = [];
    for (const user of users) {
      const t0 = performance.now();
      const goals = finance.listGoals(user);
      for (const [metric, horizon, algorithm] of DASHBOARD_FORECASTS) await compute(user, metric, horizon, algorithm);
      for (const goal of goals) await compute(user, 'goal_progress', goal.id, 'standard');
      times.push(performance.now() - t0);
      forecastsMin = Math.min(forecastsMin, DASHBOARD_FORECASTS.length + goals.length);
      forecastsMax = Math.max(forecastsMax, DASHBOARD_FORECASTS.length + goals.length);
    }
    return times;
  };

  const warmupUsers = range(DATA.users - DASHBOARD_WARMUP_USERS + 1, DASHBOARD_WARMUP_USERS);
  await warmSet(warmupUsers);
  await dashboards(warmupUsers);
  forecastsMin = Number.POSITIVE_INFINITY;
  forecastsMax = 0;
  // Dashboards first, as in the dashboard scenario: after the warm-up users only.
  const dashTimes = await dashboards(range(1, DASHBOARD_USERS));
  const users = range(1, WARM_USERS);
  const t0 = performance.now();
  const warmTimes = await warmSet(users);
  const ms = performance.now() - t0;
  finance.close();
  return {
    store,
    loadMs,
    warmSet: { users: users.length, forecasts: users.length * WARM_FORECASTS.length, ms, perUser: summarize(warmTimes) },
    dashboard: { users: DASHBOARD_USERS, forecastsMin, forecastsMax, perUser: summarize(dashTimes) },
  };
}

// ---------------------------------------------------------------------------------------------------------

const [mode = '', a = '', b = ''] = process.argv.slice(2);
switch (mode) {
  case 'prepare':
    console.log(JSON.stringify(prepare()));
    break;
  case 'direct':
    console.log(JSON.stringify(await direct(a)));
    break;
  case 'dashboard':
    console.log(JSON.stringify(await dashboard(a, b)));
    break;
  case 'warm':
    console.log(JSON.stringify(await warmScenario(a, Number(b))));
    break;
  default:
    throw new Error('usage: tsx bench/forecast.ts prepare|direct|dashboard|warm … (see the header of bench/forecast.ts)');
}
