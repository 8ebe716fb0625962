import type { BusSubscription } from '../bus/sync.js';
import type { Engine } from '../engine.js';
import type { BreakerState } from '../tiers/store-tier.js';
import { parseDuration } from '../ttl.js';
import { histogramDelta, histogramSum, quantileOf, type HistogramSnapshot } from './histogram.js';
import type { ProbeResult } from './maintenance.js';
import { metricsOf, type MetricsSnapshot, type TierMetrics } from './snapshot.js';

/** `ok`: everything answers. `degraded`: the cache serves, but a store or the bus is in trouble. `down`: it cannot serve. */
export type HealthStatus = 'ok' | 'degraded' | 'down';

/** Thresholds of one `getHealth()` call. */
export interface HealthOptions {
  /**
   * A probe younger than this (the periodic one, or one a previous check ran) is reused; an older one is run
   * again before the answer, in ms or a duration. `0` probes on every call (calls made while a probe runs share it).
   * @default '5s'
   */
  maxProbeAge?: number | string;
  /**
   * A store whose share of failed calls over the recent window is above this is degraded (0..1).
   * @default 0.05
   */
  maxErrorRate?: number;
  /**
   * Fewest calls in the window before the error rate counts: a quiet store with one slow call in three is not degraded for it.
   * @default 10
   */
  minCalls?: number;
  /**
   * How far back "recent" reaches for error rates and p99 latencies: the figures are the difference between
   * now and a check at least this old (at most twice as old when checks come often), in ms or a duration.
   * @default '30s'
   */
  window?: number | string;
}

/** A probe as the report shows it. */
export interface ProbeReport {
  ok: boolean;
  /** When it ended (epoch ms, cache's clock). */
  at: number;
  /** How long it took (real ms). */
  ms: number;
  /** Not sent because the breaker holds calls back. */
  skipped: boolean;
  error?: string;
}

/** One store's health. */
export interface StoreHealth {
  /** The last probe (fresh enough, see `maxProbeAge`) got an answer within the tier's timeout, and the breaker lets calls through. */
  reachable: boolean;
  breaker: BreakerState;
  /** p99 of every call to the store over the recent window (ms); null without calls. */
  latencyP99: number | null;
  /** Failed (or timed out) calls over calls in the recent window, 0..1; 0 without calls. */
  errorRate: number;
  /** Calls sent to the store in the recent window (probes included). */
  calls: number;
  /** Writes the store missed, waiting to be replayed. */
  pendingWrites: number;
  lastProbe: ProbeReport | null;
}

/** The bus's health. */
export interface BusHealth {
  name: string;
  /** Subscribed, the breaker closed, and the last publish (ping or announcement) got through. */
  ready: boolean;
  subscription: BusSubscription;
  breaker: BreakerState;
  /** How the last publish ended (epoch ms, cache's clock); null before the first. */
  lastPublish: { ok: boolean; at: number } | null;
  lastProbe: ProbeReport | null;
}

/**
 * What `cache.getHealth()` answers: a verdict a load balancer can act on, with what it rests on. The rules:
 *
 * - `down` (`healthy: false`): the cache is closed; or `strict` is on, the cache has stores, and none is
 *   reachable, so every read and write throws.
 * - `degraded`: a store is unreachable (its probe got no answer within the tier's timeout), its breaker is open
 *   or half-open, more than `maxErrorRate` of its calls failed over the recent window (with at least
 *   `minCalls` calls), or writes wait to be replayed to it; or the bus is not subscribed, its breaker is not
 *   closed, or its last publish (a ping or an announcement) failed. The cache still answers, from memory, from
 *   the other stores and from loaders, so `healthy` stays true.
 * - `ok` otherwise; `reasons` is then empty.
 *
 * Reachability comes from a probe (see `MaintenanceOptions`): the last periodic one when it is younger than
 * `maxProbeAge`, else one `getHealth` runs itself, every store and the bus at once, each within its own timeout,
 * so the call never hangs. Error rates and p99 latencies cover the recent `window`, not the time since start,
 * so they recover once a store is well again.
 */
