import { timeSourceOf, type Clock } from '../clock.js';

/**
 * Calls `callback` once after `delayMs`; the returned function cancels the call. Injected in tests so that
 * time is driven by hand instead of slept.
 */
export type SetTimer = (callback: () => void, delayMs: number) => () => void;

/** Node clamps longer delays to 1 ms (with a warning); callers re-arm when a capped timer fires early. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/**
 * The default {@link SetTimer}: `setTimeout`, unref'ed so that a pending warming or refresh timer never keeps
 * the process alive.
 *
 * @example
 * const cancel = unrefTimer(() => console.log('later'), 5_000);
 * cancel();
 */
export const unrefTimer: SetTimer = (callback, delayMs) => {
  const handle = setTimeout(callback, Math.min(Math.max(0, delayMs), MAX_TIMER_DELAY_MS));
  handle.unref();
  return () => clearTimeout(handle);
};

/**
 * The {@link SetTimer} of a time source: its own timers (a fake clock's in tests), the system's unref'ed ones for
 * a clock with `now` only.
 *
 * @example
 * const setTimer = timerOf(createFakeClock());
 */
export function timerOf(clock: Clock | undefined): SetTimer {
  const time = timeSourceOf(clock);
  return (callback, delayMs) => {
    const handle = time.setTimeout(callback, delayMs);
    return () => time.clearTimeout(handle);
  };
}
