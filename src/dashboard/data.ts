/**
 * What the page shows, as plain JSON: figures from the public Cache API (getMetrics, getReport,
 * getInvalidationEvents, listInstances), a ring of chart points sampled while someone watches, and the warm
 * runs the dashboard started. Key names are redacted here, once, for a viewer who may not see them.
 */
import type { Cache } from '../cache.js';
import type { InstanceInfo } from '../fleet/info.js';
import type { InvalidationEvent } from '../freshness/log.js';
import { quantileOf } from '../observe/histogram.js';
import type { MetricsSnapshot } from '../observe/snapshot.js';
import { windowOf, type MonitorWindow } from '../observe/trends.js';
import type { WarmRun } from './warm-runs.js';

/** One point of the charts: a window between two samples. Rates are fractions, latencies ms. */
export interface HistoryPoint {
  /** End of the window, epoch ms. */
  t: number;
  hitRate: number | null;
  reads: number;
  evictions: number;
  memoryUsage: number;
  tiers: { tier: string; hitRate: number | null; p99: number | null }[];
}

export interface TierView {
  tier: string;
  kind: 'memory' | 'store';
  hits: number;
  misses: number;
  stale: number;
  errors: number;
  hitRate: number | null;
  /** Read latency since the cache started (ms); null when no read was timed. */
  latency: { p50: number | null; p95: number | null; p99: number | null; count: number };
  breaker: string | null;
}

export interface EventView {
  id: string;
  at: string;
  kind: InvalidationEvent['kind'];
  reason: string | null;
  triggeredBy: string | null;
  count: number | null;
  /** Null when the viewer may not see key names (`redacted` then says how many there were). */
  keys: readonly string[] | null;
  tags: readonly string[] | null;
  pattern: string | null;
  redacted: boolean;
}

export interface InstanceView {
  id: string;
  name: string;
  host: string;
  version: string;
  uptimeMs: number;
  hitRate: number | null;
  hits: number;
  misses: number;
  /** `null` for a bound the instance does not have. */
  memory: { entries: number; bytes: number; maxEntries: number | null; maxBytes: number | null };
  health: string;
  breakers: { name: string; state: string }[];
  alerts: number;
  heartbeatAt: number;
}

export interface Snapshot {
  at: number;
  cache: string;
  access: { actions: boolean; authorized: boolean; showKeys: boolean };
  totals: { hits: number; misses: number; hitRate: number | null; sets: number; invalidations: number };
  tiers: TierView[];
  memory: { entries: number; maxEntries: number | null; usedBytes: number; maxBytes: number | null; usage: number; evictions: number; expirations: number };
  history: HistoryPoint[];
  keyGroups: { detailed: boolean; note: string | null; top: { group: string; reads: number; hitRate: number | null; loadMs: number }[] };
  alerts: { rule: string; severity: string; tier: string | null; message: string; since: number }[];
  recommendations: { code: string; severity: string; message: string }[];
  events: EventView[];
  warming: { warmers: string[]; runs: WarmRun[] };
  fleet: { instances: InstanceView[]; error: string | null };
}

const EVENTS_SHOWN = 50;

function nullable(n: number | undefined): number | null {
  return n === undefined || !Number.isFinite(n) ? null : n;
}

function pointOf(window: MonitorWindow): HistoryPoint {
  return {
    t: window.end,
    hitRate: nullable(window.hitRate),
    reads: window.reads,
    evictions: window.evictions,
    memoryUsage: window.memory.usage,
    tiers: window.tiers.map((t) => ({ tier: t.tier, hitRate: nullable(t.hitRate), p99: nullable(t.latency.p99) })),
  };
}

/** Key names and patterns out of an event, for a viewer who may not see them. */
export function eventView(event: InvalidationEvent, showKeys: boolean): EventView {
  const hidden = !showKeys && (event.keys !== undefined || event.tags !== undefined || event.pattern !== undefined);
  return {
    id: event.id,
    at: event.at.toISOString(),
    kind: event.kind,
    reason: event.reason ?? null,
    triggeredBy: event.triggeredBy ?? null,
    count: event.count ?? null,
    keys: showKeys ? (event.keys ?? null) : null,
    tags: showKeys ? (event.tags ?? null) : null,
    pattern: showKeys ? (event.pattern ?? null) : null,
    redacted: hidden,
  };
}

function finite(n: number): number | null {
  return Number.isFinite(n) ? n : null;
}

function instanceView(i: InstanceInfo): InstanceView {
  return {
    id: i.id,
    name: i.name,
    host: i.host,
    version: i.version,
    uptimeMs: i.uptimeMs,
    hitRate: i.hits + i.misses > 0 ? finite(i.hitRate) : null,
    hits: i.hits,
    misses: i.misses,
    // An unbounded side is Infinity in the heartbeat: null here, so it survives JSON.
    memory: { entries: i.memory.entries, bytes: i.memory.bytes, maxEntries: finite(i.memory.maxEntries), maxBytes: finite(i.memory.maxBytes) },
    health: i.health,
    breakers: i.stores.map((s) => ({ name: s.name, state: s.breaker })),
    alerts: i.alerts.length,
    heartbeatAt: i.heartbeatAt,
  };
}

