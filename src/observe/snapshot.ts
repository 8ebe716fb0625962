import type { Engine } from '../engine.js';
import type { BusStats } from '../stats.js';
import type { BreakerState, LatencyOperation } from '../tiers/store-tier.js';
import { EMPTY_HISTOGRAM, type HistogramSnapshot } from './histogram.js';
import type { InvalidationKind, InvalidationOrigin, KeyGroupCounts, LoadOutcome } from './metrics.js';

/** How the reads a tier was asked ended. */
export interface TierRequests {
  /** Answered fresh. */
  hit: number;
  /** Not answered by this tier (the next one was asked). */
  miss: number;
  /** Answered with a stale value, to a caller that accepts one. */
  stale: number;
  /** The store call failed (stores only). */
  error: number;
  /** The store call timed out (stores only; also counted in `error`). */
  timeout: number;
  /** Not sent because the tier's breaker was open (stores only). */
  skipped: number;
}

/** One tier's figures. Counters only grow; histograms hold milliseconds. */
export interface TierMetrics {
  /** `'memory'` or the store's name. */
  tier: string;
  kind: 'memory' | 'store';
  requests: TierRequests;
  sets: number;
  deletes: number;
  /**
   * Call durations by operation. For the memory tier, `get` is the look-up of one read in `sampleEvery`
   * (detailed metrics only; empty otherwise); stores time every call.
   */
  latency: Record<LatencyOperation, HistogramSnapshot>;
  bytesRead: number;
  bytesWritten: number;
  /** Stores only: the breaker now, and how often it opened and closed again. */
  breaker?: { state: BreakerState; opened: number; closed: number };
  /** Stores only: writes waiting for the store to come back, and writes replayed so far. */
  pendingWrites?: number;
  replayed?: number;
}

/** Everything the engine measured, at one moment: what the exporters, `monitor`, `getHealth` and `getReport` read. */
export interface MetricsSnapshot {
  /** The cache's `name`. */
  cache: string;
  /** The cache's clock when taken (epoch ms). */
  at: number;
  /** Detailed metrics (memory-tier sampling, key groups) are on. */
  detailed: boolean;
  /** One memory-tier read in this many is timed and counted in its key group. */
  sampleEvery: number;
  /** The memory tier first, then the stores in read order. */
  tiers: TierMetrics[];
  memory: {
    usedBytes: number;
    /** Infinity when only `maxEntries` bounds the tier. */
    maxBytes: number;
    entries: number;
    /** Infinity when only `maxBytes` bounds the tier. */
    maxEntries: number;
    /** Entries removed to respect the bounds (`capacity`) and at their deadline (`expired`). */
    evictions: { capacity: number; expired: number };
  };
  loads: {
    /** Loader durations by how the run ended (ms). */
    runs: Record<LoadOutcome, HistogramSnapshot>;
    /** Stale values served because the loader had just failed. */
    failSafe: number;
    /** Stale values served while a refresh ran (stale-while-revalidate, soft timeout). */
    staleServed: number;
    /** Callers that shared a load already running (single-flight). */
    joins: number;
    /** Loads running now. */
    inFlight: number;
    /** Time each load that met another instance's lease waited for it (ms). */
    leaseWait: HistogramSnapshot;
  };
  /** The bus's counters (as `getStats().bus`) and, from a message's send to its arrival here, its lag (ms). */
  bus: (BusStats & { lag: HistogramSnapshot }) | undefined;
  invalidations: { kind: InvalidationKind; origin: InvalidationOrigin; reason: string; count: number }[];
  /** Detailed metrics only: traffic and miss cost by key group (bounded). */
  keyGroups: ({ group: string } & KeyGroupCounts)[];
}

/** Takes a snapshot of an engine's measurements. O(tiers + key groups + reasons); allocates the snapshot only. */
export function metricsOf(engine: Engine): MetricsSnapshot {
  const c = engine.counters;
  const m = engine.metrics;
  const memoryHits = c.hits - c.storeHits;
  const memory: TierMetrics = {
    tier: 'memory',
    kind: 'memory',
    requests: { hit: memoryHits - c.memoryStale, miss: c.misses + c.storeHits, stale: c.memoryStale, error: 0, timeout: 0, skipped: 0 },
    sets: c.sets,
    deletes: c.deletes,
    latency: { get: m.memoryGet.snapshot(), set: EMPTY_HISTOGRAM, delete: EMPTY_HISTOGRAM, batch: EMPTY_HISTOGRAM, other: EMPTY_HISTOGRAM },
    bytesRead: 0,
    bytesWritten: 0,
  };
  const tiers = [memory];
  for (const tier of engine.stack.tiers) {
    const t = tier.counters;
    const o = tier.observed;
    tiers.push({
      tier: tier.name,
      kind: 'store',
      requests: { hit: t.hits - t.stale, miss: t.misses, stale: t.stale, error: t.errors, timeout: t.timeouts, skipped: t.skipped },
      sets: t.sets,
      deletes: t.deletes,
      latency: {
        get: o.latency.get.snapshot(),
        set: o.latency.set.snapshot(),
        delete: o.latency.delete.snapshot(),
        batch: o.latency.batch.snapshot(),
        other: o.latency.other.snapshot(),
      },
      bytesRead: t.bytesRead,
      bytesWritten: t.bytesWritten,
      breaker: { state: tier.state, opened: o.opened, closed: o.closed },
      pendingWrites: tier.pending.size + (tier.pendingClear ? 1 : 0),
      replayed: o.replayed,
    });
  }
  const keyGroups: MetricsSnapshot['keyGroups'] = [];
  if (m.groups !== undefined) for (const [group, counts] of m.groups.entries()) keyGroups.push({ group, ...counts });
  const bus = engine.options.bus === undefined ? undefined : { ...engine.sync.stats, lag: engine.sync.lag.snapshot() };
  return {
    cache: engine.options.name,
    at: engine.clock.now(),
    detailed: m.detailed,
    sampleEvery: m.sampleEvery,
    tiers,
    memory: {
      usedBytes: engine.memory.bytes,
      maxBytes: engine.options.maxBytes,
      entries: engine.memory.count,
      maxEntries: engine.options.maxEntries,
      evictions: { capacity: c.evictions, expired: c.expirations },
    },
    loads: {
      runs: { ok: m.loads.ok.snapshot(), error: m.loads.error.snapshot(), timeout: m.loads.timeout.snapshot() },
      failSafe: m.failSafe,
      staleServed: m.staleServed,
      joins: m.joins,
      inFlight: engine.flights.size,
      leaseWait: m.leaseWait.snapshot(),
    },
    bus,
    invalidations: m.invalidations(),
    keyGroups,
  };
}
