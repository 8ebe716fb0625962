import { request as httpRequest } from 'node:http';
import { Decimal } from 'decimal.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { day } from '../../src/forecast/data/calendar.js';
import { MemoryFinanceStore } from '../../src/forecast/data/memory-store.js';
import { ForecastCache } from '../../src/forecast/forecast-cache.js';
import { createApp } from '../../src/service/app.js';
import type { OpenedService } from '../../src/service/service.js';
import {
  call,
  captureLogger,
  startInProcess,
  tempDir,
  type BalanceJson,
  type ErrorBody,
  type EventJson,
  type ForecastBody,
  type GoalJson,
  type TransactionJson,
  type WriteBody,
} from './helpers.js';
import { deferred, until } from '../kit/index.js';

let service: OpenedService;
let url: string;
let lines: string[];
let cleanup: () => void;
let dir: string;

beforeEach(async () => {
  const temp = tempDir('app');
  cleanup = temp.cleanup;
  dir = temp.dir;
  const captured = captureLogger();
  lines = captured.lines;
  ({ service, url } = await startInProcess(temp.dir, {}, captured.logger));
});

afterEach(async () => {
  await service.close();
  cleanup();
});

const get = <T = ErrorBody>(path: string) => call<T>(url, 'GET', path);
const post = <T = ErrorBody>(path: string, body?: unknown) => call<T>(url, 'POST', path, body === undefined ? {} : { body });
const patch = <T = ErrorBody>(path: string, body: unknown) => call<T>(url, 'PATCH', path, { body });
const del = <T = ErrorBody>(path: string) => call<T>(url, 'DELETE', path);

/** A 400 naming `field`. */
function expectInvalid(reply: { status: number; body: ErrorBody }, field: string): void {
  expect(reply.status).toBe(400);
  expect(reply.body.error.code).toBe('invalid_field');
  expect(reply.body.error.field).toBe(field);
  if (field !== 'body' && field !== 'path') expect(reply.body.error.message).toContain(field.replace(/\[\d+\]$/, ''));
}

const expense = { date: '2025-12-31', amount: '250.00', type: 'expense', category: 'groceries' };

describe('index, health, users', () => {
  it('GET / lists every endpoint', async () => {
    const reply = await get<{ endpoints: { method: string; path: string }[]; metrics: string[]; asOf: string }>('/');
    expect(reply.status).toBe(200);
    const routes = reply.body.endpoints.map((e) => `${e.method} ${e.path}`);
    for (const route of [
      'GET /health',
      'GET /users',
      'GET /users/:id',
      'GET /users/:id/forecasts/:metric',
      'GET /users/:id/dashboard',
      'GET /users/:id/transactions',
      'POST /users/:id/transactions',
      'PATCH /transactions/:id',
      'DELETE /transactions/:id',
      'GET /users/:id/goals',
      'POST /users/:id/goals',
      'PATCH /goals/:id',
      'DELETE /goals/:id',
      'POST /users/:id/refresh',
      'POST /warm',
      'GET /stats',
      'GET /events',
    ]) {
      expect(routes).toContain(route);
    }
    expect(reply.body.metrics).toEqual(['balance', 'burn_rate', 'runway', 'expenses', 'income', 'goal_progress', 'goals_summary']);
    expect(reply.body.asOf).toBe('2025-12-31');
  });

  it('GET /health reports the SQLite tier', async () => {
    const reply = await get<{ status: string; stores: Record<string, { reachable: boolean; breaker: string }> }>('/health');
    expect(reply.status).toBe(200);
    expect(reply.body.status).toBe('ok');
    expect(reply.body.stores).toEqual({ sqlite: expect.objectContaining({ reachable: true, breaker: 'closed' }) });
    expect(reply.headers.get('cache-control')).toBe('no-store');
  });

  it('GET /users lists the demo users with money as strings and days as YYYY-MM-DD', async () => {
    const reply = await get<{ users: { id: string; openingBalance: string; openingDate: string }[] }>('/users');
    expect(reply.body.users.map((u) => u.id)).toEqual(['user_1', 'user_2', 'user_3']);
    for (const user of reply.body.users) {
      expect(user.openingBalance).toMatch(/^-?\d+\.\d{2}$/);
      expect(user.openingDate).toBe('2025-01-01');
    }
  });

  it('GET /users/:id returns one user, 404 naming the id otherwise', async () => {
    expect((await get<{ user: { id: string } }>('/users/user_2')).body.user.id).toBe('user_2');
    const missing = await get('/users/nobody');
    expect(missing.status).toBe(404);
    expect(missing.body.error).toMatchObject({ code: 'not_found', field: 'id' });
    expect(missing.body.error.message).toContain('nobody');
  });
});

