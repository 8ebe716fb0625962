/**
 * The performance report of seed 001: hit rates per tier now and their trend, latency, memory, evictions,
 * loads, the key groups that matter most, the active alerts, and advice drawn from those figures after the
 * seed's troubleshooting section. Nothing is canned: each recommendation names the numbers that triggered it,
 * and a cache with nothing wrong gets none.
 */
import type { Engine } from '../engine.js';
import type { BreakerState } from '../tiers/store-tier.js';
import { hitRateBand, type Alert, type AlertSeverity, type HitRateBand } from './alerts.js';
import { monitorOf } from './monitor.js';
import { metricsOf, type MetricsSnapshot } from './snapshot.js';
import { HIT_RATE_TREND_POINTS, LATENCY_TREND_MIN_MS, LATENCY_TREND_RATIO, mergeWindows, windowOf, type HitRateTrend, type MonitorWindow, type TierTrend, type TierWindow, type Trend, type TrendVerdict } from './trends.js';

/** One tier in the report. Rates are fractions (0..1); latencies are milliseconds of the tier's reads. */
export interface ReportTier {
  readonly tier: string;
  readonly kind: 'memory' | 'store';
  readonly reads: number;
  /** Undefined without reads. */
  readonly hitRate: number | undefined;
  readonly band: HitRateBand | undefined;
  /** From the monitor; undefined when none runs. */
  readonly trend: TierTrend | undefined;
  /** Undefined when no read was timed (the memory tier is timed with `metrics: true` only). */
  readonly latency: { readonly p50: number | undefined; readonly p95: number | undefined; readonly p99: number | undefined } | undefined;
  /** Stores: failed calls / calls; undefined without calls. */
  readonly errorRate: number | undefined;
  /** Stores: the breaker now. */
  readonly breaker?: BreakerState;
}

/** A key group's traffic and miss cost since the cache started. */
export interface ReportKeyGroup {
  readonly group: string;
  /** Hits of every tier (memory-tier hits estimated from the sample) plus misses. */
  readonly reads: number;
  readonly hits: number;
  readonly misses: number;
  readonly hitRate: number | undefined;
  readonly loads: number;
  /** Milliseconds spent loading this group's misses. */
  readonly loadMs: number;
}

/** What a recommendation is about. */
export type RecommendationCode =
  | 'HIT_RATE_LOW'
  | 'HIT_RATE_DEGRADING'
  | 'MEMORY_TOO_SMALL'
  | 'MEMORY_NEAR_BOUND'
  | 'TTL_TOO_SHORT'
  | 'INVALIDATION_TOO_BROAD'
  | 'WARM_KEY_GROUP'
  | 'STORE_ERRORS'
  | 'STORE_BREAKER_OPEN'
  | 'STORE_SLOW'
  | 'STORE_LATENCY_RISING'
  | 'LOADER_ERRORS';

/** One piece of advice, with the figures that triggered it. */
export interface Recommendation {
  readonly code: RecommendationCode;
  readonly severity: AlertSeverity;
  readonly message: string;
  /** The numbers (and the tier or key group) behind it: rates as fractions, durations in ms. */
  readonly evidence: Readonly<Record<string, number | string>>;
}

