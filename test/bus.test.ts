import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { until } from './kit/index.js';
import { afterAll, describe, expect, it } from 'vitest';
import { Cache } from '../src/index.js';
import { redisBus } from '../src/bus/redis.js';
import { redisStore } from '../src/stores/redis.js';
import { startThrowawayRedis } from './support/redis-server.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
let unique = 0;
const prefix = () => `bus-${process.pid}-${++unique}:`;
const opened: Cache[] = [];
afterAll(async () => {
  await Promise.all(opened.map((c) => c.close()));
});

function instance(p: string, url = REDIS_URL) {
  const cache = new Cache({ prefix: p, stores: [redisStore({ url, prefix: 'tc:' })], bus: redisBus({ url, channel: `${p}bus` }) });
  opened.push(cache);
  return cache;
}


describe('the bus, in one process', () => {
  it('drops the other instances’ memory copies on set, delete and clear', async () => {
    const p = prefix();
    const a = instance(p);
    const b = instance(p);
    await Promise.all([a.ready(), b.ready()]);
    await a.set('k', 1);
    expect(await b.getResult('k')).toMatchObject({ value: 1, source: 'redis' });
    // A read that overlaps the bus message of a's write does not copy the value up (it may be older than the
    // write it crossed): the memory tier answers from the next read after delivery.
    await until(async () => (await b.getResult('k')).source === 'memory', 'b to keep the value in memory');
    expect(await b.getResult('k')).toMatchObject({ value: 1, source: 'memory' });

    await a.set('k', 2);
    await until(async () => (await b.getResult('k')).value === 2, 'b to see the new value');

    await a.delete('k');
    await until(async () => (await b.get('k')) === undefined, 'b to see the delete');

    await a.set('x', 'y');
    expect(await b.get('x')).toBe('y');
    await a.clear({ confirm: true });
    await until(async () => (await b.get('x')) === undefined, 'b to see the clear');
  });

  it('ignores messages for another prefix, and its own', async () => {
    const p = prefix();
    const a = instance(p);
    const b = instance(p);
    await Promise.all([a.ready(), b.ready()]);
    const atB: string[] = [];
    b.on('remote', (e) => atB.push(e.keys?.join(',') ?? e.type));
    const atA: string[] = [];
    a.on('remote', (e) => atA.push(`${e.origin}:${e.keys?.join(',') ?? e.type}`));
    await a.set('k', 1);
    expect(await a.getResult('k')).toMatchObject({ source: 'memory' });
    // b heard a's message, so it is on the channel ahead of everything published below.
    await until(() => atB.includes('k'), "a's own message on the bus");
    const publisher = new Redis(REDIS_URL);
    try {
      await publisher.publish(`${p}bus`, JSON.stringify({ type: 'keys', keys: ['k'], origin: 'someone', seq: 1, prefix: 'elsewhere:' }));
      await publisher.publish(`${p}bus`, 'not json');
      await publisher.publish(`${p}bus`, JSON.stringify({ type: 'keys', keys: ['unrelated'], origin: 'someone-else', seq: 1, prefix: p }));
      // One channel, one order: once the last message is applied at a, a has handled every one before it.
      await until(() => atA.includes('someone-else:unrelated'), 'the last message at a');
    } finally {
      await publisher.quit();
    }
    expect(atA).toStrictEqual(['someone-else:unrelated']);
    expect(await a.getResult('k')).toMatchObject({ value: 1, source: 'memory' });
  });

  it('empties the memory tier when a sequence gap shows a lost message', async () => {
    const p = prefix();
    const b = instance(p);
    await b.ready();
    const recovered: string[] = [];
    b.on('recover', (e) => recovered.push(`${e.reason}:${e.origin}`));
    const applied: string[] = [];
    b.on('remote', (e) => applied.push(`${e.origin}:${e.keys?.join(',')}`));
    await b.set('k', 1);
    const publisher = new Redis(REDIS_URL);
    const send = (seq: number) => publisher.publish(`${p}bus`, JSON.stringify({ type: 'keys', keys: ['other'], origin: 'peer', seq, prefix: p }));
    await send(1);
    await send(2);
    await until(() => applied.length === 2, 'the two in-order messages');
    expect(recovered).toStrictEqual([]);
    expect(await b.getResult('k')).toMatchObject({ source: 'memory' });
    await send(5);
    await until(() => recovered.length === 1, 'the recovery');
    await publisher.quit();
    expect(recovered).toStrictEqual(['gap:peer']);
    expect(await b.getResult('k')).toMatchObject({ value: 1, source: 'redis' });
  });

  it('empties the memory tier after the bus reconnects', async () => {
    const server = await startThrowawayRedis(6392);
    try {
      const p = prefix();
      const b = instance(p, server.url);
      const errors: string[] = [];
      b.on('error', (e) => errors.push(e.operation));
      await b.ready();
      const recovered: string[] = [];
      b.on('recover', (e) => recovered.push(e.reason));
      await b.set('k', 1);
      expect(b.getStats().keyCount).toBe(1);
      await server.stop();
      await until(() => errors.length > 0, 'the bus to notice its server is gone');
      await server.start();
      await until(() => recovered.length > 0, 'the reconnect', 10_000);
      expect(recovered[0]).toBe('reconnect');
      expect(b.getStats().keyCount).toBe(0);
    } finally {
      await server.stop();
    }
  });
});