describe('forecasts', () => {
  it('computes a forecast once, then serves it from memory, and logs both', async () => {
    const path = '/users/user_1/forecasts/balance?horizon=30d&algorithm=linear';
    const first = await get<ForecastBody<BalanceJson>>(path);
    expect(first.status).toBe(200);
    expect(first.body.key).toMatch(/^forecast:user_1:balance:30d:linear:[0-9a-f]{8}$/);
    expect(first.body.cache.source).toBe('computed');
    expect(first.body.value.startBalance).toMatch(/^-?\d+(\.\d+)?$/);
    expect(first.body.value.asOf).toBe('2025-12-31T00:00:00.000Z');
    const second = await get<ForecastBody<BalanceJson>>(path);
    expect(second.body.cache.source).toBe('memory');
    expect(second.body.value).toEqual(first.body.value);
    expect(second.body.key).toBe(first.body.key);
    expect(lines.some((l) => l.includes(`GET ${path} -> miss, computed in`))).toBe(true);
    expect(lines.some((l) => /GET \/users\/user_1\/forecasts\/balance\?horizon=30d&algorithm=linear -> hit \(memory\) \d+\.\d+ ms/.test(l))).toBe(true);
  });

  it('serves every built-in metric', async () => {
    const goals = (await get<{ goals: GoalJson[] }>('/users/user_2/goals')).body.goals;
    const paths = [
      '/users/user_2/forecasts/balance?horizon=90d&algorithm=seasonal',
      '/users/user_2/forecasts/burn_rate?horizon=6m&algorithm=ema',
      '/users/user_2/forecasts/runway?horizon=1y',
      '/users/user_2/forecasts/expenses?horizon=30d',
      '/users/user_2/forecasts/income?horizon=90d',
      '/users/user_2/forecasts/goals_summary',
      `/users/user_2/forecasts/goal_progress?goal=${goals[0]?.id}`,
    ];
    for (const path of paths) {
      const reply = await get<ForecastBody>(path);
      expect(reply.status, path).toBe(200);
      expect(reply.body.cache.source).toBe('computed');
    }
    const runway = await get<ForecastBody<{ monthlyBurn: string; runwayMonths: string | null }>>('/users/user_2/forecasts/runway?horizon=1y');
    expect(runway.body.cache.source).toBe('memory');
    expect(runway.body.value.monthlyBurn).toMatch(/^\d+(\.\d+)?$/);
    expect(runway.body.key).toMatch(/^forecast:user_2:runway:1y:simple:/);
  });

  it('keys a category and an as-of day apart', async () => {
    const all = await get<ForecastBody<{ total: string }>>('/users/user_1/forecasts/expenses?horizon=90d');
    const groceries = await get<ForecastBody<{ total: string }>>('/users/user_1/forecasts/expenses?horizon=90d&category=groceries');
    expect(groceries.body.key).not.toBe(all.body.key);
    expect(new Decimal(groceries.body.value.total).lt(all.body.value.total)).toBe(true);
    const june = await get<ForecastBody<BalanceJson>>('/users/user_1/forecasts/balance?asOf=2025-06-30');
    expect(june.body.value.asOf).toBe('2025-06-30T00:00:00.000Z');
    const december = await get<ForecastBody<BalanceJson>>('/users/user_1/forecasts/balance');
    expect(june.body.key).not.toBe(december.body.key);
  });

  it('refuses bad input with a 400 naming the field', async () => {
    expectInvalid(await get('/users/user_1/forecasts/balance?horizon=30x'), 'horizon');
    expectInvalid(await get('/users/user_1/forecasts/balance?horizon=10y'), 'horizon');
    expectInvalid(await get('/users/user_1/forecasts/balance?horizon=030d'), 'horizon');
    expectInvalid(await get('/users/user_1/forecasts/balance?algorithm=ema'), 'algorithm');
    expectInvalid(await get('/users/user_1/forecasts/burn_rate?algorithm=linear'), 'algorithm');
    expectInvalid(await get('/users/user_1/forecasts/balance?asOf=2025-13-01'), 'asOf');
    expectInvalid(await get('/users/user_1/forecasts/balance?asOf=2024-12-31'), 'asOf');
    expectInvalid(await get('/users/user_1/forecasts/balance?horizn=30d'), 'horizn');
    expectInvalid(await get('/users/user_1/forecasts/balance?horizon=30d&horizon=90d'), 'horizon');
    expectInvalid(await get('/users/user_1/forecasts/balance?category=groceries'), 'category');
    expectInvalid(await get('/users/user_1/forecasts/balance?goal=user_1_g1'), 'goal');
    expectInvalid(await get('/users/user_1/forecasts/goal_progress'), 'goal');
    expectInvalid(await get('/users/user_1/forecasts/goal_progress?goal=user_1_g1&horizon=30d'), 'horizon');
    expectInvalid(await get('/users/user_1/forecasts/expenses?category=%20'), 'category');
  });

  it('answers 404 for an unknown user, metric or goal', async () => {
    const user = await get('/users/nobody/forecasts/balance');
    expect(user.status).toBe(404);
    expect(user.body.error.field).toBe('id');
    const metric = await get('/users/user_1/forecasts/profit');
    expect(metric.status).toBe(404);
    expect(metric.body.error).toMatchObject({ field: 'metric' });
    expect(metric.body.error.message).toContain('balance, burn_rate');
    const goal = await get('/users/user_1/forecasts/goal_progress?goal=user_2_g1');
    expect(goal.status).toBe(404);
    expect(goal.body.error.field).toBe('goal');
  });

  it('runs one computation for concurrent reads of a cold key, and labels none of them a memory hit', async () => {
    // The built-in calculators are synchronous and quick: over HTTP, reads of them rarely overlap. A slow one
    // makes every read arrive while the first computation runs.
    let runs = 0;
    const gate = deferred();
    service.forecasts.registerCalculator('slow_balance', async ({ userId }) => {
      runs++;
      await gate.promise;
      return { userId, balance: new Decimal('12.30') };
    }, { dependsOn: ['transactions'] });
    const missesBefore = (await service.forecasts.getStats()).misses;
    const pending = Promise.all(Array.from({ length: 6 }, () => get<ForecastBody<{ balance: string }>>('/users/user_3/forecasts/slow_balance?horizon=30d')));
    // The requests cross a socket: the computation is held open until all six have reached the cache.
    await until(async () => (await service.forecasts.getStats()).misses - missesBefore >= 6, 'all six reads to miss');
    gate.resolve();
    const replies = await pending;
    expect(runs).toBe(1);
    expect(replies.map((r) => r.body.cache.source)).toEqual(Array(6).fill('computed'));
    expect(replies.map((r) => r.body.value.balance)).toEqual(Array(6).fill('12.3'));
    expect(lines.filter((l) => l.includes('slow_balance?horizon=30d -> miss, computed in')).length).toBeGreaterThanOrEqual(1);
    // Reads that found the computation running emit no hit or miss: they are told apart by its write.
    expect(lines.filter((l) => l.includes('slow_balance?horizon=30d -> miss, waited for a computation in progress')).length).toBeGreaterThanOrEqual(1);
    expect((await get<ForecastBody>('/users/user_3/forecasts/slow_balance?horizon=30d')).body.cache.source).toBe('memory');
  });

  it('forecasts as of today with FORECAST_AS_OF=today, under keys without parameters', async () => {
    const today = await startInProcess(dir, { FORECAST_AS_OF: 'today' });
    try {
      const reply = await call<ForecastBody<BalanceJson>>(today.url, 'GET', '/users/user_1/forecasts/balance?horizon=30d');
      expect(reply.body.key).toBe('forecast:user_1:balance:30d:linear:default');
      expect(reply.body.value.asOf).toBe(`${new Date().toISOString().slice(0, 10)}T00:00:00.000Z`);
      const fixed = await call<ForecastBody<BalanceJson>>(today.url, 'GET', '/users/user_1/forecasts/balance?horizon=30d&asOf=2025-12-31');
      expect(fixed.body.key).toBe((await get<ForecastBody>('/users/user_1/forecasts/balance?horizon=30d')).body.key);
    } finally {
      await today.service.close();
    }
  });

  it('answers from the SQLite tier when another service computed the forecast', async () => {
    const path = '/users/user_1/forecasts/burn_rate?horizon=90d';
    expect((await get<ForecastBody>(path)).body.cache.source).toBe('computed');
    // A second service over the same files: an empty memory tier in front of the same SQLite cache.
    const other = await startInProcess(dir);
    try {
      const reply = await call<ForecastBody>(other.url, 'GET', path);
      expect(reply.body.cache.source).toBe('sqlite');
      expect((await call<ForecastBody>(other.url, 'GET', path)).body.cache.source).toBe('memory');
    } finally {
      await other.service.close();
    }
  });
});

