import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { Cache, Warmer } from '../../src/index.js';
import { redisBus } from '../../src/bus/redis.js';
import { redisStore } from '../../src/stores/redis.js';
import { until } from '../kit/index.js';
import { REDIS_URL, uniquePrefix } from '../stores/redis-helpers.js';
import { cli } from './run.js';

const WORKER = fileURLToPath(new URL('./warm-worker.ts', import.meta.url));
const opened: Cache[] = [];
const raw = new Redis(REDIS_URL);
afterAll(async () => {
  await Promise.all(opened.map((cache) => cache.close()));
  raw.disconnect();
});

interface Summary {
  id: string;
  instance: { name: string };
  total: number;
  generated: number;
  skipped: number;
  failed: number;
  errors: { taskId: string; key: string; message: string }[];
}

/** A fleet on one prefix and channel; every loader run anywhere in it is counted by task id. */
function fleetOf(tag: string) {
  const prefix = uniquePrefix(tag);
  const channel = `${prefix}bus`;
  const flags = ['--prefix', prefix, '--store-prefix', 'tc:', '--channel', channel];
  const runs = new Map<string, number>();
  const instance = (name: string) => {
    const cache = new Cache({ prefix, stores: [redisStore({ url: REDIS_URL, prefix: 'tc:' })], bus: redisBus({ url: REDIS_URL, channel }), fleet: { name, interval: 500 } });
    opened.push(cache);
    return cache;
  };
  /** A warmer on `cache` with tasks a, b, c (and `bad`, which always fails, when asked for). */
  const warmer = (cache: Cache, withBad = false) => {
    const w = new Warmer(cache);
    for (const id of ['a', 'b', 'c']) {
      w.register({
        id,
        key: `warm:${id}`,
        loader: () => {
          runs.set(id, (runs.get(id) ?? 0) + 1);
          return `value of ${id}`;
        },
      });
    }
    if (withBad) {
      w.register({
        id: 'bad',
        key: 'warm:bad',
        loader: () => {
          runs.set('bad', (runs.get('bad') ?? 0) + 1);
          throw new Error('upstream answered 503');
        },
      });
    }
    return w;
  };
  const total = () => [...runs.values()].reduce((sum, n) => sum + n, 0);
  return { prefix, channel, flags, runs, instance, warmer, total };
}

