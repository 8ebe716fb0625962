import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidPatternError } from '../../src/errors.js';
import type { Store } from '../../src/stores/contract.js';
import { fileStore } from '../../src/stores/file.js';
import { postgresStore } from '../../src/stores/postgres.js';
import { redisStore } from '../../src/stores/redis.js';
import { sqliteStore } from '../../src/stores/sqlite.js';
import { removeTempDirs, tempDir } from './file-helpers.js';
import { REDIS_URL, uniquePrefix } from './redis-helpers.js';

// Backtracking glob engines (the RegExp this project used, naive recursive matchers) take exponential time on
// this pattern against keys full of `a` that do not end in `b`.
const HOSTILE = '*a*a*a*a*a*a*a*a*a*a*a*a*b';
const PG_URL = process.env.TIERCACHE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const run = `${process.pid}_${Date.now().toString(36)}`;

/** `count` keys of 60 characters; every tenth ends in `b` and matches HOSTILE. */
function hostileKeys(count: number): { keys: string[]; matching: string[] } {
  const keys = Array.from({ length: count }, (_, i) => 'a'.repeat(54) + String(i).padStart(5, '0') + (i % 10 === 0 ? 'b' : 'c'));
  return { keys, matching: keys.filter((key) => key.endsWith('b')) };
}

async function collect(iterable: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const key of iterable) out.push(key);
  return out.sort();
}

async function refusal(store: Store, pattern: unknown): Promise<unknown> {
  try {
    // Wrong types on purpose: a JavaScript caller can pass anything.
    await collect(store.keys!(pattern as string));
  } catch (error) {
    return error;
  }
  throw new Error(`keys(${JSON.stringify(pattern)?.slice(0, 40)}) did not throw`);
}

const BAD_PATTERNS: [string, unknown][] = [
  ['100,000 characters', '*a'.repeat(50_000)],
  ['empty', ''],
  ['a control character', 'a\u0007*'],
  ['a lone surrogate', 'a\ud800*'],
  ['not a string', 42],
];

const stores: Store[] = [];
afterAll(async () => {
  for (const store of stores) {
    await store.clear();
    await store.close();
  }
  removeTempDirs();
});

interface Case {
  name: string;
  create: () => Store;
  /** Fewer keys where each one is a file read: the point is the matcher, not the disk. */
  count: number;
  /** Generous: measured figures are tens of ms (a few seconds for the file store's reads). */
  boundMs: number;
}

const cases: Case[] = [
  { name: 'redis', create: () => redisStore({ url: REDIS_URL, prefix: uniquePrefix('hostile') }), count: 10_000, boundMs: 5_000 },
  { name: 'sqlite', create: () => sqliteStore({ path: ':memory:', prefix: 'hostile', pruneInterval: 0 }), count: 10_000, boundMs: 5_000 },
  {
    name: 'postgres',
    create: () => postgresStore({ connectionString: PG_URL, table: `tc_hostile_${run}`, prefix: 'hostile', pruneInterval: 0 }),
    count: 10_000,
    boundMs: 5_000,
  },
  { name: 'file', create: () => fileStore({ directory: tempDir(), prefix: 'hostile' }), count: 2_000, boundMs: 15_000 },
];

for (const c of cases) {
  describe(`${c.name} store: hostile and bad patterns`, () => {
    let store: Store;
    const { keys, matching } = hostileKeys(c.count);

    beforeAll(async () => {
      store = c.create();
      stores.push(store);
      const expiresAt = Date.now() + 10 * 60_000;
      const value = new Uint8Array([1]);
      for (let i = 0; i < keys.length; i += 500) {
        await store.setMany!(keys.slice(i, i + 500).map((key) => ({ key, value, expiresAt })));
      }
    }, 60_000);

    it(`lists keys(${HOSTILE}) over ${c.count} keys of 60 characters correctly and quickly`, async () => {
      const started = performance.now();
      const found = await collect(store.keys!(HOSTILE));
      const elapsed = performance.now() - started;
      console.log(`${c.name}: keys(hostile) over ${c.count} keys of 60 characters took ${elapsed.toFixed(1)} ms`);
      expect(found).toEqual(matching.sort());
      expect(elapsed).toBeLessThan(c.boundMs);
    }, 60_000);

    it('matches ? as one astral character, as every store must', async () => {
      const expiresAt = Date.now() + 10 * 60_000;
      await store.setMany!(['x😀y', 'x😀😀y', 'xzy'].map((key) => ({ key, value: new Uint8Array([1]), expiresAt })));
      expect(await collect(store.keys!('x?y'))).toEqual(['xzy', 'x😀y']);
      expect(await collect(store.keys!('x??y'))).toEqual(['x😀😀y']);
    });

    for (const [what, pattern] of BAD_PATTERNS) {
      it(`refuses a pattern that is ${what} with InvalidPatternError`, async () => {
        const error = await refusal(store, pattern);
        expect(error).toBeInstanceOf(InvalidPatternError);
        expect((error as InvalidPatternError).code).toBe('E_INVALID_PATTERN');
        expect((error as Error).message).toMatch(/^keys\(pattern\) /);
      });
    }
  });
}