describe('dashboard', () => {
  it('reads the seed’s dashboard through the cache, then from memory', async () => {
    type Dashboard = {
      userId: string;
      balance: BalanceJson;
      burnRate: { months: number };
      runway: unknown;
      goals: { goalId: string }[];
      cache: { hits: number; computed: number; forecasts: { key: string; source: string }[] };
    };
    const goals = (await get<{ goals: GoalJson[] }>('/users/user_1/goals')).body.goals;
    const first = await get<Dashboard>('/users/user_1/dashboard');
    expect(first.status).toBe(200);
    expect(first.body.goals.map((g) => g.goalId)).toEqual(goals.map((g) => g.id));
    expect(first.body.cache.computed).toBe(3 + goals.length);
    expect(first.body.burnRate.months).toBe(3);
    const second = await get<Dashboard>('/users/user_1/dashboard');
    expect(second.body.cache).toMatchObject({ hits: 3 + goals.length, computed: 0 });
    expect(second.body.balance).toEqual(first.body.balance);
    // The dashboard's balance is the same forecast as the single read.
    const single = await get<ForecastBody>('/users/user_1/forecasts/balance?horizon=30d&algorithm=linear');
    expect(single.body.cache.source).toBe('memory');
    expect(second.body.cache.forecasts[0]?.key).toBe(single.body.key);
    expect(lines.filter((l) => l.includes('GET /users/user_1/dashboard [')).length).toBe(2 * (3 + goals.length));
  });

  it('takes other horizons and refuses bad ones', async () => {
    const reply = await get<{ runway: { asOf: string }; cache: { forecasts: { key: string }[] } }>('/users/user_1/dashboard?runway=2y&balance=90d');
    expect(reply.status).toBe(200);
    expect(reply.body.cache.forecasts.map((f) => f.key.split(':')[3])).toEqual(expect.arrayContaining(['90d', '90d', '2y']));
    expectInvalid(await get('/users/user_1/dashboard?runway=forever'), 'runway');
    expectInvalid(await get('/users/user_1/dashboard?horizon=30d'), 'horizon');
    expect((await get('/users/nobody/dashboard')).status).toBe(404);
  });
});

