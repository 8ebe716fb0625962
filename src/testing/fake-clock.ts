import type { TimeSource, TimerHandle } from '../clock.js';

/** A time source that only moves when told to, with timers that fire as it moves: tests never sleep. */
export interface FakeClock extends TimeSource {
  /** Moves time forward by `ms`, firing every timer that falls due, in order, each at its own time. */
  advance(ms: number): void;
  /**
   * Like `advance`, but lets promises settle first, after each timer fires and at the end, so work already
   * started arms its timers before time moves, and work a timer starts runs before the next timer fires.
   */
  tick(ms: number): Promise<void>;
  /** Jumps to an absolute epoch-millisecond time (timers due by then fire). */
  set(epochMs: number): void;
  /** Timers waiting to fire. */
  readonly pending: number;
}

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly callback: () => void;
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
  let seq = 0;
  const timers = new Set<Timer>();

  const next = (until: number): Timer | undefined => {
    let first: Timer | undefined;
    for (const timer of timers) {
      if (timer.at <= until && (first === undefined || timer.at < first.at || (timer.at === first.at && timer.seq < first.seq))) first = timer;
    }
    return first;
  };

  const check = (ms: number, what: string): void => {
    if (!Number.isFinite(ms) || ms < 0) throw new TypeError(`${what} needs a finite ms >= 0, got ${ms}`);
  };

  const runUntil = (target: number): void => {
    for (let timer = next(target); timer !== undefined; timer = next(target)) {
      timers.delete(timer);
      now = Math.max(now, timer.at);
      timer.callback();
    }
    now = Math.max(now, target);
  };

  return {
    now: () => now,
    setTimeout(callback: () => void, ms: number): TimerHandle {
      const timer: Timer = { at: now + Math.max(0, Number.isFinite(ms) ? ms : 0), seq: seq++, callback };
      timers.add(timer);
      return timer;
    },
    clearTimeout(handle: TimerHandle): void {
      timers.delete(handle as Timer);
    },
    advance(ms: number) {
      check(ms, 'advance(ms)');
      runUntil(now + ms);
    },
    async tick(ms: number) {
      check(ms, 'tick(ms)');
      const target = now + ms;
      const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
      // Work already started gets to arm its timers before time moves.
      await settle();
      for (let timer = next(target); timer !== undefined; timer = next(target)) {
        timers.delete(timer);
        now = Math.max(now, timer.at);
        timer.callback();
        await settle();
      }
      now = Math.max(now, target);
      await settle();
    },
    set(epochMs: number) {
      if (!Number.isFinite(epochMs)) throw new TypeError(`set(epochMs) needs a finite time, got ${epochMs}`);
      if (epochMs >= now) runUntil(epochMs);
      else now = epochMs;
    },
    get pending() {
      return timers.size;
    },
  };
}
