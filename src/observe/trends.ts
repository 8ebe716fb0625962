/**
 * Windows and trends: what happened between two metric snapshots, reduced to plain numbers, and how the
 * latest windows compare with the ones before them. Shared by the monitor, its alerts and the report.
 */
import { histogramDelta, histogramSum, meanOf, quantileOf, type HistogramSnapshot } from './histogram.js';
import type { MetricsSnapshot, TierMetrics } from './snapshot.js';

/** Latency of a tier's reads (`get` calls) within a window, in milliseconds; undefined when none was timed. */
export interface WindowLatency {
  /** Reads timed (for the memory tier: one in `sampleEvery`, with `metrics: true` only). */
  readonly count: number;
  readonly p50: number | undefined;
  readonly p95: number | undefined;
  readonly p99: number | undefined;
  readonly mean: number | undefined;
}

/** One tier in one window. Only numbers (and the tier's name), so a window costs the same whatever the traffic. */
export interface TierWindow {
  /** `'memory'` or the store's name. */
  readonly tier: string;
  readonly kind: 'memory' | 'store';
  /** Reads this tier was asked: `hits + stale + misses`. */
  readonly reads: number;
  /** Answered fresh. */
  readonly hits: number;
  /** Answered with a stale value, to a caller that accepts one. */
  readonly stale: number;
  /**
   * Not answered here (the next tier was asked). For a store, a read that failed or was skipped by the
   * breaker is a miss too: the read went on without it.
   */
  readonly misses: number;
  /** `(hits + stale) / reads`: a stale answer is an answer, as `getStats().hitRate` counts it. Undefined without reads. */
  readonly hitRate: number | undefined;
  /** Store calls sent, every operation (0 for the memory tier). */
  readonly calls: number;
  /** Store calls that failed, timeouts included. */
  readonly errors: number;
  readonly timeouts: number;
  /** Store calls not sent because the breaker was open. */
  readonly skipped: number;
  /** `errors / calls`; undefined without calls (and always for the memory tier). */
  readonly errorRate: number | undefined;
  readonly latency: WindowLatency;
}

/** What the cache did between two snapshots. */
export interface MonitorWindow {
  /** Clock time (epoch ms) the window opened and closed. */
  readonly start: number;
  readonly end: number;
  /** Reads of the cache, answered by any tier or by none. */
  readonly reads: number;
  /** Reads some tier answered (stale answers included). */
  readonly hits: number;
  /** Reads no tier answered. */
  readonly misses: number;
  /** `hits / reads`, as `getStats().hitRate` computes it; undefined without reads. */
  readonly hitRate: number | undefined;
  /** The memory tier first, then the stores in read order. */
  readonly tiers: readonly TierWindow[];
  /** Values written (set, or stored by a load). */
  readonly sets: number;
  /** Memory-tier entries pushed out to respect its bounds. */
  readonly evictions: number;
  /** Memory-tier entries removed at their deadline. */
  readonly expirations: number;
  /** The memory tier when the window closed. `usage` is the fuller of its two bounds (0..1). */
  readonly memory: {
    readonly usedBytes: number;
    readonly maxBytes: number;
    readonly entries: number;
    readonly maxEntries: number;
    readonly usage: number;
  };
  readonly loads: {
    /** Loader runs that ended in the window, by any outcome. */
    readonly count: number;
    readonly errors: number;
    readonly timeouts: number;
    /** Loader duration below which 95 % of the runs ended (ms). */
    readonly p95: number | undefined;
    /** Milliseconds spent in loaders: what the misses cost. */
    readonly totalMs: number;
    readonly failSafe: number;
    readonly staleServed: number;
    readonly joins: number;
  };
  /** Invalidation calls of every kind, here or from the bus. */
  readonly invalidations: number;
  /** Of those, the ones that can drop many entries at once: tags, patterns, clear, namespaces. */
  readonly broadInvalidations: number;
}

const NO_LATENCY: WindowLatency = Object.freeze({ count: 0, p50: undefined, p95: undefined, p99: undefined, mean: undefined });

function latencyOf(h: HistogramSnapshot): WindowLatency {
  if (h.count <= 0) return NO_LATENCY;
  return Object.freeze({ count: h.count, p50: quantileOf(h, 0.5), p95: quantileOf(h, 0.95), p99: quantileOf(h, 0.99), mean: meanOf(h) });
}

function ratio(part: number, whole: number): number | undefined {
  return whole > 0 ? part / whole : undefined;
}

function callsOf(t: TierMetrics): HistogramSnapshot[] {
  return [t.latency.get, t.latency.set, t.latency.delete, t.latency.batch, t.latency.other];
}

