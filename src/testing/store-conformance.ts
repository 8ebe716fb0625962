import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { isCacheError } from '../errors.js';
import type { Store } from '../stores/contract.js';

export interface ConformanceOptions {
  /**
   * Makes a new store whose entries live under `namespace` (a prefix, a table namespace, a directory...).
   * Two stores made with different namespaces on the same backend must not see each other's entries.
   */
  create(namespace: string): Store | Promise<Store>;
  /** Largest value to try, in bytes. @default min(capabilities.maxValueBytes, 4 MiB) */
  largeValueBytes?: number;
}

/** One check of the store contract. Run it with any test runner: it throws (node:assert) when the store fails. */
export interface ConformanceCase {
  name: string;
  run: () => Promise<void>;
}

let sequence = 0;
function namespace(): string {
  sequence++;
  return `conf${process.pid}x${Date.now().toString(36)}x${sequence}`;
}

function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

function text(value: string): Uint8Array {
  return new TextEncoder().encode(value);
}

function same(actual: Uint8Array | undefined, expected: Uint8Array, message: string): void {
  assert.ok(actual !== undefined, `${message}: expected a value, got undefined`);
  assert.ok(actual instanceof Uint8Array, `${message}: expected a Uint8Array`);
  assert.equal(actual.length, expected.length, `${message}: length`);
  assert.ok(Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(expected), `${message}: bytes differ`);
}

async function collect(iterable: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const key of iterable) out.push(key);
  return out.sort();
}

/**
 * The cases every store must pass, written without a test runner so third-party stores can use them too.
 *
 * @example
 * import { storeConformance } from 'tiercache/testing';
 * for (const c of storeConformance({ create: (ns) => redisStore({ url, prefix: `${ns}:` }) })) it(c.name, c.run);
 */
