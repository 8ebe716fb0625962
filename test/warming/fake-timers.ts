import type { FakeClock } from '../../src/testing/index.js';
import type { SetTimer } from '../../src/warming/timer.js';

interface Pending {
  at: number;
  seq: number;
  callback: () => void;
}

/** Lets queued promise callbacks (and the ones they queue) run; a macrotask turn, not a sleep. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * Timers driven by a fake clock: `advance` moves the clock to each due timer in turn and runs it, so code
 * under test sees the clock read exactly the time its timer was due.
 */
export function createFakeTimers(clock: FakeClock) {
  let pending: Pending[] = [];
  let seq = 0;
  const setTimer: SetTimer = (callback, delayMs) => {
    const timer: Pending = { at: clock.now() + Math.max(0, delayMs), seq: seq++, callback };
    pending.push(timer);
    return () => {
      pending = pending.filter((p) => p !== timer);
    };
  };
  return {
    setTimer,
    /** Timers waiting to fire. */
    get count(): number {
      return pending.length;
    },
    /** Runs every timer due within `ms`, in time order, settling promises after each. */
    async advance(ms: number): Promise<void> {
      const end = clock.now() + ms;
      for (;;) {
        const due = pending.filter((p) => p.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
        if (due === undefined) break;
        pending = pending.filter((p) => p !== due);
        if (due.at > clock.now()) clock.set(due.at);
        due.callback();
        await settle();
      }
      clock.set(end);
      await settle();
    },
    /** Advances to an absolute time. */
    async advanceTo(epochMs: number): Promise<void> {
      await this.advance(Math.max(0, epochMs - clock.now()));
    },
  };
}

/** A promise with its resolve/reject in hand, for loaders a test finishes when it chooses. */
export function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
