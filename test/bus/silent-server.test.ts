// The bus pointed at a server that accepts TCP connections and never answers: nothing may wait on it.
import { afterEach, describe, expect, it } from 'vitest';
import { redisBus } from '../../src/bus/redis.js';
import { BusSync, type BusSyncOptions } from '../../src/bus/sync.js';
import type { Bus, BusEnvelope } from '../../src/bus/contract.js';
import { BusTimeoutError, CacheBackendError } from '../../src/errors.js';
import { createFakeClock, type FakeClock } from '../../src/testing/fake-clock.js';
import { recordingEmitter, recordingTarget, refusedPort, startSilentServer, type SilentServer } from './helpers.js';
import { drain } from '../kit/index.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function silent(): Promise<SilentServer> {
  const server = await startSilentServer();
  cleanups.push(() => server.close());
  return server;
}

/** The real transport, with every envelope it is asked to publish written down. */
function counted(bus: Bus): { bus: Bus; published: BusEnvelope[] } {
  const published: BusEnvelope[] = [];
  return {
    published,
    bus: {
      name: bus.name,
      start: (handlers) => bus.start(handlers),
      publish: (envelope) => {
        published.push(envelope);
        return bus.publish(envelope);
      },
      close: () => bus.close(),
    },
  };
}

function sync(bus: Bus, clock: FakeClock, overrides: Partial<BusSyncOptions> = {}) {
  const { emitter, errors } = recordingEmitter();
  const { calls, target } = recordingTarget();
  const s = new BusSync(
    { bus, prefix: 'p:', clock, emitter, publishTimeoutMs: 200, connectTimeoutMs: 500, breakerFailures: 3, breakerCooldownMs: 1_000, ...overrides },
    target,
  );
  cleanups.push(async () => {
    const closing = s.close();
    clock.advance(10_000);
    await closing;
  });
  return { sync: s, errors, calls };
}

async function settledWithin(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  await drain();
  return done;
}

