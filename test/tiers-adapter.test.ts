import { describe, expect, it } from 'vitest';
import { Cache } from '../src/index.js';
import type { Store, StoreContext } from '../src/stores/contract.js';
import { createFakeClock } from '../src/testing/fake-clock.js';
import { adaptStore } from '../src/tiers/adapter.js';

const bytes = (text: string) => new TextEncoder().encode(text);

/** The required core only: no batch methods, no add, no keys. Deadlines are checked on `clock`. */
function coreStore(clock: { now(): number }, extra: Partial<Store> = {}): Store & { calls: string[]; attached: StoreContext[] } {
  const data = new Map<string, { value: Uint8Array; expiresAt: number }>();
  const calls: string[] = [];
  const attached: StoreContext[] = [];
  const live = (key: string) => {
    const entry = data.get(key);
    return entry !== undefined && entry.expiresAt > clock.now() ? entry : undefined;
  };
  return {
    name: 'core',
    capabilities: { expiryResolutionMs: 1, shared: false, atomicAdd: false, maxValueBytes: 1 << 20 },
    calls,
    attached,
    attach: (context) => void attached.push(context),
    get: (key) => (calls.push(`get ${key}`), Promise.resolve(live(key)?.value)),
    set: (key, value, expiresAt) => (calls.push(`set ${key}`), data.set(key, { value, expiresAt }), Promise.resolve()),
    delete: (key) => {
      calls.push(`delete ${key}`);
      const was = live(key) !== undefined;
      data.delete(key);
      return Promise.resolve(was);
    },
    clear: () => (data.clear(), Promise.resolve()),
    close: () => Promise.resolve(),
    ...extra,
  };
}

describe('the store adapter', () => {
  it('emulates the batch methods with the single ones, counting only live entries a delete removed', async () => {
    const clock = createFakeClock();
    const store = coreStore(clock);
    const ops = adaptStore(store, clock);
    await ops.setMany([
      { key: 'a', value: bytes('1'), expiresAt: clock.now() + 1_000 },
      { key: 'b', value: bytes('2'), expiresAt: clock.now() + 10 },
    ]);
    expect(store.calls).toEqual(['set a', 'set b']);
    clock.advance(10);
    expect(await ops.getMany(['a', 'b', 'c'])).toEqual([bytes('1'), undefined, undefined]);
    // b is expired and c never existed: one removal, not three.
    expect(await ops.deleteMany(['a', 'b', 'c'])).toBe(1);
  });

  it('never calls a plain write an add; addOrSet falls back to set only where add is missing', async () => {
    const clock = createFakeClock();
    const ops = adaptStore(coreStore(clock), clock);
    expect('add' in ops, 'no add is invented for a store without one').toBe(false);
    expect(await ops.addOrSet('k', bytes('v'), clock.now() + 1_000)).toBe(true);
    expect(await ops.get('k')).toEqual(bytes('v'));
    const own = adaptStore(coreStore(clock, { add: () => Promise.resolve(false) }), clock);
    expect(await own.addOrSet('k', bytes('v'), clock.now() + 1_000)).toBe(false);
  });

  it('derives iterate and nativeExpiry from the methods, and offers a shared log only with both halves', () => {
    const clock = createFakeClock();
    const bare = adaptStore(coreStore(clock), clock);
    expect(bare.capabilities).toMatchObject({ iterate: false, nativeExpiry: true });
    expect(bare.log).toBeUndefined();
    const half = adaptStore(coreStore(clock, { appendLog: () => Promise.resolve() }), clock);
    expect(half.log).toBeUndefined();
    const listing = adaptStore(
      coreStore(clock, {
        keys: async function* () {},
        prune: () => Promise.resolve(0),
        appendLog: () => Promise.resolve(),
        readLog: () => Promise.resolve([]),
      }),
      clock,
    );
    expect(listing.capabilities).toMatchObject({ iterate: true, nativeExpiry: false });
    expect(listing.log).toBeDefined();
  });

  it('a cache hands each store its clock once, at construction', async () => {
    const clock = createFakeClock();
    const store = coreStore(clock);
    const cache = new Cache({ clock, stores: [store] });
    expect(store.attached).toHaveLength(1);
    expect(store.attached[0]?.clock).toBe(clock);
    await cache.set('x', 1);
    await cache.get('x');
    expect(store.attached).toHaveLength(1);
    await cache.close();
  });
});
