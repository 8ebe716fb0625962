import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { isCacheError } from '../errors.js';
import type { Store } from '../stores/contract.js';

/** The optional {@link Store} methods; a case about one of them is skipped for a store that lacks it. */
export type OptionalStoreMethod =
  | 'getMany'
  | 'setMany'
  | 'deleteMany'
  | 'add'
  | 'addOrGet'
  | 'replaceIf'
  | 'prune'
  | 'keys'
  | 'deletePrefix'
  | 'appendLog'
  | 'readLog'
  | 'addMember'
  | 'removeMember'
  | 'members';

/**
 * What a case needs from the test runner: a way to report itself skipped. vitest's test context and
 * node:test's `t` both fit, so `it(c.name, c.run)` and `test(c.name, c.run)` work as they are.
 */
export interface ConformanceContext {
  skip(note: string): void;
}

export interface ConformanceOptions {
  /**
   * Makes a new store whose entries live under `prefix` (a key prefix, a table prefix, a directory...).
   * Two stores made with different prefixes on the same backend must not see each other's entries.
   */
  create(prefix: string): Store | Promise<Store>;
  /** Largest value to try, in bytes. @default min(capabilities.maxValueBytes, 4 MiB) */
  largeValueBytes?: number;
}

/** One check of the store contract. Run it with any test runner: it throws (node:assert) when the store fails. */
export interface ConformanceCase {
  name: string;
  /** The optional methods the case is about; empty for the core contract every store must pass. */
  requires: readonly OptionalStoreMethod[];
  /**
   * Runs the case. When the store lacks a method in `requires`, it calls `context.skip` (so the runner shows a
   * skipped test, not a passing one) and returns; without a context it throws instead, since passing would
   * claim a capability nobody tested.
   */
  run: (context?: ConformanceContext) => Promise<void>;
}

/** A store known to offer the optional methods `M`. */
type Offering<M extends OptionalStoreMethod> = Store & Required<Pick<Store, M>>;

