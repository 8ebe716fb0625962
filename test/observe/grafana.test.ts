import { readFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import { afterEach, expect, it } from 'vitest';
import { Cache } from '../../src/index.js';
import { redisBus } from '../../src/bus/redis.js';
import { exportedMetricNames, registerCacheMetrics } from '../../src/observe/prometheus.js';
import { redisStore } from '../../src/stores/redis.js';
import { sqliteStore } from '../../src/stores/sqlite.js';
import { serverDescribe } from '../kit/servers.js';
import { REDIS_URL, uniquePrefix } from '../stores/redis-helpers.js';
import { parseScrape } from './prometheus-text.js';

const DASHBOARD = new URL('../../docs/grafana-dashboard.json', import.meta.url);

interface Target {
  expr?: string;
}
interface Panel {
  title: string;
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  panels: Panel[];
  templating: { list: { query?: unknown; definition?: string }[] };
}

function dashboard(): Dashboard {
  return JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
}

/** Every PromQL expression of the dashboard: panel targets (rows included) and template variable queries. */
function expressions(d: Dashboard): string[] {
  const found: string[] = [];
  const walk = (panels: readonly Panel[]): void => {
    for (const panel of panels) {
      for (const target of panel.targets ?? []) if (target.expr !== undefined) found.push(target.expr);
      walk(panel.panels ?? []);
    }
  };
  walk(d.panels);
  for (const variable of d.templating.list) if (variable.definition !== undefined) found.push(variable.definition);
  return found;
}

function metricNames(exprs: readonly string[]): Set<string> {
  return new Set(exprs.flatMap((expr) => expr.match(/\btiercache_[a-zA-Z0-9_]+/g) ?? []));
}

const open: Cache[] = [];
afterEach(async () => {
  for (const cache of open.splice(0)) {
    await cache.clear({ confirm: true });
    await cache.close();
  }
});

it('the dashboard has the panels a cache is watched by', () => {
  const titles = dashboard().panels.map((p) => p.title);
  for (const title of ['Hit rate per tier', 'Requests by result', 'Store latency p50 / p99', 'Memory used vs bound', 'Evictions', 'Loads by outcome', 'Breaker state', 'Bus delivery lag p50 / p99', 'Invalidations']) {
    expect(titles).toContain(title);
  }
  const exprs = expressions(dashboard());
  expect(exprs.some((e) => e.startsWith('histogram_quantile(0.99') && e.includes('tiercache_operation_duration_seconds_bucket'))).toBe(true);
  // Every name is one the exporter defines (histograms by their series names).
  const defined = new Set(exportedMetricNames().flatMap((name) => [name, `${name}_bucket`, `${name}_sum`, `${name}_count`]));
  for (const name of metricNames(exprs)) expect(defined.has(name), name).toBe(true);
});

serverDescribe('the Grafana dashboard against a real scrape', () => {
  it('every metric name in the dashboard’s expressions has series in a scrape of a cache with stores and a bus', async () => {
    const prefix = uniquePrefix('grafana');
    const cache = new Cache({
      name: 'dash',
      prefix,
      metrics: true,
      stores: [sqliteStore({ path: ':memory:' }), redisStore({ url: REDIS_URL })],
      bus: redisBus({ url: REDIS_URL, channel: `${prefix}bus` }),
    });
    open.push(cache);
    await cache.ready();
    const registry = new Registry();
    registerCacheMetrics(cache, { registry });
    await cache.set('user:1', 1);
    await cache.get('user:1');
    await cache.get('user:2');
    await cache.getOrSet('user:3', () => 3);
    await cache.invalidate({ keys: ['user:1'] }, { reason: 'edited' });

    const seen = new Set(parseScrape(await registry.metrics()).samples.map((s) => s.name));
    const used = metricNames(expressions(dashboard()));
    expect(used.size).toBeGreaterThan(15);
    const missing = [...used].filter((name) => !seen.has(name));
    expect(missing).toStrictEqual([]);
  });
});