/** Every live instance sharing the cache's store (this one included); a failure to read them is shown, not thrown. */
export async function fleetOf(cache: Cache): Promise<Snapshot['fleet']> {
  try {
    return { instances: (await cache.listInstances()).map(instanceView), error: null };
  } catch (error) {
    return { instances: [], error: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * The chart history: one metrics snapshot per sample, the difference between two samples one point. Holds at
 * most `capacity` points and the previous snapshot; samples only when told to.
 */
export class History {
  readonly #ring: (HistoryPoint | undefined)[];
  #head = 0;
  #size = 0;
  #previous: MetricsSnapshot | undefined;

  constructor(readonly capacity: number) {
    this.#ring = new Array<HistoryPoint | undefined>(capacity).fill(undefined);
  }

  /** Takes a sample; the first one after `pause()` only sets the baseline. */
  sample(metrics: MetricsSnapshot): void {
    const previous = this.#previous;
    this.#previous = metrics;
    if (previous === undefined) return;
    this.#ring[this.#head] = pointOf(windowOf(metrics, previous));
    this.#head = (this.#head + 1) % this.capacity;
    if (this.#size < this.capacity) this.#size++;
  }

  /** Forgets the baseline, so the gap while nobody watched does not become one wide point. */
  pause(): void {
    this.#previous = undefined;
  }

  points(): HistoryPoint[] {
    const out: HistoryPoint[] = [];
    const start = this.#size < this.capacity ? 0 : this.#head;
    for (let i = 0; i < this.#size; i++) out.push(this.#ring[(start + i) % this.capacity] as HistoryPoint);
    return out;
  }
}

function tierView(metrics: MetricsSnapshot['tiers'][number]): TierView {
  const r = metrics.requests;
  const reads = r.hit + r.stale + r.miss;
  const get = metrics.latency.get;
  return {
    tier: metrics.tier,
    kind: metrics.kind,
    hits: r.hit,
    misses: r.miss,
    stale: r.stale,
    errors: r.error,
    hitRate: reads > 0 ? (r.hit + r.stale) / reads : null,
    latency: { p50: nullable(quantileOf(get, 0.5)), p95: nullable(quantileOf(get, 0.95)), p99: nullable(quantileOf(get, 0.99)), count: get.count },
    breaker: metrics.breaker?.state ?? null,
  };
}

/** Everything but the events, the warm runs and the fleet, which come from elsewhere. */
export function figuresOf(cache: Cache, metrics: MetricsSnapshot, showKeys: boolean): Pick<Snapshot, 'at' | 'cache' | 'totals' | 'tiers' | 'memory' | 'keyGroups' | 'alerts' | 'recommendations'> {
  const report = cache.getReport();
  // Since the cache started, from the monotonic metrics (getStats counters may be reset by someone else).
  const total = windowOf(metrics, undefined);
  const m = metrics.memory;
  const groups = report.keyGroups.byTraffic.map((g, i) => ({ group: showKeys ? g.group : `group ${i + 1}`, reads: g.reads, hitRate: nullable(g.hitRate), loadMs: g.loadMs }));
  return {
    at: metrics.at,
    cache: metrics.cache,
    totals: { hits: total.hits, misses: total.misses, hitRate: nullable(total.hitRate), sets: total.sets, invalidations: total.invalidations },
    tiers: metrics.tiers.map(tierView),
    memory: {
      entries: m.entries,
      maxEntries: nullable(m.maxEntries),
      usedBytes: m.usedBytes,
      maxBytes: nullable(m.maxBytes),
      usage: total.memory.usage,
      evictions: m.evictions.capacity,
      expirations: m.evictions.expired,
    },
    keyGroups: { detailed: report.keyGroups.detailed, note: report.keyGroups.note ?? null, top: groups },
    alerts: report.alerts.map((a) => ({ rule: a.rule, severity: a.severity, tier: a.tier ?? null, message: a.message, since: a.since })),
    recommendations: report.recommendations.map((r) => ({ code: r.code, severity: r.severity, message: showKeys || r.code !== 'WARM_KEY_GROUP' ? r.message : 'a key group misses often: warming it would help' })),
  };
}

/** The newest events, oldest first, as the viewer may see them. */
export async function eventsOf(cache: Cache, showKeys: boolean): Promise<EventView[]> {
  const events = await cache.getInvalidationEvents({ limit: EVENTS_SHOWN });
  return events.map((event) => eventView(event, showKeys));
}
