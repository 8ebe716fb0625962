/**
 * `tiercache/prometheus`: a cache's measurements as Prometheus metrics, on prom-client (an optional peer
 * dependency). Nothing is counted per operation here: every scrape reads `cache.getMetrics()` once per cache
 * and turns the snapshot into series, so the engine's own counters stay the single source.
 *
 * Naming follows Prometheus: counters end in `_total`, durations are `_seconds` histograms, sizes are
 * `_bytes` gauges. Label values are bounded: tier and store names, fixed result and outcome sets, and the
 * key groups and invalidation reasons the engine already folds into `other` past their bound. A raw key is
 * never a label.
 */
import { Counter, Gauge, Histogram, register as defaultRegistry, type Registry } from 'prom-client';
import { BREAKER_STATE_VALUES, type MetricsSource } from './export-common.js';
import { BUCKET_BOUNDS_MS, type HistogramSnapshot } from './histogram.js';
import type { MetricsSnapshot } from './snapshot.js';

export { BREAKER_STATE_VALUES, type MetricsSource };

/** A registry of either exposition format. */
export type PrometheusRegistry = Registry<'text/plain; version=0.0.4; charset=utf-8'> | Registry<'application/openmetrics-text; version=1.0.0; charset=utf-8'>;

export interface PrometheusOptions {
  /**
   * The registry the metrics join.
   * @default prom-client's global registry (`register`)
   */
  registry?: PrometheusRegistry;
  /**
   * Put before every metric name. Caches registered with the same registry and prefix share the metric
   * families and are told apart by their `cache` label.
   * @default 'tiercache_'
   */
  prefix?: string;
}

/** What `registerCacheMetrics` returns. */
export interface CacheMetricsRegistration {
  /** Stops exporting these caches. The metric families leave the registry with the last cache that used them. */
  unregister(): void;
}

/**
 * The bucket bounds exported, in seconds: 1, 2.5 and 5 of each decade from 1 µs to 100 s. The engine keeps ten
 * buckets per decade; these are a subset of its bounds, so each exported bucket is exact, not interpolated.
 */
const EXPORTED: readonly { index: number; seconds: number }[] = BUCKET_BOUNDS_MS.flatMap((ms, index) => {
  const mantissa = Number((ms / 10 ** Math.floor(Math.log10(ms))).toPrecision(3));
  return mantissa === 1 || mantissa === 2.5 || mantissa === 5 ? [{ index, seconds: Number((ms / 1000).toPrecision(3)) }] : [];
});
export const EXPORTED_BUCKETS_SECONDS: readonly number[] = Object.freeze(EXPORTED.map((bucket) => bucket.seconds));

type Labels = Record<string, string>;
type Emit = (labels: Labels, value: number) => void;
type EmitHistogram = (labels: Labels, histogram: HistogramSnapshot) => void;

interface ValueFamily {
  readonly type: 'counter' | 'gauge';
  readonly name: string;
  readonly help: string;
  readonly labels: readonly string[];
  readonly read: (snapshot: MetricsSnapshot, emit: Emit) => void;
}

interface HistogramFamily {
  readonly type: 'histogram';
  readonly name: string;
  readonly help: string;
  readonly labels: readonly string[];
  readonly read: (snapshot: MetricsSnapshot, emit: EmitHistogram) => void;
}

type Family = ValueFamily | HistogramFamily;

function counter(name: string, help: string, labels: readonly string[], read: ValueFamily['read']): ValueFamily {
  return { type: 'counter', name, help, labels, read };
}

function gauge(name: string, help: string, labels: readonly string[], read: ValueFamily['read']): ValueFamily {
  return { type: 'gauge', name, help, labels, read };
}

function histogram(name: string, help: string, labels: readonly string[], read: HistogramFamily['read']): HistogramFamily {
  return { type: 'histogram', name, help, labels, read };
}

function stores(snapshot: MetricsSnapshot): MetricsSnapshot['tiers'] {
  return snapshot.tiers.filter((tier) => tier.kind === 'store');
}

/**
 * Every metric family, without the prefix. Docs (docs/observability.md) and the Grafana dashboard use these
 * names; test/observe/grafana.test.ts checks the dashboard against a real scrape.
 */
