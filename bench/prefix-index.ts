/**
 * Prefix deletion on Redis, with and without the prefix index, and what the index costs a `set`:
 * `npx tsx bench/prefix-index.ts` (REDIS_URL, default redis://127.0.0.1:6379). Not a test.
 *
 * 100,000 keys under a prefix unique to the run; deleting the 100 (then the 10,000) keys under one sub-prefix
 * with `deletePrefix` (the index) and with `keys('p*')` + `deleteMany` (SCAN on the server, what the core does
 * without it). Each delete is timed alone, the deleted keys written back in between; the median of the runs
 * is printed. Then `set` throughput with the index off, on but not built yet, and built (100k members).
 * Every key carries a 1 h TTL and everything is removed at the end, so an interrupted run cleans itself up.
 */
import { Redis } from 'ioredis';
import { redisStore, type RedisStore } from '../src/stores/redis.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const TTL_MS = 3_600_000;
const TOTAL = 100_000;
const RUNS = 7;
const SET_OPS = 20_000;
const CONCURRENCY = 64;
const SET_ROUNDS = 5;

const run = `bench-prefix:${process.pid}:${Date.now().toString(36)}`;
const value = new Uint8Array(100).fill(7);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function fill(store: RedisStore, keys: readonly string[]): Promise<void> {
  const expiresAt = Date.now() + TTL_MS;
  for (let i = 0; i < keys.length; i += 1000) {
    await store.setMany(keys.slice(i, i + 1000).map((key) => ({ key, value, expiresAt })));
  }
}

async function timed<T>(action: () => Promise<T>): Promise<{ ms: number; result: T }> {
  const started = performance.now();
  const result = await action();
  return { ms: performance.now() - started, result };
}

async function scanDelete(store: RedisStore, prefix: string): Promise<number> {
  const keys: string[] = [];
  for await (const key of store.keys(`${prefix}*`)) keys.push(key);
  return store.deleteMany(keys);
}

/** Sequential and `CONCURRENCY`-wide `set` throughput, ops/s; keys cycle over 10,000 names so the keyspace stays put. */
async function setThroughput(store: RedisStore, label: string, round: number): Promise<[number, number]> {
  const key = (i: number) => `w:${label}:${i % 10_000}`;
  let started = performance.now();
  for (let i = 0; i < SET_OPS; i++) await store.set(key(i + round), value, Date.now() + TTL_MS);
  const sequential = SET_OPS / ((performance.now() - started) / 1000);
  let next = 0;
  started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < SET_OPS * 3) {
        const i = next++;
        await store.set(key(i), value, Date.now() + TTL_MS);
      }
    }),
  );
  return [sequential, (SET_OPS * 3) / ((performance.now() - started) / 1000)];
}

const fmtMs = (ms: number) => (ms < 10 ? ms.toFixed(2) : ms.toFixed(1)) + ' ms';
const fmtOps = (ops: number) => Math.round(ops).toLocaleString('en-US');

