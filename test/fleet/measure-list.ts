// How long listInstances() takes with 20 live instances on a Redis holding 20k and 200k other keys.
// Run: npx tsx test/fleet/measure-list.ts   (not part of the test suite; starts its own redis-server on a free
// loopback port, so the figures do not depend on what else the shared server holds)
import { Redis } from 'ioredis';
import { Cache } from '../../src/index.js';
import { redisStore } from '../../src/stores/redis.js';
import { freePort } from '../stores/redis-helpers.js';
import { startThrowawayRedis } from '../support/redis-server.js';

const INSTANCES = 20;
const CALLS = 200;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

const server = await startThrowawayRedis(await freePort());
const raw = new Redis(server.url);
try {
  const caches = Array.from({ length: INSTANCES }, (_, i) => new Cache({ prefix: 'app:', stores: [redisStore({ url: server.url })], fleet: { name: `i${i}` } }));
  const reader = new Cache({ prefix: 'app:', stores: [redisStore({ url: server.url })], fleet: false });
  while ((await reader.listInstances()).length < INSTANCES + 1) await new Promise((resolve) => setTimeout(resolve, 20));
  let filled = 0;
  for (const target of [20_000, 200_000]) {
    for (; filled < target; filled += 1_000) {
      const pipeline = raw.pipeline();
      for (let i = filled; i < filled + 1_000; i++) pipeline.set(`other:${i}`, 'x');
      await pipeline.exec();
    }
    for (let i = 0; i < 20; i++) await reader.listInstances();
    const times: number[] = [];
    for (let i = 0; i < CALLS; i++) {
      const started = performance.now();
      const listed = await reader.listInstances();
      times.push(performance.now() - started);
      if (listed.length !== INSTANCES + 1) throw new Error(`listed ${listed.length} instances`);
    }
    times.sort((a, b) => a - b);
    const mean = times.reduce((s, t) => s + t, 0) / times.length;
    console.log(`${INSTANCES} instances, ${await raw.dbsize()} keys in the database: listInstances mean ${mean.toFixed(2)} ms, p50 ${percentile(times, 50).toFixed(2)} ms, p99 ${percentile(times, 99).toFixed(2)} ms (${CALLS} calls)`);
  }
  await Promise.all([...caches, reader].map((cache) => cache.close()));
} finally {
  raw.disconnect();
  await server.stop();
}
