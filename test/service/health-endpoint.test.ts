import { afterAll, beforeAll, expect, it } from 'vitest';
import type { HealthReport } from '../../src/index.js';
import { refusedPort } from '../bus/helpers.js';
import { startThrowawayRedis, type ThrowawayRedis } from '../support/redis-server.js';
import { serverDescribe, serversAvailable } from '../kit/servers.js';
import { call, startInProcess, tempDir, until } from './helpers.js';

// The service over a Redis of its own (store and bus), so stopping it disturbs nobody else.
let server: ThrowawayRedis | undefined;
const temp = tempDir('health');

beforeAll(async () => {
  if (serversAvailable) server = await startThrowawayRedis(await refusedPort());
});
afterAll(async () => {
  await server?.stop();
  temp.cleanup();
});

function redis(): ThrowawayRedis {
  if (server === undefined) throw new Error('no redis-server was started');
  return server;
}

type HealthBody = HealthReport & { uptimeSeconds: number; cacheLabel: string | null };

serverDescribe('GET /health', () => {
  it('answers getHealth(): 200 while ok or degraded (Redis stopped), 503 once the cache is down', { timeout: 60_000 }, async () => {
    const { service, url } = await startInProcess(temp.dir, { REDIS_URL: redis().url, CACHE_PREFIX: `health-endpoint:${process.pid}:` });
    const health = () => call<HealthBody>(url, 'GET', '/health');
    try {
      const up = await health();
      expect(up.status).toBe(200);
      expect(up.headers.get('cache-control')).toBe('no-store');
      expect(up.body).toMatchObject({ healthy: true, status: 'ok', reasons: [], stores: { redis: { reachable: true, breaker: 'closed' } }, bus: { ready: true } });
      expect(up.body.cacheLabel).toContain('memory → redis');

      await redis().stop();
      // The route reuses a probe up to a second old: waiting is for that, and for the real connection to drop.
      let down = up;
      await until(async () => (down = await health()).body.status === 'degraded', 'the service to see Redis gone', 10_000, 100);
      expect(down.status, 'degraded still serves: the load balancer keeps the instance').toBe(200);
      expect(down.body.healthy).toBe(true);
      expect(down.body.stores.redis?.reachable).toBe(false);
      expect(down.body.reasons.some((reason) => reason.startsWith('store redis:'))).toBe(true);

      await redis().start();
      let back = down;
      await until(async () => (back = await health()).body.status === 'ok', 'the service to see Redis back', 20_000, 100);
      expect(back.status).toBe(200);
      expect(back.body.stores.redis?.reachable).toBe(true);

      // The cache closing under a running server: it can no longer serve, so the instance is taken out.
      await service.forecasts.close();
      const closed = await health();
      expect(closed.status).toBe(503);
      expect(closed.body).toMatchObject({ healthy: false, status: 'down', reasons: ['the cache is closed'] });
    } finally {
      await service.close();
    }
  });
});