async function main(): Promise<void> {
  const raw = new Redis(REDIS_URL);
  const prefix = `${run}:`;
  const indexed = redisStore({ url: REDIS_URL, prefix, prefixIndex: true });
  const scanning = redisStore({ url: REDIS_URL, prefix, prefixIndex: false });
  const lazy = redisStore({ url: REDIS_URL, prefix: `${run}-lazy:`, prefixIndex: true });
  const plain = redisStore({ url: REDIS_URL, prefix: `${run}-plain:`, prefixIndex: false });
  try {
    const hot100 = Array.from({ length: 100 }, (_, i) => `forecast:user_100:${i}`);
    const hot10k = Array.from({ length: 10_000 }, (_, i) => `forecast:user_10k:${i}`);
    const cold = Array.from({ length: TOTAL - hot100.length - hot10k.length }, (_, i) => `forecast:user_${i % 5000}x:${i}`);
    await fill(indexed, [...cold, ...hot100, ...hot10k]);
    const build = await timed(() => indexed.buildIndex());
    if (!build.result) throw new Error('the index was not built');
    const indexKey = Buffer.concat([Buffer.from(prefix), Buffer.from([0xff]), Buffer.from('prefix-index')]);
    const members = await raw.zcard(indexKey);
    const indexBytes = Number(await raw.memory('USAGE', indexKey, 'SAMPLES', '0'));

    const rows: { matches: number; index: number; scan: number }[] = [];
    for (const [sub, keys] of [
      ['forecast:user_100:', hot100],
      ['forecast:user_10k:', hot10k],
    ] as const) {
      const index: number[] = [];
      const scan: number[] = [];
      for (let r = 0; r < RUNS; r++) {
        const a = await timed(() => indexed.deletePrefix!(sub));
        if (a.result !== keys.length) throw new Error(`deletePrefix removed ${a.result}, expected ${keys.length}`);
        index.push(a.ms);
        await fill(indexed, keys);
        const b = await timed(() => scanDelete(scanning, sub));
        if (b.result !== keys.length) throw new Error(`SCAN + deleteMany removed ${b.result}, expected ${keys.length}`);
        scan.push(b.ms);
        await fill(indexed, keys);
      }
      rows.push({ matches: keys.length, index: median(index), scan: median(scan) });
    }

    // Warm up every store, then interleave rounds so drift on a shared machine hits all of them alike.
    await setThroughput(plain, 'warm', 0);
    await setThroughput(lazy, 'warm', 0);
    await setThroughput(indexed, 'warm', 0);
    const sets = { off: [[], []] as number[][], lazy: [[], []] as number[][], on: [[], []] as number[][] };
    for (let round = 0; round < SET_ROUNDS; round++) {
      for (const [name, store] of [
        ['off', plain],
        ['lazy', lazy],
        ['on', indexed],
      ] as const) {
        const [sequential, concurrent] = await setThroughput(store, name, round);
        sets[name][0]!.push(sequential);
        sets[name][1]!.push(concurrent);
      }
    }

    const info = await raw.info('server');
    const version = /redis_version:(\S+)/.exec(info)?.[1] ?? '?';
    console.log(`\nprefix index bench: Redis ${version} at ${REDIS_URL}, ${TOTAL.toLocaleString('en-US')} keys under the prefix, ${(await raw.dbsize()).toLocaleString('en-US')} in the database; node ${process.version}; ${new Date().toISOString()}`);
    console.log(`\n| delete by prefix | deletePrefix (index) | keys('p*') + deleteMany (SCAN) | speed-up |`);
    console.log(`|---|---:|---:|---:|`);
    for (const row of rows) {
      console.log(`| ${row.matches.toLocaleString('en-US')} of ${TOTAL.toLocaleString('en-US')} keys | ${fmtMs(row.index)} | ${fmtMs(row.scan)} | ${(row.scan / row.index).toFixed(1)}x |`);
    }
    console.log(`\nMedian of ${RUNS} runs each. Building the index (buildIndex(): one SCAN + adding ${TOTAL.toLocaleString('en-US')} members; a first deletePrefix does it in the background and answers by SCAN): ${fmtMs(build.ms)}.`);
    console.log(`Index: ${members.toLocaleString('en-US')} members, ${(indexBytes / 1024 / 1024).toFixed(1)} MiB (MEMORY USAGE), ${(indexBytes / members).toFixed(0)} B per member (keys of ~25 bytes).`);

    const med = (xs: number[] | undefined) => median(xs ?? [0]);
    console.log(`\n| set (100-byte value) | index off | index on, not built | index on, built (${(members / 1000).toFixed(0)}k members) | built vs off |`);
    console.log(`|---|---:|---:|---:|---:|`);
    for (const [label, at] of [
      ['sequential, ops/s', 0],
      [`${CONCURRENCY} concurrent, ops/s`, 1],
    ] as const) {
      const off = med(sets.off[at]);
      const onBuilt = med(sets.on[at]);
      console.log(`| ${label} | ${fmtOps(off)} | ${fmtOps(med(sets.lazy[at]))} | ${fmtOps(onBuilt)} | ${(((onBuilt - off) / off) * 100).toFixed(0)}% |`);
    }
    console.log(`\nMedian of ${SET_ROUNDS} interleaved rounds of ${SET_OPS.toLocaleString('en-US')} sequential and ${(SET_OPS * 3).toLocaleString('en-US')} concurrent sets each.`);
  } finally {
    for (const store of [indexed, lazy, plain]) await store.clear();
    await Promise.all([indexed.close(), scanning.close(), lazy.close(), plain.close()]);
    await raw.quit();
  }
}

await main();