export interface CacheReport {
  /** The cache's `name`. */
  readonly cache: string;
  /** When the report was made, by the cache's clock (ISO 8601). */
  readonly generatedAt: string;
  /**
   * What "now" means in the figures below: the monitor's last window when a monitor runs on this cache and has
   * closed one, else everything since the cache started (`from` undefined). Key groups are always since start.
   * Recommendations read every window the monitor keeps (or, without one, everything since start).
   */
  readonly period: { readonly source: 'monitor' | 'since-start'; readonly from: number | undefined; readonly to: number };
  /** Reads answered by any tier over all reads. */
  readonly hitRate: {
    readonly overall: number | undefined;
    readonly band: HitRateBand | undefined;
    readonly reads: number;
    /** From the monitor; undefined when none runs. */
    readonly trend: HitRateTrend | undefined;
    readonly verdict: TrendVerdict | undefined;
  };
  readonly tiers: readonly ReportTier[];
  /** The memory tier now. `usage` is the fuller of its two bounds (0..1). */
  readonly memory: { readonly usedBytes: number; readonly maxBytes: number; readonly entries: number; readonly maxEntries: number; readonly usage: number };
  readonly evictions: { readonly capacity: number; readonly expired: number };
  readonly loads: {
    readonly count: number;
    readonly errors: number;
    readonly timeouts: number;
    /** ms. */
    readonly p95: number | undefined;
    readonly failSafe: number;
    readonly staleServed: number;
    readonly joins: number;
    readonly inFlight: number;
  };
  readonly keyGroups: {
    /** Key groups are measured with `metrics: true` only. */
    readonly detailed: boolean;
    /** Why the lists are empty, when they are. */
    readonly note: string | undefined;
    /** The five busiest groups. */
    readonly byTraffic: readonly ReportKeyGroup[];
    /** The five groups whose misses cost the most loading time. */
    readonly byMissCost: readonly ReportKeyGroup[];
  };
  /** Alerts the monitor raised and has not resolved. */
  readonly alerts: readonly Alert[];
  /** Most severe first; empty for a cache with nothing wrong. */
  readonly recommendations: readonly Recommendation[];
}

/** Seed 001's troubleshooting threshold: "low hit rate" means below 70 %. */
const LOW_HIT_RATE = 0.7;
/** Evictions or expirations worth naming as a cause: at least one per ten misses. */
const CAUSE_SHARE = 0.1;
/** Broad invalidations (tags, patterns, clear) worth naming: at least one per 100 writes, or any invalidation per 4 writes. */
const BROAD_PER_SET = 0.01;
const ANY_PER_SET = 0.25;
/** A key group is worth warming when its misses cost this share of all loading time and it hits less than `LOW_HIT_RATE`. */
const WARM_SHARE = 0.25;
const WARM_MAX = 3;
/** Loads cheaper than this on average (ms) cost less than a store round trip: not worth warming. */
const WARM_MIN_LOAD_MS = 1;
/** Store error rates: a warning from 1 %, critical from 5 % (the default alert's threshold). */
const STORE_ERRORS_WARN = 0.01;
const STORE_ERRORS_CRITICAL = 0.05;
/** A store read p99 this slow (ms) defeats the purpose of a cache tier. */
const STORE_SLOW_MS = 100;
const LOADER_ERRORS_WARN = 0.05;
/** A full tier that evicts this share of its writes. */
const NEAR_BOUND = 0.95;
const CHURN_PER_SET = 0.1;
const TOP = 5;
const DEFAULT_MIN_REQUESTS = 20;

const pct = (rate: number) => `${(rate * 100).toFixed(1)} %`;
const ms = (value: number) => `${value < 10 ? value.toFixed(2) : value.toFixed(0)} ms`;

function bandOf(rate: number | undefined): HitRateBand | undefined {
  return rate === undefined ? undefined : hitRateBand(rate);
}

/** The memory tier's fill, with only its finite bounds (evidence stays plain JSON). */
function bounds(m: MonitorWindow['memory']): Record<string, number> {
  const out: Record<string, number> = { usage: m.usage, entries: m.entries, usedBytes: m.usedBytes };
  if (Number.isFinite(m.maxEntries)) out.maxEntries = m.maxEntries;
  if (Number.isFinite(m.maxBytes)) out.maxBytes = m.maxBytes;
  return out;
}

function groupsOf(snapshot: MetricsSnapshot): ReportKeyGroup[] {
  return snapshot.keyGroups.map((g) => {
    const reads = g.hits + g.misses;
    return Object.freeze({ group: g.group, reads, hits: g.hits, misses: g.misses, hitRate: reads > 0 ? g.hits / reads : undefined, loads: g.loads, loadMs: g.loadMs });
  });
}

interface AdviceInput {
  readonly basis: MonitorWindow;
  readonly snapshot: MetricsSnapshot;
  readonly groups: readonly ReportKeyGroup[];
  readonly trend: Trend | undefined;
  readonly minRequests: number;
  readonly defaultTtlMs: number;
}

