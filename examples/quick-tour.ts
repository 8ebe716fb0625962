// A short tour of tiercache on embedded defaults (memory only, nothing to install): run with `npm run tour`.
import { Decimal } from 'decimal.js';
import { Cache, type CacheEvents } from '../src/index.js';
import { forecastKey } from '../src/forecast/index.js';

const cache = new Cache({ defaultTtl: '24h', memory: { maxEntries: 10_000 } });
const onMiss = (e: CacheEvents['miss']) => console.log(`  miss      ${e.key}`);
const onHit = (e: CacheEvents['hit']) => console.log(`  hit       ${e.key} (${e.tier})`);
cache.on('miss', onMiss).on('hit', onHit);

// Stands in for an expensive projection: a year of daily balances from a starting balance and a daily drift.
async function projectBalance(userId: string, days: number): Promise<{ userId: string; balance: Decimal; at: Date }> {
  await new Promise((resolve) => setTimeout(resolve, 120));
  let balance = new Decimal('25000.00');
  for (let d = 0; d < days; d++) balance = balance.plus(new Decimal('-41.37'));
  return { userId, balance: balance.toDecimalPlaces(2), at: new Date(Date.UTC(2026, 0, 1) + days * 86_400_000) };
}

async function cachedProjection(userId: string, days: number) {
  const key = forecastKey({ userId, metric: 'balance', horizon: `${days}d`, algorithm: 'linear', params: { drift: '-41.37' } });
  const started = performance.now();
  let value = await cache.get<Awaited<ReturnType<typeof projectBalance>>>(key);
  if (value === undefined) {
    value = await projectBalance(userId, days);
    await cache.set(key, value, { ttl: '1h', tags: [`user:${userId}`, 'balance'] });
  }
  const ms = performance.now() - started;
  console.log(`  ${key} -> ${value.balance.toFixed(2)} on ${value.at.toISOString().slice(0, 10)} in ${ms.toFixed(3)} ms`);
  return key;
}

console.log('First dashboard load (cold):');
const keys = [];
for (const user of ['user_123', 'user_456']) keys.push(await cachedProjection(user, 30), await cachedProjection(user, 90));

console.log('\nSecond dashboard load (warm):');
for (const user of ['user_123', 'user_456']) {
  await cachedProjection(user, 30);
  await cachedProjection(user, 90);
}

console.log('\nWhat the cache knows about one key:');
const info = await cache.inspect(keys[0] as string);
console.log(`  tier=${info?.tier} size=${info?.sizeBytes} B ttlRemaining=${Math.round((info?.ttlRemaining ?? 0) / 1000)} s tags=${info?.tags.join(',')}`);

const stats = cache.getStats();
console.log(`\nStats: ${stats.hits} hits, ${stats.misses} misses, hit rate ${(stats.hitRate * 100).toFixed(0)}%, ${stats.keyCount} keys, ${stats.memoryUsedBytes} bytes`);

cache.off('miss', onMiss).off('hit', onHit);
const iterations = 1_000_000;
const key = keys[0] as string;
const t0 = process.hrtime.bigint();
for (let i = 0; i < iterations; i++) await cache.get(key);
const perHitNs = Number(process.hrtime.bigint() - t0) / iterations;
console.log(`A memory-tier hit, awaited: ${perHitNs.toFixed(0)} ns on average over ${iterations.toLocaleString('en')} reads`);

await cache.close();