const FAMILIES: readonly Family[] = [
  counter(
    'requests_total',
    'Reads each tier was asked, by how they ended. error excludes timeout, so the results add up to the reads.',
    ['cache', 'tier', 'result'],
    (s, emit) => {
      for (const t of s.tiers) {
        const cache = s.cache;
        const tier = t.tier;
        const r = t.requests;
        emit({ cache, tier, result: 'hit' }, r.hit);
        emit({ cache, tier, result: 'stale' }, r.stale);
        emit({ cache, tier, result: 'miss' }, r.miss);
        if (t.kind === 'memory') continue;
        emit({ cache, tier, result: 'error' }, r.error - r.timeout);
        emit({ cache, tier, result: 'timeout' }, r.timeout);
        emit({ cache, tier, result: 'skipped' }, r.skipped);
      }
    },
  ),
  counter('sets_total', 'Entries written to each tier.', ['cache', 'tier'], (s, emit) => {
    for (const t of s.tiers) emit({ cache: s.cache, tier: t.tier }, t.sets);
  }),
  counter('deletes_total', 'Entries deleted from each tier.', ['cache', 'tier'], (s, emit) => {
    for (const t of s.tiers) emit({ cache: s.cache, tier: t.tier }, t.deletes);
  }),
  histogram(
    'operation_duration_seconds',
    'Duration of tier calls by operation. Stores time every call; the memory tier times one read in sampleEvery, with metrics on.',
    ['cache', 'tier', 'operation'],
    (s, emit) => {
      for (const t of s.tiers) {
        if (t.kind === 'memory') {
          if (s.detailed) emit({ cache: s.cache, tier: t.tier, operation: 'get' }, t.latency.get);
          continue;
        }
        for (const [operation, h] of Object.entries(t.latency)) emit({ cache: s.cache, tier: t.tier, operation }, h);
      }
    },
  ),
  counter('store_read_bytes_total', 'Bytes of entries read from each store.', ['cache', 'store'], (s, emit) => {
    for (const t of stores(s)) emit({ cache: s.cache, store: t.tier }, t.bytesRead);
  }),
  counter('store_written_bytes_total', 'Bytes of entries written to each store.', ['cache', 'store'], (s, emit) => {
    for (const t of stores(s)) emit({ cache: s.cache, store: t.tier }, t.bytesWritten);
  }),
  gauge('memory_used_bytes', 'Bytes the memory tier holds (entries and their overhead).', ['cache'], (s, emit) => {
    emit({ cache: s.cache }, s.memory.usedBytes);
  }),
  gauge('memory_max_bytes', 'The memory tier bound in bytes (absent when only maxEntries bounds it).', ['cache'], (s, emit) => {
    if (Number.isFinite(s.memory.maxBytes)) emit({ cache: s.cache }, s.memory.maxBytes);
  }),
  gauge('memory_entries', 'Entries the memory tier holds.', ['cache'], (s, emit) => {
    emit({ cache: s.cache }, s.memory.entries);
  }),
  gauge('memory_max_entries', 'The memory tier bound in entries (absent when only maxBytes bounds it).', ['cache'], (s, emit) => {
    if (Number.isFinite(s.memory.maxEntries)) emit({ cache: s.cache }, s.memory.maxEntries);
  }),
  counter('evictions_total', 'Entries the memory tier removed: to respect its bounds (capacity) or at their deadline (expired).', ['cache', 'cause'], (s, emit) => {
    emit({ cache: s.cache, cause: 'capacity' }, s.memory.evictions.capacity);
    emit({ cache: s.cache, cause: 'expired' }, s.memory.evictions.expired);
  }),
  counter('loads_total', 'Loader runs, by how they ended.', ['cache', 'outcome'], (s, emit) => {
    for (const [outcome, h] of Object.entries(s.loads.runs)) emit({ cache: s.cache, outcome }, h.count);
  }),
  histogram('load_duration_seconds', 'Duration of loader runs, by how they ended.', ['cache', 'outcome'], (s, emit) => {
    for (const [outcome, h] of Object.entries(s.loads.runs)) emit({ cache: s.cache, outcome }, h);
  }),
  gauge('loads_in_flight', 'Loads running now.', ['cache'], (s, emit) => {
    emit({ cache: s.cache }, s.loads.inFlight);
  }),
  counter('fail_safe_served_total', 'Stale values served because the loader had just failed (fail-safe).', ['cache'], (s, emit) => {
    emit({ cache: s.cache }, s.loads.failSafe);
  }),
  counter('stale_served_total', 'Stale values served while a refresh ran (stale-while-revalidate, soft timeout).', ['cache'], (s, emit) => {
    emit({ cache: s.cache }, s.loads.staleServed);
  }),
  counter('single_flight_joins_total', 'Callers that shared a load already running instead of starting one.', ['cache'], (s, emit) => {
    emit({ cache: s.cache }, s.loads.joins);
  }),
  histogram('lease_wait_seconds', 'Time loads waited for another instance holding the lease on their key.', ['cache'], (s, emit) => {
    emit({ cache: s.cache }, s.loads.leaseWait);
  }),
  gauge('breaker_state', "Each store's circuit breaker now: 0 closed, 1 half-open, 2 open.", ['cache', 'store'], (s, emit) => {
    for (const t of stores(s)) if (t.breaker !== undefined) emit({ cache: s.cache, store: t.tier }, BREAKER_STATE_VALUES[t.breaker.state]);
  }),
  counter('breaker_transitions_total', "Times each store's breaker went to a state (open, or closed again).", ['cache', 'store', 'state'], (s, emit) => {
    for (const t of stores(s)) {
      if (t.breaker === undefined) continue;
      emit({ cache: s.cache, store: t.tier, state: 'open' }, t.breaker.opened);
      emit({ cache: s.cache, store: t.tier, state: 'closed' }, t.breaker.closed);
    }
  }),
  gauge('pending_writes', 'Writes a store missed, waiting to be replayed when it answers again.', ['cache', 'store'], (s, emit) => {
    for (const t of stores(s)) emit({ cache: s.cache, store: t.tier }, t.pendingWrites ?? 0);
  }),
  counter('replayed_writes_total', 'Missed writes replayed to a store once it answered again.', ['cache', 'store'], (s, emit) => {
    for (const t of stores(s)) emit({ cache: s.cache, store: t.tier }, t.replayed ?? 0);
  }),
  counter('bus_published_total', 'Bus messages this instance published, by outcome (sent, failed, timeout, skipped by the bus breaker).', ['cache', 'outcome'], (s, emit) => {
    const bus = s.bus;
    if (bus === undefined) return;
    emit({ cache: s.cache, outcome: 'sent' }, bus.sent);
    emit({ cache: s.cache, outcome: 'failed' }, bus.failed);
    emit({ cache: s.cache, outcome: 'timeout' }, bus.timedOut);
    emit({ cache: s.cache, outcome: 'skipped' }, bus.skipped);
  }),
  counter('bus_received_total', 'Bus messages received from other instances and applied.', ['cache'], (s, emit) => {
    if (s.bus !== undefined) emit({ cache: s.cache }, s.bus.received);
  }),
  counter('bus_dropped_total', 'Incoming bus messages refused by validation, never executed.', ['cache'], (s, emit) => {
    if (s.bus !== undefined) emit({ cache: s.cache }, s.bus.dropped);
  }),
  counter('bus_recoveries_total', 'Recoveries from missed bus messages (gaps, reconnects, breaker trips): the memory tier was emptied.', ['cache'], (s, emit) => {
    if (s.bus !== undefined) emit({ cache: s.cache }, s.bus.recoveries);
  }),
  histogram('bus_lag_seconds', "Time from a bus message's send on another instance to its arrival here.", ['cache'], (s, emit) => {
    if (s.bus !== undefined) emit({ cache: s.cache }, s.bus.lag);
  }),
  counter('invalidations_total', 'Invalidations, by kind, origin (local or remote) and the reason given (empty when none).', ['cache', 'kind', 'origin', 'reason'], (s, emit) => {
    for (const i of s.invalidations) emit({ cache: s.cache, kind: i.kind, origin: i.origin, reason: i.reason }, i.count);
  }),
  counter(
    'key_group_requests_total',
    'Reads by key group (metrics on). Memory-tier hits are estimated from one read in sampleEvery.',
    ['cache', 'key_group', 'result'],
    (s, emit) => {
      for (const g of s.keyGroups) {
        emit({ cache: s.cache, key_group: g.group, result: 'hit' }, g.hits);
        emit({ cache: s.cache, key_group: g.group, result: 'miss' }, g.misses);
      }
    },
  ),
  counter('key_group_loads_total', 'Loader runs by key group (metrics on).', ['cache', 'key_group'], (s, emit) => {
    for (const g of s.keyGroups) emit({ cache: s.cache, key_group: g.group }, g.loads);
  }),
  counter('key_group_load_seconds_total', "Time spent in loader runs by key group (metrics on): what the group's misses cost.", ['cache', 'key_group'], (s, emit) => {
    for (const g of s.keyGroups) emit({ cache: s.cache, key_group: g.group }, g.loadMs / 1000);
  }),
];

