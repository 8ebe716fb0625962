/**
 * The time source of the whole engine: "now" for every deadline and the timers of every background job
 * (replays, sweeps, lease renewals, bus timeouts, warming). Inject a fake one in tests instead of sleeping
 * (`createFakeClock()` from `tiercache/testing`).
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /**
   * Calls `callback` once after `ms` milliseconds; the timer never keeps the process alive. Optional: a clock
   * without timers (`{ now }`) gets the system's, so a fake `now` alone still runs background work in real time.
   */
  setTimeout?(callback: () => void, ms: number): TimerHandle;
  /** Cancels a timer made by `setTimeout`; a handle already fired or cancelled is ignored. */
  clearTimeout?(handle: TimerHandle): void;
}

/** An opaque timer handle: only the clock that made it can cancel it. */
export type TimerHandle = object;

/** A clock with its timers: what the engine resolves every `Clock` it is given into. */
export interface TimeSource extends Clock {
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** Node clamps longer delays to 1 ms (with a warning); a longer wait is re-armed when the capped timer fires. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

function systemSetTimeout(callback: () => void, ms: number): TimerHandle {
  const handle = setTimeout(callback, Math.min(Math.max(0, ms), MAX_TIMER_DELAY_MS));
  handle.unref();
  return handle;
}

function systemClearTimeout(handle: TimerHandle): void {
  clearTimeout(handle as NodeJS.Timeout);
}

/** Wall-clock time and unref'ed Node timers. */
export const systemClock: TimeSource = { now: Date.now, setTimeout: systemSetTimeout, clearTimeout: systemClearTimeout };

/**
 * The full time source for a clock the user gave: its own timers when it has both, the system's otherwise.
 * Throws a `TypeError` naming `option` when it is not a clock.
 */
export function timeSourceOf(clock: Clock | undefined, option = 'clock'): TimeSource {
  if (clock === undefined) return systemClock;
  if (typeof clock !== 'object' || clock === null || typeof clock.now !== 'function') {
    throw new TypeError(`${option} must be an object with a now() method returning epoch milliseconds`);
  }
  const hasSet = clock.setTimeout !== undefined;
  const hasClear = clock.clearTimeout !== undefined;
  if (hasSet !== hasClear) throw new TypeError(`${option} must have both setTimeout and clearTimeout, or neither`);
  if (hasSet) {
    if (typeof clock.setTimeout !== 'function' || typeof clock.clearTimeout !== 'function') {
      throw new TypeError(`${option}.setTimeout and ${option}.clearTimeout must be functions`);
    }
    return clock as TimeSource;
  }
  return { now: () => clock.now(), setTimeout: systemSetTimeout, clearTimeout: systemClearTimeout };
}

/** Resolves after `ms` on `clock`'s timers (fake time in tests). */
export function sleepOn(clock: TimeSource, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}
