import { SpanKind, SpanStatusCode, type Attributes } from '@opentelemetry/api';
import { AggregationTemporality, DataPointType, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader, type MetricData } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { Cache, type MetricsSnapshot } from '../../src/index.js';
import { DB_DURATION_BUCKETS_SECONDS, instrumentCache, type CacheInstrumentation } from '../../src/observe/otel.js';
import { redisStore } from '../../src/stores/redis.js';
import { createFakeClock } from '../kit/index.js';
import { serverDescribe } from '../kit/servers.js';
import { freePort, REDIS_URL, uniquePrefix } from '../stores/redis-helpers.js';

interface Telemetry {
  meterProvider: MeterProvider;
  tracerProvider: BasicTracerProvider;
  spans: InMemorySpanExporter;
  /** Collects now and returns what was exported. */
  collect(): Promise<MetricData[]>;
}

const open: Cache[] = [];
const stops: CacheInstrumentation[] = [];
const providers: Telemetry[] = [];
afterEach(async () => {
  for (const instrumentation of stops.splice(0)) instrumentation.stop();
  for (const cache of open.splice(0)) {
    await cache.clear({ confirm: true });
    await cache.close();
  }
  for (const t of providers.splice(0)) await Promise.all([t.meterProvider.shutdown(), t.tracerProvider.shutdown()]);
});

function track(cache: Cache): Cache {
  open.push(cache);
  return cache;
}

function telemetry(): Telemetry {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // Exports when flushed; the interval is never reached in a test.
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const meterProvider = new MeterProvider({ readers: [reader] });
  const spans = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
  const t: Telemetry = {
    meterProvider,
    tracerProvider,
    spans,
    async collect() {
      exporter.reset();
      await reader.forceFlush();
      return exporter.getMetrics().flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics));
    },
  };
  providers.push(t);
  return t;
}

function instrument(cache: Cache, t: Telemetry, options: Parameters<typeof instrumentCache>[1] = {}): CacheInstrumentation {
  const instrumentation = instrumentCache(cache, { meterProvider: t.meterProvider, tracerProvider: t.tracerProvider, ...options });
  stops.push(instrumentation);
  return instrumentation;
}

function metric(all: MetricData[], name: string): MetricData | undefined {
  return all.find((m) => m.descriptor.name === name);
}

/** The value of a sum or gauge point whose attributes include `attributes`. */
function pointValue(all: MetricData[], name: string, attributes: Attributes): number | undefined {
  const found = metric(all, name);
  if (found === undefined || found.dataPointType === DataPointType.HISTOGRAM) return undefined;
  const points = found.dataPoints.filter((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v));
  if (points.length > 1) throw new Error(`${name}${JSON.stringify(attributes)}: ${points.length} points`);
  return points[0]?.value as number | undefined;
}

/** Total count of the histogram points of `name` whose attributes include `attributes`. */
function histogramCount(all: MetricData[], name: string, attributes: Attributes): number {
  const found = metric(all, name);
  if (found === undefined) return 0;
  if (found.dataPointType !== DataPointType.HISTOGRAM) throw new Error(`${name} is not a histogram`);
  return found.dataPoints.filter((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v)).reduce((n, p) => n + p.value.count, 0);
}

function storeCalls(snapshot: MetricsSnapshot, store: string): number {
  const tier = snapshot.tiers.find((t) => t.tier === store);
  return tier === undefined ? 0 : Object.values(tier.latency).reduce((n, h) => n + h.count, 0);
}

function named(spans: readonly ReadableSpan[], name: string): ReadableSpan[] {
  return spans.filter((s) => s.name === name);
}

