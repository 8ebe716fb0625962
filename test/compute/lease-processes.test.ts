import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';

const REDIS_URL = 'redis://127.0.0.1:6379';
const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

interface Reply {
  id?: number;
  started?: number;
  ready?: boolean;
  value?: string;
  calls?: number;
  error?: string;
}

/** A cache instance in its own process. */
async function instance(prefix: string) {
  const child = fork(fileURLToPath(new URL('../support/lease-worker.ts', import.meta.url)), [prefix, REDIS_URL], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  children.push(child);
  const replies: Reply[] = [];
  const waiters: (() => void)[] = [];
  child.on('message', (reply: Reply) => {
    replies.push(reply);
    for (const wake of waiters.splice(0)) wake();
  });
  const next = (test: (r: Reply) => boolean, ms = 15_000) =>
    new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no reply in time')), ms);
      const look = () => {
        const found = replies.find(test);
        if (found !== undefined) {
          clearTimeout(timer);
          resolve(found);
        } else waiters.push(look);
      };
      look();
    });
  await next((r) => r.ready === true);
  let id = 0;
  return {
    child,
    load(key: string, value: string, loadMs: number, leaseTtl = '600ms') {
      const command = { id: ++id, key, value, loadMs, leaseTtl };
      child.send(command);
      return { started: next((r) => r.started === command.id), done: next((r) => r.id === command.id) };
    },
  };
}

describe('lease across processes', () => {
  it('when the holder is killed mid-load, a waiting instance takes over after the lease TTL and completes', async () => {
    const prefix = `lease-proc-${process.pid}-${Date.now()}:`;
    const [a, b, c] = await Promise.all([instance(prefix), instance(prefix), instance(prefix)]);
    const first = a.load('report', 'from a', 60_000);
    await first.started;
    const second = b.load('report', 'from b', 50);
    // b waits on a's lease: its loader must not start while a holds it.
    const early = await Promise.race([second.started.then(() => 'started'), new Promise((r) => setTimeout(() => r('waiting'), 300))]);
    expect(early).toBe('waiting');
    a.child.kill('SIGKILL');
    const takenOver = await second.done;
    expect(takenOver).toMatchObject({ value: 'from b', calls: 1 });
    // The value landed for everyone: a third instance gets it without loading.
    const third = await c.load('report', 'from c', 10).done;
    expect(third).toMatchObject({ value: 'from b', calls: 0 });
    const redis = new Redis(REDIS_URL);
    for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 1000 })) if ((keys as string[]).length > 0) await redis.unlink(...(keys as string[]));
    await redis.quit();
  }, 30_000);

  it('4 processes asking at once run the loader once', async () => {
    const prefix = `lease-proc4-${process.pid}-${Date.now()}:`;
    const all = await Promise.all([0, 1, 2, 3].map(() => instance(prefix)));
    const results = await Promise.all(all.map((p, i) => p.load('cold', `from ${i}`, 200, '5s').done));
    const values = new Set(results.map((r) => r.value));
    expect(values.size).toBe(1);
    expect(results.reduce((sum, r) => sum + (r.calls ?? 0), 0)).toBe(1);
    const redis = new Redis(REDIS_URL);
    for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 1000 })) if ((keys as string[]).length > 0) await redis.unlink(...(keys as string[]));
    await redis.quit();
  }, 30_000);
});
