/**
 * `tiercache/otel`: a cache's measurements as OpenTelemetry metrics and spans, on `@opentelemetry/api` (an
 * optional peer dependency). Counters and gauges are observable instruments fed from one `getMetrics()`
 * snapshot per collection. Durations cannot be observed after the fact in the OpenTelemetry API, so store
 * calls and loader runs are timed as they happen, from the `tiercache:store` and `tiercache:load` tracing
 * channels, which also give one span per store call and per loader run.
 *
 * OpenTelemetry has no cache convention yet; store calls follow its database client conventions
 * (`db.client.operation.duration`, `db.system.name`, `db.operation.name`, `error.type`). docs/observability.md
 * holds the whole mapping.
 */
import { tracingChannel, type TracingChannelSubscribers } from 'node:diagnostics_channel';
import {
  metrics,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type BatchObservableCallback,
  type Histogram,
  type MeterProvider,
  type Observable,
  type Span,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import { isCacheError } from '../errors.js';
import { BREAKER_STATE_VALUES, type MetricsSource } from './export-common.js';
import { TRACE_CHANNELS, type LoadTrace, type StoreTrace } from './tracing.js';

export type { MetricsSource };

export interface OtelOptions {
  /** @default the global meter provider (`metrics.getMeterProvider()`) */
  meterProvider?: MeterProvider;
  /** @default the global tracer provider (`trace.getTracerProvider()`) */
  tracerProvider?: TracerProvider;
  /**
   * Observable counters and gauges from `getMetrics()`, and the store-call and loader duration histograms.
   * @default true
   */
  metrics?: boolean;
  /**
   * A span for each store call and each loader run.
   * @default true
   */
  spans?: boolean;
  /**
   * Put the cache key on spans as `tiercache.key`. Keys often hold user ids or other personal data, so this
   * is off unless asked for; keys never become metric attributes.
   * @default false
   */
  keyOnSpans?: boolean;
  /**
   * The `db.system.name` of a store, from its name.
   * @default OpenTelemetry's identifier for the known stores (`redis`, `memcached`, `sqlite`, `postgresql`), else the store's name
   */
  dbSystem?: (store: string) => string;
}

/** What `instrumentCache` returns. */
export interface CacheInstrumentation {
  /** Stops observing the cache: unsubscribes from the tracing channels and removes the metric callback. Spans still open are ended. */
  stop(): void;
}

/** The bounds OpenTelemetry's database conventions advise for `db.client.operation.duration`, in seconds. */
export const DB_DURATION_BUCKETS_SECONDS: readonly number[] = Object.freeze([0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10]);

const SCOPE = 'tiercache';
const KNOWN_SYSTEMS: Readonly<Record<string, string>> = { redis: 'redis', memcached: 'memcached', sqlite: 'sqlite', postgres: 'postgresql', postgresql: 'postgresql' };

function defaultDbSystem(store: string): string {
  return KNOWN_SYSTEMS[store.toLowerCase()] ?? store.toLowerCase();
}

/**
 * The `error.type` of a failure: `timeout` for a loader past its hard timeout, else the name of the error a
 * store or loader threw (the original one when tiercache wrapped it, as the conventions ask), `_OTHER` for a
 * thrown value that is not an Error.
 */
export function errorTypeOf(error: unknown): string {
  if (isCacheError(error) && error.code === 'E_LOADER_TIMEOUT') return 'timeout';
  const original = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  return original instanceof Error && original.name !== '' ? original.name : '_OTHER';
}

/** Caches instrumented now, by name: the channels are process-wide and the name is what tells them apart. */
const instrumented = new Map<string, MetricsSource>();

interface Pending {
  readonly started: number;
  readonly span: Span | undefined;
  failed: boolean;
  error: unknown;
  /** The traced call returned (its promise, or its synchronous throw). */
  returned: boolean;
}

/** Watches one tracing channel for one cache: `finish` runs once per traced call, when its promise settles. */
class ChannelWatch<C extends { cache: string; error?: unknown }> {
  readonly #pending = new Map<object, Pending>();
  readonly #subscribers: TracingChannelSubscribers<C>;
  readonly #channel;

  constructor(name: string, cache: string, begin: (context: C) => Span | undefined, finish: (context: C, pending: Pending) => void) {
    this.#channel = tracingChannel<unknown, C>(name);
    const done = (context: C, pending: Pending): void => {
      this.#pending.delete(context);
      finish(context, pending);
    };
    this.#subscribers = {
      start: (context) => {
        if (context.cache !== cache) return;
        this.#pending.set(context, { started: performance.now(), span: begin(context), failed: false, error: undefined, returned: false });
      },
      end: (context) => {
        const pending = this.#pending.get(context);
        if (pending === undefined) return;
        pending.returned = true;
        // A synchronous throw publishes error then end, and no asyncEnd follows.
        if (pending.failed) done(context, pending);
      },
      asyncStart: () => undefined,
      asyncEnd: (context) => {
        const pending = this.#pending.get(context);
        if (pending !== undefined) done(context, pending);
      },
      error: (context) => {
        const pending = this.#pending.get(context);
        if (pending === undefined) return;
        pending.failed = true;
        pending.error = context.error;
      },
    };
    this.#channel.subscribe(this.#subscribers);
  }

  stop(): void {
    this.#channel.unsubscribe(this.#subscribers);
    for (const pending of this.#pending.values()) pending.span?.end();
    this.#pending.clear();
  }
}

function failSpan(span: Span, error: unknown, type: string): void {
  span.setAttribute('error.type', type);
  if (error instanceof Error) span.recordException(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}

/**
 * Reports a cache to OpenTelemetry: metrics through the meter provider, spans through the tracer provider.
 * Give every cache instrumented in one process its own `name` (the `tiercache.cache` attribute).
 *
 * @example
 * import { instrumentCache } from 'tiercache/otel';
 * const otel = instrumentCache(cache); // global providers, as set up by the OpenTelemetry SDK
 * // on shutdown: otel.stop();
 */
export function instrumentCache(cache: MetricsSource, options: OtelOptions = {}): CacheInstrumentation {
  const {
    meterProvider = metrics.getMeterProvider(),
    tracerProvider = trace.getTracerProvider(),
    metrics: withMetrics = true,
    spans: withSpans = true,
    keyOnSpans = false,
    dbSystem = defaultDbSystem,
  } = options;
  if (typeof cache?.getMetrics !== 'function') throw new TypeError('instrumentCache takes a cache');
  if (typeof dbSystem !== 'function') throw new TypeError('dbSystem must be a function');
  const name = cache.getMetrics().cache;
  const present = instrumented.get(name);
  if (present !== undefined) {
    throw new TypeError(
      present === cache
        ? `the cache ${JSON.stringify(name)} is instrumented already; stop() that instrumentation first`
        : `another cache named ${JSON.stringify(name)} is instrumented; give each cache a distinct name`,
    );
  }
  // Nothing to report: stay off the channels, which cost (almost) nothing only while nobody listens.
  if (!withMetrics && !withSpans) return { stop: () => undefined };
  const tracer: Tracer | undefined = withSpans ? tracerProvider.getTracer(SCOPE) : undefined;
  const meter = withMetrics ? meterProvider.getMeter(SCOPE) : undefined;
  const storeDuration: Histogram | undefined = meter?.createHistogram('db.client.operation.duration', {
    description: 'Duration of calls to the stores under the memory tier.',
    unit: 's',
    advice: { explicitBucketBoundaries: [...DB_DURATION_BUCKETS_SECONDS] },
  });
  const loadDuration: Histogram | undefined = meter?.createHistogram('tiercache.load.duration', {
    description: 'Duration of loader runs (getOrSet and getOrSetMany misses).',
    unit: 's',
  });
  const systems = new Map<string, string>();
  const systemOf = (store: string): string => {
    let system = systems.get(store);
    if (system === undefined) systems.set(store, (system = String(dbSystem(store))));
    return system;
  };

  const stores = new ChannelWatch<StoreTrace>(
    TRACE_CHANNELS.store,
    name,
    (context) => {
      if (tracer === undefined) return undefined;
      const attributes: Attributes = {
        'db.system.name': systemOf(context.store),
        'db.operation.name': context.operation,
        'tiercache.cache': name,
        'tiercache.store': context.store,
      };
      if (keyOnSpans && context.key !== undefined) attributes['tiercache.key'] = context.key;
      return tracer.startSpan(`${context.operation} ${context.store}`, { kind: SpanKind.CLIENT, attributes });
    },
    (context, pending) => {
      const type = pending.failed ? errorTypeOf(pending.error) : undefined;
      if (storeDuration !== undefined) {
        const attributes: Attributes = {
          'db.system.name': systemOf(context.store),
          'db.operation.name': context.operation,
          'tiercache.cache': name,
          'tiercache.store': context.store,
        };
        if (type !== undefined) attributes['error.type'] = type;
        storeDuration.record((performance.now() - pending.started) / 1000, attributes);
      }
      const span = pending.span;
      if (span === undefined) return;
      if (type !== undefined) failSpan(span, pending.error, type);
      span.end();
    },
  );

  const loads = new ChannelWatch<LoadTrace>(
    TRACE_CHANNELS.load,
    name,
    (context) => {
      if (tracer === undefined) return undefined;
      const attributes: Attributes = { 'tiercache.cache': name, 'tiercache.operation': context.operation };
      if (keyOnSpans) attributes['tiercache.key'] = context.key;
      return tracer.startSpan('tiercache.load', { kind: SpanKind.INTERNAL, attributes });
    },
    (context, pending) => {
      const type = pending.failed ? errorTypeOf(pending.error) : undefined;
      const outcome = type === undefined ? 'ok' : type === 'timeout' ? 'timeout' : 'error';
      if (loadDuration !== undefined) {
        const attributes: Attributes = { 'tiercache.cache': name, 'tiercache.operation': context.operation, 'tiercache.load.outcome': outcome };
        if (type !== undefined) attributes['error.type'] = type;
        loadDuration.record((performance.now() - pending.started) / 1000, attributes);
      }
      const span = pending.span;
      if (span === undefined) return;
      span.setAttribute('tiercache.load.outcome', outcome);
      if (type !== undefined) failSpan(span, pending.error, type);
      span.end();
    },
  );

  let removeObservers: (() => void) | undefined;
  if (meter !== undefined) {
    const counter = (id: string, description: string, unit: string): Observable => meter.createObservableCounter(id, { description, unit });
    const upDown = (id: string, description: string, unit: string): Observable => meter.createObservableUpDownCounter(id, { description, unit });
    const o = {
      requests: counter('tiercache.requests', 'Reads each tier was asked, by result (error excludes timeout).', '{request}'),
      sets: counter('tiercache.sets', 'Entries written to each tier.', '{entry}'),
      deletes: counter('tiercache.deletes', 'Entries deleted from each tier.', '{entry}'),
      io: counter('tiercache.store.io', 'Bytes of entries read from and written to each store.', 'By'),
      memoryUsage: upDown('tiercache.memory.usage', 'Bytes the memory tier holds.', 'By'),
      memoryLimit: upDown('tiercache.memory.limit', 'The memory tier bound in bytes.', 'By'),
      entries: upDown('tiercache.memory.entries', 'Entries the memory tier holds.', '{entry}'),
      entriesLimit: upDown('tiercache.memory.entries.limit', 'The memory tier bound in entries.', '{entry}'),
      evictions: counter('tiercache.evictions', 'Entries the memory tier removed, by cause (capacity, expired).', '{entry}'),
      loads: counter('tiercache.loads', 'Loader runs, by outcome.', '{load}'),
      loadsActive: upDown('tiercache.loads.active', 'Loads running now.', '{load}'),
      failSafe: counter('tiercache.fail_safe.served', 'Stale values served because the loader had just failed.', '{value}'),
      staleServed: counter('tiercache.stale.served', 'Stale values served while a refresh ran.', '{value}'),
      joins: counter('tiercache.single_flight.joins', 'Callers that shared a load already running.', '{call}'),
      leaseWaits: counter('tiercache.lease.waits', 'Loads that waited for another instance holding the lease on their key.', '{wait}'),
      leaseWaitTime: counter('tiercache.lease.wait.time', 'Time loads waited for another instance’s lease.', 's'),
      breakerState: meter.createObservableGauge('tiercache.breaker.state', { description: "Each store's breaker now: 0 closed, 1 half-open, 2 open.", unit: '1' }),
      breakerTransitions: counter('tiercache.breaker.transitions', "Times each store's breaker went to a state.", '{transition}'),
      pendingWrites: upDown('tiercache.store.pending_writes', 'Writes a store missed, waiting to be replayed.', '{write}'),
      replayed: counter('tiercache.store.replayed_writes', 'Missed writes replayed once the store answered again.', '{write}'),
      busPublished: counter('tiercache.bus.published', 'Bus messages published, by outcome (sent, failed, timeout, skipped).', '{message}'),
      busReceived: counter('tiercache.bus.received', 'Bus messages received from other instances.', '{message}'),
      busDropped: counter('tiercache.bus.dropped', 'Incoming bus messages refused by validation.', '{message}'),
      busRecoveries: counter('tiercache.bus.recoveries', 'Recoveries from missed bus messages.', '{recovery}'),
      invalidations: counter('tiercache.invalidations', 'Invalidations by kind, origin and reason.', '{invalidation}'),
      groupRequests: counter('tiercache.key_group.requests', 'Reads by key group (metrics on; memory-tier hits estimated from the sample).', '{request}'),
      groupLoads: counter('tiercache.key_group.loads', 'Loader runs by key group (metrics on).', '{load}'),
      groupLoadTime: counter('tiercache.key_group.load.time', 'Time spent in loader runs by key group (metrics on).', 's'),
    };
    const observe: BatchObservableCallback = (result) => {
      const s = cache.getMetrics();
      const base = { 'tiercache.cache': s.cache };
      for (const t of s.tiers) {
        const tier = { ...base, 'tiercache.tier': t.tier };
        const r = t.requests;
        result.observe(o.requests, r.hit, { ...tier, 'tiercache.result': 'hit' });
        result.observe(o.requests, r.stale, { ...tier, 'tiercache.result': 'stale' });
        result.observe(o.requests, r.miss, { ...tier, 'tiercache.result': 'miss' });
        result.observe(o.sets, t.sets, tier);
        result.observe(o.deletes, t.deletes, tier);
        if (t.kind === 'memory') continue;
        result.observe(o.requests, r.error - r.timeout, { ...tier, 'tiercache.result': 'error' });
        result.observe(o.requests, r.timeout, { ...tier, 'tiercache.result': 'timeout' });
        result.observe(o.requests, r.skipped, { ...tier, 'tiercache.result': 'skipped' });
        const store = { ...base, 'tiercache.store': t.tier };
        result.observe(o.io, t.bytesRead, { ...store, 'tiercache.io.direction': 'read' });
        result.observe(o.io, t.bytesWritten, { ...store, 'tiercache.io.direction': 'write' });
        if (t.breaker !== undefined) {
          result.observe(o.breakerState, BREAKER_STATE_VALUES[t.breaker.state], store);
          result.observe(o.breakerTransitions, t.breaker.opened, { ...store, 'tiercache.breaker.state': 'open' });
          result.observe(o.breakerTransitions, t.breaker.closed, { ...store, 'tiercache.breaker.state': 'closed' });
        }
        result.observe(o.pendingWrites, t.pendingWrites ?? 0, store);
        result.observe(o.replayed, t.replayed ?? 0, store);
      }
      const m = s.memory;
      result.observe(o.memoryUsage, m.usedBytes, base);
      if (Number.isFinite(m.maxBytes)) result.observe(o.memoryLimit, m.maxBytes, base);
      result.observe(o.entries, m.entries, base);
      if (Number.isFinite(m.maxEntries)) result.observe(o.entriesLimit, m.maxEntries, base);
      result.observe(o.evictions, m.evictions.capacity, { ...base, 'tiercache.eviction.cause': 'capacity' });
      result.observe(o.evictions, m.evictions.expired, { ...base, 'tiercache.eviction.cause': 'expired' });
      for (const [outcome, h] of Object.entries(s.loads.runs)) result.observe(o.loads, h.count, { ...base, 'tiercache.load.outcome': outcome });
      result.observe(o.loadsActive, s.loads.inFlight, base);
      result.observe(o.failSafe, s.loads.failSafe, base);
      result.observe(o.staleServed, s.loads.staleServed, base);
      result.observe(o.joins, s.loads.joins, base);
      result.observe(o.leaseWaits, s.loads.leaseWait.count, base);
      result.observe(o.leaseWaitTime, s.loads.leaseWait.sum / 1000, base);
      const bus = s.bus;
      if (bus !== undefined) {
        result.observe(o.busPublished, bus.sent, { ...base, 'tiercache.bus.outcome': 'sent' });
        result.observe(o.busPublished, bus.failed, { ...base, 'tiercache.bus.outcome': 'failed' });
        result.observe(o.busPublished, bus.timedOut, { ...base, 'tiercache.bus.outcome': 'timeout' });
        result.observe(o.busPublished, bus.skipped, { ...base, 'tiercache.bus.outcome': 'skipped' });
        result.observe(o.busReceived, bus.received, base);
        result.observe(o.busDropped, bus.dropped, base);
        result.observe(o.busRecoveries, bus.recoveries, base);
      }
      for (const i of s.invalidations) {
        result.observe(o.invalidations, i.count, { ...base, 'tiercache.invalidation.kind': i.kind, 'tiercache.invalidation.origin': i.origin, 'tiercache.invalidation.reason': i.reason });
      }
      for (const g of s.keyGroups) {
        const group = { ...base, 'tiercache.key_group': g.group };
        result.observe(o.groupRequests, g.hits, { ...group, 'tiercache.result': 'hit' });
        result.observe(o.groupRequests, g.misses, { ...group, 'tiercache.result': 'miss' });
        result.observe(o.groupLoads, g.loads, group);
        result.observe(o.groupLoadTime, g.loadMs / 1000, group);
      }
    };
    const observables = Object.values(o);
    meter.addBatchObservableCallback(observe, observables);
    removeObservers = () => meter.removeBatchObservableCallback(observe, observables);
  }

  instrumented.set(name, cache);
  let stopped = false;
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      stores.stop();
      loads.stop();
      removeObservers?.();
      if (instrumented.get(name) === cache) instrumented.delete(name);
    },
  };
}
