import { tracingChannel } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { Cache, TRACE_CHANNELS, type LoadTrace, type StoreTrace } from '../../src/index.js';
import { sqliteStore } from '../../src/stores/sqlite.js';

const open: Cache[] = [];
const unsubscribe: (() => void)[] = [];
afterEach(async () => {
  for (const stop of unsubscribe.splice(0)) stop();
  for (const cache of open.splice(0)) await cache.close();
});

/** Records what a channel reports, in order, until the test ends. */
function record<C extends object>(name: string): { event: string; context: C }[] {
  const seen: { event: string; context: C }[] = [];
  const channel = tracingChannel<unknown, C>(name);
  const handlers = {
    start: (context: C) => seen.push({ event: 'start', context }),
    end: (context: C) => seen.push({ event: 'end', context }),
    asyncStart: (context: C) => seen.push({ event: 'asyncStart', context }),
    asyncEnd: (context: C) => seen.push({ event: 'asyncEnd', context }),
    error: (context: C) => seen.push({ event: 'error', context }),
  };
  channel.subscribe(handlers);
  unsubscribe.push(() => channel.unsubscribe(handlers));
  return seen;
}

describe('tracing channels', () => {
  it('tiercache:load spans every loader run, with its key, result or error; a memory-tier hit is not traced', async () => {
    const seen = record<LoadTrace>(TRACE_CHANNELS.load);
    const cache = new Cache();
    open.push(cache);
    expect(await cache.getOrSet('k', () => 42)).toBe(42);
    expect(await cache.getOrSet('k', () => 43)).toBe(42);
    await expect(cache.getOrSet('bad', () => Promise.reject(new Error('nope')))).rejects.toThrow('nope');
    const starts = seen.filter((s) => s.event === 'start').map((s) => s.context.key);
    expect(starts).toStrictEqual(['k', 'bad']);
    const ok = seen.find((s) => s.event === 'asyncEnd' && s.context.key === 'k');
    expect(ok?.context.result).toBe(42);
    const failed = seen.find((s) => s.event === 'error' && s.context.key === 'bad');
    expect((failed?.context.error as Error).message).toBe('nope');
    expect(seen.every((s) => s.context.operation === 'getOrSet')).toBe(true);
  });

  it('tiercache:store spans every store call with the store, operation and key', async () => {
    const seen = record<StoreTrace>(TRACE_CHANNELS.store);
    const cache = new Cache({ stores: [sqliteStore({ path: ':memory:' })] });
    open.push(cache);
    await cache.set('a', 1);
    await cache.namespace('n').getMany(['x', 'y']);
    const calls = seen.filter((s) => s.event === 'start').map((s) => `${s.context.store}.${s.context.operation}:${s.context.key ?? '-'}`);
    expect(calls).toContain('sqlite.set:a');
    expect(calls).toContain('sqlite.getMany:-');
    expect(seen.filter((s) => s.event === 'asyncEnd')).toHaveLength(seen.filter((s) => s.event === 'start').length);
  });

  it('getOrSetMany traces one span for its batch', async () => {
    const seen = record<LoadTrace>(TRACE_CHANNELS.load);
    const cache = new Cache();
    open.push(cache);
    await cache.getOrSetMany(['a', 'b'], (keys) => keys.map((k) => k.toUpperCase()));
    expect(seen.filter((s) => s.event === 'start').map((s) => [s.context.operation, s.context.key])).toStrictEqual([['getOrSetMany', 'a,b']]);
  });
});
