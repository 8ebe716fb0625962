import { afterAll, describe, expect, it } from 'vitest';
import { Cache, isCacheError, Warmer, WarmRequestError, type FleetWarmStatus } from '../../src/index.js';
import { redisBus } from '../../src/bus/redis.js';
import { decodeEnvelope } from '../../src/bus/contract.js';
import { redisStore } from '../../src/stores/redis.js';
import { sqliteStore } from '../../src/stores/sqlite.js';
import { deferred, until } from '../kit/index.js';
import { REDIS_URL, uniquePrefix } from '../stores/redis-helpers.js';

const opened: Cache[] = [];
afterAll(async () => {
  await Promise.all(opened.map((cache) => cache.close()));
});

function fleetOf(tag: string) {
  const prefix = uniquePrefix(tag);
  const channel = `${prefix}bus`;
  return (name: string, bus = true) => {
    const cache = new Cache({ prefix, stores: [redisStore({ url: REDIS_URL, prefix: 'tc:' })], ...(bus ? { bus: redisBus({ url: REDIS_URL, channel }) } : {}), fleet: { name } });
    opened.push(cache);
    return cache;
  };
}

async function refusal(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('fleet warm requests (serveWarmRequests, requestWarm)', () => {
  it('follows a run to its end and reports progress as tasks finish; a request from the serving instance runs there without a bus', async () => {
    const instance = fleetOf('warms-local');
    const a = instance('a', false);
    const warmer = new Warmer(a, { concurrency: 1 });
    for (const id of ['one', 'two', 'three']) warmer.register({ id, key: `k:${id}`, loader: () => id });
    a.serveWarmRequests(warmer);
    const seen: FleetWarmStatus[] = [];
    const status = await a.requestWarm({ onProgress: (s) => seen.push(s) });
    expect(status).toMatchObject({ state: 'done', warmer: 'default', instance: { name: 'a' }, total: 3, done: 3, generated: 3, skipped: 0, failed: 0, errors: [], aborted: false });
    expect(seen.at(-1)?.state).toBe('done');
    expect(seen.map((s) => s.done)).toEqual([...seen.map((s) => s.done)].sort((x, y) => x - y));
    expect(await a.get('k:two')).toBe('two');
  });

  it('an instance that closes mid-run stops starting tasks and writes a final aborted status', async () => {
    const instance = fleetOf('warms-close');
    const a = instance('a');
    const b = instance('b');
    const slow = deferred<string>();
    const started: string[] = [];
    const warmer = new Warmer(a, { concurrency: 1 });
    warmer.register({ id: 'fast', key: 'k:fast', priority: 3, loader: () => (started.push('fast'), 'fast') });
    warmer.register({ id: 'slow', key: 'k:slow', priority: 2, loader: () => (started.push('slow'), slow.promise) });
    warmer.register({ id: 'never', key: 'k:never', priority: 1, loader: () => (started.push('never'), 'never') });
    a.serveWarmRequests(warmer);
    await Promise.all([a.ready(), b.ready()]);
    const following = b.requestWarm();
    await until(() => started.includes('slow'), 'the slow task to start');
    await a.close();
    slow.resolve('late');
    const status = await following;
    expect(status).toMatchObject({ state: 'done', aborted: true, instance: { name: 'a' }, generated: 1 });
    expect(started).toEqual(['fast', 'slow']);
  });

  it('serves a warmer function (a ForecastCache#warm report comes back as counts and errors), which cannot select tasks', async () => {
    const instance = fleetOf('warms-function');
    const a = instance('a');
    const b = instance('b');
    let runs = 0;
    a.serveWarmRequests(
      async ({ force, onProgress }) => {
        runs++;
        await Promise.resolve();
        onProgress({ done: 2, total: 2, generated: 1, skipped: 0, errors: 1 });
        return { forecastsGenerated: force ? 2 : 1, cacheHitsSkipped: 0, errors: [{ key: 'forecast:u1', message: 'no data for u1', error: new Error('no data for u1') }], durationSeconds: 0.1, aborted: false };
      },
      { name: 'forecasts' },
    );
    await Promise.all([a.ready(), b.ready()]);
    const status = await b.requestWarm({ warmer: 'forecasts' });
    expect(status).toMatchObject({ total: 2, generated: 1, failed: 1, errors: [{ taskId: 'forecast:u1', key: 'forecast:u1', message: 'no data for u1' }] });
    const refused = await refusal(b.requestWarm({ warmer: 'forecasts', tasks: ['x'] }));
    expect(refused).toBeInstanceOf(WarmRequestError);
    expect(refused).toMatchObject({ code: 'E_WARM_REQUEST', reason: 'rejected', message: expect.stringMatching(/runs as a whole/) as unknown });
    expect(runs).toBe(1);
  });

  it('refuses what cannot be served, and stops serving when told', async () => {
    const memoryOnly = new Cache({ fleet: false });
    opened.push(memoryOnly);
    let noStore: unknown;
    try {
      memoryOnly.serveWarmRequests(new Warmer(memoryOnly));
    } catch (error) {
      noStore = error;
    }
    expect(isCacheError(noStore)).toBe(true);
    expect(noStore).toMatchObject({ code: 'E_UNSUPPORTED' });
    const local = new Cache({ stores: [sqliteStore({ path: ':memory:' })], fleet: false });
    opened.push(local);
    expect(() => local.serveWarmRequests(new Warmer(local))).toThrow(/not shared with an atomic add/);

    const instance = fleetOf('warms-stop');
    const a = instance('a');
    const b = instance('b');
    const warmer = new Warmer(a).register({ id: 't', key: 'k:t', loader: () => 1 });
    const stop = a.serveWarmRequests(warmer);
    expect(() => a.serveWarmRequests(warmer)).toThrow(/already served/);
    expect(() => a.serveWarmRequests(warmer, { name: '' })).toThrow(TypeError);
    stop();
    await Promise.all([a.ready(), b.ready()]);
    const error = await refusal(b.requestWarm({ acceptTimeout: 500 }));
    expect(error).toMatchObject({ reason: 'not_accepted' });
    expect(await a.get('k:t')).toBeUndefined();
    await expect(b.requestWarm({ tasks: [] })).rejects.toThrow(TypeError);
    await expect(b.requestWarm({ force: 'yes' as unknown as boolean })).rejects.toThrow(/force must be a boolean/);
    await expect(b.requestWarm({ acceptTimeout: 'soon' })).rejects.toThrow(/acceptTimeout/);
  });

  it('validates a warm message strictly before anything reads it', () => {
    const header = { origin: 'o', seq: 1, prefix: 'p:', type: 'warm' };
    const problem = (fields: Record<string, unknown>) => {
      const decoded = decodeEnvelope(JSON.stringify({ ...header, ...fields }));
      return typeof decoded === 'string' ? decoded : decoded.problem;
    };
    expect(problem({ id: 'r-1_A', force: false })).toBeUndefined();
    expect(problem({ id: 'r', force: true, warmer: 'w', tasks: ['a', 'b'] })).toBeUndefined();
    expect(problem({ id: 'r', force: 1 })).toMatch(/force/);
    expect(problem({ id: 'a b', force: false })).toMatch(/id/);
    expect(problem({ id: 'r', force: false, tasks: [] })).toMatch(/tasks/);
    expect(problem({ id: 'r', force: false, tasks: ['x'.repeat(257)] })).toMatch(/tasks\[0\]/);
    expect(problem({ id: 'r', force: false, extra: 1 })).toMatch(/unknown field "extra"/);
    expect(problem({ id: 'r', force: false, warmer: 3 })).toMatch(/warmer/);
  });
});
