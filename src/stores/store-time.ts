import { timeSourceOf, type Clock, type TimeSource, type TimerHandle } from '../clock.js';
import type { StoreContext } from './contract.js';

/**
 * A store's time: the clock it was given, else the clock of the first cache that attaches it
 * (`Store.attach`), else the system's. Timers made through `every` move to the attached clock, so a store
 * built without a clock runs its housekeeping on a cache's fake time in tests.
 */
export class StoreTime implements Clock {
  #source: TimeSource;
  readonly #explicit: boolean;
  #attached = false;
  readonly #moved = new Set<() => void>();

  constructor(clock: Clock | undefined, option = 'clock') {
    this.#source = timeSourceOf(clock, option);
    this.#explicit = clock !== undefined;
  }

  now(): number {
    return this.#source.now();
  }

  get source(): TimeSource {
    return this.#source;
  }

  /** Takes the cache's clock unless the store has its own or another cache attached it first. */
  attach(context: StoreContext): void {
    if (this.#explicit || this.#attached) return;
    this.#attached = true;
    this.#source = context.clock;
    for (const move of this.#moved) move();
  }

  /**
   * Calls `tick` every `intervalMs` until `stop()`; the timer never keeps the process alive. Intervals past
   * 2^31-1 ms are clamped, since Node fires longer ones at once.
   */
  every(intervalMs: number, tick: () => void): { stop(): void } {
    const ms = Math.min(intervalMs, 2 ** 31 - 1);
    let source = this.#source;
    let handle: TimerHandle | undefined;
    let stopped = false;
    const schedule = (): void => {
      source = this.#source;
      handle = source.setTimeout(fire, ms);
    };
    const fire = (): void => {
      handle = undefined;
      if (stopped) return;
      schedule();
      tick();
    };
    const move = (): void => {
      if (handle !== undefined) source.clearTimeout(handle);
      if (!stopped) schedule();
    };
    this.#moved.add(move);
    schedule();
    return {
      stop: () => {
        stopped = true;
        this.#moved.delete(move);
        if (handle !== undefined) source.clearTimeout(handle);
        handle = undefined;
      },
    };
  }
}