export interface HealthReport {
  /** False only when `status` is `down`: a degraded cache still serves (from memory, other stores, loaders). */
  healthy: boolean;
  status: HealthStatus;
  /** The cache's `name`. */
  cache: string;
  /** When the check ran (epoch ms, cache's clock). */
  checkedAt: number;
  /** By store name, in read order. */
  stores: Record<string, StoreHealth>;
  /** Undefined without a bus. */
  bus: BusHealth | undefined;
  /** `maxBytes`/`maxEntries` are null when only the other bound applies. */
  memory: { usedBytes: number; maxBytes: number | null; entries: number; maxEntries: number | null };
  /** Each problem, in words; empty when `ok`. */
  reasons: string[];
}

interface ResolvedHealthOptions {
  maxProbeAgeMs: number;
  maxErrorRate: number;
  minCalls: number;
  windowMs: number;
}

function resolveHealthOptions(options: HealthOptions): ResolvedHealthOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('getHealth options must be an object');
  const { maxProbeAge = '5s', maxErrorRate = 0.05, minCalls = 10, window = '30s' } = options;
  if (typeof maxErrorRate !== 'number' || !(maxErrorRate >= 0 && maxErrorRate <= 1)) {
    throw new TypeError(`maxErrorRate must be a number from 0 to 1, got ${String(maxErrorRate)}`);
  }
  if (!Number.isSafeInteger(minCalls) || minCalls < 1) throw new TypeError(`minCalls must be a positive integer, got ${String(minCalls)}`);
  const windowMs = parseDuration(window, 'window');
  if (windowMs === 0) throw new TypeError('window must be greater than 0');
  return { maxProbeAgeMs: parseDuration(maxProbeAge, 'maxProbeAge'), maxErrorRate, minCalls, windowMs };
}

/** What a window is measured from: per store, every call's duration (all operations) and the failures. */
interface Sample {
  at: number;
  tiers: Map<string, { latency: HistogramSnapshot; errors: number }>;
}

/**
 * Two samples per engine: the figures of a check are the difference from `older` (or from `newer` until
 * there is an older one). `newer` moves to `older` once it is a window old, so frequent checks all measure
 * against the same point and the window spans one to two `window`s.
 */
interface Windows {
  older?: Sample;
  newer?: Sample;
}

const windows = new WeakMap<Engine, Windows>();

function sampleOf(metrics: MetricsSnapshot): Sample {
  const tiers = new Map<string, { latency: HistogramSnapshot; errors: number }>();
  for (const tier of metrics.tiers) {
    if (tier.kind !== 'store') continue;
    tiers.set(tier.tier, { latency: histogramSum(Object.values(tier.latency)), errors: tier.requests.error });
  }
  return { at: metrics.at, tiers };
}

/** The sample this check measures from, after moving the pair along; undefined on the first check (since start). */
function baselineFor(engine: Engine, sample: Sample, windowMs: number): Sample | undefined {
  const pair = windows.get(engine);
  if (pair?.newer === undefined) {
    windows.set(engine, { newer: sample });
    return undefined;
  }
  if (sample.at - pair.newer.at >= windowMs) {
    pair.older = pair.newer;
    pair.newer = sample;
  }
  return pair.older ?? pair.newer;
}

function probeReport(probe: ProbeResult | undefined): ProbeReport | null {
  if (probe === undefined) return null;
  const report: ProbeReport = { ok: probe.ok, at: probe.at, ms: round(probe.ms), skipped: probe.skipped };
  if (probe.error !== undefined) report.error = probe.error;
  return report;
}