/** Every metric name the exporter can write with `prefix` (what a dashboard may use), histograms as their base name. */
export function exportedMetricNames(prefix = 'tiercache_'): string[] {
  return FAMILIES.map((family) => prefix + family.name);
}

type HistogramData = Awaited<ReturnType<Histogram['get']>>;
// prom-client's types name the metric type with an enum that its runtime does not export; the registry
// writes the string it finds here into the `# TYPE` line.
const HISTOGRAM_TYPE = 'histogram' as unknown as HistogramData['type'];
const noCollect = (): void => undefined;

/**
 * A histogram whose series are built from the engine's cumulative snapshots at scrape time. prom-client's
 * Histogram only grows through `observe`, so its two read methods are replaced; the registry calls one of
 * them (`getForPromString` for the text format, `get` for JSON).
 */
class SnapshotHistogram extends Histogram {
  readonly #family: HistogramFamily;
  readonly #metricName: string;
  readonly #help: string;
  readonly #snapshots: () => readonly MetricsSnapshot[];

  constructor(family: HistogramFamily, name: string, snapshots: () => readonly MetricsSnapshot[]) {
    super({ name, help: family.help, labelNames: family.labels, buckets: [...EXPORTED_BUCKETS_SECONDS], registers: [] });
    this.#family = family;
    this.#metricName = name;
    this.#help = family.help;
    this.#snapshots = snapshots;
  }

