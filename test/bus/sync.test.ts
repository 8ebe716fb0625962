// Two BusSync instances over the real Redis transport, on a channel of their own.
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { BUS_LIMITS } from '../../src/bus/contract.js';
import { redisBus } from '../../src/bus/redis.js';
import { BusSync, type BusSyncOptions } from '../../src/bus/sync.js';
import { createFakeClock, type FakeClock } from '../../src/testing/fake-clock.js';
import { startThrowawayRedis } from '../support/redis-server.js';
import { until } from '../kit/index.js';
import { recordingEmitter, recordingTarget, refusedPort } from './helpers.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const PREFIX = 'app:';
let unique = 0;
const channel = () => `tiercache-test:sync:${process.pid}:${++unique}`;

const raw = new Redis(REDIS_URL);
afterAll(async () => {
  await raw.quit();
});

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Peer {
  sync: BusSync;
  calls: string[];
  remote: string[];
  errors: { error: unknown; operation: string }[];
  dropped: { reason: string; origin?: string }[];
}

function peer(bus: ReturnType<typeof redisBus>, clock: FakeClock, overrides: Partial<BusSyncOptions> = {}): Peer {
  const { emitter, errors, dropped } = recordingEmitter();
  const { calls, target } = recordingTarget();
  const remote: string[] = [];
  emitter.on('remote', (e) => remote.push(`${e.type}${e.keys === undefined ? '' : `:${e.keys.join(',')}`}`));
  const sync = new BusSync(
    { bus, prefix: PREFIX, clock, emitter, publishTimeoutMs: 1_000, connectTimeoutMs: 5_000, breakerFailures: 5, breakerCooldownMs: 1_000, ...overrides },
    target,
  );
  cleanups.push(() => sync.close());
  return { sync, calls, remote, errors, dropped };
}

async function pair(overrides: Partial<BusSyncOptions> = {}) {
  const ch = channel();
  const clock = createFakeClock();
  // The sender publishes through a client the test holds, so it can cut it to lose a publish.
  const client = new Redis(REDIS_URL);
  cleanups.push(() => {
    client.disconnect();
    return Promise.resolve();
  });
  const a = peer(redisBus({ client, channel: ch }), clock, overrides);
  const b = peer(redisBus({ url: REDIS_URL, channel: ch }), clock, overrides);
  await Promise.all([a.sync.ready, b.sync.ready]);
  return { a, b, clock, client, ch };
}

const envelope = (fields: Record<string, unknown>) => JSON.stringify({ prefix: PREFIX, ...fields });

