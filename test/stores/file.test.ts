import fs from 'node:fs';
import path from 'node:path';
import { setImmediate as turn, setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CacheBackendError } from '../../src/errors.js';
import type { Store } from '../../src/stores/contract.js';
import { fileStore, type FileStore, type FileStoreOptions } from '../../src/stores/file.js';
import { createFakeClock, until } from '../kit/index.js';
import { storeConformance } from '../../src/testing/store-conformance.js';
import { child, filesUnder, killChildren, removeTempDirs, tempDir } from './file-helpers.js';

const text = (value: string) => new TextEncoder().encode(value);
const decoded = (value: Uint8Array | undefined) => (value === undefined ? undefined : new TextDecoder().decode(value));
const later = (ms: number) => Date.now() + ms;
const ENTRY = /^[0-9a-f]{2}\/[0-9a-f]{2}\/[0-9a-f]{64}$/;

const opened: Store[] = [];
function open(options: FileStoreOptions): FileStore {
  const store = fileStore(options);
  opened.push(store);
  return store;
}

async function collect(iterable: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const key of iterable) out.push(key);
  return out.sort();
}

/** Entry files (not temporaries) under a directory. */
function entries(directory: string): string[] {
  return filesUnder(directory).filter((file) => /[0-9a-f]{64}$/.test(file));
}

afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});
afterAll(() => {
  killChildren();
  removeTempDirs();
});

describe('fileStore: conformance', () => {
  const directory = tempDir();
  for (const c of storeConformance({ create: (prefix) => fileStore({ directory, prefix }) })) {
    it(c.name, (context) => c.run(context), 20_000);
  }
});