describe('redisBus against a server that never answers', () => {
  it('start() rejects with BusTimeoutError once its connect timeout passes', async () => {
    const server = await silent();
    const bus = redisBus({ url: server.url, channel: 'silent', connectTimeout: 100 });
    cleanups.push(() => bus.close());
    const started = performance.now();
    const error = await bus.start({ message: () => undefined, reconnected: () => undefined, error: () => undefined }).catch((e: unknown) => e);
    const elapsed = performance.now() - started;
    expect(error).toBeInstanceOf(BusTimeoutError);
    expect(error).toMatchObject({ code: 'E_BUS_TIMEOUT', bus: 'redis-bus', timeoutMs: 100 });
    expect(server.accepted).toBeGreaterThan(0);
    expect(elapsed).toBeGreaterThanOrEqual(95);
    expect(elapsed).toBeLessThan(1_000);
    const closing = performance.now();
    await bus.close();
    expect(performance.now() - closing).toBeLessThan(500);
  });

  it('publish() rejects with BusTimeoutError once its publish timeout passes', async () => {
    const server = await silent();
    const bus = redisBus({ url: server.url, channel: 'silent', publishTimeout: 100 });
    cleanups.push(() => bus.close());
    const started = performance.now();
    const error = await bus.publish({ type: 'clear', origin: 'o', seq: 1, prefix: '' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BusTimeoutError);
    expect(error).toMatchObject({ timeoutMs: 100 });
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('start() rejects with CacheBackendError when the port refuses', async () => {
    const port = await refusedPort();
    const bus = redisBus({ url: `redis://127.0.0.1:${port}`, channel: 'refused', connectTimeout: 2_000 });
    cleanups.push(() => bus.close());
    const started = performance.now();
    const error = await bus.start({ message: () => undefined, reconnected: () => undefined, error: () => undefined }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CacheBackendError);
    expect(performance.now() - started).toBeLessThan(1_500);
  });

  it('rejects timeouts that are not positive numbers, naming the option', () => {
    expect(() => redisBus({ url: 'redis://127.0.0.1:1', connectTimeout: 0 })).toThrow(/connectTimeout/);
    expect(() => redisBus({ url: 'redis://127.0.0.1:1', publishTimeout: Number.NaN })).toThrow(/publishTimeout/);
  });
});

describe('BusSync against a server that never answers', () => {
  it('ready rejects with BusTimeoutError when the connect timeout passes on the clock', async () => {
    const server = await silent();
    const clock = createFakeClock();
    // The transport's own timeout is far off: the one that fires is the sync's, on the fake clock.
    const { sync: s, errors } = sync(redisBus({ url: server.url, channel: 'silent', connectTimeout: 60_000 }), clock);
    const outcome = s.ready.catch((e: unknown) => e);
    clock.advance(499);
    expect(await settledWithin(outcome)).toBe(false);
    clock.advance(1);
    const error = await outcome;
    expect(error).toBeInstanceOf(BusTimeoutError);
    expect(error).toMatchObject({ timeoutMs: 500 });
    expect(errors.map((e) => e.operation)).toContain('redis-bus.start');
  });

  it('ready rejects with CacheBackendError when the server refuses', async () => {
    const port = await refusedPort();
    const clock = createFakeClock();
    const { sync: s } = sync(redisBus({ url: `redis://127.0.0.1:${port}`, channel: 'refused' }), clock);
    await expect(s.ready).rejects.toBeInstanceOf(CacheBackendError);
  });

  it('announce returns at once and flush settles when the publish timeout passes', async () => {
    const server = await silent();
    const clock = createFakeClock();
    const { sync: s, errors, calls } = sync(redisBus({ url: server.url, channel: 'silent', connectTimeout: 60_000 }), clock, { breakerFailures: 100 });
    s.ready.catch(() => undefined);
    const started = performance.now();
    for (let i = 0; i < 10; i++) s.announce({ type: 'keys', keys: [`k${i}`] });
    expect(performance.now() - started).toBeLessThan(50);
    const flushed = s.flush();
    expect(await settledWithin(flushed)).toBe(false);
    clock.advance(199);
    expect(await settledWithin(flushed)).toBe(false);
    clock.advance(1);
    expect(await settledWithin(flushed)).toBe(true);
    expect(s.stats).toMatchObject({ sent: 0, timedOut: 10, failed: 0, skipped: 0 });
    const publishErrors = errors.filter((e) => e.operation === 'redis-bus.publish');
    expect(publishErrors).toHaveLength(10);
    expect(publishErrors[0]?.error).toBeInstanceOf(BusTimeoutError);
    expect(publishErrors[0]).toMatchObject({ key: 'k0' });
    // Below the breaker's threshold nothing is flushed locally.
    expect(calls).toStrictEqual([]);
  });

  it('after breakerFailures failures it skips publishes, then lets one ping through as the probe', async () => {
    const server = await silent();
    const clock = createFakeClock();
    const { bus, published } = counted(redisBus({ url: server.url, channel: 'silent', connectTimeout: 60_000 }));
    const { sync: s, calls } = sync(bus, clock, { breakerFailures: 3, breakerCooldownMs: 1_000 });
    s.ready.catch(() => undefined);
    for (let i = 0; i < 3; i++) s.announce({ type: 'clear' });
    clock.advance(200);
    await s.flush();
    expect(s.stats).toMatchObject({ timedOut: 3, skipped: 0 });
    // The bus takes nothing: the local memory tier is flushed once, since it is likely not hearing others either.
    expect(calls).toStrictEqual(['recover:publish']);

    for (let i = 0; i < 5; i++) s.announce({ type: 'keys', keys: ['k'] });
    expect(published).toHaveLength(3);
    expect(s.stats.skipped).toBe(5);

    clock.advance(999);
    expect(published).toHaveLength(3);
    clock.advance(1);
    expect(published).toHaveLength(4);
    // Skipped messages used up their numbers: the ping's reveals the gap to receivers.
    expect(published[3]).toMatchObject({ type: 'ping', seq: 9 });
    // While the probe is out, everything else is still skipped.
    s.announce({ type: 'clear' });
    expect(published).toHaveLength(4);
    expect(s.stats.skipped).toBe(6);

    // The probe times out: open again for a cooldown, then the next ping.
    clock.advance(200);
    await s.flush();
    expect(s.stats.timedOut).toBe(4);
    clock.advance(999);
    expect(published).toHaveLength(4);
    clock.advance(1);
    expect(published.map((e) => e.type)).toStrictEqual(['clear', 'clear', 'clear', 'ping', 'ping']);
    expect(calls).toStrictEqual(['recover:publish']);
  });

  it('close() settles within the publish timeout', async () => {
    const server = await silent();
    const clock = createFakeClock();
    const { sync: s } = sync(redisBus({ url: server.url, channel: 'silent', connectTimeout: 60_000 }), clock);
    s.ready.catch(() => undefined);
    s.announce({ type: 'clear' });
    const closing = s.close();
    expect(await settledWithin(closing)).toBe(false);
    clock.advance(200);
    await closing;
    s.announce({ type: 'clear' });
    expect(s.stats).toMatchObject({ timedOut: 1, skipped: 0, sent: 0 });
  });
});
