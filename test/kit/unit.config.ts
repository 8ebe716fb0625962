// `npm run test:unit`: every test that needs no server, as any user can run it (no Redis, PostgreSQL or
// Memcached, no root). test/kit/no-servers.ts fails a test in this set that tries to reach one.
import { fileURLToPath } from 'node:url';
import { defineConfig, mergeConfig } from 'vitest/config';
import base from '../../vitest.config.js';

/** Whole files that need a server; files that mix both mark their server tests with `serverIt`. */
export const NEEDS_SERVERS = [
  'test/bus.test.ts',
  'test/bus/sync.test.ts',
  'test/chaos/**',
  'test/cli/**',
  'test/fleet/**',
  'test/coherence/**',
  // Chromium, not a server, but not something every user's machine has either.
  'test/dashboard/browser.test.ts',
  'test/compute/compute-redis.test.ts',
  'test/compute/lease.test.ts',
  'test/compute/lease-processes.test.ts',
  'test/compute/torture-processes.test.ts',
  'test/forecast/cache/backends.test.ts',
  'test/integrations/dataloader.test.ts',
  'test/http/redis.test.ts',
  'test/integrations/keyv.test.ts',
  'test/forecast/cache/redis.test.ts',
  'test/service/e2e.test.ts',
  'test/service/redis.test.ts',
  'test/stores/hostile-pattern.test.ts',
  'test/stores/memcached.test.ts',
  'test/stores/postgres.test.ts',
  'test/stores/redis.test.ts',
  'test/stores/redis-cluster.test.ts',
  'test/stores/redis-entry.test.ts',
  'test/stores/from-backend.test.ts',
  'test/stores/redis-prefix.test.ts',
  'test/tiers.test.ts',
  'test/tiers-faults.test.ts',
  'test/warming/redis-lease.test.ts',
];

export default mergeConfig(
  base,
  defineConfig({
    root: fileURLToPath(new URL('../..', import.meta.url)),
    test: {
      exclude: ['**/node_modules/**', ...NEEDS_SERVERS],
      setupFiles: ['test/kit/no-servers.ts'],
      env: { TIERCACHE_UNIT: '1' },
    },
  }),
);
