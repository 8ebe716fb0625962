// The one test kit: promises settled by hand, polling for effects that cross a process or a network, turns of
// the event loop, seeded randomness, and the fake time source. Import from here instead of copying helpers.
import { setTimeout as realSleep } from 'node:timers/promises';
import type { FakeClock } from '../../src/testing/index.js';
import type { SetTimer } from '../../src/warming/timer.js';

export { createFakeClock, type FakeClock } from '../../src/testing/index.js';
export { sleepOn } from '../../src/clock.js';

/** A promise with its resolve/reject in hand, for loaders and calls a test finishes when it chooses. */
export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * Polls `check` until it holds; fails naming `what` after `ms` of real time. Only for effects that cross a
 * process or a network (bus delivery, a server restarting): anything the engine times itself runs on the fake
 * clock instead.
 */
export async function until(check: () => Promise<boolean> | boolean, what: string, ms = 5_000, every = 10): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() >= deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await realSleep(every);
  }
}

/**
 * Lets queued promise jobs, the ones they queue, and pending I/O callbacks run: `turns` macrotask turns, not a
 * sleep. Enough for in-memory work; anything that waits on a socket needs `until`.
 */
export async function drain(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Deterministic pseudo-random numbers in [0, 1) (xorshift32): the same seed gives the same run. */
export function seededRandom(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

/**
 * The seed of a randomized test: `process.env[name]` when set (to replay a run), a fresh random one otherwise.
 * Put it in every failure message so the run can be replayed.
 */
export function seedFrom(name = 'TORTURE_SEED'): number {
  const text = process.env[name];
  if (text === undefined || text === '') return Math.floor(Math.random() * 2 ** 32);
  const seed = Number(text);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new TypeError(`${name} must be a non-negative integer, got ${JSON.stringify(text)}`);
  return seed;
}

/**
 * `SetTimer` timers (the warming scheduler's and the hot-key refresher's) driven by a fake clock: `advance`
 * moves the clock to each due timer in turn and runs it, so the code under test reads exactly the time its
 * timer was due, and lets promises settle after each.
 */
export function createFakeTimers(clock: FakeClock) {
  interface Pending {
    at: number;
    seq: number;
    callback: () => void;
  }
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
        await drain();
      }
      clock.set(end);
      await drain();
    },
    /** Advances to an absolute time. */
    async advanceTo(epochMs: number): Promise<void> {
      await this.advance(Math.max(0, epochMs - clock.now()));
    },
  };
}