describe('BusSync over Redis', () => {
  it('applies what the other instance announces, and ignores its own', async () => {
    const { a, b } = await pair();
    a.sync.announce({ type: 'keys', keys: ['k1', 'k2'] });
    a.sync.announce({ type: 'namespace', namespace: 'users:' });
    a.sync.announce({ type: 'pattern', pattern: 'report:*:2026' });
    a.sync.announce({ type: 'tags', tags: ['t'], stamps: ['s.1'] });
    a.sync.announce({ type: 'clear' });
    await a.sync.flush();
    await until(() => b.calls.length === 5, 'the five messages at b');
    expect(b.calls).toStrictEqual(['keys:k1,k2', 'namespace:users:', 'pattern:report:*:2026', 'tags:t=s.1', 'clear']);
    expect(b.remote).toStrictEqual(['keys:k1,k2', 'namespace', 'pattern', 'tags', 'clear']);

    // a's subscriber got its own five before b's reply (one channel, one order): it must have skipped them.
    b.sync.announce({ type: 'keys', keys: ['from-b'] });
    await until(() => a.calls.length > 0, "b's message at a");
    expect(a.calls).toStrictEqual(['keys:from-b']);
    expect(a.sync.stats).toMatchObject({ sent: 5, received: 1, dropped: 0, recoveries: 0 });
    expect(b.sync.stats).toMatchObject({ sent: 1, received: 5, dropped: 0, recoveries: 0 });
  });

  it('a lost publish makes the receiver recover on the next message', async () => {
    const { a, b, clock, client } = await pair();
    a.sync.announce({ type: 'keys', keys: ['x'] });
    await until(() => b.calls.length === 1, 'x at b');

    client.disconnect();
    a.sync.announce({ type: 'keys', keys: ['y'] });
    await a.sync.flush();
    expect(a.sync.stats.failed).toBe(1);
    expect(a.errors.map((e) => e.operation)).toStrictEqual(['redis-bus.publish']);

    await client.connect();
    a.sync.announce({ type: 'keys', keys: ['z'] });
    await until(() => b.calls.length === 2, 'the next message at b');
    // z itself is not applied: the recovery drops everything, z included.
    expect(b.calls).toStrictEqual(['keys:x', `recover:gap:${a.sync.origin}`]);

    // The gap is already visible, so the ping due after the failure is not sent.
    clock.advance(0);
    await a.sync.flush();
    expect(a.sync.stats.sent).toBe(2);
    a.sync.announce({ type: 'keys', keys: ['w'] });
    await until(() => b.calls.length === 3, 'w at b');
    expect(b.calls[2]).toBe('keys:w');
    expect(b.sync.stats.recoveries).toBe(1);
  });

  it('after a loss, the ping tells the receiver without waiting for the next write', async () => {
    const { a, b, clock, client } = await pair({ breakerFailures: 1, breakerCooldownMs: 1_000 });
    a.sync.announce({ type: 'keys', keys: ['x'] });
    await until(() => b.calls.length === 1, 'x at b');

    client.disconnect();
    a.sync.announce({ type: 'keys', keys: ['lost'] });
    await a.sync.flush();
    // One failure opens this breaker: a forgets what it holds, and skips publishing for the cooldown.
    expect(a.calls).toStrictEqual(['recover:publish']);
    await client.connect();
    a.sync.announce({ type: 'keys', keys: ['skipped'] });
    expect(a.sync.stats).toMatchObject({ failed: 1, skipped: 1, sent: 1 });

    clock.advance(1_000);
    await until(() => b.calls.length === 2, 'the ping at b');
    expect(b.calls).toStrictEqual(['keys:x', `recover:gap:${a.sync.origin}`]);
    expect(b.remote).toStrictEqual(['keys:x']);

    a.sync.announce({ type: 'keys', keys: ['after'] });
    await until(() => b.calls.length === 3, 'the next write at b');
    expect(b.calls[2]).toBe('keys:after');
  });

  it('drops malformed and hostile messages with the dropped event, and runs none of them', async () => {
    const { b, ch } = await pair();
    const hostile = [
      'not json',
      '[1,2,3]',
      envelope({ type: 'pattern', pattern: `${'a'.repeat(100_000)}*`, origin: 'evil-1', seq: 1 }),
      envelope({ type: 'pattern', pattern: 'a\u0000*', origin: 'evil-2', seq: 1 }),
      envelope({ type: 'pattern', pattern: '', origin: 'evil-3', seq: 1 }),
      envelope({ type: 'keys', keys: 'k', origin: 'evil-4', seq: 1 }),
      envelope({ type: 'keys', keys: ['ok', 7], origin: 'evil-5', seq: 1 }),
      envelope({ type: 'keys', keys: [''], origin: 'evil-6', seq: 1 }),
      envelope({ type: 'keys', keys: Array.from({ length: BUS_LIMITS.items + 1 }, () => 'a'), origin: 'evil-7', seq: 1 }),
      envelope({ type: 'tags', tags: ['t1', 't2'], stamps: ['s'], origin: 'evil-8', seq: 1 }),
      envelope({ type: 'namespace', namespace: { toString: 'x' }, origin: 'evil-9', seq: 1 }),
      envelope({ type: 'drop-everything', origin: 'evil-10', seq: 1 }),
      envelope({ type: 'clear', origin: 'evil-11', seq: 1.5 }),
      envelope({ type: 'clear', origin: 'evil-12', seq: '1' }),
      envelope({ type: 'clear', origin: 'x'.repeat(1_000), seq: 1 }),
      `{"__proto__":{"type":"clear"},"origin":"evil-13","seq":1,"prefix":"${PREFIX}"}`,
      `{"type":"clear","origin":"evil-14","seq":1,"prefix":"${PREFIX}","pad":"${'x'.repeat(BUS_LIMITS.messageChars)}"}`,
    ];
    for (const text of hostile) await raw.publish(ch, text);
    // Another cache's prefix is not hostile, only not ours: ignored without a word.
    await raw.publish(ch, JSON.stringify({ type: 'clear', origin: 'neighbour', seq: 1, prefix: 'other:' }));
    await raw.publish(ch, envelope({ type: 'keys', keys: ['sentinel'], origin: 'peer', seq: 1 }));
    await until(() => b.calls.length > 0, 'the sentinel at b');

    expect(b.calls).toStrictEqual(['keys:sentinel']);
    expect(b.dropped).toHaveLength(hostile.length);
    expect(b.sync.stats).toMatchObject({ dropped: hostile.length, received: 1, recoveries: 0 });
    const reasons = b.dropped.map((d) => d.reason);
    expect(reasons[0]).toMatch(/not JSON/);
    expect(reasons[2]).toMatch(/100001 characters long/);
    expect(reasons[3]).toMatch(/control character/);
    expect(reasons[5]).toMatch(/keys is not an array/);
    expect(reasons[6]).toMatch(/keys\[1\] is not a string/);
    expect(reasons[8]).toMatch(/items/);
    expect(reasons[16]).toMatch(/limit is 4194304/);
    expect(b.dropped[2]).toMatchObject({ origin: 'evil-1' });
  });

  it('treats a dropped message as lost: the sender’s next one recovers; repeats and old numbers are ignored', async () => {
    const { b, ch } = await pair();
    await raw.publish(ch, envelope({ type: 'keys', keys: ['one'], origin: 'peer', seq: 1 }));
    await raw.publish(ch, envelope({ type: 'keys', keys: [42], origin: 'peer', seq: 2 }));
    await raw.publish(ch, envelope({ type: 'keys', keys: ['three'], origin: 'peer', seq: 3 }));
    await raw.publish(ch, envelope({ type: 'keys', keys: ['three again'], origin: 'peer', seq: 3 }));
    await raw.publish(ch, envelope({ type: 'keys', keys: ['two, late'], origin: 'peer', seq: 2 }));
    // A stranger whose first message is dropped is caught the same way.
    await raw.publish(ch, envelope({ type: 'keys', keys: 'bad', origin: 'stranger', seq: 7 }));
    await raw.publish(ch, envelope({ type: 'keys', keys: ['eight'], origin: 'stranger', seq: 8 }));
    await raw.publish(ch, envelope({ type: 'keys', keys: ['four'], origin: 'peer', seq: 4 }));
    await until(() => b.calls.includes('keys:four'), 'the last message at b');
    expect(b.calls).toStrictEqual(['keys:one', 'recover:gap:peer', 'recover:gap:stranger', 'keys:four']);
    expect(b.dropped.map((d) => d.origin)).toStrictEqual(['peer', 'stranger']);
  });

  it('splits a key list too long for one message, and the receiver applies every part', async () => {
    const { a, b } = await pair();
    const keys = Array.from({ length: BUS_LIMITS.items + 10_000 }, (_, i) => `key:${i}`);
    a.sync.announce({ type: 'keys', keys });
    await until(() => b.calls.length === 2, 'both parts at b');
    const received = b.calls.flatMap((call) => call.slice('keys:'.length).split(','));
    expect(received).toStrictEqual(keys);
    expect(b.sync.stats).toMatchObject({ received: 2, dropped: 0, recoveries: 0 });
  });

  it('recovers when the subscription comes back after the server restarts', async () => {
    const server = await startThrowawayRedis(await refusedPort());
    cleanups.push(() => server.stop());
    const clock = createFakeClock();
    const b = peer(redisBus({ url: server.url, channel: channel() }), clock);
    await b.sync.ready;
    await server.stop();
    await server.start();
    await until(() => b.calls.length > 0, 'the reconnect', 10_000);
    expect(b.calls).toStrictEqual(['recover:reconnect']);
  });
});