function round(value: number, digits = 3): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function percent(rate: number): string {
  return `${round(rate * 100, 1)} %`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The health of a cache (seed 004), by the rules `HealthReport` states. */
export async function healthOf(engine: Engine, options: HealthOptions = {}): Promise<HealthReport> {
  const resolved = resolveHealthOptions(options);
  const maintenance = engine.maintenance;
  if (!engine.closed) {
    const now = engine.clock.now();
    const stale = (probe: { readonly at: number } | undefined): boolean => probe === undefined || now - probe.at >= resolved.maxProbeAgeMs;
    const probes: Promise<unknown>[] = [];
    for (const tier of engine.stack.tiers) if (stale(maintenance.lastProbe(tier))) probes.push(maintenance.probeStore(tier));
    const lastPublish = engine.sync.lastPublish;
    if (engine.options.bus !== undefined && stale(maintenance.lastBusProbe) && stale(lastPublish)) {
      const probing = maintenance.probeBus();
      if (probing !== undefined) probes.push(probing);
    }
    await Promise.all(probes);
  }
  const metrics = metricsOf(engine);
  const sample = sampleOf(metrics);
  const baseline = baselineFor(engine, sample, resolved.windowMs);
  const reasons: string[] = [];
  if (engine.closed) reasons.push('the cache is closed');

  const stores: [string, StoreHealth][] = [];
  engine.stack.tiers.forEach((tier, i) => {
    const figures = metrics.tiers[i + 1] as TierMetrics;
    const now = sample.tiers.get(tier.name);
    const before = baseline?.tiers.get(tier.name);
    const latency = now === undefined ? undefined : histogramDelta(now.latency, before?.latency);
    const calls = latency?.count ?? 0;
    const errors = (now?.errors ?? 0) - (before?.errors ?? 0);
    const errorRate = calls > 0 ? Math.min(1, errors / calls) : 0;
    const p99 = latency === undefined ? undefined : quantileOf(latency, 0.99);
    const breaker = tier.state;
    const probe = maintenance.lastProbe(tier);
    const reachable = !engine.closed && breaker !== 'open' && probe?.ok === true;
    const pendingWrites = figures.pendingWrites ?? 0;
    if (!engine.closed) {
      if (breaker !== 'closed') reasons.push(`store ${tier.name}: circuit breaker ${breaker}`);
      if (!reachable && breaker !== 'open') reasons.push(`store ${tier.name}: unreachable${probe?.error === undefined ? '' : ` (${probe.error})`}`);
      if (calls >= resolved.minCalls && errorRate > resolved.maxErrorRate) {
        const span = baseline === undefined ? 'since the start' : `in the last ${Math.round((sample.at - baseline.at) / 1000)} s`;
        reasons.push(`store ${tier.name}: ${percent(errorRate)} of ${plural(calls, 'call')} failed ${span} (more than ${percent(resolved.maxErrorRate)})`);
      }
      if (pendingWrites > 0) reasons.push(`store ${tier.name}: ${plural(pendingWrites, 'write')} waiting to be replayed`);
    }
    stores.push([
      tier.name,
      { reachable, breaker, latencyP99: p99 === undefined ? null : round(p99), errorRate: round(errorRate, 4), calls, pendingWrites, lastProbe: probeReport(probe) },
    ]);
  });

  let bus: BusHealth | undefined;
  const busOption = engine.options.bus;
  if (busOption !== undefined) {
    const sync = engine.sync;
    const lastPublish = sync.lastPublish;
    const breaker = sync.breaker;
    const subscription = sync.subscription;
    const ready = !engine.closed && subscription === 'ready' && breaker === 'closed' && lastPublish?.ok !== false;
    if (!engine.closed) {
      const name = `bus ${busOption.name}`;
      if (subscription === 'pending') reasons.push(`${name}: still subscribing`);
      else if (subscription === 'failed') reasons.push(`${name}: not subscribed (the subscription never came up)`);
      if (breaker !== 'closed') reasons.push(`${name}: circuit breaker ${breaker}`);
      else if (lastPublish?.ok === false) reasons.push(`${name}: the last publish failed; other instances may be missing invalidations`);
    }
    bus = {
      name: busOption.name,
      ready,
      subscription,
      breaker,
      lastPublish: lastPublish === undefined ? null : { ok: lastPublish.ok, at: lastPublish.at },
      lastProbe: probeReport(maintenance.lastBusProbe),
    };
  }

  let status: HealthStatus = reasons.length === 0 ? 'ok' : 'degraded';
  if (engine.closed) status = 'down';
  else if (engine.options.strict && stores.length > 0 && stores.every(([, store]) => !store.reachable)) {
    reasons.unshift('no store is reachable and strict is on: reads and writes throw');
    status = 'down';
  }
  const memory = metrics.memory;
  return {
    healthy: status !== 'down',
    status,
    cache: metrics.cache,
    checkedAt: metrics.at,
    stores: Object.fromEntries(stores),
    bus,
    memory: {
      usedBytes: memory.usedBytes,
      maxBytes: Number.isFinite(memory.maxBytes) ? memory.maxBytes : null,
      entries: memory.entries,
      maxEntries: Number.isFinite(memory.maxEntries) ? memory.maxEntries : null,
    },
    reasons,
  };
}
