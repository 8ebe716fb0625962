import type { GetOrSetOptions, LoaderContext } from '../compute/types.js';
import { systemClock, type Clock } from '../clock.js';
import { checkConcurrency, Limiter } from '../compute/limit.js';
import { deadlineOf, type Ttl } from '../ttl.js';

/**
 * One value to compute ahead of demand (seed 001's `WarmingTask`).
 *
 * @example
 * const task: WarmingTask = { id: 'config', key: 'app:config', loader: loadConfig, priority: 100, ttl: '1h' };
 */
export interface WarmingTask<T = unknown> {
  /** Names the task in reports and errors; unique within a warmer. */
  id: string;
  /** A label for people (dashboards, logs). */
  name?: string;
  /** The cache key the loader's value is stored under. */
  key: string;
  loader: (context: LoaderContext) => T | Promise<T>;
  /** Higher runs first; equal priorities run in the order given. @default 0 */
  priority?: number;
  /** @default the cache's `defaultTtl` */
  ttl?: Ttl;
  tags?: readonly string[];
}

/** What a warming run needs of a cache; `Cache` satisfies it. */
export interface WarmableCache {
  /** True when the key holds a live, fresh value. */
  has(key: string): Promise<boolean>;
  /** Fenced: a value whose key or tags were invalidated while its loader ran is returned but not stored. */
  getOrSet<T>(key: string, loader: (context: LoaderContext) => T | Promise<T>, options?: GetOrSetOptions): Promise<T>;
}

export interface WarmProgress {
  /** Tasks finished so far, whatever their outcome. */
  done: number;
  total: number;
  generated: number;
  skipped: number;
  /** Tasks that failed so far. */
  errors: number;
  /** The task whose completion this report follows. */
  current?: string;
}

export interface WarmOptions {
  /** Recompute even the keys that hold a fresh value. @default false */
  force?: boolean;
  /** Stops starting new tasks once aborted; tasks already running finish (a loader cannot be interrupted). */
  signal?: AbortSignal;
  /**
   * Called after each task. An exception it throws is ignored: a broken progress display must not stop a
   * warm-up.
   */
  onProgress?: (progress: WarmProgress) => void;
  /** Loaders running at once. @default 4, or the warmer's `concurrency` */
  concurrency?: number;
}

export interface WarmError {
  taskId: string;
  key: string;
  error: unknown;
}

/** The seed's warming stats. Durations are milliseconds. */
export interface WarmReport {
  /**
   * Loaders that ran and returned a value. A value is still counted when an invalidation during its load kept
   * it out of the cache.
   */
  generated: number;
  /** Tasks whose key already held a fresh value (never with `force`). */
  skipped: number;
  errors: WarmError[];
  durationMs: number;
  /** The signal was aborted before every task had started; those not started are in no count. */
  aborted: boolean;
}

export interface WarmerOptions {
  /** Loaders running at once, unless a run says otherwise. @default 4 */
  concurrency?: number;
  /** Measures `durationMs`. @default systemClock */
  clock?: Clock;
}

/** Loaders a warming run keeps going at once unless told otherwise: enough to overlap I/O, few enough not to stampede a database. */
export const DEFAULT_WARM_CONCURRENCY = 4;