/** Seed 001's troubleshooting advice, each rule checked against the figures. */
function recommend(input: AdviceInput): Recommendation[] {
  const { basis, snapshot, groups, trend, minRequests } = input;
  const out: Recommendation[] = [];
  const add = (code: RecommendationCode, severity: AlertSeverity, message: string, evidence: Record<string, number | string>) =>
    out.push(Object.freeze({ code, severity, message, evidence: Object.freeze(evidence) }));
  const memoryTier = basis.tiers[0] as TierWindow;
  const enough = basis.reads >= minRequests && basis.hitRate !== undefined;
  const hitRate = basis.hitRate ?? 0;
  const low = enough && hitRate < LOW_HIT_RATE;
  // With stores, the memory tier can miss what a store then answers: a small memory tier costs round trips
  // even when the overall hit rate is fine.
  const memoryLow = memoryTier.reads >= minRequests && memoryTier.hitRate !== undefined && memoryTier.hitRate < LOW_HIT_RATE;
  let explained = false;
  let tooSmall = false;

  if ((low || memoryLow) && basis.evictions > 0 && basis.evictions >= CAUSE_SHARE * memoryTier.misses) {
    explained = true;
    tooSmall = true;
    const m = basis.memory;
    const bound = [Number.isFinite(m.maxEntries) ? `memory.maxEntries (${m.maxEntries})` : '', Number.isFinite(m.maxBytes) ? `memory.maxBytes (${m.maxBytes})` : ''].filter(Boolean).join(' or ');
    add(
      'MEMORY_TOO_SMALL',
      'warning',
      `The memory tier evicted ${basis.evictions} entries to stay within its bounds (${((100 * basis.evictions) / Math.max(1, memoryTier.misses)).toFixed(0)} per 100 misses) while its hit rate is ${pct(memoryTier.hitRate ?? 0)}: the working set does not fit. Raise ${bound}, or put a shared store under it.`,
      { hitRate, memoryHitRate: memoryTier.hitRate ?? 0, evictions: basis.evictions, memoryMisses: memoryTier.misses, ...bounds(m) },
    );
  }
  if (low && basis.expirations > 0 && basis.expirations >= CAUSE_SHARE * basis.misses) {
    explained = true;
    add(
      'TTL_TOO_SHORT',
      'warning',
      `${basis.expirations} entries expired (${((100 * basis.expirations) / Math.max(1, basis.misses)).toFixed(0)} per 100 misses) while the hit rate is ${pct(hitRate)}: entries die before they are read again. Lengthen their TTL (defaultTtl is ${ms(input.defaultTtlMs)}), or keep serving them while they reload (grace, refreshAhead).`,
      { hitRate, expirations: basis.expirations, misses: basis.misses, evictions: basis.evictions, defaultTtlMs: input.defaultTtlMs },
    );
  }
  if (low && basis.invalidations > 0 && (basis.broadInvalidations >= BROAD_PER_SET * basis.sets || basis.invalidations >= ANY_PER_SET * basis.sets)) {
    explained = true;
    add(
      'INVALIDATION_TOO_BROAD',
      'warning',
      `${basis.invalidations} invalidations (${basis.broadInvalidations} by tag, pattern or clear, each of which can drop many entries) for ${basis.sets} writes while the hit rate is ${pct(hitRate)}: invalidation is emptying the cache. Invalidate narrower tags or single keys, and only after writes that change the data.`,
      { hitRate, invalidations: basis.invalidations, broadInvalidations: basis.broadInvalidations, sets: basis.sets },
    );
  }
  const totalLoadMs = groups.reduce((n, g) => n + g.loadMs, 0);
  // Warming a tier too small for the working set only evicts sooner: the size advice comes first.
  const costly = groups
    .filter((g) => !tooSmall && g.reads >= minRequests && g.hitRate !== undefined && g.hitRate < LOW_HIT_RATE && g.loads > 0 && g.loadMs / g.loads >= WARM_MIN_LOAD_MS)
    .filter((g) => g.loadMs >= WARM_SHARE * totalLoadMs)
    .sort((a, b) => b.loadMs - a.loadMs)
    .slice(0, WARM_MAX);
  for (const g of costly) {
    explained = true;
    add(
      'WARM_KEY_GROUP',
      'info',
      `Misses of key group '${g.group}' cost ${ms(g.loadMs)} of loading (${pct(g.loadMs / totalLoadMs)} of all) at a ${pct(g.hitRate ?? 0)} hit rate: warm it before it is read (warming tasks, schedules) or refresh it ahead of expiry.`,
      { group: g.group, hitRate: g.hitRate ?? 0, misses: g.misses, loads: g.loads, loadMs: g.loadMs, meanLoadMs: g.loadMs / g.loads, share: g.loadMs / totalLoadMs },
    );
  }
  if (low && !explained) {
    add(
      'HIT_RATE_LOW',
      hitRate < 0.5 ? 'warning' : 'info',
      `The hit rate is ${pct(hitRate)} (${hitRateBand(hitRate)}) over ${basis.reads} reads, with no eviction, expiry or invalidation pressure to explain it: keys may be read only once, or the cache is still cold. Warm the keys read most, or check that reads and writes build the same keys.`,
      { hitRate, reads: basis.reads, misses: basis.misses, evictions: basis.evictions, expirations: basis.expirations, invalidations: basis.invalidations },
    );
  }
  if (trend?.hitRate !== undefined && trend.hitRate.change <= -HIT_RATE_TREND_POINTS) {
    add(
      'HIT_RATE_DEGRADING',
      'warning',
      `The hit rate fell from ${pct(trend.hitRate.baseline)} to ${pct(trend.hitRate.recent)} over the last ${trend.recentWindows} windows, against the ${trend.baselineWindows} before.`,
      { recent: trend.hitRate.recent, baseline: trend.hitRate.baseline, change: trend.hitRate.change, recentWindows: trend.recentWindows, baselineWindows: trend.baselineWindows },
    );
  }
  if (!low && !memoryLow && basis.memory.usage >= NEAR_BOUND && basis.evictions > 0 && basis.evictions >= CHURN_PER_SET * basis.sets) {
    add(
      'MEMORY_NEAR_BOUND',
      'info',
      `The memory tier is at ${pct(basis.memory.usage)} of its bound and evicts ${basis.evictions} entries for ${basis.sets} writes; the hit rate holds, so this is the bound working. If the process needs the memory, lower the bound or the TTL of large values.`,
      { evictions: basis.evictions, sets: basis.sets, ...bounds(basis.memory) },
    );
  }

  for (const tier of basis.tiers) {
    if (tier.kind !== 'store') continue;
    const now = snapshot.tiers.find((t) => t.tier === tier.tier);
    const state = now?.breaker?.state;
    if (state !== undefined && state !== 'closed') {
      add(
        'STORE_BREAKER_OPEN',
        'critical',
        `The breaker of store '${tier.tier}' is ${state}: its calls are skipped (${tier.skipped} so far) and reads fall through to the next tier or the loader. Check that the store is reachable.`,
        { store: tier.tier, state, skipped: tier.skipped, opened: now?.breaker?.opened ?? 0 },
      );
    }
    if (tier.calls >= minRequests && tier.errorRate !== undefined && tier.errorRate >= STORE_ERRORS_WARN) {
      add(
        'STORE_ERRORS',
        tier.errorRate >= STORE_ERRORS_CRITICAL ? 'critical' : 'warning',
        `Store '${tier.tier}' failed ${tier.errors} of ${tier.calls} calls (${pct(tier.errorRate)}; ${tier.timeouts} timeouts): reads miss and writes wait for replay. Check the store's health and its timeout.`,
        { store: tier.tier, errors: tier.errors, calls: tier.calls, errorRate: tier.errorRate, timeouts: tier.timeouts },
      );
    }
    const p99 = tier.latency.p99;
    if (tier.latency.count >= minRequests && p99 !== undefined && p99 >= STORE_SLOW_MS) {
      add(
        'STORE_SLOW',
        'warning',
        `Reads of store '${tier.tier}' take ${ms(p99)} at p99 (p50 ${ms(tier.latency.p50 ?? 0)}): slow enough to cost more than it saves for cheap loaders. Check the network path and the store's load, or lower its timeout.`,
        { store: tier.tier, p50: tier.latency.p50 ?? 0, p95: tier.latency.p95 ?? 0, p99, reads: tier.latency.count },
      );
    }
    const rising = trend?.tiers.find((t) => t.tier === tier.tier)?.latency;
    if (rising !== undefined && rising.ratio >= LATENCY_TREND_RATIO && rising.recent - rising.baseline >= LATENCY_TREND_MIN_MS) {
      add(
        'STORE_LATENCY_RISING',
        'warning',
        `Reads of store '${tier.tier}' slowed from ${ms(rising.baseline)} to ${ms(rising.recent)} at p95 (${rising.ratio.toFixed(1)} times) over the last ${trend?.recentWindows ?? 0} windows.`,
        { store: tier.tier, recent: rising.recent, baseline: rising.baseline, ratio: rising.ratio },
      );
    }
  }

  const failed = basis.loads.errors + basis.loads.timeouts;
  if (basis.loads.count >= minRequests && failed >= LOADER_ERRORS_WARN * basis.loads.count) {
    add(
      'LOADER_ERRORS',
      'warning',
      `${failed} of ${basis.loads.count} loader runs failed (${basis.loads.timeouts} timed out): every failure is a miss that costs a caller. Fail-safe (grace) can serve the last value meanwhile.`,
      { loads: basis.loads.count, errors: basis.loads.errors, timeouts: basis.loads.timeouts, failSafe: basis.loads.failSafe },
    );
  }
  const rank: Record<AlertSeverity, number> = { critical: 0, warning: 1, info: 2 };
  return out.sort((a, b) => rank[a.severity] - rank[b.severity]);
}

