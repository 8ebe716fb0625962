// One instance of the cross-process fencing torture (test/compute/torture-processes.test.ts): readers call
// getOrSet on a hot key whose loader reads a data version kept in Redis; an invalidator bumps the version and
// then invalidates it by key, tag or pattern. Every read and every resolved invalidation is logged with a machine-wide timestamp.
// Every random delay comes from a generator seeded by the test's seed and this worker's index, so a failing
// run's choices come back with its seed (the scheduling of three real processes around them does not).
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { Cache } from '../../src/index.js';
import { redisBus } from '../../src/bus/redis.js';
import { redisStore } from '../../src/stores/redis.js';
import { seededRandom } from '../kit/index.js';

const [prefix = 'torture:', index = '0', durationText = '3000', startText = '0', url = 'redis://127.0.0.1:6379', mode = 'mixed', seedText = '1'] = process.argv.slice(2);
const me = Number(index);
const duration = Number(durationText);
const startAt = Number(startText);
// Distinct streams per worker from one seed: the index is mixed in with a large odd multiplier.
const random = seededRandom((Number(seedText) + Math.imul(me + 1, 0x9e3779b1)) >>> 0);
const data = new Redis(url);
const cache = new Cache({ stores: [redisStore({ url, prefix: `${prefix}c:` })], bus: redisBus({ url, channel: `${prefix}bus` }) });
const now = () => performance.timeOrigin + performance.now();

const reads: [number, number][] = [];
const invalidations: [number, number][] = [];
const versionKey = `${prefix}version`;

const loader = async () => {
  const seen = Number((await data.get(versionKey)) ?? 0);
  await sleep(random() * 4);
  return seen;
};

await cache.ready();
process.send?.({ ready: true });
await sleep(Math.max(0, startAt - Date.now()));
const stop = now() + duration;
const readers = Array.from({ length: 6 }, async () => {
  while (now() < stop) {
    const startedAt = now();
    const value = await cache.getOrSet('hot', loader, { tags: ['data'], ttl: '1m' });
    reads.push([startedAt, value]);
    await sleep(random() * 2);
  }
});
const invalidator = (async () => {
  for (let i = 0; now() < stop; i++) {
    await sleep(5 + random() * 15);
    const bumped = await data.incr(versionKey);
    const kind = mode === 'mixed' ? (i + me) % 3 : mode === 'keys' ? 0 : mode === 'tags' ? 1 : 2;
    if (kind === 0) await cache.invalidate({ keys: ['hot'] });
    else if (kind === 1) await cache.invalidateTags(['data']);
    else await cache.invalidatePattern('ho*');
    invalidations.push([bumped, now()]);
  }
})();
await Promise.all([...readers, invalidator]);
await cache.close();
await data.quit();
process.send?.({ reads, invalidations }, () => process.exit(0));