interface Worker {
  child: ChildProcess;
  call<T>(op: string, key?: string, value?: unknown): Promise<T>;
}

async function startWorker(p: string): Promise<Worker> {
  const child = fork(fileURLToPath(new URL('./support/bus-worker.ts', import.meta.url)), [p, REDIS_URL], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  let next = 0;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const ready = new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.on('message', (message: { ready?: boolean; id?: number; result?: unknown; error?: string }) => {
      if (message.ready === true) return resolve();
      const pending = waiting.get(message.id ?? -1);
      if (pending === undefined) return;
      waiting.delete(message.id ?? -1);
      if (message.error !== undefined) pending.reject(new Error(message.error));
      else pending.resolve(message.result);
    });
  });
  await ready;
  return {
    child,
    call<T>(op: string, key?: string, value?: unknown) {
      const id = ++next;
      return new Promise<T>((resolve, reject) => {
        waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
        child.send({ id, op, key, value });
      });
    },
  };
}

describe('the bus, across three processes', () => {
  it('a write or delete in one process is seen by the others’ memory tiers', async () => {
    const p = prefix();
    const workers = await Promise.all([startWorker(p), startWorker(p), startWorker(p)]);
    const [a, b, c] = workers;
    try {
      await a.call('set', 'k', 'v1');
      // The announcement of a's set is delivered after set resolves; once it has landed, a backfill stays.
      for (const w of [b, c]) await until(async () => (await w.call<number>('remotes')) > 0, 'a’s set announcement');
      for (const w of [b, c]) expect(await w.call('getResult', 'k')).toStrictEqual({ value: 'v1', source: 'redis' });
      for (const w of [b, c]) expect(await w.call('getResult', 'k')).toStrictEqual({ value: 'v1', source: 'memory' });

      await a.call('set', 'k', 'v2');
      for (const w of [b, c]) {
        await until(async () => (await w.call<{ value: unknown }>('getResult', 'k')).value === 'v2', 'the new value');
      }
      await b.call('delete', 'k');
      for (const w of [a, c]) await until(async () => (await w.call<{ value: unknown }>('getResult', 'k')).value === undefined, 'the delete');
      for (const w of workers) expect(await w.call('recoveries')).toStrictEqual([]);
    } finally {
      await Promise.all(workers.map((w) => w.call('close').catch(() => undefined)));
    }
  }, 30_000);
});
