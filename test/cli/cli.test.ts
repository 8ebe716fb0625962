import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Cache } from '../../src/index.js';
import { redisBus } from '../../src/bus/redis.js';
import { redisStore } from '../../src/stores/redis.js';
import { until } from '../kit/index.js';
import { REDIS_URL, uniquePrefix } from '../stores/redis-helpers.js';

// The real bin, run from source: `node --import tsx src/cli/main.ts` (the built dist/cli/main.js is the same code).
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const WORKER = fileURLToPath(new URL('./instance-worker.ts', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: readonly string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', MAIN, ...args], { timeout: 30_000, env: { ...process.env, REDIS_URL } }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

const opened: Cache[] = [];
afterAll(async () => {
  await Promise.all(opened.map((cache) => cache.close()));
});

function fleetOf(tag: string) {
  const prefix = uniquePrefix(tag);
  const channel = `${prefix}bus`;
  const flags = ['--prefix', prefix, '--store-prefix', 'tc:', '--channel', channel];
  const instance = (name: string) => {
    const cache = new Cache({ prefix, stores: [redisStore({ url: REDIS_URL, prefix: 'tc:' })], bus: redisBus({ url: REDIS_URL, channel }), fleet: { name, interval: 500 } });
    opened.push(cache);
    return cache;
  };
  return { prefix, channel, flags, instance };
}

describe('the tiercache CLI against a live fleet on Redis', () => {
  it('invalidate --tag makes both instances miss, and lands in the log with its reason and origin', async () => {
    const { flags, instance } = fleetOf('cli-tag');
    const a = instance('a');
    const b = instance('b');
    await Promise.all([a.ready(), b.ready()]);
    await a.set('report:1', { total: 1 }, { tags: ['reports'] });
    await a.set('other', 1, { tags: ['others'] });
    expect(await b.get('report:1')).toEqual({ total: 1 });
    await until(async () => (await b.getResult('report:1')).source === 'memory', 'b to hold the value in memory');

    const run = await cli(['invalidate', '--tag', 'reports', '--reason', 'restated', ...flags]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    await until(async () => (await a.get('report:1')) === undefined && (await b.get('report:1')) === undefined, 'both instances to miss');
    expect(await b.get('other')).toBe(1);
    const events = await a.getInvalidationEvents();
    expect(events.at(-1)).toMatchObject({ kind: 'tags', tags: ['reports'], reason: 'restated', triggeredBy: expect.stringMatching(/^cli@/) as unknown });

    const logged = await cli(['events', '--json', ...flags]);
    expect(logged.code).toBe(0);
    expect((JSON.parse(logged.stdout) as { reason: string }[]).map((e) => e.reason)).toContain('restated');
  });

  it('instances lists both live instances, and drops one that was killed once its heartbeat TTL passed', async () => {
    const { prefix, channel, flags, instance } = fleetOf('cli-kill');
    instance('in-test');
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER, prefix, channel, REDIS_URL, 'doomed'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => (chunk.toString().includes('ready') ? resolve() : undefined));
        child.once('exit', (code) => reject(new Error(`worker exited with ${String(code)}`)));
      });
      const listed = await cli(['instances', '--json', ...flags]);
      expect(listed.code).toBe(0);
      const names = (JSON.parse(listed.stdout) as { name: string; pid: number }[]).map((i) => i.name).sort();
      expect(names).toEqual(['doomed', 'in-test']);
      const table = await cli(['instances', ...flags]);
      expect(table.stdout).toMatch(/doomed/);
      expect(table.stdout).toMatch(/in-test/);

      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
      // Its heartbeat lives 3 × 300 ms after the last one: real time, since a real process died.
      await until(async () => {
        const after = await cli(['instances', '--json', ...flags]);
        return after.code === 0 && (JSON.parse(after.stdout) as { name: string }[]).map((i) => i.name).join() === 'in-test';
      }, 'the killed instance to drop out', 10_000, 200);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });

  it('get prints a decoded value readably, and exits 3 for a missing key', async () => {
    const { flags, instance } = fleetOf('cli-get');
    const a = instance('a');
    await a.set('v', { at: new Date('2026-05-01T00:00:00Z'), big: 12n, map: new Map([['x', 1]]) });
    const found = await cli(['get', 'v', '--json', ...flags]);
    expect(found.code).toBe(0);
    expect(JSON.parse(found.stdout)).toEqual({ key: 'v', source: 'redis', value: { at: '2026-05-01T00:00:00.000Z', big: '12n', map: { $map: [['x', 1]] } } });
    const missing = await cli(['get', 'nope', ...flags]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/not found/);
    expect((await cli(['inspect', 'nope', ...flags])).code).toBe(3);
    const inspected = await cli(['inspect', 'v', '--json', ...flags]);
    expect(JSON.parse(inspected.stdout)).toMatchObject({ key: 'v', tier: 'redis', tags: [] });
  });

  it('exits 2 with a message naming a bad flag, and refuses clear without --yes', async () => {
    const bad = await cli(['invalidate', '--tga', 'x']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown option '--tga'/);
    const { flags, instance } = fleetOf('cli-clear');
    const a = instance('a');
    await a.set('keep', 1);
    const refused = await cli(['clear', ...flags]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--yes/);
    expect(await a.get('keep')).toBe(1);
  });

  it('stats and health aggregate the fleet; health exits 4 when the store is down', async () => {
    const { flags, instance } = fleetOf('cli-stats');
    const a = instance('a');
    const b = instance('b');
    await a.set('k', 1);
    await a.get('k');
    await b.get('k');
    await b.get('missing');
    await until(async () => (await a.listInstances()).length === 2, 'both heartbeats');
    await Promise.all([a, b].map((cache) => cache.close()));
    // Closed instances leave the fleet at once: the totals below come from two fresh heartbeats.
    const c = instance('c');
    await c.set('k', 1);
    await c.get('k');
    await c.get('missing');
    await until(async () => (await c.listInstances()).length === 1, 'c heartbeat');
    await until(async () => {
      const stats = await cli(['stats', '--json', ...flags]);
      return stats.code === 0 && (JSON.parse(stats.stdout) as { totals: { hits: number } }).totals.hits === 1;
    }, 'the stats to show c', 10_000, 200);
    const stats = JSON.parse((await cli(['stats', '--json', ...flags])).stdout) as { totals: { instances: number; hits: number; misses: number; hitRate: number }; health: string };
    expect(stats.totals).toMatchObject({ instances: 1, hits: 1, misses: 1, hitRate: 0.5 });
    const health = await cli(['health', '--json', ...flags]);
    expect(health.code).toBe(0);
    expect(JSON.parse(health.stdout)).toMatchObject({ status: 'ok', instances: [{ name: 'c', health: 'ok' }] });
    const down = await cli(['health', '--url', 'redis://127.0.0.1:1', '--timeout', '300ms']);
    expect(down.code).toBe(4);
    expect(down.stdout).toMatch(/status: down/);
    const failed = await cli(['instances', '--url', 'redis://127.0.0.1:1', '--timeout', '300ms']);
    expect(failed.code).toBe(1);
  });

  it('top prints frames of the fleet and stops after --iterations', async () => {
    const { flags, instance } = fleetOf('cli-top');
    const a = instance('topped');
    await until(async () => (await a.listInstances()).length === 1, 'a heartbeat');
    await until(async () => (await cli(['instances', '--json', ...flags])).stdout.includes('topped'), 'the heartbeat in the store', 10_000, 200);
    const run = await cli(['top', '--iterations', '2', '--interval', '500ms', ...flags]);
    expect(run.code).toBe(0);
    expect(run.stdout.match(/tiercache top: 1 instance/g)).toHaveLength(2);
    expect(run.stdout).toMatch(/topped/);
    const bad = await cli(['top', '--interval', '10ms', ...flags]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--interval/);
  });
});
