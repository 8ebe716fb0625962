// One process of the pub/sub torture (pubsub-torture.ts). Process 0 bumps a data version kept in Redis and
// then invalidates the hot key by key, tag or pattern in turn; every process reads the hot key through
// getOrSet, whose loader reads that version. The others never invalidate, so their memory tiers stay fresh
// only through the bus: a lost message shows as a stale read there. Every read and resolved invalidation is
// logged with a machine-wide timestamp and sent to the parent.
// argv: prefix, index, duration ms, start (epoch ms), Redis URL, seed.
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { Cache } from '../src/index.js';
import { redisBus } from '../src/bus/redis.js';
import { redisStore } from '../src/stores/redis.js';
import { seededRandom } from './lib.js';

const [prefix = 'torture:', index = '0', durationText = '3000', startText = '0', url = 'redis://127.0.0.1:6379', seedText = '1'] = process.argv.slice(2);
const me = Number(index);
const duration = Number(durationText);
const random = seededRandom(Number(seedText) * 31 + me);
const data = new Redis(url);
const cache = new Cache({ stores: [redisStore({ url, prefix: `${prefix}c:` })], bus: redisBus({ url, channel: `${prefix}bus` }) });
cache.on('error', () => undefined);
let recoveries = 0;
cache.on('recover', () => void recoveries++);
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
await sleep(Math.max(0, Number(startText) - Date.now()));
const stop = now() + duration;
const readers = Array.from({ length: 4 }, async () => {
  for (let n = 0; now() < stop && n < 1_000_000; n++) {
    const startedAt = now();
    reads.push([startedAt, await cache.getOrSet('hot', loader, { tags: ['data'], ttl: '1m' })]);
    await sleep(random() * 2);
  }
});
const invalidator = (async () => {
  if (me !== 0) return;
  for (let i = 0; now() < stop && i < 1_000_000; i++) {
    await sleep(5 + random() * 15);
    const bumped = await data.incr(versionKey);
    if (i % 3 === 0) await cache.invalidate({ keys: ['hot'] });
    else if (i % 3 === 1) await cache.invalidateTags(['data']);
    else await cache.invalidatePattern('ho*');
    invalidations.push([bumped, now()]);
  }
})();
await Promise.all([...readers, invalidator]);
await cache.close();
await data.quit();
process.send?.({ reads, invalidations, recoveries }, () => process.exit(0));