function tierWindow(later: TierMetrics, earlier: TierMetrics | undefined): TierWindow {
  const r = later.requests;
  const e = earlier?.requests;
  const hits = r.hit - (e?.hit ?? 0);
  const stale = r.stale - (e?.stale ?? 0);
  const misses = r.miss - (e?.miss ?? 0);
  const errors = r.error - (e?.error ?? 0);
  const calls = later.kind === 'memory' ? 0 : histogramSum(callsOf(later)).count - (earlier === undefined ? 0 : histogramSum(callsOf(earlier)).count);
  const reads = hits + stale + misses;
  return Object.freeze({
    tier: later.tier,
    kind: later.kind,
    reads,
    hits,
    stale,
    misses,
    hitRate: ratio(hits + stale, reads),
    calls,
    errors,
    timeouts: r.timeout - (e?.timeout ?? 0),
    skipped: r.skipped - (e?.skipped ?? 0),
    errorRate: ratio(errors, calls),
    latency: latencyOf(histogramDelta(later.latency.get, earlier?.latency.get)),
  });
}

const BROAD = new Set(['pattern', 'tags', 'expire-tags', 'clear', 'namespace']);

function invalidationTotals(snapshot: MetricsSnapshot | undefined): { all: number; broad: number } {
  let all = 0;
  let broad = 0;
  for (const entry of snapshot?.invalidations ?? []) {
    all += entry.count;
    if (BROAD.has(entry.kind)) broad += entry.count;
  }
  return { all, broad };
}

/** The fuller of the memory tier's two bounds, 0..1 (an infinite bound does not count). */
export function memoryUsage(memory: MetricsSnapshot['memory']): number {
  const byBytes = Number.isFinite(memory.maxBytes) && memory.maxBytes > 0 ? memory.usedBytes / memory.maxBytes : 0;
  const byEntries = Number.isFinite(memory.maxEntries) && memory.maxEntries > 0 ? memory.entries / memory.maxEntries : 0;
  return Math.max(byBytes, byEntries);
}

/**
 * The window between two snapshots of one engine (`later` minus `earlier`). Without `earlier`, everything
 * since the cache started (the window then opens and closes at `later.at`: its length is unknown).
 */
export function windowOf(later: MetricsSnapshot, earlier: MetricsSnapshot | undefined): MonitorWindow {
  const tiers = later.tiers.map((tier, i) => {
    const before = earlier?.tiers[i];
    return tierWindow(tier, before?.tier === tier.tier ? before : earlier?.tiers.find((t) => t.tier === tier.tier));
  });
  const memoryTier = tiers[0] as TierWindow;
  const reads = memoryTier.reads;
  let hits = memoryTier.hits + memoryTier.stale;
  for (let i = 1; i < tiers.length; i++) hits += (tiers[i] as TierWindow).hits + (tiers[i] as TierWindow).stale;
  const runs = later.loads.runs;
  const was = earlier?.loads;
  const ok = histogramDelta(runs.ok, was?.runs.ok);
  const error = histogramDelta(runs.error, was?.runs.error);
  const timeout = histogramDelta(runs.timeout, was?.runs.timeout);
  const all = histogramSum([ok, error, timeout]);
  const inv = invalidationTotals(later);
  const invBefore = invalidationTotals(earlier);
  const m = later.memory;
  return Object.freeze({
    start: earlier?.at ?? later.at,
    end: later.at,
    reads,
    hits,
    misses: reads - hits,
    hitRate: ratio(hits, reads),
    tiers: Object.freeze(tiers),
    sets: (later.tiers[0]?.sets ?? 0) - (earlier?.tiers[0]?.sets ?? 0),
    evictions: m.evictions.capacity - (earlier?.memory.evictions.capacity ?? 0),
    expirations: m.evictions.expired - (earlier?.memory.evictions.expired ?? 0),
    memory: Object.freeze({ usedBytes: m.usedBytes, maxBytes: m.maxBytes, entries: m.entries, maxEntries: m.maxEntries, usage: memoryUsage(m) }),
    loads: Object.freeze({
      count: all.count,
      errors: error.count,
      timeouts: timeout.count,
      p95: quantileOf(all, 0.95),
      totalMs: all.sum,
      failSafe: later.loads.failSafe - (was?.failSafe ?? 0),
      staleServed: later.loads.staleServed - (was?.staleServed ?? 0),
      joins: later.loads.joins - (was?.joins ?? 0),
    }),
    invalidations: inv.all - invBefore.all,
    broadInvalidations: inv.broad - invBefore.broad,
  });
}