describe('transactions', () => {
  it('lists a user’s transactions within days', async () => {
    const all = await get<{ count: number; transactions: TransactionJson[] }>('/users/user_1/transactions');
    expect(all.body.count).toBeGreaterThan(300);
    const december = await get<{ count: number; transactions: TransactionJson[] }>('/users/user_1/transactions?from=2025-12-01&to=2025-12-31');
    expect(december.body.count).toBeGreaterThan(0);
    expect(december.body.count).toBeLessThan(all.body.count);
    for (const t of december.body.transactions) {
      expect(t.date >= '2025-12-01' && t.date <= '2025-12-31').toBe(true);
      expect(t.amount).toMatch(/^\d+\.\d{2}$/);
    }
    expectInvalid(await get('/users/user_1/transactions?from=yesterday'), 'from');
    expectInvalid(await get('/users/user_1/transactions?from=2025-12-31&to=2025-12-01'), 'to');
    expect((await get('/users/nobody/transactions')).status).toBe(404);
  });

  it('adding an expense changes the balance, invalidates exactly its dependents, and is logged', async () => {
    const balancePath = '/users/user_1/forecasts/balance?horizon=30d';
    const before = await get<ForecastBody<BalanceJson>>(balancePath);
    await get('/users/user_1/forecasts/burn_rate?horizon=90d');
    const goal = (await get<{ goals: GoalJson[] }>('/users/user_1/goals')).body.goals[0] as GoalJson;
    await get(`/users/user_1/forecasts/goal_progress?goal=${goal.id}`);
    await get('/users/user_2/forecasts/balance?horizon=30d');

    const added = await post<WriteBody<TransactionJson>>('/users/user_1/transactions', { ...expense, description: 'Big shop' });
    expect(added.status).toBe(201);
    expect(added.body.record).toMatchObject({ userId: 'user_1', date: '2025-12-31', amount: '250.00', type: 'expense', category: 'groceries', description: 'Big shop' });
    // balance and burn_rate depend on transactions; the goal and the other user's balance do not.
    expect(added.body.invalidated).toBe(2);
    expect(lines).toContain('info  transaction added for user_1: 2 forecasts invalidated (transaction_added)');

    const after = await get<ForecastBody<BalanceJson>>(balancePath);
    expect(after.body.cache.source).toBe('computed');
    expect(new Decimal(before.body.value.startBalance).minus(after.body.value.startBalance).toFixed(2)).toBe('250.00');
    expect((await get<ForecastBody>(`/users/user_1/forecasts/goal_progress?goal=${goal.id}`)).body.cache.source).toBe('memory');
    expect((await get<ForecastBody>('/users/user_2/forecasts/balance?horizon=30d')).body.cache.source).toBe('memory');

    const events = await get<{ events: EventJson[] }>('/events?limit=1');
    expect(events.body.events[0]).toMatchObject({ reason: 'transaction_added' });
    expect(events.body.events[0]?.triggeredBy).toMatch(/^forecast-service@/);
  });

  it('refuses bad transactions, naming the field', async () => {
    const path = '/users/user_1/transactions';
    expectInvalid(await post(path, { ...expense, amount: 12.34 }), 'amount');
    expect((await post(path, { ...expense, amount: 12.34 })).body.error.message).toContain('decimal string');
    expectInvalid(await post(path, { ...expense, amount: '12.345' }), 'amount');
    expectInvalid(await post(path, { ...expense, amount: '-5.00' }), 'amount');
    expectInvalid(await post(path, { ...expense, amount: '0' }), 'amount');
    expectInvalid(await post(path, { ...expense, amount: '1e3' }), 'amount');
    expectInvalid(await post(path, { ...expense, date: '31/12/2025' }), 'date');
    expectInvalid(await post(path, { ...expense, date: '2025-02-29' }), 'date');
    expectInvalid(await post(path, { ...expense, type: 'transfer' }), 'type');
    expectInvalid(await post(path, { ...expense, category: '  ' }), 'category');
    expectInvalid(await post(path, { ...expense, description: 7 }), 'description');
    expectInvalid(await post(path, { ...expense, ammount: '1.00' }), 'ammount');
    expectInvalid(await post(path, { date: '2025-12-31', type: 'expense', category: 'x' }), 'amount');
    expectInvalid(await post(path, [expense]), 'body');
    expectInvalid(await post(path), 'body');
    // The data layer's own refusal (a day before the user's first one) still names the request's field.
    expectInvalid(await post(path, { ...expense, date: '2024-06-01' }), 'date');
    expect((await post('/users/nobody/transactions', expense)).status).toBe(404);
    const duplicate = await post(path, { ...expense, id: 'user_1_t00001' });
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.error).toMatchObject({ code: 'conflict', field: 'id' });
  });

  it('refuses bodies that are not JSON, or too large', async () => {
    const path = '/users/user_1/transactions';
    const form = await call(url, 'POST', path, { raw: JSON.stringify(expense), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(form.status).toBe(415);
    const plain = await call(url, 'POST', path, { raw: JSON.stringify(expense) });
    expect(plain.status).toBe(415);
    const broken = await call(url, 'POST', path, { raw: '{"date": ', headers: { 'content-type': 'application/json' } });
    expect(broken.status).toBe(400);
    expect(broken.body.error).toMatchObject({ code: 'invalid_json', field: 'body' });
    const big = await call(url, 'POST', path, { body: { ...expense, description: 'x'.repeat(70_000) } });
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe('payload_too_large');
    // Declared too large: refused before the body is read.
    const declared = await new Promise<number>((resolve, reject) => {
      const target = new URL(path, url);
      const req = httpRequest(target, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(10_000_000) } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write('{"date":');
    });
    expect(declared).toBe(413);
    expect((await get<{ status: string }>('/health')).body.status).toBe('ok');
  });

  it('patches a transaction (the balance follows) and deletes it', async () => {
    const created = await post<WriteBody<TransactionJson>>('/users/user_1/transactions', { ...expense, id: 'tx_test', description: 'note' });
    const balancePath = '/users/user_1/forecasts/balance?horizon=30d';
    const withExpense = await get<ForecastBody<BalanceJson>>(balancePath);

    const patched = await patch<WriteBody<TransactionJson>>('/transactions/tx_test', { amount: '100.00', description: null });
    expect(patched.status).toBe(200);
    expect(patched.body.record.amount).toBe('100.00');
    expect(patched.body.record.description).toBeUndefined();
    expect(patched.body.invalidated).toBe(1);
    const cheaper = await get<ForecastBody<BalanceJson>>(balancePath);
    expect(new Decimal(cheaper.body.value.startBalance).minus(withExpense.body.value.startBalance).toFixed(2)).toBe('150.00');

    expectInvalid(await patch('/transactions/tx_test', {}), 'body');
    expectInvalid(await patch('/transactions/tx_test', { userId: 'user_2' }), 'userId');
    expectInvalid(await patch('/transactions/tx_test', { amount: 5 }), 'amount');
    expect((await patch('/transactions/nope', { amount: '1.00' })).status).toBe(404);

    const deleted = await del<WriteBody<TransactionJson>>('/transactions/tx_test');
    expect(deleted.status).toBe(200);
    expect(deleted.body.record.id).toBe(created.body.record.id);
    expect(deleted.body.invalidated).toBe(1);
    const restored = await get<ForecastBody<BalanceJson>>(balancePath);
    expect(new Decimal(restored.body.value.startBalance).minus(withExpense.body.value.startBalance).toFixed(2)).toBe('250.00');
    const again = await del('/transactions/tx_test');
    expect(again.status).toBe(404);
    expect(again.body.error.code).toBe('not_found');
    expect(lines).toContain('info  transaction deleted for user_1: 1 forecast invalidated (transaction_deleted)');
  });
});

describe('goals', () => {
  it('creates, patches and deletes a goal, invalidating its forecasts only', async () => {
    const list = await get<{ goals: GoalJson[] }>('/users/user_3/goals');
    expect(list.body.goals.length).toBeGreaterThanOrEqual(2);
    const created = await post<WriteBody<GoalJson>>('/users/user_3/goals', { id: 'bike', name: 'Bike', target: '900', deadline: '2026-06-30', monthlyContribution: '50.00' });
    expect(created.status).toBe(201);
    expect(created.body.record).toEqual({
      id: 'bike',
      userId: 'user_3',
      name: 'Bike',
      target: '900.00',
      saved: '0.00',
      createdAt: '2025-12-31',
      deadline: '2026-06-30',
      monthlyContribution: '50.00',
    });
    const progress = await get<ForecastBody<{ saved: string }>>('/users/user_3/forecasts/goal_progress?goal=bike');
    expect(progress.body.value.saved).toBe('0');
    const summary = await get<ForecastBody>('/users/user_3/forecasts/goals_summary');
    await get('/users/user_3/forecasts/balance');

    const patched = await patch<WriteBody<GoalJson>>('/goals/bike', { saved: '300.00', deadline: null });
    expect(patched.body.record.saved).toBe('300.00');
    expect(patched.body.record.deadline).toBeUndefined();
    // That goal's progress and the summary; the balance stays.
    expect(patched.body.invalidated).toBe(2);
    const after = await get<ForecastBody<{ saved: string }>>('/users/user_3/forecasts/goal_progress?goal=bike');
    expect(after.body.cache.source).toBe('computed');
    expect(after.body.value.saved).toBe('300');
    expect((await get<ForecastBody>('/users/user_3/forecasts/goals_summary')).body.key).toBe(summary.body.key);
    expect((await get<ForecastBody>('/users/user_3/forecasts/balance')).body.cache.source).toBe('memory');

    expectInvalid(await post('/users/user_3/goals', { name: 'X', target: '10.00', createdAt: '2025-06-01', deadline: '2025-01-01' }), 'deadline');
    expectInvalid(await post('/users/user_3/goals', { name: 'X', target: 10 }), 'target');
    expectInvalid(await post('/users/user_3/goals', { target: '10.00' }), 'name');
    expectInvalid(await patch('/goals/bike', { saved: '-1.00' }), 'saved');
    expectInvalid(await patch('/goals/bike', { createdAt: '2025-01-01' }), 'createdAt');
    expect((await post('/users/user_3/goals', { id: 'bike', name: 'Again', target: '1.00' })).status).toBe(409);

    const deleted = await del<WriteBody<GoalJson>>('/goals/bike');
    expect(deleted.status).toBe(200);
    expect(lines.some((l) => l.includes('goal deleted for user_3:') && l.endsWith('(goal_deleted)'))).toBe(true);
    expect((await get('/users/user_3/forecasts/goal_progress?goal=bike')).status).toBe(404);
    expect((await del('/goals/bike')).status).toBe(404);
    expect((await patch('/goals/bike', { name: 'Y' })).status).toBe(404);
  });
});

describe('refresh, date ranges, warming', () => {
  it('refreshes a user’s forecasts, or one metric of them', async () => {
    await get('/users/user_1/forecasts/balance');
    await get('/users/user_1/forecasts/runway');
    const one = await post<{ invalidated: number }>('/users/user_1/refresh', { metric: 'runway' });
    expect(one.body.invalidated).toBe(1);
    expect((await get<ForecastBody>('/users/user_1/forecasts/balance')).body.cache.source).toBe('memory');
    const all = await post<{ invalidated: number }>('/users/user_1/refresh');
    expect(all.body.invalidated).toBe(1);
    expect((await get<ForecastBody>('/users/user_1/forecasts/balance')).body.cache.source).toBe('computed');
    expect((await get<{ events: EventJson[] }>('/events?limit=1')).body.events[0]?.reason).toBe('manual_refresh');
    expectInvalid(await post('/users/user_1/refresh', { metric: 'profit' }), 'metric');
    expectInvalid(await post('/users/user_1/refresh', { userId: 'user_2' }), 'userId');
    expect((await post('/users/nobody/refresh')).status).toBe(404);
  });

  it('invalidates the forecasts that read a corrected range of days', async () => {
    await get('/users/user_1/forecasts/expenses?horizon=30d');
    await get('/users/user_1/forecasts/balance?horizon=30d');
    // March lies outside the trailing 30 days of expenses, inside the whole history of the balance.
    const reply = await post<{ invalidated: number }>('/users/user_1/invalidate-range', { from: '2025-03-01', to: '2025-03-31' });
    expect(reply.body.invalidated).toBe(1);
    expect((await get<ForecastBody>('/users/user_1/forecasts/expenses?horizon=30d')).body.cache.source).toBe('memory');
    expect((await get<ForecastBody>('/users/user_1/forecasts/balance?horizon=30d')).body.cache.source).toBe('computed');
    expectInvalid(await post('/users/user_1/invalidate-range', { from: '2025-03-31', to: '2025-03-01' }), 'to');
    expectInvalid(await post('/users/user_1/invalidate-range', { from: '2025-03-31' }), 'to');
  });

  it('warms the keys that reads then find in memory', async () => {
    const report = await post<{ forecastsGenerated: number; cacheHitsSkipped: number; errors: unknown[] }>('/warm', {
      userIds: ['user_1', 'user_2'],
      metrics: ['balance', 'runway'],
      horizons: ['30d', '1y'],
    });
    expect(report.status).toBe(200);
    expect(report.body).toMatchObject({ forecastsGenerated: 8, cacheHitsSkipped: 0, errors: [] });
    expect((await get<ForecastBody>('/users/user_2/forecasts/runway?horizon=1y')).body.cache.source).toBe('memory');
    expect((await get<ForecastBody>('/users/user_1/forecasts/balance?horizon=30d')).body.cache.source).toBe('memory');
    const again = await post<{ forecastsGenerated: number; cacheHitsSkipped: number }>('/warm', { userIds: ['user_1'], metrics: ['balance'], horizons: ['30d'] });
    expect(again.body).toMatchObject({ forecastsGenerated: 0, cacheHitsSkipped: 1 });
    const forced = await post<{ forecastsGenerated: number }>('/warm', { userIds: ['user_1'], metrics: ['balance'], horizons: ['30d'], force: true });
    expect(forced.body.forecastsGenerated).toBe(1);
    const everything = await post<{ forecastsGenerated: number; errors: unknown[] }>('/warm');
    expect(everything.body.errors).toEqual([]);
    expect(everything.body.forecastsGenerated).toBeGreaterThan(10);
    expect(lines.some((l) => /warm: \d+ forecasts computed, \d+ already cached, 0 errors in/.test(l))).toBe(true);

    expectInvalid(await post('/warm', { userIds: ['user_1', 'ghost'] }), 'userIds[1]');
    expectInvalid(await post('/warm', { userIds: 'user_1' }), 'userIds');
    expectInvalid(await post('/warm', { metrics: ['profit'] }), 'metrics[0]');
    expectInvalid(await post('/warm', { horizons: ['30d', 'soon'] }), 'horizons[1]');
    expectInvalid(await post('/warm', { algorithms: ['magic'] }), 'algorithms[0]');
    expectInvalid(await post('/warm', { force: 'yes' }), 'force');
    expectInvalid(await post('/warm', { users: ['user_1'] }), 'users');
  });
});

describe('stats, events, keys', () => {
  it('GET /stats counts hits, misses and where reads were answered', async () => {
    await get('/users/user_1/forecasts/balance');
    await get('/users/user_1/forecasts/balance');
    const stats = await get<{ hits: number; misses: number; hitRate: number; service: { forecastReads: Record<string, number> } }>('/stats');
    expect(stats.body.hits).toBeGreaterThanOrEqual(1);
    expect(stats.body.misses).toBeGreaterThanOrEqual(1);
    expect(stats.body.hitRate).toBeGreaterThan(0);
    expect(stats.body.service.forecastReads).toEqual({ computed: 1, memory: 1 });
  });

  it('GET /events filters by time and count', async () => {
    await post('/users/user_1/transactions', expense);
    await post('/users/user_2/transactions', { ...expense, type: 'income' });
    const latest = await get<{ events: EventJson[] }>('/events?limit=2');
    expect(latest.body.events.map((e) => e.reason)).toEqual(['transaction_added', 'transaction_added']);
    expect((await get<{ events: EventJson[] }>('/events?limit=1')).body.events).toHaveLength(1);
    const future = await get<{ events: EventJson[] }>(`/events?since=${new Date(Date.now() + 60_000).toISOString()}`);
    expect(future.body.events).toEqual([]);
    expect((await get<{ events: EventJson[] }>('/events?since=2020-01-01')).body.events.length).toBeGreaterThanOrEqual(2);
    expectInvalid(await get('/events?limit=0'), 'limit');
    expectInvalid(await get('/events?limit=ten'), 'limit');
    expectInvalid(await get('/events?since=last%20week'), 'since');
  });

  it('GET /keys/:key describes a cached forecast', async () => {
    const read = await get<ForecastBody>('/users/user_1/forecasts/burn_rate?horizon=90d');
    const info = await get<{ exists: boolean; tier: string; tags: string[]; ttlRemaining: number }>(`/keys/${encodeURIComponent(read.body.key)}`);
    expect(info.status).toBe(200);
    expect(info.body).toMatchObject({ exists: true, tier: 'memory' });
    expect(info.body.tags).toContain('user:user_1');
    expect(info.body.ttlRemaining).toBeGreaterThan(0);
    const missing = await get(`/keys/${encodeURIComponent('forecast:user_1:balance:7d:linear:default')}`);
    expect(missing.status).toBe(404);
    expect(missing.body.error.field).toBe('key');
  });
});

describe('routing and robustness', () => {
  it('answers 405 with Allow, 404 for unknown paths, and HEAD like GET without a body', async () => {
    const wrong = await call(url, 'PUT', '/users/user_1/transactions');
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET, POST, HEAD');
    expect(wrong.body.error.code).toBe('method_not_allowed');
    expect((await call(url, 'DELETE', '/users')).status).toBe(405);
    const unknown = await get('/accounts');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.field).toBe('path');
    expect((await get('/users/user_1/forecasts')).status).toBe(404);
    const head = await call(url, 'HEAD', '/users');
    expect(head.status).toBe(200);
    expect(head.text).toBe('');
    expect((await get<{ users: unknown[] }>('/users/')).body.users).toHaveLength(3);
    expectInvalid(await get('/users/%E0%A4%A'), 'path');
    expectInvalid(await get('/users?page=2'), 'page');
    const forged = await get('/users?%0Aerror%20forged=1');
    expect(forged.status).toBe(400);
    expect(lines.filter((l) => l.includes('forged'))).toHaveLength(1);
    expect(lines.some((l) => l.startsWith('error forged'))).toBe(false);
  });

  it('survives a burst of malformed requests', async () => {
    const bad: Promise<unknown>[] = [];
    const bodies = ['', 'null', '[]', '"x"', '{"__proto__": {"amount": "1.00"}}', '{"date": null, "amount": null}', '{"amount": {"$gt": 0}}', '\u0000'];
    for (const raw of bodies) {
      bad.push(call(url, 'POST', '/users/user_1/transactions', { raw, headers: { 'content-type': 'application/json' } }));
      bad.push(call(url, 'PATCH', '/transactions/user_1_t00001', { raw, headers: { 'content-type': 'application/json' } }));
      // No body is a valid warm request (warm everything): only the others are malformed there.
      if (raw !== '') bad.push(call(url, 'POST', '/warm', { raw, headers: { 'content-type': 'application/json' } }));
    }
    for (const path of ['/users/%00/forecasts/balance', '/users/user_1/forecasts/balance?asOf=%FF', '/users/user_1/forecasts/%2F..%2F', '/events?since=', '//', '//evil.example/users', '/keys/%25', '/keys/%00', `/keys/${'k'.repeat(5000)}`]) {
      bad.push(get(path));
    }
    const replies = (await Promise.all(bad)) as { status: number }[];
    for (const reply of replies) expect(reply.status).toBeGreaterThanOrEqual(400);
    for (const reply of replies) expect(reply.status).toBeLessThan(500);
    expect((await get<{ status: string }>('/health')).body.status).toBe('ok');
  });
});