describe('tiercache warm against a live fleet on Redis', () => {
  it('runs the loaders exactly once in a fleet of two instances that opted in, and exits 0 with the counts', async () => {
    const { flags, runs, instance, warmer, total } = fleetOf('warm-two');
    const a = instance('a');
    const b = instance('b');
    a.serveWarmRequests(warmer(a));
    b.serveWarmRequests(warmer(b));
    await Promise.all([a.ready(), b.ready()]);

    const run = await cli(['warm', '--json', ...flags]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const summary = JSON.parse(run.stdout) as Summary;
    expect(summary).toMatchObject({ total: 3, generated: 3, skipped: 0, failed: 0, errors: [] });
    expect(['a', 'b']).toContain(summary.instance.name);
    expect(Object.fromEntries(runs)).toEqual({ a: 1, b: 1, c: 1 });
    expect(await b.get('warm:a')).toBe('value of a');
    expect(await a.get('warm:c')).toBe('value of c');

    // Fresh keys are skipped; --force with --task recomputes just that one, still on one instance only.
    const again = await cli(['warm', '--json', ...flags]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ generated: 0, skipped: 3, failed: 0 });
    const forced = await cli(['warm', '--task', 'b', '--force', ...flags]);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toMatch(/warmed 1, skipped 0, failed 0 of 1 task\(s\) on [ab]/);
    expect(total()).toBe(4);
    expect(runs.get('b')).toBe(2);
  });

  it('exits 1 naming the task that failed, and 2 for a task id the instance does not know', async () => {
    const { flags, runs, instance, warmer } = fleetOf('warm-fail');
    const a = instance('a');
    a.serveWarmRequests(warmer(a, true));
    await a.ready();
    const run = await cli(['warm', ...flags]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/warmed 3, skipped 0, failed 1 of 4 task\(s\) on a/);
    expect(run.stdout).toMatch(/failed: bad \(warm:bad\): upstream answered 503/);
    const json = JSON.parse((await cli(['warm', '--json', '--task', 'bad', ...flags])).stdout) as Summary;
    expect(json.errors).toEqual([{ taskId: 'bad', key: 'warm:bad', message: 'upstream answered 503' }]);
    expect(runs.get('bad')).toBe(2);

    const unknown = await cli(['warm', '--task', 'a', 'nope', ...flags]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown warming task ids: "nope"/);
    expect(runs.get('a')).toBe(1);
  });

  it('exits 5 once --timeout passes when no instance serves warm requests', async () => {
    const { flags, instance } = fleetOf('warm-none');
    // A live instance that did not opt in: it hears the request and runs nothing.
    const a = instance('not-serving');
    await a.ready();
    const run = await cli(['warm', '--timeout', '1s', ...flags]);
    expect(run.code).toBe(5);
    expect(run.stderr).toMatch(/no instance took warm request .* within 1000 ms/);
    expect(await a.get('warm:a')).toBeUndefined();
  });

  it('drops and counts a malformed warm request on the bus, and runs nothing for it', async () => {
    const { prefix, channel, runs, instance, warmer } = fleetOf('warm-bad-message');
    const a = instance('a');
    a.serveWarmRequests(warmer(a));
    await a.ready();
    const header = { origin: 'intruder', prefix, sentAt: Date.now() };
    const malformed = [
      { type: 'warm', seq: 1, id: 'r1', force: 'yes' },
      { type: 'warm', seq: 2, id: 'r2', force: false, tasks: 'a' },
      { type: 'warm', seq: 3, id: 'r3', force: false, tasks: [] },
      { type: 'warm', seq: 4, id: '../../etc', force: false },
      { type: 'warm', seq: 5, id: 'r5', force: false, tasks: ['a', 7] },
      { type: 'warm', seq: 6, id: 'r6', force: false, run: 'rm -rf /' },
      { type: 'warm', seq: 7, id: 'x'.repeat(65), force: false },
      { type: 'warm', seq: 8, id: 'r8', force: false, tasks: Array.from({ length: 1_001 }, (_, i) => `t${i}`) },
      { type: 'warm', seq: 9, id: 'r9', force: false, warmer: '' },
    ];
    const before = a.getStats().bus?.dropped ?? 0;
    for (const message of malformed) await raw.publish(channel, JSON.stringify({ ...header, ...message }));
    await until(() => (a.getStats().bus?.dropped ?? 0) - before === malformed.length, 'every malformed request dropped');
    // A well-formed one from the same sender afterwards is run: the instance was listening all along.
    await raw.publish(channel, JSON.stringify({ ...header, type: 'warm', seq: 10, id: 'r10', force: false, tasks: ['c'] }));
    await until(() => runs.get('c') === 1, 'the well-formed request to run');
    expect(Object.fromEntries(runs)).toEqual({ c: 1 });
    for (const id of ['r1', 'r2', 'r6', 'r9']) expect(await raw.exists(`tc:${prefix}\u0001warm:${id}`), `no status for ${id}`).toBe(0);
    expect(await raw.exists(`tc:${prefix}\u0001warm:r10`)).toBe(1);
  });

  it('exits 1 when the instance running the warm dies, once its status stops changing', async () => {
    const { prefix, channel, flags } = fleetOf('warm-lost');
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER, prefix, channel, REDIS_URL, 'doomed'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => (chunk.toString().includes('ready') ? resolve() : undefined));
        child.once('exit', (code) => reject(new Error(`worker exited with ${String(code)}`)));
      });
      const running = cli(['warm', ...flags]);
      // Real time: a real process dies, and the follower notices by its status no longer changing.
      await until(async () => (await raw.keys(`tc:${prefix}\u0001warm:*`)).length === 1, 'the worker to take the request', 10_000, 50);
      // Killed only once its status says the quick task is done: the report must carry the last count written.
      const [statusKey = ''] = await raw.keys(`tc:${prefix}\u0001warm:*`);
      await until(async () => ((await raw.getBuffer(statusKey)) ?? Buffer.alloc(0)).includes('"done":1'), 'the status to count the quick task', 10_000, 50);
      child.kill('SIGKILL');
      const run = await running;
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/instance doomed stopped reporting warm request .* \(1\/2 tasks done\)/);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }, 30_000);
});
