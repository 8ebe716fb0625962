// What the service gained on Fastify: the OpenAPI document and its UI (served from the service itself), forecast
// responses cached at the HTTP layer and dropped by the writes of their user, a shutdown that lets requests in
// progress finish, and pino's JSON lines.
import { get as httpGet } from 'node:http';
import { Decimal } from 'decimal.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/service/logger.js';
import type { OpenedService } from '../../src/service/service.js';
import { deferred, until } from '../kit/index.js';
import { call, captureLogger, startInProcess, tempDir, type BalanceJson, type ForecastBody, type GoalJson, type TransactionJson, type WriteBody } from './helpers.js';

const expense = { date: '2025-12-31', amount: '250.00', type: 'expense', category: 'groceries' };

describe('OpenAPI at /docs', () => {
  const temp = tempDir('docs');
  let service: OpenedService;
  let url: string;
  beforeAll(async () => {
    ({ service, url } = await startInProcess(temp.dir, { FORECAST_WARM_CRON: 'off' }));
  });
  afterAll(async () => {
    await service?.close();
    temp.cleanup();
  });

  it('describes every endpoint with its parameters and body schema', async () => {
    type OpenApi = {
      openapi: string;
      paths: Record<string, Record<string, { summary?: string; parameters?: { name: string; in: string }[]; requestBody?: { content: Record<string, { schema: { required?: string[]; properties?: Record<string, unknown> } }> } }>>;
    };
    const reply = await call<OpenApi>(url, 'GET', '/docs/json');
    expect(reply.status).toBe(200);
    expect(reply.body.openapi).toMatch(/^3\./);
    const forecast = reply.body.paths['/users/{id}/forecasts/{metric}']?.get;
    expect(forecast?.summary).toContain('one forecast through the cache');
    expect(forecast?.parameters?.map((p) => `${p.in}:${p.name}`)).toEqual(
      expect.arrayContaining(['path:id', 'path:metric', 'query:horizon', 'query:algorithm', 'query:asOf', 'query:goal', 'query:category']),
    );
    const add = reply.body.paths['/users/{id}/transactions']?.post?.requestBody?.content['application/json']?.schema;
    expect(add?.required).toEqual(['date', 'amount', 'type', 'category']);
    expect(Object.keys(add?.properties ?? {})).toEqual(['id', 'date', 'amount', 'type', 'category', 'description']);
    // The 405 answers and the dashboard mount are no API of their own.
    expect(reply.body.paths['/users/{id}/transactions']?.put).toBeUndefined();
    expect(Object.keys(reply.body.paths).some((path) => path.startsWith('/dashboard'))).toBe(false);
    expect(Object.keys(reply.body.paths)).toHaveLength(new Set((await call<{ endpoints: { path: string }[] }>(url, 'GET', '/')).body.endpoints.map((e) => e.path)).size);
  });

  it('serves the UI and every asset it loads from the service itself, no CDN', async () => {
    const page = await fetch(`${url}/docs`, { redirect: 'follow' });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('swagger-ui');
    const sources = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string);
    expect(sources.length).toBeGreaterThan(2);
    for (const source of sources) {
      expect(source, 'an asset from another host').not.toMatch(/^(?:https?:)?\/\//);
      const asset = await fetch(new URL(source, page.url));
      expect(asset.status, source).toBe(200);
    }
    const bundle = sources.find((s) => s.endsWith('swagger-ui-bundle.js'));
    expect(bundle).toBeDefined();
  });
});

