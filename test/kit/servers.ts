// Marks for tests that need a real server (Redis, PostgreSQL, Memcached), in files that also hold tests which
// need none. `npm run test:unit` sets TIERCACHE_UNIT=1 and skips them; `npm test` runs them all.
import { describe, it } from 'vitest';

/** False in the server-free unit run (`npm run test:unit`). */
export const serversAvailable = process.env.TIERCACHE_UNIT !== '1';

/** An `it` that needs a running server: skipped by the unit run, run by `npm test`. */
export function serverIt(name: string, fn: () => Promise<void> | void, timeout?: number): void {
  (serversAvailable ? it : it.skip)(name, fn, timeout);
}

/** A `describe` whose every test needs a running server. */
export function serverDescribe(name: string, fn: () => void): void {
  (serversAvailable ? describe : describe.skip)(name, fn);
}
