import type { Clock } from '../clock.js';

/** A clock that only moves when told to, for tests that must not sleep. */
export interface FakeClock extends Clock {
  /** Moves time forward by `ms` (a duration in milliseconds). */
  advance(ms: number): void;
  /** Jumps to an absolute epoch-millisecond time. */
  set(epochMs: number): void;
}

/**
 * @example
 * const clock = createFakeClock();
 * const cache = new Cache({ clock });
 * await cache.set('k', 1, { ttl: '1m' });
 * clock.advance(60_000); // now expired
 */
export function createFakeClock(startEpochMs = Date.UTC(2026, 0, 1)): FakeClock {
  let now = startEpochMs;
  return {
    now: () => now,
    advance(ms: number) {
      if (!Number.isFinite(ms) || ms < 0) throw new TypeError(`advance(ms) needs a finite ms >= 0, got ${ms}`);
      now += ms;
    },
    set(epochMs: number) {
      if (!Number.isFinite(epochMs)) throw new TypeError(`set(epochMs) needs a finite time, got ${epochMs}`);
      now = epochMs;
    },
  };
}