let sequence = 0;
function freshPrefix(): string {
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
  const define = <M extends OptionalStoreMethod>(
    name: string,
    requires: readonly M[],
    run: (store: Offering<M>, open: () => Promise<Offering<M>>) => Promise<void>,
  ) => {
    cases.push({
      name,
      requires,
      async run(context?: ConformanceContext) {
        const opened: Store[] = [];
        const open = async () => {
          const store = await options.create(freshPrefix());
          opened.push(store);
          return store;
        };
        try {
          const store = await open();
          const missing = requires.filter((method) => typeof store[method] !== 'function');
          if (missing.length > 0) {
            const note = `${store.name} offers no ${missing.join(' / ')}`;
            if (context === undefined) throw new Error(`skipped: ${note}; pass the runner's test context to run() to report it as skipped`);
            context.skip(note);
            return;
          }
          // Every store from one factory offers the same methods, so what held for the first holds for the rest.
          await run(store as Offering<M>, open as () => Promise<Offering<M>>);
        } finally {
          for (const store of opened) {
            await store.clear().catch(() => undefined);
            await store.close();
          }
        }
      },
    });
  };
  const add = (name: string, run: (store: Store, open: () => Promise<Store>) => Promise<void>) => define<never>(name, [], run);
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

  add('stores under different prefixes do not see each other, and clear touches only its own', async (a, open) => {
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

  define('setMany writes in one call, and a passed deadline removes (setMany)', ['setMany'], async (store) => {
    await store.set('b3', text('old'), later(60_000));
    await store.setMany([
      { key: 'b1', value: text('1'), expiresAt: later(60_000) },
      { key: 'b2', value: new Uint8Array(0), expiresAt: later(60_000) },
      { key: 'b3', value: text('3'), expiresAt: Date.now() - 1 },
    ]);
    same(await store.get('b1'), text('1'), 'b1');
    same(await store.get('b2'), new Uint8Array(0), 'b2, an empty value');
    assert.equal(await store.get('b3'), undefined, 'an entry written with a passed deadline is gone');
    await store.setMany([]);
  });

  define('getMany keeps order and reports misses (getMany)', ['getMany'], async (store) => {
    await store.set('b1', text('1'), later(60_000));
    await store.set('b2', new Uint8Array(0), later(60_000));
    const got = await store.getMany(['b1', 'missing', 'b2', 'b1']);
    assert.equal(got.length, 4);
    same(got[0], text('1'), 'b1');
    assert.equal(got[1], undefined);
    same(got[2], new Uint8Array(0), 'b2');
    same(got[3], text('1'), 'b1 asked twice');
    assert.deepEqual(await store.getMany([]), []);
  });

  define('deleteMany removes and counts what it removed (deleteMany)', ['deleteMany'], async (store) => {
    await store.set('b1', text('1'), later(60_000));
    await store.set('b2', new Uint8Array(0), later(60_000));
    await store.set('kept', text('k'), later(60_000));
    const removed = await store.deleteMany(['b1', 'b2', 'missing']);
    assert.ok(removed >= 2, `deleteMany reported ${removed}`);
    assert.equal(await store.get('b1'), undefined);
    assert.equal(await store.get('b2'), undefined);
    same(await store.get('kept'), text('k'), 'a key not named stays');
    assert.equal(await store.deleteMany([]), 0);
  });

  define('add stores only when absent (add)', ['add'], async (store) => {
    assert.equal(await store.add('a', text('first'), later(60_000)), true);
    assert.equal(await store.add('a', text('second'), later(60_000)), false);
    same(await store.get('a'), text('first'), 'the first add wins');
    await store.delete('a');
    assert.equal(await store.add('a', text('third'), later(60_000)), true);
    if (store.capabilities.atomicAdd) {
      const wins = await Promise.all(Array.from({ length: 20 }, (_, i) => store.add('race', bytes(i), later(60_000))));
      assert.equal(wins.filter(Boolean).length, 1, 'exactly one concurrent add wins');
    }
  });

  define('addOrGet stores when absent, else returns what is there and changes nothing (addOrGet)', ['addOrGet'], async (store) => {
    assert.equal(await store.addOrGet('a', text('first'), later(60_000)), undefined, 'stored: nothing was there');
    same(await store.get('a'), text('first'), 'the value it stored');
    same(await store.addOrGet('a', text('second'), later(60_000)), text('first'), 'the live value, returned');
    same(await store.get('a'), text('first'), 'and left as it was');
    await store.set('empty', new Uint8Array(0), later(60_000));
    same(await store.addOrGet('empty', text('x'), later(60_000)), new Uint8Array(0), 'an empty value is a value');
    await store.set('old', text('old'), later(40));
    await sleep(40 + store.capabilities.expiryResolutionMs + 20);
    assert.equal(await store.addOrGet('old', text('new'), later(60_000)), undefined, 'an expired entry counts as absent');
    same(await store.get('old'), text('new'), 'and is replaced');
    await assert.rejects(store.addOrGet('late', text('v'), Date.now() - 1), (error: unknown) => isCacheError(error), 'a passed deadline is refused');
    assert.equal(await store.get('late'), undefined, 'and stores nothing');
    if (store.capabilities.atomicAdd) {
      const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => store.addOrGet('race', bytes(i), later(60_000))));
      const winners = replies.flatMap((reply, i) => (reply === undefined ? [i] : []));
      assert.equal(winners.length, 1, 'exactly one concurrent addOrGet stores');
      for (const reply of replies) if (reply !== undefined) same(reply, bytes(winners[0] as number), 'the others get the winner\'s value');
    }
  });

  define('replaceIf swaps only a live entry that starts with the expected bytes (replaceIf)', ['replaceIf'], async (store) => {
    assert.equal(await store.replaceIf('k', bytes(1), text('new'), later(60_000)), false, 'a missing key is not replaced');
    assert.equal(await store.get('k'), undefined, 'nor created');
    await store.set('k', bytes(1, 2, 3, 0, 255), later(60_000));
    assert.equal(await store.replaceIf('k', bytes(1, 3), text('no'), later(60_000)), false, 'a different prefix');
    assert.equal(await store.replaceIf('k', bytes(1, 2, 3, 0, 255, 9), text('no'), later(60_000)), false, 'expected longer than the value');
    same(await store.get('k'), bytes(1, 2, 3, 0, 255), 'a failed replaceIf changes nothing');
    assert.equal(await store.replaceIf('k', bytes(1, 2, 3, 0), bytes(7, 0, 8), later(60_000)), true, 'a matching prefix (with a zero byte)');
    same(await store.get('k'), bytes(7, 0, 8), 'the new value');
    assert.equal(await store.replaceIf('k', bytes(7, 0, 8), bytes(9), later(60_000)), true, 'the whole value as the prefix');
    same(await store.get('k'), bytes(9), 'replaced again');
    assert.equal(await store.replaceIf('k', bytes(9), undefined, later(60_000)), true, 'undefined removes');
    assert.equal(await store.get('k'), undefined, 'removed');

    await store.set('gone', bytes(5), later(60_000));
    await store.replaceIf('gone', bytes(5), bytes(6), Date.now() - 1);
    assert.equal(await store.get('gone'), undefined, 'a passed deadline leaves no value, as with set');
  });

  define('replaceIf can store an empty value (replaceIf)', ['replaceIf'], async (store) => {
    await store.set('k', bytes(1, 2), later(60_000));
    assert.equal(await store.replaceIf('k', bytes(1), new Uint8Array(0), later(60_000)), true);
    same(await store.get('k'), new Uint8Array(0), 'an empty value is a value, not a removal');
  });

  define('replaceIf has one winner among concurrent callers (replaceIf)', ['replaceIf'], async (store) => {
    await store.set('fence', text('v1'), later(60_000));
    const wins = await Promise.all(
      Array.from({ length: 20 }, (_, i) => store.replaceIf('fence', text('v1'), text(`v2:${i}`), later(60_000))),
    );
    assert.equal(wins.filter(Boolean).length, 1, 'exactly one compare-and-set wins');
    const winner = wins.indexOf(true);
    same(await store.get('fence'), text(`v2:${winner}`), 'the winner wrote the value');
  });

  define('deletePrefix removes keys by plain prefix and counts them (deletePrefix)', ['deletePrefix'], async (store, open) => {
    const other = await open();
    const keys = ['user_1', 'user_12', 'user_1:a', 'user_2', 'a*b', 'a*c', 'abc', 'q?1', 'qx1', 'ü:1', 'ü:2', 'üx', '😀a', '😁a'];
    for (const key of keys) await store.set(key, text(key), later(60_000));
    await other.set('user_1', text('other'), later(60_000));
    // The first call may be answered without an index (Redis builds it then); the later ones with it.
    assert.equal(await store.deletePrefix('user_1'), 3, 'user_1, user_12 and user_1:a (no segments)');
    assert.equal(await store.get('user_12'), undefined);
    same(await store.get('user_2'), text('user_2'), 'a key outside the prefix stays');
    same(await other.get('user_1'), text('other'), 'another prefix is untouched');
    assert.equal(await store.deletePrefix('a*'), 2, '* is an ordinary character');
    same(await store.get('abc'), text('abc'), 'abc does not start with "a*"');
    assert.equal(await store.deletePrefix('q?'), 1, '? is an ordinary character');
    same(await store.get('qx1'), text('qx1'), 'qx1 does not start with "q?"');
    assert.equal(await store.deletePrefix('ü:'), 2, 'a non-ASCII prefix');
    same(await store.get('üx'), text('üx'), 'üx stays');
    assert.equal(await store.deletePrefix('😀'), 1, 'an astral prefix');
    same(await store.get('😁a'), text('😁a'), 'a neighbouring astral character stays');
    assert.equal(await store.deletePrefix('nothing:'), 0);
    assert.equal(await store.deletePrefix(''), 5, 'an empty prefix removes every entry left: user_2, abc, qx1, üx, 😁a');
    assert.equal(await store.get('user_2'), undefined);
    same(await other.get('user_1'), text('other'), 'another prefix is still untouched');
  });

  define('appendLog and readLog keep records in order, newest `limit`, capped (appendLog, readLog)', ['appendLog', 'readLog'], async (store, open) => {
    const since = Date.now() - 60_000;
    for (let i = 0; i < 5; i++) await store.appendLog('events', bytes(i, 0, 255), 100);
    const all = await store.readLog('events', since, 100);
    assert.equal(all.length, 5, 'every record');
    all.forEach((record, i) => same(record, bytes(i, 0, 255), `record ${i}, oldest first`));
    const newest = await store.readLog('events', since, 2);
    assert.equal(newest.length, 2, 'limit');
    same(newest[0], bytes(3, 0, 255), 'the newest two, oldest first');
    same(newest[1], bytes(4, 0, 255), 'the newest two, oldest first');
    assert.deepEqual(await store.readLog('events', Date.now() + 3_600_000, 100), [], 'nothing appended after a future time');
    assert.deepEqual(await store.readLog('other-log', since, 100), [], 'logs are kept apart by name');
    const neighbour = await open();
    assert.deepEqual(await neighbour.readLog('events', since, 100), [], 'another prefix has its own log');

    const total = 300;
    await Promise.all(Array.from({ length: total }, (_, i) => store.appendLog('capped', bytes(i & 0xff, i >> 8), 10)));
    const capped = await store.readLog('capped', since, 1_000);
    assert.ok(capped.length >= 10, `at least maxLength records are kept, got ${capped.length}`);
    assert.ok(capped.length < total, `the log is capped near maxLength, got ${capped.length} of ${total}`);
    same(capped[capped.length - 1], bytes((total - 1) & 0xff, (total - 1) >> 8), 'the newest record is kept');
  });

  define('addMember, members and removeMember keep a set of members with deadlines (addMember, removeMember, members)', ['addMember', 'removeMember', 'members'], async (store, open) => {
    await store.addMember('fleet', 'a', later(60_000));
    await store.addMember('fleet', 'b', later(200));
    await store.addMember('fleet', 'c', later(60_000));
    await store.addMember('fleet', 'a', later(60_000));
    await store.addMember('other', 'z', later(60_000));
    assert.deepEqual((await store.members('fleet', 100)).sort(), ['a', 'b', 'c'], 'each member once');
    assert.equal((await store.members('fleet', 2)).length, 2, 'limit');
    const neighbour = await open();
    assert.deepEqual(await neighbour.members('fleet', 100), [], 'another prefix has its own indexes');
    await store.removeMember('fleet', 'c');
    await store.removeMember('fleet', 'never-there');
    await sleep(200 + store.capabilities.expiryResolutionMs + 100);
    assert.deepEqual(await store.members('fleet', 100), ['a'], 'b lapsed with its deadline, c was removed');
    await store.addMember('fleet', 'a', later(-1_000));
    assert.deepEqual(await store.members('fleet', 100), [], 'a deadline in the past removes the member');
    assert.deepEqual(await store.members('other', 100), ['z'], 'indexes are kept apart by name');
  });

  define('keys(pattern) matches * and ? and nothing outside the prefix (keys)', ['keys'], async (store, open) => {
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

  add('capabilities agree with the methods offered', (store) => {
    // Both flags are derived from the methods now; a store that still states one must not contradict them.
    const { iterate, nativeExpiry } = store.capabilities;
    if (iterate !== undefined) assert.equal(iterate, typeof store.keys === 'function', 'iterate is claimed exactly when keys() is offered');
    if (nativeExpiry !== undefined && typeof store.prune !== 'function') assert.equal(nativeExpiry, true, 'a store without prune expires entries by itself');
    assert.equal(typeof store.appendLog === 'function', typeof store.readLog === 'function', 'a shared log offers both appendLog and readLog');
    const memberMethods = (['addMember', 'removeMember', 'members'] as const).filter((method) => typeof store[method] === 'function').length;
    assert.ok(memberMethods === 0 || memberMethods === 3, 'a member index offers addMember, removeMember and members together');
    return Promise.resolve();
  });

  define('prune removes expired entries (prune)', ['prune'], async (store) => {
    await store.set('gone', text('v'), later(200));
    await store.set('kept', text('v'), later(60_000));
    await sleep(200 + store.capabilities.expiryResolutionMs + 100);
    assert.ok((await store.prune()) >= 1, 'prune reports what it removed');
    assert.equal(await store.get('gone'), undefined);
    same(await store.get('kept'), text('v'), 'a live entry survives prune');
  });

  add('keys that differ in any character never share an entry', async (store) => {
    // Pairs a careless encoding, collation or normalization would fold into one: astral neighbours (a
    // surrogate-pair mix-up), U+10000 against U+FFFF, composed against decomposed é, case, ß/ss, a trailing
    // space (SQL PAD SPACE), full-width letters (NFKC), Turkish dotted/dotless i, and U+FFFD itself.
    const keys = [
      'k:😀', 'k:😁', 'k:\u{10000}', 'k:\uffff', 'k:\u{10ffff}', 'k:é', 'k:e\u0301', 'k:K', 'k:k', 'k:ß', 'k:ss',
      'k:a', 'k:a ', 'k:Ａ', 'k:A', 'k:i', 'k:İ', 'k:ı', 'k:\ufffd', 'k:\u00a0', 'k:\u200b',
    ];
    assert.equal(new Set(keys).size, keys.length);
    for (const [i, key] of keys.entries()) await store.set(key, bytes(i), later(60_000));
    for (const [i, key] of keys.entries()) same(await store.get(key), bytes(i), `key ${JSON.stringify(key)}`);
    if (typeof store.getMany === 'function') {
      const got = await store.getMany(keys);
      keys.forEach((key, i) => same(got[i], bytes(i), `getMany ${JSON.stringify(key)}`));
    }
    assert.equal(await store.delete('k:😀'), true);
    same(await store.get('k:😁'), bytes(1), 'deleting one key leaves its neighbour');
  });

  add('a key with a lone surrogate is refused with InvalidKeyError at every entry point', async (store) => {
    // Such a key has no UTF-8 form: a store that sent it anyway would put 'k:\uD800' and 'k:\uD801' (and
    // 'k:\uFFFD') on one entry. Refusing keeps them from aliasing.
    await store.set('k:\ufffd', text('replacement character'), later(60_000));
    const calls: [string, (key: string) => Promise<unknown>][] = [
      ['get', (key) => store.get(key)],
      ['set', (key) => store.set(key, text('v'), later(60_000))],
      ['delete', (key) => store.delete(key)],
    ];
    const s = store;
    if (typeof s.getMany === 'function') calls.push(['getMany', (key) => s.getMany!(['fine', key])]);
    if (typeof s.setMany === 'function') {
      calls.push(['setMany', (key) => s.setMany!([{ key: 'written', value: text('v'), expiresAt: later(60_000) }, { key, value: text('v'), expiresAt: later(60_000) }])]);
    }
    if (typeof s.deleteMany === 'function') calls.push(['deleteMany', (key) => s.deleteMany!(['k:\ufffd', key])]);
    if (typeof s.add === 'function') calls.push(['add', (key) => s.add!(key, text('v'), later(60_000))]);
    if (typeof s.addOrGet === 'function') calls.push(['addOrGet', (key) => s.addOrGet!(key, text('v'), later(60_000))]);
    if (typeof s.replaceIf === 'function') calls.push(['replaceIf', (key) => s.replaceIf!(key, text('r'), text('v'), later(60_000))]);
    if (typeof s.deletePrefix === 'function') calls.push(['deletePrefix', (prefix) => s.deletePrefix!(prefix)]);
    for (const bad of ['k:\ud800', 'k:\udc00', 'k:\ud83d', 'k:\ude00x', '\ud83d\ude00\ude00']) {
      for (const [method, call] of calls) {
        let outcome: Promise<unknown>;
        try {
          outcome = call(bad);
        } catch (error) {
          assert.fail(`${method}(${JSON.stringify(bad)}) threw synchronously instead of rejecting: ${String(error)}`);
        }
        const error = await outcome.then(
          () => undefined,
          (e: unknown) => e,
        );
        assert.ok(isCacheError(error), `${method}(${JSON.stringify(bad)}) must reject with InvalidKeyError, got ${String(error)}`);
        assert.equal(error.code, 'E_INVALID_KEY', `${method}(${JSON.stringify(bad)}): ${error.message}`);
        assert.equal(error.name, 'InvalidKeyError');
      }
    }
    same(await store.get('k:\ufffd'), text('replacement character'), 'the entry the bad keys would alias is untouched');
    assert.equal(await store.get('written'), undefined, 'a refused batch writes nothing, not even its good keys');
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