/** The report of one engine; reads the monitor running on it, if any. O(windows + tiers + key groups). */
export function reportOf(engine: Engine): CacheReport {
  const snapshot = metricsOf(engine);
  const monitor = monitorOf(engine);
  const windows = monitor?.windows() ?? [];
  const last = windows[windows.length - 1];
  const now = last ?? windowOf(snapshot, undefined);
  const basis = mergeWindows(windows) ?? now;
  const trend = monitor?.trend();
  const groups = groupsOf(snapshot);
  const tiers = now.tiers.map((tier): ReportTier => {
    const current = snapshot.tiers.find((t) => t.tier === tier.tier);
    const l = tier.latency;
    const base = {
      tier: tier.tier,
      kind: tier.kind,
      reads: tier.reads,
      hitRate: tier.hitRate,
      band: bandOf(tier.hitRate),
      trend: trend?.tiers.find((t) => t.tier === tier.tier),
      latency: l.count === 0 ? undefined : Object.freeze({ p50: l.p50, p95: l.p95, p99: l.p99 }),
      errorRate: tier.errorRate,
    };
    return Object.freeze(current?.breaker === undefined ? base : { ...base, breaker: current.breaker.state });
  });
  const minRequests = monitor?.minRequests ?? DEFAULT_MIN_REQUESTS;
  return Object.freeze({
    cache: snapshot.cache,
    generatedAt: new Date(snapshot.at).toISOString(),
    period: Object.freeze({ source: last === undefined ? 'since-start' : 'monitor', from: last?.start, to: now.end }),
    hitRate: Object.freeze({ overall: now.hitRate, band: bandOf(now.hitRate), reads: now.reads, trend: trend?.hitRate, verdict: trend?.verdict }),
    tiers: Object.freeze(tiers),
    memory: now.memory,
    evictions: Object.freeze({ capacity: now.evictions, expired: now.expirations }),
    loads: Object.freeze({
      count: now.loads.count,
      errors: now.loads.errors,
      timeouts: now.loads.timeouts,
      p95: now.loads.p95,
      failSafe: now.loads.failSafe,
      staleServed: now.loads.staleServed,
      joins: now.loads.joins,
      inFlight: snapshot.loads.inFlight,
    }),
    keyGroups: Object.freeze({
      detailed: snapshot.detailed,
      note: snapshot.detailed ? (groups.length === 0 ? 'no reads counted in a key group yet' : undefined) : 'key groups are measured with the cache option metrics: true',
      byTraffic: Object.freeze([...groups].filter((g) => g.reads > 0).sort((a, b) => b.reads - a.reads).slice(0, TOP)),
      byMissCost: Object.freeze([...groups].filter((g) => g.loadMs > 0).sort((a, b) => b.loadMs - a.loadMs).slice(0, TOP)),
    }),
    alerts: Object.freeze(monitor?.activeAlerts() ?? []),
    recommendations: Object.freeze(recommend({ basis, snapshot, groups, trend, minRequests, defaultTtlMs: engine.options.defaultTtlMs })),
  });
}