export function storeConformance(options: ConformanceOptions): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  const add = (name: string, run: (store: Store, open: () => Promise<Store>) => Promise<void>) => {
    cases.push({
      name,
      async run() {
        const opened: Store[] = [];
        const open = async () => {
          const store = await options.create(namespace());
          opened.push(store);
          return store;
        };
        try {
          await run(await open(), open);
        } finally {
          for (const store of opened) {
            await store.clear().catch(() => undefined);
            await store.close();
          }
        }
      },
    });
  };
  const later = (ms: number) => Date.now() + ms;

  add('get of a missing key is undefined', async (store) => {
    assert.equal(await store.get('missing'), undefined);
  });

  add('set then get gives the same bytes back', async (store) => {
    const value = bytes(0, 1, 2, 127, 128, 255, 0, 10, 13);
    await store.set('k', value, later(60_000));
    same(await store.get('k'), value, 'binary value');
  });

  add('an empty value is a value, not a miss', async (store) => {
    await store.set('empty', new Uint8Array(0), later(60_000));
    same(await store.get('empty'), new Uint8Array(0), 'empty value');
  });

  add('a large value round-trips', async (store) => {
    const size = options.largeValueBytes ?? Math.min(store.capabilities.maxValueBytes, 4 * 1024 * 1024);
    const value = new Uint8Array(size);
    for (let i = 0; i < size; i++) value[i] = (i * 31 + 7) & 0xff;
    await store.set('large', value, later(60_000));
    same(await store.get('large'), value, `${size}-byte value`);
  });

  add('set replaces the previous value', async (store) => {
    await store.set('k', text('one'), later(60_000));
    await store.set('k', text('two'), later(60_000));
    same(await store.get('k'), text('two'), 'replaced value');
  });

  add('delete removes, and says whether there was something', async (store) => {
    await store.set('k', text('v'), later(60_000));
    assert.equal(await store.delete('k'), true);
    assert.equal(await store.get('k'), undefined);
    assert.equal(await store.delete('k'), false, 'a second delete finds nothing');
  });

  add('a deadline already passed stores nothing and removes the old value', async (store) => {
    await store.set('k', text('old'), later(60_000));
    await store.set('k', text('new'), Date.now() - 1);
    assert.equal(await store.get('k'), undefined);
  });

  add('entries expire at their deadline (within the declared resolution)', async (store) => {
    const resolution = store.capabilities.expiryResolutionMs;
    const ttl = Math.max(300, resolution);
    await store.set('short', text('v'), later(ttl));
    await store.set('long', text('v'), later(60_000));
    same(await store.get('short'), text('v'), 'before the deadline');
    await sleep(ttl + resolution + 150);
    assert.equal(await store.get('short'), undefined, 'after the deadline');
    same(await store.get('long'), text('v'), 'an entry with a later deadline stays');
  });

  add('a very long TTL (10 years) is kept, not mistaken for a past date', async (store) => {
    await store.set('decade', text('v'), later(10 * 365 * 86_400_000));
    same(await store.get('decade'), text('v'), '10-year entry');
    await store.set('month', text('v'), later(31 * 86_400_000));
    same(await store.get('month'), text('v'), '31-day entry');
  });

  add('keys may hold any printable text up to 1024 characters', async (store) => {
    const keys = ['a:b:c', 'with space', 'ünï©ødé ✓', 'pct%3A*?[x]\\', 'k'.repeat(1024)];
    for (const [i, key] of keys.entries()) await store.set(key, bytes(i), later(60_000));
    for (const [i, key] of keys.entries()) same(await store.get(key), bytes(i), `key ${key.slice(0, 20)}`);
  });

  add('stores under different namespaces do not see each other, and clear touches only its own', async (a, open) => {
    const b = await open();
    await a.set('k', text('a'), later(60_000));
    await b.set('k', text('b'), later(60_000));
    same(await a.get('k'), text('a'), 'store a');
    same(await b.get('k'), text('b'), 'store b');
    await a.clear();
    assert.equal(await a.get('k'), undefined);
    same(await b.get('k'), text('b'), 'store b after a.clear()');
  });

  add('many concurrent operations stay consistent', async (store) => {
    await Promise.all(Array.from({ length: 200 }, (_, i) => store.set(`c${i}`, bytes(i & 0xff, i >> 8), later(60_000))));
    const values = await Promise.all(Array.from({ length: 200 }, (_, i) => store.get(`c${i}`)));
    values.forEach((value, i) => same(value, bytes(i & 0xff, i >> 8), `c${i}`));
  });

  add('batch operations keep order and report misses (when offered)', async (store) => {
    if (store.setMany !== undefined) {
      await store.setMany([
        { key: 'b1', value: text('1'), expiresAt: later(60_000) },
        { key: 'b2', value: new Uint8Array(0), expiresAt: later(60_000) },
        { key: 'b3', value: text('3'), expiresAt: Date.now() - 1 },
      ]);
    } else {
      await store.set('b1', text('1'), later(60_000));
      await store.set('b2', new Uint8Array(0), later(60_000));
    }
    if (store.getMany !== undefined) {
      const got = await store.getMany(['b1', 'missing', 'b2', 'b3']);
      assert.equal(got.length, 4);
      same(got[0], text('1'), 'b1');
      assert.equal(got[1], undefined);
      same(got[2], new Uint8Array(0), 'b2');
      assert.equal(got[3], undefined, 'an entry written with a passed deadline');
      assert.deepEqual(await store.getMany([]), []);
    }
    if (store.deleteMany !== undefined) {
      const removed = await store.deleteMany(['b1', 'b2', 'missing']);
      assert.ok(removed >= 2, `deleteMany reported ${removed}`);
      assert.equal(await store.get('b1'), undefined);
      assert.equal(await store.deleteMany([]), 0);
    }
  });

  add('add stores only when absent (when offered)', async (store) => {
    if (store.add === undefined) return;
    assert.equal(await store.add('a', text('first'), later(60_000)), true);
    assert.equal(await store.add('a', text('second'), later(60_000)), false);
    same(await store.get('a'), text('first'), 'the first add wins');
    await store.delete('a');
    assert.equal(await store.add('a', text('third'), later(60_000)), true);
    if (store.capabilities.atomicAdd) {
      const tryAdd = store.add.bind(store);
      const wins = await Promise.all(Array.from({ length: 20 }, (_, i) => tryAdd('race', bytes(i), later(60_000))));
      assert.equal(wins.filter(Boolean).length, 1, 'exactly one concurrent add wins');
    }
  });

  add('keys(pattern) matches * and ? and nothing outside the namespace (when offered)', async (store, open) => {
    if (store.keys === undefined) {
      assert.equal(store.capabilities.iterate, false, 'a store without keys() must not claim iterate');
      return;
    }
    const other = await open();
    for (const key of ['user:1:a', 'user:2:a', 'user:10:b', 'order:1', 'user%3A*:x']) await store.set(key, text(key), later(60_000));
    await other.set('user:1:a', text('other'), later(60_000));
    assert.deepEqual(await collect(store.keys('user:*')), ['user:10:b', 'user:1:a', 'user:2:a'].sort());
    assert.deepEqual(await collect(store.keys('user%3A?:*')), ['user%3A*:x'], '% and * in a key are ordinary characters');
    assert.deepEqual(await collect(store.keys('user:?:a')), ['user:1:a', 'user:2:a']);
    assert.deepEqual(await collect(store.keys('*:b')), ['user:10:b']);
    assert.deepEqual(await collect(store.keys('order:1')), ['order:1']);
    assert.deepEqual(await collect(store.keys('user%3A\\*:x')), [], 'a backslash is an ordinary character, not an escape');
  });

  add('prune removes expired entries (when offered)', async (store) => {
    if (store.prune === undefined) return;
    await store.set('gone', text('v'), later(200));
    await store.set('kept', text('v'), later(60_000));
    await sleep(200 + store.capabilities.expiryResolutionMs + 100);
    assert.ok((await store.prune()) >= 1, 'prune reports what it removed');
    assert.equal(await store.get('gone'), undefined);
    same(await store.get('kept'), text('v'), 'a live entry survives prune');
  });

  add('close is idempotent, and a closed store fails with an error naming it', async (store) => {
    await store.close();
    await store.close();
    const error = await store.get('k').then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(isCacheError(error), 'a CacheError');
    assert.ok(String((error as Error).message).includes(store.name), `message names the store: ${String(error)}`);
  });

  return cases;
}