serverDescribe('tiercache/otel over a Redis store', () => {
  it('spans each store call with the database conventions; the duration histogram counts every call', async () => {
    const t = telemetry();
    const cache = track(new Cache({ name: 'orders', prefix: uniquePrefix('otel'), stores: [redisStore({ url: REDIS_URL })] }));
    instrument(cache, t);
    await cache.set('order:1', { total: 10 });
    await cache.set('order:2', { total: 20 });
    await cache.delete('order:2');
    expect(await cache.get('order:3')).toBeUndefined();

    const spans = t.spans.getFinishedSpans();
    const sets = named(spans, 'set redis');
    expect(sets).toHaveLength(2);
    const set = sets[0]!;
    expect(set.kind).toBe(SpanKind.CLIENT);
    expect(set.attributes).toMatchObject({ 'db.system.name': 'redis', 'db.operation.name': 'set', 'tiercache.cache': 'orders', 'tiercache.store': 'redis' });
    expect(set.attributes['tiercache.key']).toBeUndefined();
    expect(set.status.code).toBe(SpanStatusCode.UNSET);
    expect(named(spans, 'get redis')).toHaveLength(1);
    expect(spans.filter((s) => s.attributes['db.operation.name'] !== undefined)).toHaveLength(storeCalls(cache.getMetrics(), 'redis'));

    const all = await t.collect();
    const duration = metric(all, 'db.client.operation.duration');
    expect(duration?.descriptor.unit).toBe('s');
    expect(histogramCount(all, 'db.client.operation.duration', { 'tiercache.cache': 'orders' })).toBe(storeCalls(cache.getMetrics(), 'redis'));
    expect(histogramCount(all, 'db.client.operation.duration', { 'db.system.name': 'redis', 'db.operation.name': 'set' })).toBe(2);
    const point = duration?.dataPointType === DataPointType.HISTOGRAM ? duration.dataPoints[0] : undefined;
    expect(point?.value.buckets.boundaries).toStrictEqual([...DB_DURATION_BUCKETS_SECONDS]);
    // No key reaches a metric attribute.
    for (const m of all) for (const p of m.dataPoints) expect(JSON.stringify(p.attributes)).not.toContain('order:');
  });

  it('a failed store call: span status ERROR and error.type, on the span and the histogram', async () => {
    const t = telemetry();
    const port = await freePort();
    const cache = track(new Cache({ name: 'down', stores: [{ store: redisStore({ url: `redis://127.0.0.1:${port}` }), timeout: 100 }] }));
    instrument(cache, t);
    expect(await cache.get('k')).toBeUndefined();
    const [span] = named(t.spans.getFinishedSpans(), 'get redis');
    expect(span?.status.code).toBe(SpanStatusCode.ERROR);
    expect(typeof span?.attributes['error.type']).toBe('string');
    expect(span?.events.some((e) => e.name === 'exception')).toBe(true);
    const all = await t.collect();
    expect(histogramCount(all, 'db.client.operation.duration', { 'error.type': span?.attributes['error.type'] })).toBe(1);
    // The clear in afterEach would fail the same way; this cache has nothing to clear.
    open.splice(open.indexOf(cache), 1);
    await cache.close();
  });

  it('observable counters read the same figures as getMetrics()', async () => {
    const t = telemetry();
    const cache = track(new Cache({ name: 'figures', prefix: uniquePrefix('otel'), stores: [redisStore({ url: REDIS_URL })] }));
    instrument(cache, t);
    await cache.set('a', 1);
    for (let i = 0; i < 6; i++) await cache.get('a');
    for (let i = 0; i < 2; i++) await cache.get(`none:${i}`);
    await cache.getOrSet('b', () => 2);
    await cache.invalidate({ keys: ['a'] }, { reason: 'edited' });

    const all = await t.collect();
    const snapshot = cache.getMetrics();
    const base = { 'tiercache.cache': 'figures' };
    for (const tier of snapshot.tiers) {
      for (const result of ['hit', 'miss', 'stale'] as const) {
        expect(pointValue(all, 'tiercache.requests', { ...base, 'tiercache.tier': tier.tier, 'tiercache.result': result }), `${tier.tier} ${result}`).toBe(tier.requests[result]);
      }
    }
    expect(pointValue(all, 'tiercache.requests', { ...base, 'tiercache.tier': 'memory', 'tiercache.result': 'hit' })).toBe(6);
    expect(pointValue(all, 'tiercache.memory.usage', base)).toBe(snapshot.memory.usedBytes);
    expect(pointValue(all, 'tiercache.memory.entries', base)).toBe(snapshot.memory.entries);
    expect(pointValue(all, 'tiercache.loads', { ...base, 'tiercache.load.outcome': 'ok' })).toBe(1);
    expect(pointValue(all, 'tiercache.store.io', { ...base, 'tiercache.store': 'redis', 'tiercache.io.direction': 'write' })).toBe(snapshot.tiers[1]!.bytesWritten);
    expect(pointValue(all, 'tiercache.breaker.state', { ...base, 'tiercache.store': 'redis' })).toBe(0);
    expect(pointValue(all, 'tiercache.invalidations', { ...base, 'tiercache.invalidation.kind': 'keys', 'tiercache.invalidation.reason': 'edited' })).toBe(1);
  });
});

