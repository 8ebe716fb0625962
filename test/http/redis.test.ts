// Two instances of the same app, each with its own Cache over one Redis (store and bus): a response cached by
// one is served by the other, a write route on one invalidates it for both, and with `lease` concurrent
// requests on both instances run the handler once.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { redisBus } from '../../src/bus/redis.js';
import { Cache } from '../../src/cache.js';
import { redisStore } from '../../src/stores/redis.js';
import { deferred, until } from '../kit/index.js';
import { REDIS_URL, uniquePrefix } from '../stores/redis-helpers.js';
import { ADAPTERS, type GetRoute, type RunningApp, type WriteRoute } from './harness.js';

const running: RunningApp[] = [];
const caches: Cache[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((app) => app.close()));
  await Promise.all(caches.splice(0).map((cache) => cache.close()));
});

describe.each(ADAPTERS)('$name adapter, two instances sharing Redis', (adapter) => {
  async function pair(gets: GetRoute[], writes: WriteRoute[] = []): Promise<[RunningApp, RunningApp]> {
    const prefix = uniquePrefix(`http-${adapter.name}`);
    const channel = `${prefix}bus`;
    const apps: RunningApp[] = [];
    for (let i = 0; i < 2; i++) {
      const cache = new Cache({ stores: [redisStore({ url: REDIS_URL, prefix })], bus: redisBus({ url: REDIS_URL, channel }) });
      caches.push(cache);
      await cache.ready();
      const app = await adapter.start({ cache, gets, writes });
      running.push(app);
      apps.push(app);
    }
    return apps as [RunningApp, RunningApp];
  }

  it('a write route on one instance invalidates the response on both', async () => {
    let calls = 0;
    const [a, b] = await pair(
      [{ path: '/accounts/:id', cache: { ttl: '5m', tagsFor: (r) => [`account:${r.params.id as string}`] }, handler: (r) => ({ body: `${r.params.id as string}:${++calls}` }) }],
      [{ method: 'POST', path: '/accounts/:id', invalidate: { tagsFor: (r) => [`account:${r.params.id as string}`] }, handler: () => ({ status: 201 }) }],
    );
    expect((await a.request('/accounts/7')).body).toBe('7:1');
    const shared = await b.request('/accounts/7');
    expect([shared.body, shared.header('x-cache')]).toStrictEqual(['7:1', 'hit']);
    expect((await b.request('/accounts/7')).body).toBe('7:1');
    expect((await a.request('/accounts/7', { method: 'POST' })).status).toBe(201);
    // The writer's own instance is fresh at once; the other once the bus message lands.
    expect((await a.request('/accounts/7')).body).toBe('7:2');
    await until(async () => (await b.request('/accounts/7')).body === '7:2', 'instance b to drop the invalidated response');
    expect(calls).toBe(2);
  });

  it('with lease, concurrent requests on both instances run the handler once', async () => {
    const gate = deferred();
    let calls = 0;
    const [a, b] = await pair([
      {
        path: '/report',
        cache: { lease: { wait: '20s' } },
        handler: async () => {
          calls++;
          await gate.promise;
          return { body: 'the report' };
        },
      },
    ]);
    const answers = [...Array.from({ length: 20 }, () => a.request('/report')), ...Array.from({ length: 20 }, () => b.request('/report'))];
    await until(() => calls === 1, 'the first handler call');
    // Real time for the other instance's requests to reach Redis and wait on the lease.
    await sleep(300);
    gate.resolve();
    const bodies = (await Promise.all(answers)).map((answer) => answer.body);
    expect(new Set(bodies)).toStrictEqual(new Set(['the report']));
    expect(calls).toBe(1);
  });
});
