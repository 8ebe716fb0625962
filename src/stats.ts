import type { Counters, Engine } from './engine.js';
import type { TrackingStats } from './coherence/tracking.js';
import type { TagMeta } from './freshness/stamps.js';
import type { BreakerState, TierCounters } from './tiers/store-tier.js';

export interface TierStats {
  hits: number;
  misses: number;
  sets: number;
  deletes: number;
  evictions: number;
  expirations: number;
  memoryUsedBytes: number;
  keyCount: number;
  /** Mean milliseconds left before the held entries stop being served (their TTL; grace not included). */
  avgTtlRemaining: number;
  /** Mean milliseconds left before the held entries are gone, grace included. */
  avgStaleRemaining: number;
}

export interface StoreTierStats extends TierCounters {
  breaker: BreakerState;
  /** Writes waiting for the store to come back. */
  pendingWrites: number;
}

/** What the bus did: O(1) counters. */
export interface BusStats {
  sent: number;
  failed: number;
  timedOut: number;
  /** Not sent because the bus's breaker was open (receivers recover from the gap). */
  skipped: number;
  received: number;
  /** Received but refused by validation (never executed). */
  dropped: number;
  /** Times this instance emptied its memory tier because it may have missed messages. */
  recoveries: number;
}

export interface CacheStats {
  /** Reads answered by any tier or by none. */
  totalRequests: number;
  hits: number;
  misses: number;
  /** hits / totalRequests, 0 before the first request. */
  hitRate: number;
  evictions: number;
  memoryUsedBytes: number;
  keyCount: number;
  /** Mean milliseconds left before the memory tier's entries stop being served (grace not included). */
  avgTtlRemaining: number;
  tiers: { memory: TierStats };
  /** Each store tier by name. */
  stores: Record<string, StoreTierStats>;
  /** The bus, when there is one. */
  bus: BusStats | undefined;
  /** Redis client tracking (`coherence: 'tracking'`), present only when it is on. */
  tracking?: TrackingStats;
}

/**
 * Counters and sizes, in total and per tier. With `reset`, the counters restart from zero after being read.
 * O(1) but for the TTL means of entries kept with grace, which walk the memory tier's metadata only when
 * grace is in use.
 */
export function statsOf(engine: Engine, reset: boolean): CacheStats {
  const base = baselines.get(engine);
  const c = since(engine.counters, base?.counters);
  const memory = engine.memory;
  const now = engine.clock.now();
  const expiring = memory.expiringCount;
  const avgStaleRemaining = expiring === 0 ? 0 : Math.max(0, memory.expirySum / expiring - now);
  const avgTtlRemaining = engine.options.compute.graceMs === 0 && !engine.graceUsed ? avgStaleRemaining : freshMean(engine, now);
  const memoryStats: TierStats = {
    hits: c.hits - c.storeHits,
    misses: c.misses + c.storeHits,
    sets: c.sets,
    deletes: c.deletes,
    evictions: c.evictions,
    expirations: c.expirations,
    memoryUsedBytes: memory.bytes,
    keyCount: memory.count,
    avgTtlRemaining,
    avgStaleRemaining,
  };
  const stores: CacheStats['stores'] = {};
  for (const tier of engine.stack.tiers) {
    stores[tier.name] = { ...since(tier.counters, base?.tiers.get(tier.name)), breaker: tier.state, pendingWrites: tier.pending.size + (tier.pendingClear ? 1 : 0) };
  }
  const totalRequests = c.hits + c.misses;
  const stats: CacheStats = {
    totalRequests,
    hits: c.hits,
    misses: c.misses,
    hitRate: totalRequests === 0 ? 0 : c.hits / totalRequests,
    evictions: c.evictions,
    memoryUsedBytes: memory.bytes,
    keyCount: memory.count,
    avgTtlRemaining,
    tiers: { memory: memoryStats },
    stores,
    bus: engine.options.bus === undefined ? undefined : { ...engine.sync.stats },
  };
  if (engine.tracking !== undefined) stats.tracking = engine.tracking.stats;
  if (reset) baselines.set(engine, { counters: { ...engine.counters }, tiers: new Map(engine.stack.tiers.map((tier) => [tier.name, { ...tier.counters }])) });
  return stats;
}

/**
 * Where `getStats({ reset: true })` last left each engine's counters. The counters themselves only grow, so
 * the metrics exporters see monotonic totals whatever `getStats` callers do.
 */
const baselines = new WeakMap<Engine, { counters: Counters; tiers: Map<string, TierCounters> }>();

function since<T extends object>(now: T, base: T | undefined): T {
  if (base === undefined) return { ...now };
  const out = { ...now } as Record<string, number>;
  for (const [name, value] of Object.entries(base) as [string, number][]) out[name] = (out[name] as number) - value;
  return out as T;
}

/** Mean time left before entries stop being fresh, where some carry grace (their deadline is later). */
function freshMean(engine: Engine, now: number): number {
  const memory = engine.memory;
  let sum = 0;
  let count = 0;
  for (const key of memory.keys()) {
    const slot = memory.peek(key);
    if (slot < 0) continue;
    const deadline = memory.expiresAtOf(slot);
    if (deadline === Number.POSITIVE_INFINITY) continue;
    const freshUntil = (memory.metaOf(slot) as TagMeta | undefined)?.freshUntil ?? deadline;
    sum += Math.max(0, freshUntil - now);
    count++;
  }
  return count === 0 ? 0 : sum / count;
}
