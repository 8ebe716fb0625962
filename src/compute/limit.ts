/**
 * How many tasks may run at once, for everything in tiercache that bounds its own work: the file store's
 * filesystem operations, warming runs, the hot-key refresher.
 */

/**
 * Checks a `concurrency` option: an integer of at least 1. `owner` (a store's name) starts the message when
 * given, so the error says whose option it was.
 *
 * @throws {TypeError} naming the option and the value.
 */
export function checkConcurrency(value: unknown, owner?: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new TypeError(`${owner === undefined ? '' : `${owner}: `}concurrency must be an integer >= 1, got ${String(value)}`);
  }
  return value;
}

/**
 * A FIFO counting semaphore: at most `limit` tasks run, the rest wait their turn in the order they arrived.
 * Arrival order is the contract callers rely on: a warming run queues its tasks highest priority first, so
 * a slot freed by a fast task goes to the next most important one.
 *
 * @example
 * const limiter = new Limiter(4);
 * await Promise.all(paths.map((p) => limiter.run(() => readFile(p))));
 */
export class Limiter {
  readonly limit: number;
  #active = 0;
  // A queue with a moving head: shift() is O(n) on a long queue, and a warming run can queue thousands.
  #waiting: ((() => void) | undefined)[] = [];
  #head = 0;

  /** @param limit tasks running at once; checked as {@link checkConcurrency} does. */
  constructor(limit: number, owner?: string) {
    this.limit = checkConcurrency(limit, owner);
  }

  /** Tasks running now. */
  get active(): number {
    return this.#active;
  }

  /** Every slot is taken: a task run now would wait. */
  get full(): boolean {
    return this.#active >= this.limit;
  }

  /** Runs `task` once a slot is free; settles as it does. */
  async run<T>(task: () => T | Promise<T>): Promise<T> {
    if (this.#active < this.limit) this.#active++;
    // The slot is handed over by the finishing task, so `active` never dips and a newcomer cannot jump the queue.
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = this.#waiting[this.#head];
      if (next === undefined) {
        this.#active--;
      } else {
        this.#waiting[this.#head++] = undefined;
        if (this.#head > 1024 && this.#head * 2 > this.#waiting.length) {
          this.#waiting = this.#waiting.slice(this.#head);
          this.#head = 0;
        }
        next();
      }
    }
  }
}
