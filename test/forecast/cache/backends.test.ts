import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { day } from '../../../src/forecast/data/calendar.js';
import { ForecastCache, type ForecastCacheOptions } from '../../../src/forecast/index.js';
import { createFakeClock } from '../../../src/testing/index.js';
import { computeAll, financeFixture, forecastSet, gone, NOW, uniquePrefix } from './helpers.js';

const directory = mkdtempSync(path.join(tmpdir(), 'tiercache-forecast-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

const backends: { name: string; options: () => ForecastCacheOptions; lists: boolean }[] = [
  { name: 'memcached', options: () => ({ backend: 'memcached', url: process.env.MEMCACHED_SERVERS ?? '127.0.0.1:11211', prefix: uniquePrefix('mc') }), lists: false },
  { name: 'sqlite', options: () => ({ backend: 'sqlite', url: path.join(directory, 'cache.db'), prefix: uniquePrefix('sqlite') }), lists: true },
  { name: 'file', options: () => ({ backend: 'file', url: directory, prefix: uniquePrefix('file') }), lists: true },
  {
    name: 'postgres',
    options: () => ({ backend: 'postgres', url: process.env.TIERCACHE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test', prefix: uniquePrefix('pg') }),
    lists: true,
  },
];

describe.each(backends)('ForecastCache over $name', ({ options, lists }) => {
  it('computes, triggers, invalidates by user and by date range, and clears', async () => {
    const forecasts = await ForecastCache.create({ ...options(), finance: financeFixture(), clock: createFakeClock(NOW) });
    try {
      const alice = await computeAll(forecasts, forecastSet('alice'));
      const bob = await computeAll(forecasts, forecastSet('bob'));
      expect(await forecasts.onTransactionAdded({ userId: 'alice', type: 'expense', category: 'Groceries' })).toBe(6);
      expect(await gone(forecasts, alice)).toEqual(['balance30', 'balance90', 'burn', 'expenses', 'groceries', 'runway']);

      // A store that cannot list keys cannot take a pattern; a user is still reached through its tag.
      if (lists) expect(await forecasts.invalidate({ pattern: 'forecast:alice:goal_progress:*' })).toBe(2);
      else await expect(forecasts.invalidate({ pattern: 'forecast:alice:goal_progress:*' })).rejects.toMatchObject({ code: 'E_UNSUPPORTED' });
      expect(await forecasts.invalidate({ userId: 'alice' })).toBe(lists ? 2 : 4);
      expect(await gone(forecasts, alice)).toEqual(Object.keys(alice).sort());

      // Surgical where keys can be listed; every forecast of the user where they cannot.
      expect(await forecasts.invalidateByDateRange('bob', day(2025, 3, 1), day(2025, 3, 31))).toBe(lists ? 4 : 10);
      expect(await gone(forecasts, bob)).toEqual(lists ? ['balance90', 'burn', 'groceries', 'runway'] : Object.keys(bob).sort());
    } finally {
      await forecasts.clear({ confirm: true });
      await forecasts.close();
    }
  });
});
