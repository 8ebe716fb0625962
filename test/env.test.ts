import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { serverIt } from './kit/servers.js';
import { cacheFromEnv } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'tiercache-env-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('cacheFromEnv', () => {
  it('is memory-only by default', async () => {
    const cache = await cacheFromEnv({});
    expect(Object.keys(cache.getStats().stores)).toStrictEqual([]);
    await cache.close();
  });

  it('puts the selected store behind the memory tier and reads the seed-style TTL in seconds', async () => {
    const env = { CACHE_BACKEND: 'sqlite', CACHE_SQLITE_PATH: join(dir, 'env.db'), CACHE_DEFAULT_TTL: '300', CACHE_MEMORY_MAX_ENTRIES: '50' };
    // Stores made from the environment run on the system clock, so this cache does too.
    const cache = await cacheFromEnv(env);
    expect(Object.keys(cache.getStats().stores)).toStrictEqual(['sqlite']);
    await cache.set('k', 'v');
    const remaining = (await cache.inspect('k'))?.ttlRemaining ?? 0;
    expect(remaining).toBeGreaterThan(295_000);
    expect(remaining).toBeLessThanOrEqual(300_000);
    await cache.close();

    const again = await cacheFromEnv(env);
    expect(await again.getResult('k')).toMatchObject({ value: 'v', source: 'sqlite' });
    await again.close();
  });

  serverIt('uses Redis with the bus for CACHE_BACKEND=redis', async () => {
    const cache = await cacheFromEnv({ CACHE_BACKEND: 'redis', CACHE_PREFIX: `env-${process.pid}:`, CACHE_DEFAULT_TTL: '1m' });
    await cache.ready();
    await cache.set('k', 1);
    expect((await cache.inspect('k'))?.ttlRemaining).toBeLessThanOrEqual(60_000);
    expect(Object.keys(cache.getStats().stores)).toStrictEqual(['redis']);
    await cache.clear({ confirm: true });
    await cache.close();
  });

  it('names the variable that is wrong', async () => {
    await expect(cacheFromEnv({ CACHE_BACKEND: 'mongo' })).rejects.toThrow(/CACHE_BACKEND must be one of .* got "mongo"/);
    await expect(cacheFromEnv({ CACHE_DEFAULT_TTL: 'soon' })).rejects.toThrow(/CACHE_DEFAULT_TTL/);
    await expect(cacheFromEnv({ CACHE_MEMORY_MAX_ENTRIES: 'lots' })).rejects.toThrow(/CACHE_MEMORY_MAX_ENTRIES must be a whole number/);
  });
});