describe('tiercache/otel loader spans and lifecycle', () => {
  it('one span per loader run, with its outcome; failures and timeouts carry error.type', async () => {
    const t = telemetry();
    const clock = createFakeClock();
    const cache = track(new Cache({ name: 'loads', clock }));
    instrument(cache, t, { keyOnSpans: true });
    expect(await cache.getOrSet('user:1', () => 'Ada')).toBe('Ada');
    expect(await cache.getOrSet('user:1', () => 'again')).toBe('Ada');
    await expect(cache.getOrSet('user:2', () => Promise.reject(new RangeError('bad id')))).rejects.toThrow('bad id');
    const slow = cache.getOrSet('user:3', () => new Promise<string>(() => undefined), { hardTimeout: 100 });
    const settled = expect(slow).rejects.toMatchObject({ code: 'E_LOADER_TIMEOUT' });
    await clock.tick(100);
    await settled;

    const loads = named(t.spans.getFinishedSpans(), 'tiercache.load');
    expect(loads.map((s) => [s.attributes['tiercache.key'], s.attributes['tiercache.load.outcome']])).toStrictEqual([
      ['user:1', 'ok'],
      ['user:2', 'error'],
      ['user:3', 'timeout'],
    ]);
    expect(loads[0]!.attributes).toMatchObject({ 'tiercache.cache': 'loads', 'tiercache.operation': 'getOrSet' });
    expect(loads[0]!.kind).toBe(SpanKind.INTERNAL);
    expect(loads[1]!.status.code).toBe(SpanStatusCode.ERROR);
    expect(loads[1]!.attributes['error.type']).toBe('RangeError');
    expect(loads[2]!.attributes['error.type']).toBe('timeout');

    const all = await t.collect();
    expect(histogramCount(all, 'tiercache.load.duration', { 'tiercache.load.outcome': 'ok' })).toBe(1);
    expect(histogramCount(all, 'tiercache.load.duration', { 'tiercache.load.outcome': 'error', 'error.type': 'RangeError' })).toBe(1);
    expect(histogramCount(all, 'tiercache.load.duration', { 'tiercache.load.outcome': 'timeout' })).toBe(1);
    // Keys are span attributes only when asked for, never metric attributes.
    for (const m of all) for (const p of m.dataPoints) expect(JSON.stringify(p.attributes)).not.toContain('user:');
  });

  it('tells caches apart on the process-wide channels, and refuses two caches of one name', async () => {
    const t = telemetry();
    const watched = track(new Cache({ name: 'watched' }));
    const other = track(new Cache({ name: 'other' }));
    instrument(watched, t);
    expect(() => instrument(track(new Cache({ name: 'watched' })), t)).toThrow(/distinct name/);
    expect(() => instrument(watched, t)).toThrow(/instrumented already/);
    await other.getOrSet('x', () => 1);
    await watched.getOrSet('y', () => 2);
    const loads = named(t.spans.getFinishedSpans(), 'tiercache.load');
    expect(loads.map((s) => s.attributes['tiercache.cache'])).toStrictEqual(['watched']);
    const all = await t.collect();
    expect(pointValue(all, 'tiercache.loads', { 'tiercache.cache': 'other', 'tiercache.load.outcome': 'ok' })).toBeUndefined();
  });

  it('stop() detaches: no more spans, no more durations, no more observations', async () => {
    const t = telemetry();
    const cache = track(new Cache({ name: 'stopping' }));
    const instrumentation = instrument(cache, t);
    await cache.getOrSet('a', () => 1);
    let all = await t.collect();
    expect(histogramCount(all, 'tiercache.load.duration', {})).toBe(1);
    expect(pointValue(all, 'tiercache.loads', { 'tiercache.cache': 'stopping', 'tiercache.load.outcome': 'ok' })).toBe(1);

    instrumentation.stop();
    instrumentation.stop();
    await cache.getOrSet('b', () => 2);
    expect(named(t.spans.getFinishedSpans(), 'tiercache.load')).toHaveLength(1);
    all = await t.collect();
    expect(histogramCount(all, 'tiercache.load.duration', {})).toBe(1);
    expect(pointValue(all, 'tiercache.loads', { 'tiercache.cache': 'stopping', 'tiercache.load.outcome': 'ok' }) ?? 1).toBe(1);
    // Stopped, the name is free again.
    instrument(cache, t);
    await cache.getOrSet('c', () => 3);
    expect(named(t.spans.getFinishedSpans(), 'tiercache.load')).toHaveLength(2);
  });
});
