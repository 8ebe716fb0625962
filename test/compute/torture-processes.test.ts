import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { seedFrom } from '../kit/index.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
/**
 * How late another instance may still serve a value from its memory tier after an invalidation resolved:
 * the bus delivery time (about 1 ms here, see docs/benchmarks.md), with room for three busy processes on two
 * cores while other test files run. Reads through Redis get no allowance at all: fencing is exact there.
 */
const DELIVERY_MS = 1_000;

interface Log {
  reads: [number, number][];
  invalidations: [number, number][];
}

function worker(prefix: string, index: number, durationMs: number, startAt: number, seed: number): { ready: Promise<void>; log: Promise<Log> } {
  const child = fork(fileURLToPath(new URL('../support/torture-worker.ts', import.meta.url)), [prefix, String(index), String(durationMs), String(startAt), REDIS_URL, process.env.TORTURE_MODE ?? 'mixed', String(seed)], {
    execArgv: ['--import', 'tsx'],
    stdio: 'inherit',
  });
  let ready!: () => void;
  const readyPromise = new Promise<void>((resolve) => (ready = resolve));
  const log = new Promise<Log>((resolve, reject) => {
    child.on('message', (message: { ready?: boolean } & Partial<Log>) => {
      if (message.ready === true) ready();
      else resolve(message as Log);
    });
    child.on('exit', (code) => (code === 0 ? undefined : reject(new Error(`torture worker ${index} exited with ${code} (seed ${seed})`))));
  });
  return { ready: readyPromise, log };
}

describe('fencing torture across 3 processes sharing Redis and a bus', () => {
  it('no read that starts after an invalidation resolved (plus the bus delivery allowance elsewhere) returns a value computed before it', async () => {
    const seed = seedFrom();
    const replay = `seed ${seed}: replay with TORTURE_SEED=${seed} npx vitest run test/compute/torture-processes.test.ts`;
    const prefix = `torture-${process.pid}-${Date.now()}:`;
    const startAt = Date.now() + 1_500;
    const workers = [0, 1, 2].map((i) => worker(prefix, i, 4_000, startAt, seed));
    await Promise.all(workers.map((w) => w.ready));
    const logs = await Promise.all(workers.map((w) => w.log));

    const resolved = logs.flatMap((log, by) => log.invalidations.map(([version, at]) => ({ version, at, by }))).sort((a, b) => a.at - b.at);
    let violations = 0;
    let reads = 0;
    const examples: string[] = [];
    logs.forEach((log, instance) => {
      for (const [startedAt, value] of log.reads) {
        reads++;
        let floor = 0;
        for (const r of resolved) {
          if (r.at > startedAt) break;
          if (r.by === instance || r.at <= startedAt - DELIVERY_MS) floor = Math.max(floor, r.version);
        }
        if (value < floor) {
          violations++;
          if (examples.length < 5) examples.push(`instance ${instance} read version ${value} at ${startedAt.toFixed(1)} but ${floor} was invalidated before`);
        }
      }
    });
    const redis = new Redis(REDIS_URL);
    for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 1000 })) if ((keys as string[]).length > 0) await redis.unlink(...(keys as string[]));
    await redis.quit();

    expect(resolved.length, replay).toBeGreaterThan(100);
    expect(reads, replay).toBeGreaterThan(1_000);
    expect(examples, replay).toStrictEqual([]);
    expect(violations, replay).toBe(0);
  }, 30_000);
});
