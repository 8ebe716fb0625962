import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cache, type HealthReport } from '../../src/index.js';
import { redisBus } from '../../src/bus/redis.js';
import { redisStore } from '../../src/stores/redis.js';
import { createFakeClock, until, type FakeClock } from '../kit/index.js';
import { serverDescribe, serversAvailable } from '../kit/servers.js';
import { refusedPort, startSilentServer } from '../bus/helpers.js';
import { startThrowawayRedis, type ThrowawayRedis } from '../support/redis-server.js';

// A Redis of our own (a redis-server these tests start, stop and start again), so nobody else's is disturbed.
let server: ThrowawayRedis | undefined;

beforeAll(async () => {
  if (serversAvailable) server = await startThrowawayRedis(await refusedPort());
});
afterAll(async () => {
  await server?.stop();
});

/** Advances fake time (cooldowns, probes) until the cache reports ok; only the server's return takes real time. */
async function untilOk(cache: Cache, clock: FakeClock, what: string): Promise<HealthReport> {
  let last: HealthReport | undefined;
  await until(
    async () => {
      await clock.tick(10_000);
      last = await cache.getHealth();
      return last.status === 'ok';
    },
    what,
    10_000,
    50,
  ).catch((error: unknown) => {
    throw new Error(`${String(error)} (last: ${JSON.stringify(last?.reasons)})`);
  });
  return last as HealthReport;
}

function redis(): ThrowawayRedis {
  if (server === undefined) throw new Error('no redis-server was started');
  return server;
}

async function running(): Promise<void> {
  await redis().start().catch((error: unknown) => {
    // Already up (a test that failed before stopping it): fine.
    if (!String(error).includes('already taken')) throw error;
  });
}

function redisCache(clock = createFakeClock(), extra: { failures?: number } = {}) {
  return new Cache({
    clock,
    name: 'health-test',
    stores: [{ store: redisStore({ url: redis().url, prefix: `health:${process.pid}:` }), timeout: '300ms', breaker: { failures: extra.failures ?? 3, cooldown: '5s' } }],
    maintenance: { probeInterval: '10s' },
  });
}

serverDescribe('getHealth with a Redis store', () => {
  it('is ok while Redis runs, degraded naming the store once it stops, and ok again after it restarts', async () => {
    await running();
    const clock = createFakeClock();
    const cache = redisCache(clock);
    try {
      await cache.set('k', 'v');
      const up = await cache.getHealth();
      expect(up).toMatchObject({ healthy: true, status: 'ok', cache: 'health-test', reasons: [], bus: undefined });
      expect(up.stores.redis).toMatchObject({ reachable: true, breaker: 'closed', pendingWrites: 0, lastProbe: { ok: true, skipped: false } });
      expect(up.stores.redis?.latencyP99).toBeGreaterThan(0);
      expect(up.memory).toMatchObject({ entries: 1, maxEntries: 10_000 });

      await redis().stop();
      // The periodic probe falls due on the fake clock; the call it sends is real I/O, which getHealth joins.
      await clock.tick(10_000);
      const down = await cache.getHealth();
      expect(down).toMatchObject({ healthy: true, status: 'degraded' });
      expect(down.stores.redis).toMatchObject({ reachable: false, lastProbe: { ok: false } });
      expect(down.reasons.some((reason) => reason.startsWith('store redis: unreachable'))).toBe(true);

      // A write while it is down waits for it: named too, and replayed once a probe gets through.
      await cache.set('during', 'x');
      expect((await cache.getHealth()).reasons).toContain('store redis: 1 write waiting to be replayed');

      await running();
      // Only the reconnection is waited for in real time; the breaker's cooldown and the probes run on the fake clock.
      const back = await untilOk(cache, clock, 'health to be ok again');
      expect(back).toMatchObject({ healthy: true, status: 'ok', reasons: [] });
      expect(back.stores.redis).toMatchObject({ reachable: true, breaker: 'closed', pendingWrites: 0 });
    } finally {
      await cache.close();
    }
  });

  it('measures the error rate over the recent window, so it recovers', async () => {
    await running();
    const clock = createFakeClock();
    // A breaker that stays closed, so every read while Redis is down is a failed call.
    const cache = redisCache(clock, { failures: 1_000 });
    try {
      await cache.set('k', 'v');
      expect((await cache.getHealth()).status).toBe('ok');
      await redis().stop();
      for (let i = 0; i < 12; i++) await cache.get(`missing${i}`);
      await running();
      await until(async () => (await cache.getHealth({ maxProbeAge: 0 })).stores.redis?.reachable === true, 'the store to answer again', 10_000, 50);

      const after = await cache.getHealth();
      expect(after.status).toBe('degraded');
      expect(after.stores.redis).toMatchObject({ reachable: true, breaker: 'closed' });
      expect(after.stores.redis?.errorRate).toBeGreaterThan(0.05);
      expect(after.reasons.some((reason) => /^store redis: [\d.]+ % of \d+ calls failed/.test(reason))).toBe(true);

      // Two windows of clean traffic later, the failures have left the window.
      for (let window = 0; window < 2; window++) {
        await clock.tick(30_000);
        for (let i = 0; i < 10; i++) await cache.get(`clean${window}:${i}`);
        await cache.getHealth();
      }
      const recovered = await cache.getHealth();
      expect(recovered).toMatchObject({ status: 'ok', reasons: [] });
      expect(recovered.stores.redis?.errorRate).toBe(0);
      expect(recovered.stores.redis?.calls).toBeGreaterThanOrEqual(10);
    } finally {
      await cache.close();
    }
  });

  it('is down, and healthy false, once the cache is closed', async () => {
    await running();
    const cache = redisCache();
    expect((await cache.getHealth()).healthy).toBe(true);
    await cache.close();
    const closed = await cache.getHealth();
    expect(closed).toMatchObject({ healthy: false, status: 'down', reasons: ['the cache is closed'] });
    expect(closed.stores.redis).toMatchObject({ reachable: false });
  });
});

