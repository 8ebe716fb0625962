import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { Cache, type InstanceInfo } from '../../src/index.js';
import { FLEET_INDEX_KEY, FLEET_KEY_PREFIX } from '../../src/fleet/fleet.js';
import { memcachedStore } from '../../src/stores/memcached.js';
import { redisStore } from '../../src/stores/redis.js';
import { createFakeClock, until, type FakeClock } from '../kit/index.js';
import { countedClient, REDIS_URL, uniquePrefix } from '../stores/redis-helpers.js';

const opened: Cache[] = [];
const raw = new Redis(REDIS_URL);
afterAll(async () => {
  await Promise.all(opened.map((cache) => cache.close()));
  raw.disconnect();
});

function instance(prefix: string, options: { clock?: FakeClock; fleet?: false | { interval?: number | string; ttl?: number | string; name?: string } } = {}): Cache {
  const cache = new Cache({
    prefix,
    stores: [redisStore({ url: REDIS_URL, prefix: 'tc:' })],
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...(options.fleet === undefined ? {} : { fleet: options.fleet }),
  });
  opened.push(cache);
  return cache;
}

const ids = (list: readonly InstanceInfo[]) => list.map((i) => i.id);
const heartbeatKeys = async (prefix: string) => (await raw.keys(`tc:${prefix}${FLEET_KEY_PREFIX}*`)).sort();