describe('a failure inside the service', () => {
  it('is a 500 that says little to the client and everything to the log', async () => {
    const finance = new MemoryFinanceStore();
    finance.addUser({ id: 'u', name: 'U', openingBalance: new Decimal('10.00'), openingDate: day(2025, 1, 1) });
    const forecasts = await ForecastCache.create({ finance });
    const broken = new Proxy(finance, {
      get(target, property, receiver) {
        if (property === 'listUsers') return () => { throw new Error('disk on fire'); };
        const value = Reflect.get(target, property, receiver) as unknown;
        // Bound to the store itself: its private fields are not reachable through the proxy.
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const captured = captureLogger();
    const app = await createApp({ forecasts, finance: broken, logger: captured.logger });
    try {
      const { url: brokenUrl } = await app.listen(0);
      const reply = await call(brokenUrl, 'GET', '/users');
      expect(reply.status).toBe(500);
      expect(reply.body.error.code).toBe('internal');
      expect(reply.text).not.toContain('disk on fire');
      expect(captured.lines.some((l) => l.startsWith('error GET /users -> 500') && l.includes('disk on fire'))).toBe(true);
      expect((await call<{ user: { id: string } }>(brokenUrl, 'GET', '/users/u')).body.user.id).toBe('u');
    } finally {
      await app.close();
      await forecasts.close();
    }
  });
});