serverDescribe('getHealth with a Redis bus', () => {
  it('is degraded while the bus server is down, naming the bus, and ok once it is back', async () => {
    await running();
    const clock = createFakeClock();
    const cache = new Cache({ clock, bus: { bus: redisBus({ url: redis().url, channel: `health:${process.pid}` }), breaker: { failures: 3, cooldown: '5s' } } });
    try {
      await cache.ready();
      const up = await cache.getHealth();
      expect(up).toMatchObject({ status: 'ok', bus: { name: 'redis-bus', ready: true, subscription: 'ready', breaker: 'closed', lastProbe: { ok: true } } });

      await redis().stop();
      await clock.tick(10_000);
      const down = await cache.getHealth();
      expect(down).toMatchObject({ healthy: true, status: 'degraded', bus: { ready: false, lastPublish: { ok: false }, lastProbe: { ok: false } } });
      expect(down.reasons.some((reason) => reason.startsWith('bus redis-bus:'))).toBe(true);

      await running();
      const back = await untilOk(cache, clock, 'the bus to be ready again');
      expect(back.bus).toMatchObject({ ready: true, breaker: 'closed', lastPublish: { ok: true } });
    } finally {
      await cache.close();
    }
  });
});

describe('getHealth against a server that accepts connections and never answers', () => {
  it('resolves within the tier timeout with the store unreachable, and is down in strict mode', async () => {
    const silent = await startSilentServer();
    const make = (strict: boolean) =>
      new Cache({ clock: createFakeClock(), strict, stores: [{ store: redisStore({ url: silent.url }), timeout: '300ms' }], maintenance: { probeInterval: 0 } });
    const lenient = make(false);
    const strict = make(true);
    try {
      const started = performance.now();
      const report = await lenient.getHealth();
      const elapsed = performance.now() - started;
      expect(elapsed).toBeLessThan(1_000);
      expect(report).toMatchObject({ healthy: true, status: 'degraded' });
      expect(report.stores.redis).toMatchObject({ reachable: false, lastProbe: { ok: false, skipped: false } });
      expect(report.stores.redis?.lastProbe?.error).toMatch(/timed out after 300 ms/);
      expect(silent.accepted).toBeGreaterThan(0);

      const verdict = await strict.getHealth();
      expect(verdict).toMatchObject({ healthy: false, status: 'down' });
      expect(verdict.reasons[0]).toMatch(/no store is reachable and strict is on/);
    } finally {
      await Promise.all([lenient.close(), strict.close()]);
      await silent.close();
    }
  });
});