describe('fileStore', () => {
  it('declares what it can do', () => {
    expect(open({ directory: tempDir() }).capabilities).toEqual({
      nativeExpiry: false,
      expiryResolutionMs: 1,
      shared: true,
      iterate: true,
      atomicAdd: false,
      maxValueBytes: 512 * 1024 * 1024,
    });
  });

  it('survives a restart: a new store on the directory sees live entries, not expired ones', async () => {
    const directory = tempDir();
    const clock = createFakeClock(Date.now());
    const first = fileStore({ directory, clock });
    await first.set('live', text('v'), clock.now() + 60_000);
    await first.set('short', text('s'), clock.now() + 1_000);
    await first.set('user:1', new Uint8Array(0), clock.now() + 60_000);
    await first.close();
    clock.advance(5_000);
    const second = open({ directory, clock });
    expect(decoded(await second.get('live'))).toBe('v');
    expect(await second.get('user:1')).toEqual(new Uint8Array(0));
    expect(await second.get('short')).toBeUndefined();
    expect(await collect(second.keys('*'))).toEqual(['live', 'user:1']);
  });

  it('keeps every key inside its directory, whatever characters it holds', async () => {
    const parent = tempDir();
    const directory = path.join(parent, 'cache');
    const store = open({ directory, category: (key) => (key.startsWith('c:') ? key.slice(2) : undefined) });
    const keys = ['../../etc/passwd', '..', '.', '/etc/passwd', 'a/../../b', '..\\..\\windows', '~', '\u202egnp.exe', 'tab\tand\nnewline', '😀'];
    const categories = ['c:../../escape', 'c:..', 'c:/abs', 'c:ok-name', 'c:.hidden'];
    for (const key of [...keys, ...categories]) await store.set(key, text(key), later(60_000));
    for (const key of [...keys, ...categories]) expect(decoded(await store.get(key))).toBe(key);
    expect(await collect(store.keys('*'))).toEqual([...keys, ...categories].sort());
    expect(fs.readdirSync(parent)).toEqual(['cache']);
    const files = filesUnder(directory);
    expect(files).toHaveLength(keys.length + categories.length);
    for (const file of files) {
      const [prefix, category, ...rest] = file.split('/');
      expect(prefix).toBe('default');
      // Plain category names as they are; anything else hashed behind `~`.
      expect(category).toMatch(/^(~|~[0-9a-f]{32}|ok-name)$/);
      expect(rest.join('/')).toMatch(ENTRY);
    }
  });

  it('refuses prefixes that are not one plain directory name', () => {
    for (const prefix of ['', '..', '.', 'a/b', '../x', '.hidden', 'x'.repeat(65)]) {
      expect(() => fileStore({ directory: tempDir(), prefix })).toThrow(TypeError);
    }
    expect(() => fileStore({ directory: tempDir(), concurrency: 0 })).toThrow(/^file: concurrency/);
    expect(() => fileStore({ directory: tempDir(), cleanupInterval: '5 minutes' })).toThrow(/^file: cleanupInterval/);
  });

  it('writes atomically: 50 racing writers never show a reader a torn value, and leave no temporary file', async () => {
    const directory = tempDir();
    const store = open({ directory });
    const other = open({ directory });
    const size = 256 * 1024;
    let writing = true;
    let reads = 0;
    const reader = (async () => {
      while (writing) {
        const value = await other.get('k');
        if (value === undefined) continue;
        reads++;
        expect(value.length).toBe(size);
        const first = value[0] ?? -1;
        expect(value.every((byte) => byte === first)).toBe(true);
      }
    })();
    await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? store : other).set('k', new Uint8Array(size).fill(i), later(60_000))));
    writing = false;
    await reader;
    expect(reads).toBeGreaterThan(0);
    expect(filesUnder(directory).filter((file) => file.endsWith('.tmp'))).toEqual([]);
    expect(entries(directory)).toHaveLength(1);
  });

  it('writes atomically across processes', async () => {
    const directory = tempDir();
    const store = open({ directory });
    const writer = child('write', directory);
    expect(await writer.line()).toBe('ready');
    writer.process.stdin.write('go\n');
    let done = false;
    const finished = writer.line().then((line) => {
      done = true;
      return line;
    });
    let reads = 0;
    let i = 0;
    while (!done) {
      await store.set('k', new Uint8Array(256 * 1024).fill(i++ % 100), later(60_000));
      const value = await store.get('k');
      if (value === undefined) continue;
      reads++;
      expect(value.length).toBe(256 * 1024);
      const first = value[0] ?? -1;
      expect(value.every((byte) => byte === first)).toBe(true);
    }
    expect(await finished).toBe('done');
    expect(await writer.exited).toBe(0);
    expect(reads).toBeGreaterThan(0);
    expect(filesUnder(directory).filter((file) => file.endsWith('.tmp'))).toEqual([]);
  }, 30_000);

  it('never has more filesystem operations in flight than its concurrency', async () => {
    const directory = tempDir();
    let holding = false;
    let release = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    let open_ = 0;
    let most = 0;
    let started = 0;
    const store = open({
      directory,
      concurrency: 3,
      onIo: async ({ active, limit }) => {
        expect(active).toBeLessThanOrEqual(limit);
        started++;
        open_++;
        most = Math.max(most, open_);
        if (holding) await gate;
        open_--;
      },
    });
    for (let i = 0; i < 20; i++) await store.set(`k${i}`, text(`v${i}`), later(60_000));
    expect(most).toBe(1);
    holding = true;
    started = 0;
    const reads = Promise.all(Array.from({ length: 20 }, (_, i) => store.get(`k${i}`)));
    for (let i = 0; i < 100 && open_ < 3; i++) await turn();
    expect(open_).toBe(3);
    // Held: nothing else gets in while the three run. Kept real: reads are real file I/O, and nothing signals
    // a read that must not start.
    await sleep(50);
    expect(started).toBe(3);
    release();
    const values = await reads;
    expect(values.map(decoded)).toEqual(Array.from({ length: 20 }, (_, i) => `v${i}`));
    expect(most).toBe(3);
    expect(started).toBe(20);
  });

  it('keeps at most maxEntriesPerCategory per category, removing the least recently used', async () => {
    const directory = tempDir();
    const options: FileStoreOptions = { directory, category: (key) => key.split(':')[0], maxEntriesPerCategory: 3 };
    const store = fileStore(options);
    // Apart in real time: file mtimes (the recency kept across restarts) come from the system clock.
    const step = () => sleep(15);
    for (const key of ['a:1', 'a:2', 'a:3', 'b:1', 'b:2', 'b:3']) {
      await store.set(key, text(key), later(60_000));
      await step();
    }
    expect(decoded(await store.get('a:1'))).toBe('a:1');
    await step();
    await store.set('a:4', text('a:4'), later(60_000));
    await step();
    expect(await store.get('a:2')).toBeUndefined();
    expect(await collect(store.keys('a:*'))).toEqual(['a:1', 'a:3', 'a:4']);
    expect(await collect(store.keys('b:*'))).toEqual(['b:1', 'b:2', 'b:3']);
    expect(entries(path.join(directory, 'default', 'a'))).toHaveLength(3);
    await store.close();

    // After a restart the order comes back from the files: a:3 is now the least recently used.
    const again = open(options);
    await again.set('a:5', text('a:5'), later(60_000));
    expect(await collect(again.keys('a:*'))).toEqual(['a:1', 'a:4', 'a:5']);
    expect(await again.delete('a:1')).toBe(true);
    await again.set('a:6', text('a:6'), later(60_000));
    expect(await collect(again.keys('a:*'))).toEqual(['a:4', 'a:5', 'a:6']);
  });

  it('a restart with more entries than the bound trims to it', async () => {
    const directory = tempDir();
    const unbounded = fileStore({ directory });
    for (let i = 0; i < 6; i++) {
      await unbounded.set(`k${i}`, text('v'), later(60_000));
      // Real time: the order after a restart comes from file mtimes, which the system clock stamps.
      await sleep(10);
    }
    await unbounded.close();
    const bounded = open({ directory, maxEntriesPerCategory: 2 });
    expect(await bounded.get('k0')).toBeUndefined();
    expect(await collect(bounded.keys('*'))).toEqual(['k4', 'k5']);
  });

  it('removes expired files on its cleanup timer', async () => {
    const directory = tempDir();
    // Deadlines and the cleanup timer both run on the store's clock.
    const clock = createFakeClock(Date.now());
    const store = open({ directory, cleanupInterval: 50, clock });
    await store.set('soon', text('v'), clock.now() + 30);
    await store.set('kept', text('v'), clock.now() + 60_000);
    expect(entries(directory)).toHaveLength(2);
    await clock.tick(49);
    expect(entries(directory), 'expired, but the timer has not fired yet').toHaveLength(2);
    await clock.tick(1);
    await until(() => entries(directory).length === 1, 'the cleanup timer to remove the expired file', 3_000);
    expect(decoded(await store.get('kept'))).toBe('v');
  });

  it('its cleanup timer does not keep the process alive', async () => {
    const idle = child('idle', tempDir());
    const timeout = sleep(15_000).then(() => 'still running');
    expect(await Promise.race([idle.exited, timeout])).toBe(0);
  }, 20_000);

  it('prune() removes expired and unreadable entries, abandoned temporary files and trash, and says how many entries', async () => {
    const directory = tempDir();
    const clock = createFakeClock(Date.now());
    const store = open({ directory, clock, cleanupInterval: 0 });
    await store.set('a', text('v'), clock.now() + 1_000);
    await store.set('b', text('v'), clock.now() + 500);
    await store.set('c', text('v'), clock.now() + 60_000);
    const [one] = entries(directory);
    if (one === undefined) throw new Error('no entry');
    const leaf = path.join(directory, path.dirname(one));
    const hour = new Date(Date.now() - 3_600_000);
    fs.writeFileSync(path.join(leaf, `${'e'.repeat(64)}`), 'not an entry');
    fs.writeFileSync(path.join(leaf, `${'f'.repeat(64)}.1.1.ab.tmp`), 'abandoned');
    fs.utimesSync(path.join(leaf, `${'f'.repeat(64)}.1.1.ab.tmp`), hour, hour);
    fs.writeFileSync(path.join(leaf, `${'f'.repeat(64)}.2.1.cd.tmp`), 'being written');
    const trash = path.join(directory, '.tiercache-trash-default-0001');
    fs.mkdirSync(path.join(trash, 'x'), { recursive: true });
    fs.utimesSync(trash, hour, hour);
    clock.advance(2_000);
    expect(await store.prune()).toBe(3);
    expect(await collect(store.keys('*'))).toEqual(['c']);
    const left = filesUnder(directory);
    expect(left.filter((file) => file.endsWith('.tmp')).map((file) => path.basename(file))).toEqual([`${'f'.repeat(64)}.2.1.cd.tmp`]);
    expect(fs.existsSync(trash)).toBe(false);
    expect(await store.prune()).toBe(0);
  });

  it('a file cut short (power loss) or a leftover temporary file is never served', async () => {
    const directory = tempDir();
    const store = open({ directory });
    await store.set('k', new Uint8Array(1000).fill(1), later(60_000));
    const [file] = entries(directory);
    if (file === undefined) throw new Error('no entry');
    const full = path.join(directory, file);
    fs.copyFileSync(full, `${full}.9.9.ff.tmp`);
    fs.truncateSync(full, 500);
    // Handed up as unreadable (the core reports it and reads a miss), never as the value; and removed.
    expect(await store.get('k')).toStrictEqual(new Uint8Array(0));
    expect(fs.existsSync(full)).toBe(false);
    expect(await store.get('k')).toBeUndefined();
    expect(await collect(store.keys('*'))).toEqual([]);
  });

  it('add is atomic within the process, across stores on one directory', async () => {
    const directory = tempDir();
    const a = open({ directory });
    const b = open({ directory });
    const wins = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).add('race', Uint8Array.of(i), later(60_000))));
    expect(wins.filter(Boolean)).toHaveLength(1);
    expect(await a.get('race')).toEqual(Uint8Array.of(wins.indexOf(true)));
    // An expired entry does not block add.
    const clock = createFakeClock(Date.now());
    const timed = open({ directory, clock });
    await timed.set('old', text('old'), clock.now() + 100);
    clock.advance(200);
    const again = await Promise.all(Array.from({ length: 10 }, (_, i) => timed.add('old', Uint8Array.of(i), clock.now() + 60_000)));
    expect(again.filter(Boolean)).toHaveLength(1);
  });

  it('creating a key with add has one winner across processes', async () => {
    const directory = tempDir();
    const store = open({ directory });
    const racer = child('add', directory);
    expect(await racer.line()).toBe('ready');
    racer.process.stdin.write('go\n');
    const mine = await Promise.all(Array.from({ length: 50 }, (_, i) => store.add(`race${i}`, Uint8Array.of(1), later(60_000))));
    const theirs = JSON.parse(await racer.line()) as boolean[];
    expect(await racer.exited).toBe(0);
    for (let i = 0; i < 50; i++) {
      expect(Number(mine[i]) + Number(theirs[i]), `race${i}`).toBe(1);
      expect(await store.get(`race${i}`)).toEqual(Uint8Array.of(mine[i] === true ? 1 : 2));
    }
  }, 30_000);

  it('clear() empties its prefix only', async () => {
    const directory = tempDir();
    fs.writeFileSync(path.join(directory, 'not-ours.txt'), 'keep');
    const a = open({ directory, prefix: 'a' });
    const b = open({ directory, prefix: 'b' });
    await a.set('k', text('a'), later(60_000));
    await b.set('k', text('b'), later(60_000));
    await a.clear();
    await a.clear();
    expect(await a.get('k')).toBeUndefined();
    expect(decoded(await b.get('k'))).toBe('b');
    expect(fs.readFileSync(path.join(directory, 'not-ours.txt'), 'utf8')).toBe('keep');
    expect(fs.readdirSync(directory).sort()).toEqual(['b', 'not-ours.txt']);
    await a.set('k', text('a2'), later(60_000));
    expect(decoded(await a.get('k'))).toBe('a2');
  });

  it('still reads the deprecated namespace option as the prefix directory', async () => {
    const directory = tempDir();
    // `namespace` is deprecated, not gone: code written before the rename must keep working.
    const old = open({ directory, namespace: 'reports' });
    await old.set('k', text('old'), later(60_000));
    expect(decoded(await open({ directory, prefix: 'reports' }).get('k'))).toBe('old');
    expect(fs.readdirSync(directory)).toEqual(['reports']);
    expect(() => fileStore({ directory, prefix: 'a', namespace: 'b' })).toThrow(/^file: prefix and namespace/);
  });

  it('keys() reports a key once, and only live ones', async () => {
    const directory = tempDir();
    const clock = createFakeClock(Date.now());
    const first = fileStore({ directory, clock, category: () => 'one' });
    await first.set('moved', text('v'), clock.now() + 60_000);
    await first.set('gone', text('v'), clock.now() + 10);
    await first.close();
    // The category function changed between runs: the key now has a file in two categories.
    const second = open({ directory, clock, category: () => 'two' });
    await second.set('moved', text('v2'), clock.now() + 60_000);
    clock.advance(100);
    expect(await collect(second.keys('*'))).toEqual(['moved']);
    expect(await collect(second.keys('m?v*'))).toEqual(['moved']);
    expect(await collect(second.keys('m.*'))).toEqual([]);
  });

  it('refuses a value over its limit, naming the store and the sizes', async () => {
    const store = open({ directory: tempDir(), maxValueBytes: 100, name: 'disk' });
    await expect(store.set('k', new Uint8Array(101), later(60_000))).rejects.toThrow(/^disk: value of 101 bytes .*limit of 100 bytes/);
    await expect(store.add('k', new Uint8Array(101), later(60_000))).rejects.toBeInstanceOf(CacheBackendError);
    await expect(store.setMany([{ key: 'k', value: new Uint8Array(101), expiresAt: later(60_000) }])).rejects.toThrow(/^disk: /);
    expect(await store.get('k')).toBeUndefined();
  });

  it('reports filesystem failures as CacheBackendError naming the store', async () => {
    const parent = tempDir();
    const blocker = path.join(parent, 'a-file');
    fs.writeFileSync(blocker, 'x');
    const store = open({ directory: blocker });
    const error = await store.set('k', text('v'), later(60_000)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CacheBackendError);
    expect((error as CacheBackendError).store).toBe('file');
    expect((error as Error).message).toMatch(/^file: set "k" failed: /);
    expect((error as CacheBackendError).key).toBe('k');
  });
});
