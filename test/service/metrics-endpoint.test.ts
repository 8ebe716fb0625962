import { afterEach, beforeEach, expect, it } from 'vitest';
import type { OpenedService } from '../../src/service/service.js';
import { parseScrape, select, type Scrape } from '../observe/prometheus-text.js';
import { call, startInProcess, tempDir, type ForecastBody } from './helpers.js';

let service: OpenedService;
let url: string;
let cleanup: () => void;

beforeEach(async () => {
  const temp = tempDir('metrics');
  cleanup = temp.cleanup;
  ({ service, url } = await startInProcess(temp.dir));
});

afterEach(async () => {
  await service.close();
  cleanup();
});

const BALANCE = '/users/user_1/forecasts/balance?horizon=30d&algorithm=linear';

async function scrape(): Promise<{ scrape: Scrape; contentType: string | null; status: number }> {
  const reply = await call(url, 'GET', '/metrics');
  return { scrape: parseScrape(reply.text), contentType: reply.headers.get('content-type'), status: reply.status };
}

function total(s: Scrape, name: string, labels: Record<string, string>): number {
  return select(s, name, labels).reduce((n, sample) => n + sample.value, 0);
}

it('GET /metrics serves the cache in the Prometheus text format; forecast reads move its hit and miss counters', async () => {
  const before = await scrape();
  expect(before.status).toBe(200);
  expect(before.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  const requests = 'tiercache_requests_total';
  const memoryHits = total(before.scrape, requests, { tier: 'memory', result: 'hit' });
  const memoryMisses = total(before.scrape, requests, { tier: 'memory', result: 'miss' });
  const loads = total(before.scrape, 'tiercache_loads_total', { outcome: 'ok' });

  expect((await call<ForecastBody>(url, 'GET', BALANCE)).body.cache.source).toBe('computed');
  expect((await call<ForecastBody>(url, 'GET', BALANCE)).body.cache.source).toBe('memory');
  expect((await call<ForecastBody>(url, 'GET', BALANCE)).body.cache.source).toBe('memory');

  const after = (await scrape()).scrape;
  expect(total(after, requests, { tier: 'memory', result: 'hit' })).toBe(memoryHits + 2);
  expect(total(after, requests, { tier: 'memory', result: 'miss' })).toBeGreaterThanOrEqual(memoryMisses + 1);
  expect(total(after, 'tiercache_loads_total', { outcome: 'ok' })).toBe(loads + 1);
  // The cache's own store is there too, with its store-call histogram.
  const tiers = new Set(select(after, requests).map((s) => s.labels.tier));
  expect(tiers).toContain('sqlite');
  expect(total(after, 'tiercache_operation_duration_seconds_count', { tier: 'sqlite', operation: 'get' })).toBeGreaterThan(0);
});

it('GET / lists GET /metrics', async () => {
  const reply = await call<{ endpoints: { method: string; path: string }[] }>(url, 'GET', '/');
  expect(reply.body.endpoints.map((e) => `${e.method} ${e.path}`)).toContain('GET /metrics');
});