/** A mean of per-window figures weighted by how many values each window had (undefined when none had any). */
function weighted(values: readonly { value: number | undefined; weight: number }[]): number | undefined {
  let sum = 0;
  let weight = 0;
  for (const { value, weight: w } of values) {
    if (value === undefined || w <= 0) continue;
    sum += value * w;
    weight += w;
  }
  return weight > 0 ? sum / weight : undefined;
}

function mergeLatency(parts: readonly WindowLatency[]): WindowLatency {
  const count = parts.reduce((n, l) => n + l.count, 0);
  if (count === 0) return NO_LATENCY;
  const of = (pick: (l: WindowLatency) => number | undefined) => weighted(parts.map((l) => ({ value: pick(l), weight: l.count })));
  return Object.freeze({ count, p50: of((l) => l.p50), p95: of((l) => l.p95), p99: of((l) => l.p99), mean: of((l) => l.mean) });
}

/**
 * Several consecutive windows as one: counts add up, rates are recomputed from the sums, the memory figures
 * are the last window's. Windows keep no histograms, so merged percentiles are the windows' percentiles
 * averaged, weighted by their counts: an estimate, not the percentile of the union.
 */
export function mergeWindows(windows: readonly MonitorWindow[]): MonitorWindow | undefined {
  const first = windows[0];
  const last = windows[windows.length - 1];
  if (first === undefined || last === undefined) return undefined;
  if (windows.length === 1) return first;
  const sum = (pick: (w: MonitorWindow) => number) => windows.reduce((n, w) => n + pick(w), 0);
  const tiers = last.tiers.map((tier, i) => {
    const parts = windows.map((w) => w.tiers[i]).filter((t): t is TierWindow => t !== undefined && t.tier === tier.tier);
    const add = (pick: (t: TierWindow) => number) => parts.reduce((n, t) => n + pick(t), 0);
    const hits = add((t) => t.hits);
    const stale = add((t) => t.stale);
    const reads = add((t) => t.reads);
    const calls = add((t) => t.calls);
    const errors = add((t) => t.errors);
    return Object.freeze({
      tier: tier.tier,
      kind: tier.kind,
      reads,
      hits,
      stale,
      misses: add((t) => t.misses),
      hitRate: ratio(hits + stale, reads),
      calls,
      errors,
      timeouts: add((t) => t.timeouts),
      skipped: add((t) => t.skipped),
      errorRate: ratio(errors, calls),
      latency: mergeLatency(parts.map((t) => t.latency)),
    });
  });
  const reads = sum((w) => w.reads);
  const hits = sum((w) => w.hits);
  const loadCount = sum((w) => w.loads.count);
  return Object.freeze({
    start: first.start,
    end: last.end,
    reads,
    hits,
    misses: reads - hits,
    hitRate: ratio(hits, reads),
    tiers: Object.freeze(tiers),
    sets: sum((w) => w.sets),
    evictions: sum((w) => w.evictions),
    expirations: sum((w) => w.expirations),
    memory: last.memory,
    loads: Object.freeze({
      count: loadCount,
      errors: sum((w) => w.loads.errors),
      timeouts: sum((w) => w.loads.timeouts),
      p95: weighted(windows.map((w) => ({ value: w.loads.p95, weight: w.loads.count }))),
      totalMs: sum((w) => w.loads.totalMs),
      failSafe: sum((w) => w.loads.failSafe),
      staleServed: sum((w) => w.loads.staleServed),
      joins: sum((w) => w.loads.joins),
    }),
    invalidations: sum((w) => w.invalidations),
    broadInvalidations: sum((w) => w.broadInvalidations),
  });
}

/** Where a figure is heading. */
export type TrendVerdict = 'stable' | 'improving' | 'degrading';

/** A hit rate now against its baseline (fractions; `change` 0.12 is 12 points up). */
export interface HitRateTrend {
  readonly recent: number;
  readonly baseline: number;
  /** `recent - baseline`. */
  readonly change: number;
}

/** A tier's p95 read latency now against its baseline (ms). */
export interface LatencyTrend {
  readonly recent: number;
  readonly baseline: number;
  /** `recent / baseline`: 2 means twice as slow. */
  readonly ratio: number;
}

export interface TierTrend {
  readonly tier: string;
  readonly verdict: TrendVerdict;
  /** Undefined when the recent or the baseline windows had fewer reads than `minRequests`. */
  readonly hitRate: HitRateTrend | undefined;
  /** Undefined when the recent or the baseline windows timed fewer reads than `minRequests`. */
  readonly latency: LatencyTrend | undefined;
}

