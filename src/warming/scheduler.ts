import { systemClock, type Clock } from '../clock.js';
import { CacheError } from '../errors.js';
import { parseDuration } from '../ttl.js';
import { checkCronTimezone, CronExpression, type CronTimezone } from './cron.js';
import type { Lease } from './lease.js';
import { MAX_TIMER_DELAY_MS, timerOf, type SetTimer } from './timer.js';

/** What a scheduled run is told about its firing. */
export interface FiringContext {
  /** The schedule's name. */
  readonly name: string;
  /** The time this firing was due, as the cron expression computes it (not when the timer actually ran). */
  readonly fireAt: Date;
}

/**
 * A job run on a cron schedule.
 *
 * @example
 * scheduler.add({ name: 'nightly-warm', cron: '0 2 * * *', run: () => warmer.run() });
 */
export interface Schedule {
  /** Unique within a scheduler; with a lease, it names the job across instances. */
  name: string;
  /** A cron expression, or a parsed one (whose own timezone then applies). */
  cron: string | CronExpression;
  run: (context: FiringContext) => Promise<unknown>;
}

export interface ScheduleStatus {
  name: string;
  cron: string;
  /** `undefined` once the expression has no further firing. */
  nextRunAt: Date | undefined;
  /** A run of this schedule is in progress here. */
  running: boolean;
  /** Runs started here. */
  runs: number;
  /** Firings skipped here because the previous run had not finished. */
  skippedOverlap: number;
  /** Firings another instance holds the lease of (so it ran them). */
  skippedLease: number;
  /** Firings missed because the timer came late (a suspended process, a blocked event loop); only the latest runs. */
  missed: number;
  /** Runs that threw, and firings whose lease could not be asked for. */
  errors: number;
  /** When the latest run started here was due. */
  lastRunAt: Date | undefined;
  lastError: unknown;
}

export interface SchedulerOptions {
  /** The time source: `now` for firing times and, when it has them, its timers (a fake clock drives schedules in tests). @default systemClock */
  clock?: Clock;
  /**
   * @deprecated Give `clock` a time source with timers instead.
   * @default the clock's timers, else `setTimeout` unref'ed: a pending schedule never keeps the process alive
   */
  setTimer?: SetTimer;
  /**
   * Shared between the instances of a service so that each firing runs on one of them only. The lease is
   * named `<schedule name>@<fire time ISO>`, so instances whose timers fire a little apart still contend for
   * the same one. Without it every instance runs every firing.
   */
  lease?: Lease;
  /**
   * How long a firing's lease is held. It is not released after the run, so that an instance whose timer
   * fires late cannot run that firing again; a longer run does not need a longer lease, since the next firing
   * has a lease of its own.
   * @default the time until the schedule's following firing, at least 1 s
   */
  leaseTtl?: number | string;
  /** Time zone of expressions given as strings: `'UTC'`, `'local'` or an IANA name (`'Europe/Paris'`). @default 'local' */
  timezone?: CronTimezone;
  /** Told about every failed run and every lease that could not be asked for. Failures are also counted in `status()`. */
  onError?: (error: unknown, context: FiringContext) => void;
}

interface Entry {
  readonly name: string;
  readonly cron: CronExpression;
  readonly run: (context: FiringContext) => Promise<unknown>;
  fireAt: number | undefined;
  cancel: (() => void) | undefined;
  inFlight: Promise<void> | undefined;
  removed: boolean;
  runs: number;
  skippedOverlap: number;
  skippedLease: number;
  missed: number;
  errors: number;
  lastRunAt: number | undefined;
  lastError: unknown;
}

const MIN_LEASE_MS = 1_000;
/** A timer that comes this late skips at most this many firings one by one before giving up counting. */
const MAX_MISSED_STEPS = 10_000;

/**
 * Runs jobs on cron schedules (seed 000's nightly warm-up, seed 001's background warming).
 *
 * - Timers are unref'ed: a scheduler never keeps the process alive.
 * - No overlap: a firing that comes while the same schedule's previous run is still going is skipped (and counted).
 * - With a `lease`, each firing runs on one instance only.
 * - A timer that comes late runs the latest firing due once; the earlier ones are counted as missed.
 *
 * @example
 * const scheduler = new Scheduler({ lease: storeLease(redis), timezone: 'UTC' });
 * scheduler.add({ name: 'nightly', cron: '0 2 * * *', run: () => warmer.run() });
 * scheduler.add({ name: 'weekly', cron: '0 1 * * SUN', run: () => warmWeekly() });
 * // on shutdown
 * await scheduler.stop();
 */