describe('forecasts cached at the HTTP layer', () => {
  const temp = tempDir('http-cache');
  let service: OpenedService;
  let url: string;
  let lines: string[];
  beforeAll(async () => {
    const captured = captureLogger();
    lines = captured.lines;
    ({ service, url } = await startInProcess(temp.dir, { FORECAST_HTTP_CACHE: '10m', FORECAST_WARM_CRON: 'off' }, captured.logger));
  });
  afterAll(async () => {
    await service?.close();
    temp.cleanup();
  });

  const get = <T>(path: string, headers: Record<string, string> = {}) => call<T>(url, 'GET', path, { headers });

  it('answers a repeated read from the HTTP cache without running the handler, with an ETag and 304', async () => {
    const path = '/users/user_1/forecasts/balance?horizon=30d&algorithm=linear';
    const first = await get<ForecastBody<BalanceJson>>(path);
    expect(first.headers.get('x-cache')).toBe('miss');
    expect(first.body.cache.source).toBe('computed');
    const readsBefore = lines.filter((l) => l.includes(`GET ${path} -> miss`) || l.includes(`GET ${path} -> hit (memory)`)).length;
    const second = await get<ForecastBody<BalanceJson>>(path);
    expect(second.headers.get('x-cache')).toBe('hit');
    expect(second.text).toBe(first.text);
    // The ForecastCache was not asked: no read line, the HTTP layer's line instead.
    expect(lines.filter((l) => l.includes(`GET ${path} -> miss`) || l.includes(`GET ${path} -> hit (memory)`)).length).toBe(readsBefore);
    expect(lines.some((l) => l.startsWith(`info  GET ${path} -> hit (http) `))).toBe(true);
    // Kept downstream only to be revalidated.
    expect(second.headers.get('cache-control')).toBe('max-age=0, must-revalidate');
    const etag = second.headers.get('etag');
    expect(etag).toBeTruthy();
    // Sent with node:http: fetch adds `Cache-Control: no-cache` to a request carrying If-None-Match, which
    // (rightly) makes the cache run the handler again. A browser revalidating its own copy sends no such thing.
    const revalidated = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpGet(new URL(path, url), { headers: { 'if-none-match': etag as string } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
    });
    expect(revalidated.status).toBe(304);
    expect(revalidated.text).toBe('');
    // A client that asks for a fresh answer gets the handler's.
    const forced = await get<ForecastBody<BalanceJson>>(path, { 'cache-control': 'no-cache' });
    expect(forced.headers.get('x-cache')).toBe('miss');
    expect(forced.body.cache.source).toBe('memory');
    const stats = await get<{ service: { httpCache: Record<string, number> } }>('/stats');
    expect(stats.body.service.httpCache.hit).toBeGreaterThanOrEqual(2);
    expect(stats.body.service.httpCache.miss).toBeGreaterThanOrEqual(1);
  });

  it('a request with Authorization is answered by the handler, never from or into the HTTP cache', async () => {
    const path = '/users/user_2/forecasts/runway';
    expect((await get(path)).headers.get('x-cache')).toBe('miss');
    const personal = await get<ForecastBody>(path, { authorization: 'Bearer someone' });
    expect(personal.headers.get('x-cache')).toBe('bypass');
    expect(personal.body.cache.source).toBe('memory');
  });

  it('a transaction write drops its user’s cached responses, and only theirs', async () => {
    const balance = '/users/user_1/forecasts/balance?horizon=90d';
    const dashboard = '/users/user_1/dashboard';
    const other = '/users/user_2/forecasts/balance?horizon=90d';
    for (const path of [balance, dashboard, other]) await get(path);
    for (const path of [balance, dashboard, other]) expect((await get(path)).headers.get('x-cache'), path).toBe('hit');
    const before = await get<ForecastBody<BalanceJson>>(balance);

    const added = await call<WriteBody<TransactionJson>>(url, 'POST', '/users/user_1/transactions', { body: { ...expense, id: 'http_tx' } });
    expect(added.status).toBe(201);
    const after = await get<ForecastBody<BalanceJson>>(balance);
    expect(after.headers.get('x-cache')).toBe('miss');
    expect(new Decimal(before.body.value.startBalance).minus(after.body.value.startBalance).toFixed(2)).toBe('250.00');
    expect((await get(dashboard)).headers.get('x-cache')).toBe('miss');
    expect((await get(other)).headers.get('x-cache')).toBe('hit');

    // PATCH and DELETE name the transaction, not the user: the user comes from the record.
    expect((await get(balance)).headers.get('x-cache')).toBe('hit');
    expect((await call(url, 'PATCH', '/transactions/http_tx', { body: { amount: '50.00' } })).status).toBe(200);
    const patched = await get<ForecastBody<BalanceJson>>(balance);
    expect(patched.headers.get('x-cache')).toBe('miss');
    expect(new Decimal(patched.body.value.startBalance).minus(after.body.value.startBalance).toFixed(2)).toBe('200.00');
    expect((await call(url, 'DELETE', '/transactions/http_tx')).status).toBe(200);
    expect((await get(balance)).headers.get('x-cache')).toBe('miss');
    // A refused write changes nothing and drops nothing.
    expect((await call(url, 'POST', '/users/user_1/transactions', { body: { ...expense, amount: 5 } })).status).toBe(400);
    expect((await get(balance)).headers.get('x-cache')).toBe('hit');
  });

  it('goal writes, a manual refresh and a corrected date range drop their user’s cached responses', async () => {
    const dashboard = '/users/user_3/dashboard';
    const expectDropped = async (write: () => Promise<{ status: number }>, what: string) => {
      await get(dashboard);
      expect((await get(dashboard)).headers.get('x-cache'), `${what}: before`).toBe('hit');
      expect((await write()).status, what).toBeLessThan(300);
      expect((await get(dashboard)).headers.get('x-cache'), `${what}: after`).toBe('miss');
    };
    await expectDropped(() => call<WriteBody<GoalJson>>(url, 'POST', '/users/user_3/goals', { body: { id: 'http_goal', name: 'Boat', target: '5000.00' } }), 'goal added');
    expect((await get<{ goals: unknown[] }>(dashboard)).body.goals.length).toBeGreaterThan(0);
    await expectDropped(() => call(url, 'PATCH', '/goals/http_goal', { body: { saved: '10.00' } }), 'goal patched');
    await expectDropped(() => call(url, 'DELETE', '/goals/http_goal'), 'goal deleted');
    await expectDropped(() => call(url, 'POST', '/users/user_3/refresh'), 'manual refresh');
    await expectDropped(() => call(url, 'POST', '/users/user_3/invalidate-range', { body: { from: '2025-03-01', to: '2025-03-31' } }), 'date range');
  });
});