/** The latest windows against the ones before them. */
export interface Trend {
  /** `degrading` when the overall hit rate or any tier degrades; `improving` when something improves and nothing degrades. */
  readonly verdict: TrendVerdict;
  /** Windows counted as "now" and as the baseline (0 baseline windows: too early to tell, every figure undefined). */
  readonly recentWindows: number;
  readonly baselineWindows: number;
  /** The overall hit rate (reads answered by any tier). */
  readonly hitRate: HitRateTrend | undefined;
  readonly tiers: readonly TierTrend[];
}

/** A hit rate this many points (as a fraction) below its baseline is degrading; as far above, improving. */
export const HIT_RATE_TREND_POINTS = 0.05;
/** p95 latency this many times its baseline is degrading; below its inverse, improving. */
export const LATENCY_TREND_RATIO = 1.5;
/** A latency change smaller than this (ms) is noise, whatever its ratio: a memory tier going from 1 µs to 2 µs is not news. */
export const LATENCY_TREND_MIN_MS = 0.1;

function hitRateVerdict(t: HitRateTrend | undefined): TrendVerdict {
  if (t === undefined) return 'stable';
  if (t.change <= -HIT_RATE_TREND_POINTS) return 'degrading';
  if (t.change >= HIT_RATE_TREND_POINTS) return 'improving';
  return 'stable';
}

function latencyVerdict(t: LatencyTrend | undefined): TrendVerdict {
  if (t === undefined || Math.abs(t.recent - t.baseline) < LATENCY_TREND_MIN_MS) return 'stable';
  if (t.ratio >= LATENCY_TREND_RATIO) return 'degrading';
  if (t.ratio <= 1 / LATENCY_TREND_RATIO) return 'improving';
  return 'stable';
}

function combine(verdicts: readonly TrendVerdict[]): TrendVerdict {
  if (verdicts.includes('degrading')) return 'degrading';
  return verdicts.includes('improving') ? 'improving' : 'stable';
}

function hitRateTrend(recent: { reads: number; rate: number | undefined }, base: { reads: number; rate: number | undefined }, minRequests: number): HitRateTrend | undefined {
  if (recent.rate === undefined || base.rate === undefined || recent.reads < minRequests || base.reads < minRequests) return undefined;
  return Object.freeze({ recent: recent.rate, baseline: base.rate, change: recent.rate - base.rate });
}

/**
 * The last `recent` windows (oldest first in `windows`) against up to `baseline` windows before them.
 * Figures with fewer than `minRequests` values on either side are left out (undefined) rather than guessed.
 */
export function trendOf(windows: readonly MonitorWindow[], recent: number, baseline: number, minRequests: number): Trend {
  const recentCount = Math.min(recent, windows.length);
  const baseEnd = windows.length - recentCount;
  const baseStart = Math.max(0, baseEnd - baseline);
  const now = mergeWindows(windows.slice(baseEnd));
  const before = mergeWindows(windows.slice(baseStart, baseEnd));
  if (now === undefined || before === undefined) {
    return Object.freeze({ verdict: 'stable', recentWindows: recentCount, baselineWindows: 0, hitRate: undefined, tiers: Object.freeze([]) });
  }
  const overall = hitRateTrend({ reads: now.reads, rate: now.hitRate }, { reads: before.reads, rate: before.hitRate }, minRequests);
  const tiers = now.tiers.map((tier, i): TierTrend => {
    const base = before.tiers[i];
    const hitRate = base === undefined ? undefined : hitRateTrend({ reads: tier.reads, rate: tier.hitRate }, { reads: base.reads, rate: base.hitRate }, minRequests);
    let latency: LatencyTrend | undefined;
    const r = tier.latency;
    const b = base?.latency;
    if (b !== undefined && r.p95 !== undefined && b.p95 !== undefined && r.count >= minRequests && b.count >= minRequests && b.p95 > 0) {
      latency = Object.freeze({ recent: r.p95, baseline: b.p95, ratio: r.p95 / b.p95 });
    }
    return Object.freeze({ tier: tier.tier, verdict: combine([hitRateVerdict(hitRate), latencyVerdict(latency)]), hitRate, latency });
  });
  return Object.freeze({
    verdict: combine([hitRateVerdict(overall), ...tiers.map((t) => t.verdict)]),
    recentWindows: recentCount,
    baselineWindows: baseEnd - baseStart,
    hitRate: overall,
    tiers: Object.freeze(tiers),
  });
}