  override get(): Promise<HistogramData> {
    const values: HistogramData['values'] = [];
    const bucket = `${this.#metricName}_bucket`;
    const emit: EmitHistogram = (labels, h) => {
      let cumulative = 0;
      let next = 0;
      for (const { index, seconds } of EXPORTED) {
        while (next <= index) cumulative += h.counts[next++] ?? 0;
        values.push({ labels: { ...labels, le: String(seconds) }, value: cumulative, metricName: bucket });
      }
      values.push({ labels: { ...labels, le: '+Inf' }, value: h.count, metricName: bucket });
      values.push({ labels, value: h.sum / 1000, metricName: `${this.#metricName}_sum` });
      values.push({ labels, value: h.count, metricName: `${this.#metricName}_count` });
    };
    for (const snapshot of this.#snapshots()) this.#family.read(snapshot, emit);
    return Promise.resolve({ name: this.#metricName, help: this.#help, type: HISTOGRAM_TYPE, values, aggregator: 'sum', collect: noCollect });
  }

  getForPromString(): Promise<HistogramData> {
    return this.get();
  }
}

/** The metric families of one registry and prefix, and the caches that feed them. */
class CacheCollector {
  readonly #registry: PrometheusRegistry;
  readonly #prefix: string;
  /** By cache name: the cache, and how many registrations hold it. */
  readonly #sources = new Map<string, { source: MetricsSource; holders: number }>();
  readonly #names: string[] = [];
  #taken: MetricsSnapshot[] | undefined;

  constructor(registry: PrometheusRegistry, prefix: string) {
    this.#registry = registry;
    this.#prefix = prefix;
  }

  get empty(): boolean {
    return this.#sources.size === 0;
  }

  add(name: string, source: MetricsSource): void {
    const present = this.#sources.get(name);
    if (present !== undefined && present.source !== source) {
      throw new TypeError(`a cache named ${JSON.stringify(name)} is already registered with this registry and prefix; give each cache a distinct name`);
    }
    if (this.#names.length === 0) this.#register();
    if (present === undefined) this.#sources.set(name, { source, holders: 1 });
    else present.holders++;
  }

  remove(name: string, source: MetricsSource): void {
    const present = this.#sources.get(name);
    if (present?.source !== source || --present.holders > 0) return;
    this.#sources.delete(name);
    if (this.#sources.size > 0) return;
    for (const metric of this.#names.splice(0)) this.#registry.removeSingleMetric(metric);
  }

  /**
   * One snapshot per cache for a whole scrape: the registry reads every family in the same synchronous turn,
   * so the snapshots are kept until the next microtask.
   */
  #snapshots(): readonly MetricsSnapshot[] {
    if (this.#taken === undefined) {
      this.#taken = [...this.#sources.values()].map(({ source }) => source.getMetrics());
      queueMicrotask(() => (this.#taken = undefined));
    }
    return this.#taken;
  }

  #register(): void {
    const snapshots = (): readonly MetricsSnapshot[] => this.#snapshots();
    const created = FAMILIES.map((family) => {
      const name = this.#prefix + family.name;
      if (this.#registry.getSingleMetric(name) !== undefined) throw new TypeError(`the registry already has a metric named ${name}; choose another prefix`);
      return { family, name };
    });
    for (const { family, name } of created) {
      const labelNames = [...family.labels];
      if (family.type === 'histogram') {
        this.#registry.registerMetric(new SnapshotHistogram(family, name, snapshots));
      } else {
        // Counters and gauges alike are rebuilt from the snapshots at each scrape (a counter's value never drops
        // because the engine's counters never do).
        const Kind = family.type === 'counter' ? Counter : Gauge;
        const metric: Counter | Gauge = new Kind({
          name,
          help: family.help,
          labelNames,
          registers: [],
          collect: () => {
            metric.reset();
            for (const snapshot of snapshots()) family.read(snapshot, (labels, value) => (metric instanceof Gauge ? metric.set(labels, value) : metric.inc(labels, value)));
          },
        });
        this.#registry.registerMetric(metric);
      }
      this.#names.push(name);
    }
  }
}

const collectors = new WeakMap<PrometheusRegistry, Map<string, CacheCollector>>();

/**
 * Exports caches' measurements through a prom-client registry. The collectors read `cache.getMetrics()` when
 * the registry is scraped, so the exporter adds nothing to a cache operation. Several caches can share a
 * registry (each needs its own `name`: it is the `cache` label); `unregister()` takes them out again.
 *
 * @example
 * import { Registry } from 'prom-client';
 * import { registerCacheMetrics } from 'tiercache/prometheus';
 * const registry = new Registry();
 * const exported = registerCacheMetrics([users, sessions], { registry });
 * http.createServer(async (_req, res) => res.end(await registry.metrics())).listen(9464);
 * // later: exported.unregister();
 */
export function registerCacheMetrics(caches: MetricsSource | readonly MetricsSource[], options: PrometheusOptions = {}): CacheMetricsRegistration {
  const { registry = defaultRegistry, prefix = 'tiercache_' } = options;
  if (typeof registry?.registerMetric !== 'function') throw new TypeError('registry must be a prom-client Registry');
  if (typeof prefix !== 'string' || !/^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/.test(prefix)) {
    throw new TypeError(`prefix must be empty or start a valid Prometheus metric name, got ${JSON.stringify(prefix)}`);
  }
  const list: readonly MetricsSource[] = Array.isArray(caches) ? caches : [caches as MetricsSource];
  const named = list.map((source) => {
    if (typeof source?.getMetrics !== 'function') throw new TypeError('registerCacheMetrics takes a cache (or a list of caches)');
    return { name: source.getMetrics().cache, source };
  });
  let byPrefix = collectors.get(registry);
  if (byPrefix === undefined) collectors.set(registry, (byPrefix = new Map<string, CacheCollector>()));
  let collector = byPrefix.get(prefix);
  if (collector === undefined) byPrefix.set(prefix, (collector = new CacheCollector(registry, prefix)));
  const target = collector;
  const added: typeof named = [];
  try {
    for (const entry of named) {
      target.add(entry.name, entry.source);
      added.push(entry);
    }
  } catch (error) {
    for (const entry of added) target.remove(entry.name, entry.source);
    throw error;
  }
  let registered = true;
  return {
    unregister() {
      if (!registered) return;
      registered = false;
      for (const entry of added) target.remove(entry.name, entry.source);
      if (target.empty) byPrefix.delete(prefix);
    },
  };
}