describe('shutdown', () => {
  const temp = tempDir('shutdown');
  afterEach(() => temp.cleanup());

  it('lets a request in progress finish, refuses new connections meanwhile, then closes', async () => {
    const { service, url } = await startInProcess(temp.dir, { FORECAST_WARM_CRON: 'off' });
    const gate = deferred();
    let started = false;
    service.forecasts.registerCalculator(
      'slow_balance',
      async ({ userId }) => {
        started = true;
        await gate.promise;
        return { userId, balance: new Decimal('1.00') };
      },
      { dependsOn: ['transactions'] },
    );
    const inFlight = call<ForecastBody<{ balance: string }>>(url, 'GET', '/users/user_1/forecasts/slow_balance?horizon=30d');
    await until(() => Promise.resolve(started), 'the slow read to start');
    let closed = false;
    const closing = service.close().then(() => (closed = true));
    // No new connection is accepted while the slow read drains.
    await until(async () => {
      try {
        await fetch(`${url}/health`, { signal: AbortSignal.timeout(1_000) });
        return false;
      } catch {
        return true;
      }
    }, 'new connections to be refused');
    expect(closed).toBe(false);
    gate.resolve();
    const reply = await inFlight;
    expect(reply.status).toBe(200);
    expect(reply.body.value.balance).toBe('1');
    await closing;
    expect(closed).toBe(true);
  });
});

describe('pino JSON lines', () => {
  const temp = tempDir('json-logs');
  afterEach(() => temp.cleanup());

  it('carries each forecast read as a message and as fields', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', format: 'json', write: (line) => lines.push(line) });
    const { service, url } = await startInProcess(temp.dir, { FORECAST_WARM_CRON: 'off' }, logger);
    try {
      await call(url, 'GET', '/users/user_1/forecasts/burn_rate?horizon=90d');
      await call(url, 'GET', '/users/user_1/forecasts/burn_rate?horizon=90d');
    } finally {
      await service.close();
    }
    const records = lines.map((line) => JSON.parse(line) as { level: number; msg: string; forecast?: { source: string; key: string } });
    const reads = records.filter((r) => r.forecast !== undefined);
    expect(reads.map((r) => r.forecast?.source)).toEqual(['computed', 'memory']);
    expect(reads[0]?.msg).toMatch(/^GET \/users\/user_1\/forecasts\/burn_rate\?horizon=90d -> miss, computed in /);
    expect(reads[0]?.forecast?.key).toMatch(/^forecast:user_1:burn_rate:90d:/);
    expect(reads.every((r) => r.level === 30)).toBe(true);
  });
});