// Takes `unknown` so that `Array.isArray` narrows a copy of the value, not a typed readonly array into `any[]`.
function isStringArray(value: unknown): boolean {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

/** Throws a `TypeError` naming the task and the bad property; returns a frozen copy the caller cannot change under us. */
function checkTask(task: WarmingTask): Readonly<WarmingTask> {
  if (typeof task !== 'object' || task === null) throw new TypeError(`a warming task must be an object, got ${String(task)}`);
  const { id, key, loader, priority, ttl, tags } = task;
  if (typeof id !== 'string' || id.length === 0) throw new TypeError(`warming task id must be a non-empty string, got ${String(id)}`);
  if (typeof key !== 'string' || key.length === 0) throw new TypeError(`warming task ${JSON.stringify(id)}: key must be a non-empty string`);
  if (typeof loader !== 'function') throw new TypeError(`warming task ${JSON.stringify(id)}: loader must be a function`);
  if (priority !== undefined && (typeof priority !== 'number' || !Number.isFinite(priority))) {
    throw new TypeError(`warming task ${JSON.stringify(id)}: priority must be a finite number, got ${String(priority)}`);
  }
  if (ttl !== undefined) deadlineOf(ttl, 0, `warming task ${JSON.stringify(id)}: ttl`);
  if (tags !== undefined && !isStringArray(tags)) {
    throw new TypeError(`warming task ${JSON.stringify(id)}: tags must be an array of strings`);
  }
  return Object.freeze({ ...task, ...(tags === undefined ? {} : { tags: Object.freeze([...tags]) }) });
}

/** Highest priority first; `sort` is stable, so equal priorities keep their order. */
function byPriority(tasks: readonly Readonly<WarmingTask>[]): Readonly<WarmingTask>[] {
  return [...tasks].sort((a, b) => (b.priority ?? 0) - (a.priority ?? 0));
}

async function runTasks(
  cache: WarmableCache,
  ordered: readonly Readonly<WarmingTask>[],
  options: WarmOptions,
  concurrency: number,
  clock: Clock,
): Promise<WarmReport> {
  const started = clock.now();
  const { force = false, signal, onProgress } = options;
  const report: WarmReport = { generated: 0, skipped: 0, errors: [], durationMs: 0, aborted: false };
  let done = 0;

  const progress = (current: string) => {
    if (onProgress === undefined) return;
    try {
      onProgress({ done, total: ordered.length, generated: report.generated, skipped: report.skipped, errors: report.errors.length, current });
    } catch {
      // Deliberately ignored (see WarmOptions.onProgress).
    }
  };

  const runOne = async (task: Readonly<WarmingTask>) => {
    try {
      if (!force && (await cache.has(task.key))) {
        report.skipped++;
      } else {
        const write: GetOrSetOptions = { forceRefresh: true };
        if (task.ttl !== undefined) write.ttl = task.ttl;
        if (task.tags !== undefined) write.tags = task.tags;
        // `has` (or `force`) already decided this key needs a load: getOrSet must run the loader, not re-read.
        await cache.getOrSet(task.key, task.loader, write);
        report.generated++;
      }
    } catch (error) {
      report.errors.push({ taskId: task.id, key: task.key, error });
    }
    done++;
    progress(task.id);
  };

  // Queued in priority order and let through in arrival order, so a slot freed by a fast task goes to the next
  // most important one.
  const limiter = new Limiter(concurrency);
  await Promise.all(
    ordered.map((task) =>
      limiter.run(() => {
        if (signal?.aborted === true) {
          report.aborted = true;
          return undefined;
        }
        return runOne(task);
      }),
    ),
  );
  report.durationMs = Math.max(0, clock.now() - started);
  return report;
}

/**
 * Computes and caches the values of `tasks`, highest priority first, at most `concurrency` loaders at a
 * time. A task whose key is fresh in the cache is skipped unless `force`. One failing task never stops the
 * run: its error is in the report. Writes go through the cache's fenced `getOrSet`, so a value whose key or
 * tags are invalidated while it is computed is not cached.
 *
 * @example
 * const report = await warm(cache, [
 *   { id: 'config', key: 'app:config', loader: loadConfig, priority: 100 },
 *   { id: 'rates', key: 'fx:rates', loader: loadRates, ttl: '5m', tags: ['fx'] },
 * ], { concurrency: 2 });
 * // { generated: 2, skipped: 0, errors: [], durationMs: 840, aborted: false }
 */
export async function warm(
  cache: WarmableCache,
  tasks: Iterable<WarmingTask>,
  options: WarmOptions & { clock?: Clock } = {},
): Promise<WarmReport> {
  const concurrency = checkConcurrency(options.concurrency ?? DEFAULT_WARM_CONCURRENCY);
  const checked: Readonly<WarmingTask>[] = [];
  const ids = new Set<string>();
  for (const task of tasks) {
    const copy = checkTask(task);
    if (ids.has(copy.id)) throw new TypeError(`warming task id ${JSON.stringify(copy.id)} is used twice`);
    ids.add(copy.id);
    checked.push(copy);
  }
  return runTasks(cache, byPriority(checked), options, concurrency, options.clock ?? systemClock);
}

/**
 * A registry of warming tasks (seed 001's `register_warming_task`) that runs them on demand, from a
 * {@link Scheduler} or at start-up. A {@link Refresher} can also find loaders here, by key.
 *
 * @example
 * const warmer = new Warmer(cache, { concurrency: 4 });
 * warmer.register({ id: 'config', name: 'Application config', key: 'app:config', loader: loadConfig, priority: 100, ttl: '1h' });
 * const report = await warmer.run({ onProgress: (p) => console.log(`${p.done}/${p.total}`) });
 */
export class Warmer {
  readonly #cache: WarmableCache;
  readonly #concurrency: number;
  readonly #clock: Clock;
  readonly #tasks = new Map<string, Readonly<WarmingTask>>();
  readonly #byKey = new Map<string, Readonly<WarmingTask>>();

  constructor(cache: WarmableCache, options: WarmerOptions = {}) {
    if (typeof cache !== 'object' || cache === null || typeof cache.has !== 'function' || typeof cache.getOrSet !== 'function') {
      throw new TypeError('Warmer needs a cache with has() and getOrSet()');
    }
    this.#cache = cache;
    this.#concurrency = checkConcurrency(options.concurrency ?? DEFAULT_WARM_CONCURRENCY);
    this.#clock = options.clock ?? systemClock;
  }

  /**
   * Adds a task, or replaces the task with the same id. Throws a `TypeError` for a malformed task, or when
   * another task already warms the same key (two loaders for one key would overwrite each other).
   *
   * @example
   * warmer.register({ id: 'fx', key: 'fx:rates', loader: () => fetchRates(), priority: 10, ttl: '5m' });
   */
  register(task: WarmingTask): this {
    const copy = checkTask(task);
    const owner = this.#byKey.get(copy.key);
    if (owner !== undefined && owner.id !== copy.id) {
      throw new TypeError(`warming task ${JSON.stringify(copy.id)}: key ${JSON.stringify(copy.key)} is already warmed by task ${JSON.stringify(owner.id)}`);
    }
    const previous = this.#tasks.get(copy.id);
    if (previous !== undefined) this.#byKey.delete(previous.key);
    this.#tasks.set(copy.id, copy);
    this.#byKey.set(copy.key, copy);
    return this;
  }

  /**
   * Removes a task; false when there was none with this id.
   *
   * @example
   * warmer.unregister('fx'); // false when there was no such task
   */
  unregister(id: string): boolean {
    const task = this.#tasks.get(id);
    if (task === undefined) return false;
    this.#tasks.delete(id);
    this.#byKey.delete(task.key);
    return true;
  }

  get size(): number {
    return this.#tasks.size;
  }

  /**
   * The registered tasks, in the order they run.
   *
   * @example
   * const ids = warmer.tasks().map((task) => task.id); // highest priority first
   */
  tasks(): Readonly<WarmingTask>[] {
    return byPriority([...this.#tasks.values()]);
  }

  /**
   * The task that warms `key`, if any.
   *
   * @example
   * const loader = warmer.taskForKey('fx:rates')?.loader;
   */
  taskForKey(key: string): Readonly<WarmingTask> | undefined {
    return this.#byKey.get(key);
  }

  /**
   * Runs the registered tasks (or those named in `ids`), as {@link warm} does. Tasks registered or removed
   * while it runs do not change this run.
   *
   * @example
   * const { generated, skipped, errors } = await warmer.run({ concurrency: 2 });
   */
  async run(options: WarmOptions & { ids?: readonly string[] } = {}): Promise<WarmReport> {
    const concurrency = checkConcurrency(options.concurrency ?? this.#concurrency);
    let selected = [...this.#tasks.values()];
    if (options.ids !== undefined) {
      const unknown = options.ids.filter((id) => !this.#tasks.has(id));
      if (unknown.length > 0) throw new TypeError(`unknown warming task ids: ${unknown.map((id) => JSON.stringify(id)).join(', ')}`);
      const wanted = new Set(options.ids);
      selected = selected.filter((task) => wanted.has(task.id));
    }
    return runTasks(this.#cache, byPriority(selected), options, concurrency, this.#clock);
  }
}
