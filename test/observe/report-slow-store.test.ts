import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { afterEach, expect } from 'vitest';
import { Cache } from '../../src/index.js';
import { redisStore } from '../../src/stores/redis.js';
import { serverDescribe, serverIt } from '../kit/servers.js';
import { uniquePrefix } from '../stores/redis-helpers.js';

const REDIS_PORT = 6379;
const DELAY_MS = 150;

/** A real TCP proxy in front of the local Redis that holds every answer for `delayMs`: a slow network path. */
async function slowProxy(delayMs: number): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection(REDIS_PORT, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (data) => upstream.write(data));
    upstream.on('data', (data) => setTimeout(() => client.destroyed || client.write(data), delayMs));
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

serverDescribe('getReport with a slow store', () => {
  serverIt('names the store whose reads are slow, with the p99 that shows it; a fast one gets no such advice', async () => {
    const proxy = await slowProxy(DELAY_MS);
    cleanups.push(() => proxy.close());
    const slow = new Cache({ stores: [{ store: redisStore({ url: `redis://127.0.0.1:${proxy.port}`, prefix: uniquePrefix('slow-report') }), timeout: '2s' }] });
    cleanups.push(() => slow.close());
    const fast = new Cache({ stores: [redisStore({ url: `redis://127.0.0.1:${REDIS_PORT}`, prefix: uniquePrefix('fast-report') })] });
    cleanups.push(() => fast.close());
    // 30 reads of missing keys, issued together: each waits one delayed answer, so the whole takes about one delay.
    for (const cache of [slow, fast]) await Promise.all(Array.from({ length: 30 }, (_, i) => cache.get(`missing:${i}`)));

    const advice = slow.getReport().recommendations.find((r) => r.code === 'STORE_SLOW');
    expect(advice?.evidence).toMatchObject({ store: 'redis' });
    expect(Number(advice?.evidence.p99)).toBeGreaterThanOrEqual(DELAY_MS * 0.9);
    expect(fast.getReport().recommendations.map((r) => r.code)).not.toContain('STORE_SLOW');
  });
});
