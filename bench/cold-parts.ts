// Where a cold key's tiered time goes (issue 15), in one small process: `tsx bench/cold-parts.ts`.
//   1. Rounds of 1,000 `getOrSet` callers on one missing key with a 20 ms loader, memory-only and tiered caches
//      alternating, each round stamped at its steps (the first call returned, all calls made, loader start and
//      end, first and last caller resolved). Medians over the rounds, and tiered ÷ memory-only.
//   2. What one write to a loopback socket costs the writing thread, back to back and after 20 ms without
//      traffic: a bare `net.Socket` write of a PING, and an ioredis `set()` call (the call itself, not its reply).
// Keys live under a fresh prefix and are removed at the end. Prints a small table.
import net from 'node:net';
import { Redis } from 'ioredis';
import { Cache } from '../src/cache.js';
import { redisStore } from '../src/stores/redis.js';
import { deleteByPrefix, sleep } from './redis-tier.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const CALLERS = 1_000;
const LOADER_MS = 20;
const ROUNDS = 20;
const WRITES = 100;

type Steps = Record<'firstCall' | 'allCalled' | 'loaderStart' | 'loaderEnd' | 'firstResolved' | 'allResolved', number>;

async function round(cache: Cache, key: string): Promise<Steps> {
  const t0 = performance.now();
  const at = () => performance.now() - t0;
  const steps = {} as Steps;
  const loader = async () => {
    steps.loaderStart = at();
    await sleep(LOADER_MS);
    steps.loaderEnd = at();
    return { id: 7 };
  };
  const pending: Promise<unknown>[] = [cache.getOrSet(key, loader, { ttl: 60_000 })];
  steps.firstCall = at();
  for (let i = 1; i < CALLERS; i++) pending.push(cache.getOrSet(key, loader, { ttl: 60_000 }));
  steps.allCalled = at();
  await pending[0];
  steps.firstResolved = at();
  await Promise.all(pending);
  steps.allResolved = at();
  return steps;
}

const median = (xs: readonly number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[sorted.length >> 1] ?? Number.NaN;
};

/** The writing thread's time for `write`, back to back (a setImmediate apart) and after `LOADER_MS` idle; µs p50. */
async function writeCost(write: () => unknown): Promise<[number, number]> {
  const out: number[] = [];
  for (const idle of [0, LOADER_MS]) {
    const xs: number[] = [];
    for (let i = 0; i < WRITES; i++) {
      if (idle > 0) await sleep(idle);
      else await new Promise((resolve) => setImmediate(resolve));
      const t = performance.now();
      write();
      xs.push((performance.now() - t) * 1000);
    }
    out.push(median(xs));
  }
  return out as [number, number];
}

async function main(): Promise<void> {
  const prefix = `tcbench:cold-parts:${process.pid}:`;
  const memory = new Cache({ fleet: false });
  const tiered = new Cache({ fleet: false, stores: [redisStore({ url: REDIS_URL, prefix })] });
  const raw = new Redis(REDIS_URL);
  const socket = net.connect(Number(new URL(REDIS_URL).port || 6379), new URL(REDIS_URL).hostname);
  socket.on('data', () => undefined);
  try {
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    await tiered.get('warm-up');
    for (let r = 0; r < 3; r++) {
      await round(memory, `warm:${r}`);
      await round(tiered, `warm:${r}`);
    }
    const rows: Record<'memory' | 'tiered', Steps[]> = { memory: [], tiered: [] };
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? (['memory', 'tiered'] as const) : (['tiered', 'memory'] as const);
      for (const name of order) rows[name].push(await round(name === 'memory' ? memory : tiered, `cold:${r}`));
    }
    const names = Object.keys(rows.memory[0]!) as (keyof Steps)[];
    console.log(`| step (ms from the first call, median of ${ROUNDS} rounds) | memory-only | tiered (memory + Redis) |`);
    console.log('|---|---:|---:|');
    for (const step of names) {
      console.log(`| ${step} | ${median(rows.memory.map((s) => s[step])).toFixed(2)} | ${median(rows.tiered.map((s) => s[step])).toFixed(2)} |`);
    }
    const ratios = rows.tiered.map((s, i) => s.allResolved / rows.memory[i]!.allResolved);
    console.log(`\ntiered ÷ memory-only, all callers resolved: ${median(ratios).toFixed(3)}x (median of ${ROUNDS} paired rounds)\n`);

    await raw.ping();
    const bare = await writeCost(() => socket.write('*1\r\n$4\r\nPING\r\n'));
    const client = await writeCost(() => void raw.set(`${prefix}write`, 'x', 'PX', 60_000));
    console.log('| write, time the writing thread spends (µs p50) | back to back | after 20 ms idle |');
    console.log('|---|---:|---:|');
    console.log(`| net.Socket write of a PING | ${bare[0].toFixed(0)} | ${bare[1].toFixed(0)} |`);
    console.log(`| ioredis set() call | ${client[0].toFixed(0)} | ${client[1].toFixed(0)} |`);
  } finally {
    socket.destroy();
    await raw.quit();
    await Promise.all([memory.close(), tiered.close()]);
    await deleteByPrefix(prefix);
  }
}

await main();
