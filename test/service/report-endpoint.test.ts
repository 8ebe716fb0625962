import { afterEach, beforeEach, expect, it } from 'vitest';
import type { CacheReport } from '../../src/index.js';
import type { OpenedService } from '../../src/service/service.js';
import { call, startInProcess, tempDir, type ForecastBody } from './helpers.js';

let service: OpenedService;
let url: string;
let cleanup: () => void;

beforeEach(async () => {
  const temp = tempDir('report');
  cleanup = temp.cleanup;
  ({ service, url } = await startInProcess(temp.dir));
});

afterEach(async () => {
  await service.close();
  cleanup();
});

it('GET /report serves the performance report, with forecast reads grouped by metric', async () => {
  const balance = '/users/user_1/forecasts/balance?horizon=30d&algorithm=linear';
  expect((await call<ForecastBody>(url, 'GET', balance)).body.cache.source).toBe('computed');
  for (let i = 0; i < 3; i++) expect((await call<ForecastBody>(url, 'GET', balance)).body.cache.source).toBe('memory');
  const reply = await call<CacheReport>(url, 'GET', '/report');
  expect(reply.status).toBe(200);
  const report = reply.body;
  expect(report.tiers.map((t) => t.tier)).toContain('memory');
  expect(report.hitRate.reads).toBeGreaterThanOrEqual(4);
  // The service's cache groups keys by forecast metric: the computed one is the costliest miss.
  expect(report.keyGroups.detailed).toBe(true);
  const costly = report.keyGroups.byMissCost[0];
  expect(costly?.group).toMatch(/^forecast:balance/);
  expect(costly?.loads).toBe(1);
  expect(Array.isArray(report.recommendations)).toBe(true);
});

it('GET / lists GET /report', async () => {
  const reply = await call<{ endpoints: { method: string; path: string }[] }>(url, 'GET', '/');
  expect(reply.body.endpoints.map((e) => `${e.method} ${e.path}`)).toContain('GET /report');
});