export class Scheduler {
  readonly #clock: Clock;
  readonly #setTimer: SetTimer;
  readonly #lease: Lease | undefined;
  readonly #leaseTtl: number | undefined;
  readonly #timezone: CronTimezone;
  readonly #onError: ((error: unknown, context: FiringContext) => void) | undefined;
  readonly #entries = new Map<string, Entry>();
  #stopped = false;

  constructor(options: SchedulerOptions = {}) {
    const { clock = systemClock, lease, leaseTtl, timezone = 'local', onError } = options;
    if (typeof clock !== 'object' || clock === null || typeof clock.now !== 'function') throw new TypeError('clock must have a now() method');
    const setTimer = options.setTimer ?? timerOf(clock);
    if (typeof setTimer !== 'function') throw new TypeError('setTimer must be a function');
    if (lease !== undefined && (typeof lease.acquire !== 'function' || typeof lease.release !== 'function')) {
      throw new TypeError('lease must have acquire() and release()');
    }
    if (onError !== undefined && typeof onError !== 'function') throw new TypeError('onError must be a function');
    this.#clock = clock;
    this.#setTimer = setTimer;
    this.#lease = lease;
    this.#leaseTtl = leaseTtl === undefined ? undefined : parseDuration(leaseTtl, 'leaseTtl');
    if (this.#leaseTtl === 0) throw new TypeError('leaseTtl must be greater than 0');
    this.#timezone = checkCronTimezone(timezone);
    this.#onError = onError;
  }

  /**
   * Starts a schedule. Throws a `TypeError` for a bad expression or a name already in use, and `E_CLOSED`
   * once the scheduler is stopped.
   *
   * @example
   * scheduler.add({ name: 'nightly', cron: '0 2 * * *', run: () => warmer.run() });
   */
  add(schedule: Schedule): this {
    if (this.#stopped) throw new CacheError('E_CLOSED', 'the scheduler is stopped');
    if (typeof schedule !== 'object' || schedule === null) throw new TypeError('add expects { name, cron, run }');
    const { name, cron, run } = schedule;
    if (typeof name !== 'string' || name.length === 0) throw new TypeError('schedule name must be a non-empty string');
    if (this.#entries.has(name)) throw new TypeError(`a schedule named ${JSON.stringify(name)} already exists`);
    if (typeof run !== 'function') throw new TypeError(`schedule ${JSON.stringify(name)}: run must be a function`);
    const expression = cron instanceof CronExpression ? cron : new CronExpression(cron, { timezone: this.#timezone });
    const entry: Entry = {
      name,
      cron: expression,
      run,
      fireAt: undefined,
      cancel: undefined,
      inFlight: undefined,
      removed: false,
      runs: 0,
      skippedOverlap: 0,
      skippedLease: 0,
      missed: 0,
      errors: 0,
      lastRunAt: undefined,
      lastError: undefined,
    };
    this.#entries.set(name, entry);
    this.#arm(entry, expression.nextAfter(this.#clock.now())?.getTime());
    return this;
  }

  /**
   * Stops a schedule (a run in progress finishes). False when there is none by that name.
   *
   * @example
   * scheduler.remove('nightly'); // false when there was none
   */
  remove(name: string): boolean {
    const entry = this.#entries.get(name);
    if (entry === undefined) return false;
    this.#disarm(entry);
    this.#entries.delete(name);
    return true;
  }

  /**
   * Counters and next firing of every schedule, or of one (`undefined` if unknown).
   *
   * @example
   * const nightly = scheduler.status('nightly'); // { nextRunAt, running, runs, skippedOverlap, ... }
   */
  status(): ScheduleStatus[];
  status(name: string): ScheduleStatus | undefined;
  status(name?: string): ScheduleStatus[] | ScheduleStatus | undefined {
    if (name !== undefined) {
      const entry = this.#entries.get(name);
      return entry === undefined ? undefined : statusOf(entry);
    }
    return [...this.#entries.values()].map(statusOf);
  }

  /**
   * Cancels every timer, then resolves once the runs in progress have finished. Idempotent.
   *
   * @example
   * await scheduler.stop();
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    const running: Promise<void>[] = [];
    for (const entry of this.#entries.values()) {
      this.#disarm(entry);
      if (entry.inFlight !== undefined) running.push(entry.inFlight);
    }
    await Promise.all(running);
  }

  #disarm(entry: Entry): void {
    entry.removed = true;
    entry.cancel?.();
    entry.cancel = undefined;
    entry.fireAt = undefined;
  }

  #arm(entry: Entry, fireAt: number | undefined): void {
    entry.fireAt = fireAt;
    entry.cancel = undefined;
    if (fireAt === undefined || entry.removed) return;
    // Capped because timers overflow past ~24.8 days; an early wake-up re-arms for the rest.
    const delay = Math.min(Math.max(0, fireAt - this.#clock.now()), MAX_TIMER_DELAY_MS);
    entry.cancel = this.#setTimer(() => this.#wake(entry), delay);
  }

  #wake(entry: Entry): void {
    const armed = entry.fireAt;
    if (entry.removed || armed === undefined) return;
    const now = this.#clock.now();
    if (now < armed) {
      this.#arm(entry, armed);
      return;
    }
    let due = armed;
    let next = entry.cron.nextAfter(due)?.getTime();
    for (let steps = 0; next !== undefined && next <= now && steps < MAX_MISSED_STEPS; steps++) {
      entry.missed++;
      due = next;
      next = entry.cron.nextAfter(due)?.getTime();
    }
    if (next !== undefined && next <= now) next = entry.cron.nextAfter(now)?.getTime();
    this.#arm(entry, next);
    this.#fire(entry, due, next);
  }

  #fire(entry: Entry, due: number, following: number | undefined): void {
    if (entry.inFlight !== undefined) {
      entry.skippedOverlap++;
      return;
    }
    const context: FiringContext = { name: entry.name, fireAt: new Date(due) };
    const inFlight = this.#runFiring(entry, context, following);
    entry.inFlight = inFlight;
    // Deliberately not awaited: #runFiring never rejects, and stop() awaits entry.inFlight.
    void inFlight.finally(() => {
      if (entry.inFlight === inFlight) entry.inFlight = undefined;
    });
  }

  async #runFiring(entry: Entry, context: FiringContext, following: number | undefined): Promise<void> {
    try {
      const lease = this.#lease;
      if (lease !== undefined) {
        const due = context.fireAt.getTime();
        const ttl = this.#leaseTtl ?? Math.max(MIN_LEASE_MS, (following ?? due + MIN_LEASE_MS) - due);
        const name = `${entry.name}@${context.fireAt.toISOString()}`;
        const token = await lease.acquire(name, ttl);
        if (token === undefined) {
          entry.skippedLease++;
          return;
        }
        if (entry.removed) {
          // Stopped while the lease was being taken: let another instance have this firing.
          await lease.release(name, token);
          return;
        }
      }
      entry.runs++;
      entry.lastRunAt = context.fireAt.getTime();
      await entry.run(context);
    } catch (error) {
      entry.errors++;
      entry.lastError = error;
      this.#report(error, context);
    }
  }

  #report(error: unknown, context: FiringContext): void {
    if (this.#onError === undefined) return;
    try {
      this.#onError(error, context);
    } catch (thrown) {
      process.emitWarning(`tiercache: a scheduler onError handler threw: ${String(thrown)}`);
    }
  }
}

function statusOf(entry: Entry): ScheduleStatus {
  return {
    name: entry.name,
    cron: entry.cron.expression,
    nextRunAt: entry.fireAt === undefined ? undefined : new Date(entry.fireAt),
    running: entry.inFlight !== undefined,
    runs: entry.runs,
    skippedOverlap: entry.skippedOverlap,
    skippedLease: entry.skippedLease,
    missed: entry.missed,
    errors: entry.errors,
    lastRunAt: entry.lastRunAt === undefined ? undefined : new Date(entry.lastRunAt),
    lastError: entry.lastError,
  };
}