describe('the fleet view, on Redis', () => {
  it('lists every instance sharing the prefix, itself included, with its figures', async () => {
    const prefix = uniquePrefix('fleet');
    const a = instance(prefix, { fleet: { name: 'api-a' } });
    const b = instance(prefix, { fleet: { name: 'api-b' } });
    const elsewhere = instance(uniquePrefix('fleet-other'));
    await a.set('k', 1);
    await a.get('k');
    await a.get('missing');
    await until(async () => (await a.listInstances()).length === 2 && (await b.listInstances()).length === 2, 'both heartbeats');

    const seenByB = await b.listInstances();
    expect(ids(seenByB)).toEqual([...ids(seenByB)].sort());
    const other = await elsewhere.listInstances();
    expect(other).toHaveLength(1);
    expect(seenByB.map((i) => i.id)).not.toContain(other[0]?.id);
    const infoA = (await a.listInstances()).find((i) => i.name === 'api-a');
    expect(infoA).toMatchObject({ hits: 1, misses: 1, hitRate: 0.5, pid: process.pid, node: process.version, health: 'ok', alerts: [] });
    expect(infoA?.memory).toMatchObject({ entries: 1, maxEntries: 10_000, maxBytes: 64 * 1024 * 1024 });
    expect(infoA?.stores).toEqual([expect.objectContaining({ name: 'redis', breaker: 'closed' })]);
    expect(infoA?.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(seenByB.map((i) => i.name).sort()).toEqual(['api-a', 'api-b']);
  });

  it('drops an instance the moment it closes', async () => {
    const prefix = uniquePrefix('fleet-close');
    const a = instance(prefix);
    const b = instance(prefix);
    await until(async () => (await a.listInstances()).length === 2, 'both heartbeats');
    await b.close();
    expect(await a.listInstances()).toHaveLength(1);
    expect(await heartbeatKeys(prefix)).toHaveLength(1);
  });

  it('drops an instance that stops publishing once its TTL has passed', async () => {
    const prefix = uniquePrefix('fleet-ttl');
    // Each instance on its own fake clock: `frozen` never advances, so it never publishes again, like a
    // killed process; `watcher` moves on past the TTL and must stop listing it.
    const watcherClock = createFakeClock(Date.now());
    const frozenClock = createFakeClock(Date.now());
    const watcher = instance(prefix, { clock: watcherClock, fleet: { interval: '1s', name: 'watcher' } });
    instance(prefix, { clock: frozenClock, fleet: { interval: '1s', name: 'frozen' } });
    await until(async () => (await watcher.listInstances()).length === 2, 'both heartbeats');
    const frozenId = (await watcher.listInstances()).find((i) => i.name === 'frozen')?.id;
    expect(frozenId).toBeDefined();

    await watcherClock.tick(2_500);
    expect(ids(await watcher.listInstances())).toContain(frozenId);
    await watcherClock.tick(1_000);
    const after = await watcher.listInstances();
    expect(after).toHaveLength(1);
    expect(ids(after)).not.toContain(frozenId);
  });

  it('publishes again every interval, so a live instance stays listed past its TTL', async () => {
    const prefix = uniquePrefix('fleet-live');
    const clock = createFakeClock(Date.now());
    const a = instance(prefix, { clock, fleet: { interval: '1s' } });
    const b = instance(prefix, { clock, fleet: { interval: '1s' } });
    await until(async () => (await a.listInstances()).length === 2, 'both heartbeats');
    for (let i = 0; i < 5; i++) {
      await clock.tick(1_000);
      await until(async () => (await b.listInstances()).every((info) => info.heartbeatAt >= clock.now() - 1_000), 'fresh heartbeats');
    }
    expect(await b.listInstances()).toHaveLength(2);
  });

  it('skips a garbage heartbeat and reports it, listing the others', async () => {
    const prefix = uniquePrefix('fleet-garbage');
    const a = instance(prefix);
    const errors: { operation: string; error: unknown }[] = [];
    a.on('error', (e) => errors.push(e));
    await until(async () => (await heartbeatKeys(prefix)).length === 1, 'a heartbeat');
    await raw.set(`tc:${prefix}${FLEET_KEY_PREFIX}intruder`, '{"v":1,"id":"intruder","pid":-3}', 'PX', 60_000);
    await raw.set(`tc:${prefix}${FLEET_KEY_PREFIX}binary`, Buffer.from([0xff, 0xfe, 0x00]), 'PX', 60_000);
    // Listed through the fleet's index on Redis, as a heartbeat would be.
    await raw.zadd(`tc:${prefix}${FLEET_INDEX_KEY}`, Date.now() + 60_000, 'intruder', Date.now() + 60_000, 'binary');

    const list = await a.listInstances();
    expect(list).toHaveLength(1);
    const reported = errors.filter((e) => e.operation === 'fleet.read');
    expect(reported).toHaveLength(2);
    expect(String(reported.map((e) => (e.error as Error).message))).toMatch(/malformed heartbeat/);
  });

  it('lists the fleet from its index, without a SCAN of the database, and skips members whose heartbeat is gone', async () => {
    const prefix = uniquePrefix('fleet-index');
    const a = instance(prefix, { fleet: { name: 'a' } });
    const b = instance(prefix, { fleet: { name: 'b' } });
    const { client, sent } = countedClient(REDIS_URL);
    const reader = new Cache({ prefix, stores: [redisStore({ client, prefix: 'tc:' })], fleet: false });
    opened.push(reader);
    try {
      await until(async () => (await reader.listInstances()).length === 3, 'both heartbeats');
      // A member left behind by an instance whose heartbeat lapsed (or was removed) is no instance.
      await raw.zadd(`tc:${prefix}${FLEET_INDEX_KEY}`, Date.now() + 60_000, 'ghost');
      // An expired member is dropped from the index when it is read.
      await raw.zadd(`tc:${prefix}${FLEET_INDEX_KEY}`, Date.now() - 1, 'lapsed');
      sent.length = 0;
      const list = await reader.listInstances();
      expect(list).toHaveLength(3);
      expect(list.map((i) => i.name)).toEqual(expect.arrayContaining(['a', 'b']));
      expect(list.map((i) => i.id)).not.toContain('ghost');
      expect(sent).not.toContain('scan');
      expect(await raw.zscore(`tc:${prefix}${FLEET_INDEX_KEY}`, 'lapsed')).toBeNull();
      const idOfB = list.find((i) => i.name === 'b')?.id;
      expect(await raw.zrange(`tc:${prefix}${FLEET_INDEX_KEY}`, 0, -1)).toContain(idOfB);
      await b.close();
      expect((await a.listInstances()).map((i) => i.name)).not.toContain('b');
      expect(await raw.zrange(`tc:${prefix}${FLEET_INDEX_KEY}`, 0, -1), 'a closed instance leaves the index').not.toContain(idOfB);
    } finally {
      client.disconnect();
    }
  });

  it('publishes nothing with fleet: false, yet reads the fleet', async () => {
    const prefix = uniquePrefix('fleet-off');
    const off = instance(prefix, { fleet: false });
    const on = instance(prefix, { fleet: { name: 'on' } });
    await until(async () => (await heartbeatKeys(prefix)).length === 1, 'the other heartbeat');
    await off.set('x', 1);
    expect(await heartbeatKeys(prefix)).toHaveLength(1);
    const seenByOn = await on.listInstances();
    expect(seenByOn).toHaveLength(1);
    const seenByOff = await off.listInstances();
    expect(seenByOff).toHaveLength(2);
    expect(seenByOff.map((i) => i.id)).toContain(seenByOn[0]?.id);
  });

  it('a memory-only cache lists just itself and writes nothing', async () => {
    const cache = new Cache();
    opened.push(cache);
    const list = await cache.listInstances();
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ health: 'ok', stores: [] });
  });

  it('refuses bad fleet options by name', () => {
    expect(() => new Cache({ fleet: { interval: '10ms' } })).toThrow(/fleet.interval must be at least 100 ms/);
    expect(() => new Cache({ fleet: { interval: '1s', ttl: '1s' } })).toThrow(/fleet.ttl must be longer than fleet.interval/);
    expect(() => new Cache({ fleet: { name: '' } })).toThrow(/fleet.name/);
    expect(() => new Cache({ fleet: true as unknown as false })).toThrow(/fleet must be false or an object/);
  });
});

describe('the fleet view, on a store that cannot list keys (Memcached)', () => {
  it('finds the members through its index, and drops one that closes', async () => {
    const prefix = uniquePrefix('fleet-mc');
    const make = () => {
      const cache = new Cache({ prefix, stores: [memcachedStore({ servers: '127.0.0.1:11211' })] });
      opened.push(cache);
      return cache;
    };
    const a = make();
    const b = make();
    await until(async () => (await a.listInstances()).length === 2, 'both members in the index', 5_000, 50);
    await b.close();
    expect(await a.listInstances()).toHaveLength(1);
  });
});
