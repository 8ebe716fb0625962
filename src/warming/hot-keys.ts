import type { Cache, GetOrSetOptions, KeyInfo, LoaderContext } from '../cache.js';
import { systemClock, type Clock } from '../clock.js';
import { Limiter } from '../compute/limit.js';
import { parseDuration, type Ttl } from '../ttl.js';
import { timerOf, type SetTimer } from './timer.js';
import type { WarmingTask } from './warmer.js';

export interface HotKeysOptions {
  /**
   * Most keys tracked at once. When a new key would exceed it, the least read quarter is forgotten, so memory
   * stays bounded whatever the key space.
   * @default 1000
   */
  capacity?: number;
  /** Every score halves over this much time, so old reads count less and less. @default '1m' */
  halfLife?: number | string;
  /**
   * The score from which a key is hot. A key read steadily `r` times per half-life settles at a score of
   * about `1.44 × r`, so the default means "read at least about twice per half-life".
   * @default 3
   */
  hotScore?: number;
  /** @default systemClock */
  clock?: Clock;
}

export interface HotKey {
  key: string;
  /** Reads, each weighted by how recent it is: one read now is 1, one read a half-life ago is 0.5. */
  score: number;
}

/** What `attach` needs of a cache; `Cache` satisfies it. */
export type CacheEventSource = Pick<Cache, 'on' | 'off'>;

/** Growth factor exponent past which stored scores are scaled back, long before a double loses precision. */
const RESCALE_EXPONENT = 64;

/**
 * Learns which keys are read often lately (seed 001's usage-pattern learning): a bounded map of
 * exponentially decayed read counts.
 *
 * Decay costs nothing per key: instead of halving every count each half-life, each new read adds a weight
 * that doubles every half-life, and scores are divided back when read. A read is one `Map` update.
 *
 * @example
 * const hot = new HotKeys({ capacity: 5_000, halfLife: '5m' });
 * const detach = hot.attach(cache); // counts every hit and miss
 * hot.top(10); // [{ key: 'user:42', score: 17.3 }, ...]
 */
export class HotKeys {
  readonly #capacity: number;
  readonly #halfLife: number;
  readonly #hotScore: number;
  readonly #clock: Clock;

  /** The time source the scores decay on (a refresher over this tracker runs its timers on it too). */
  get clock(): Clock {
    return this.#clock;
  }
  /** Scores multiplied by 2^((base - now) / halfLife) give today's score. */
  readonly #scores = new Map<string, number>();
  #base: number;

  constructor(options: HotKeysOptions = {}) {
    const { capacity = 1000, halfLife = '1m', hotScore = 3, clock = systemClock } = options;
    if (!Number.isInteger(capacity) || capacity < 1) throw new TypeError(`capacity must be an integer >= 1, got ${String(capacity)}`);
    const halfLifeMs = parseDuration(halfLife, 'halfLife');
    if (halfLifeMs === 0) throw new TypeError('halfLife must be greater than 0');
    if (typeof hotScore !== 'number' || !(hotScore > 0) || !Number.isFinite(hotScore)) {
      throw new TypeError(`hotScore must be a finite number > 0, got ${String(hotScore)}`);
    }
    if (typeof clock !== 'object' || clock === null || typeof clock.now !== 'function') throw new TypeError('clock must have a now() method');
    this.#capacity = capacity;
    this.#halfLife = halfLifeMs;
    this.#hotScore = hotScore;
    this.#clock = clock;
    this.#base = clock.now();
  }

  /**
   * Counts `weight` (default 1, must be >= 0) reads of `key` now. One `Map` update; no validation, since it runs per cache read.
   *
   * @example
   * hotKeys.record('fx:usd'); // one read now
   * hotKeys.record('report:q1', 5); // five reads now
   */
  record(key: string, weight = 1): void {
    const now = this.#clock.now();
    let exponent = (now - this.#base) / this.#halfLife;
    if (exponent > RESCALE_EXPONENT) {
      this.#rescale(now);
      exponent = 0;
    }
    const add = weight * 2 ** exponent;
    const previous = this.#scores.get(key);
    this.#scores.set(key, previous === undefined ? add : previous + add);
    if (previous === undefined && this.#scores.size > this.#capacity) this.#shrink();
  }

  /**
   * The decayed read count of `key` (0 when untracked).
   *
   * @example
   * const reads = hotKeys.score('fx:usd'); // 1 right after one read, 0.5 one half-life later
   */
  score(key: string): number {
    const stored = this.#scores.get(key);
    return stored === undefined ? 0 : stored * this.#decay();
  }

  /**
   * True when the score of `key` is at least `hotScore`.
   *
   * @example
   * if (hotKeys.isHot('fx:usd')) await refresh('fx:usd');
   */
  isHot(key: string): boolean {
    return this.score(key) >= this.#hotScore;
  }

  /**
   * The `limit` keys with the highest scores, highest first.
   *
   * @example
   * for (const { key, score } of hotKeys.top(5)) log.info({ key, score }, 'hot key');
   */
  top(limit = 10): HotKey[] {
    return this.#ranked(0, limit);
  }

  /**
   * The hot keys (score at least `hotScore`), hottest first.
   *
   * @example
   * const keys = hotKeys.hot().map((hot) => hot.key);
   */
  hot(): HotKey[] {
    return this.#ranked(this.#hotScore, Number.POSITIVE_INFINITY);
  }

  /** Keys tracked now (never more than `capacity`). */
  get size(): number {
    return this.#scores.size;
  }

  /**
   * Stops tracking `key`; true when it was tracked.
   *
   * @example
   * hotKeys.forget('fx:usd'); // true when it was tracked
   */
  forget(key: string): boolean {
    return this.#scores.delete(key);
  }

  /**
   * Forgets every key.
   *
   * @example
   * hotKeys.clear();
   */
  clear(): void {
    this.#scores.clear();
    this.#base = this.#clock.now();
  }

  /**
   * Counts every `hit` and `miss` of `cache` (keys as events carry them: namespace included). Listening to
   * hits makes the cache build an event payload per hit, the price of learning from them. Returns a function
   * that stops listening.
   *
   * @example
   * const detach = hotKeys.attach(cache);
   * // later
   * detach();
   */
  attach(cache: CacheEventSource): () => void {
    const onRead = (event: { key: string }) => this.record(event.key);
    cache.on('hit', onRead);
    cache.on('miss', onRead);
    return () => {
      cache.off('hit', onRead);
      cache.off('miss', onRead);
    };
  }

  #decay(): number {
    return 2 ** ((this.#base - this.#clock.now()) / this.#halfLife);
  }

  #ranked(minScore: number, limit: number): HotKey[] {
    const decay = this.#decay();
    const out: HotKey[] = [];
    for (const [key, stored] of this.#scores) {
      const score = stored * decay;
      if (score >= minScore) out.push({ key, score });
    }
    out.sort((a, b) => b.score - a.score);
    if (out.length > limit) out.length = Math.max(0, limit);
    return out;
  }

  /** Moves the base to now, dividing stored scores accordingly; scores that became negligible are dropped. */
  #rescale(now: number): void {
    const decay = 2 ** ((this.#base - now) / this.#halfLife);
    this.#base = now;
    for (const [key, stored] of this.#scores) {
      const score = stored * decay;
      if (score < 1e-9) this.#scores.delete(key);
      else this.#scores.set(key, score);
    }
  }

  /**
   * Forgets the lowest-scored keys down to three quarters of the capacity. Run once per capacity/4 new keys,
   * its sort costs O(log capacity) per new key, amortised.
   */
  #shrink(): void {
    const keep = Math.max(1, Math.floor((this.#capacity * 3) / 4));
    const sorted = Float64Array.from(this.#scores.values()).sort();
    const cutoff = sorted[sorted.length - keep] as number;
    for (const [key, stored] of this.#scores) if (stored < cutoff) this.#scores.delete(key);
    // Ties at the cutoff: the oldest-inserted go first.
    for (const [key, stored] of this.#scores) {
      if (this.#scores.size <= keep) break;
      if (stored === cutoff) this.#scores.delete(key);
    }
  }
}

/** What a {@link Refresher} needs of a cache; `Cache` satisfies it. */
export interface RefreshableCache {
  inspect(key: string): Promise<Pick<KeyInfo, 'ttlRemaining' | 'createdAt' | 'expiresAt' | 'stale'> | undefined>;
  getOrSet<T>(key: string, loader: (context: LoaderContext) => T | Promise<T>, options?: GetOrSetOptions): Promise<T>;
  /** Prefix of this view's keys in events (`''` for a cache, `'name:'` for a namespace). @default '' */
  readonly namespacePath?: string;
}

export interface RefreshOptions {
  /** @default the cache's `defaultTtl` */
  ttl?: Ttl;
  tags?: readonly string[];
}

/** Where a refresher also finds loaders, by key: a `Warmer` is one. */
export interface TaskSource {
  taskForKey(key: string): Pick<WarmingTask, 'loader' | 'ttl' | 'tags'> | undefined;
}

export interface RefresherOptions {
  /** Which keys are hot. Attach it to the cache (`hotKeys.attach(cache)`) so it learns. */
  hotKeys: HotKeys;
  /** Warming tasks to take loaders from, besides those given to `register`. */
  tasks?: TaskSource;
  /** How often hot keys are checked. Keep it well under `refreshAhead × ttl`. @default '5s' */
  interval?: number | string;
  /** A hot key is refreshed once less than this fraction of its TTL remains. @default 0.2 */
  refreshAhead?: number;
  /** Refreshes running at once. @default 4 */
  concurrency?: number;
  /**
   * @deprecated Give the `HotKeys` tracker a clock with timers instead: the refresher runs on its time source.
   * @default the tracker's clock's timers, else `setTimeout` unref'ed
   */
  setTimer?: SetTimer;
  /** Told about each failed refresh (the entry then simply expires). */
  onError?: (error: unknown, key: string) => void;
}

export interface RefreshReport {
  /** Hot keys with a loader whose entry was looked at. */
  checked: number;
  /** Refreshes started by this pass. */
  started: number;
  /** Refreshes of this pass that failed. */
  failed: number;
}

interface Registered {
  loader: (context: LoaderContext) => unknown;
  options: GetOrSetOptions;
}

/**
 * Refreshes hot keys before they expire (seed 001's background warming driven by usage): every `interval`,
 * each hot key that has a loader and is cached with less than `refreshAhead` of its TTL left (or is stale)
 * is recomputed through the fenced `getOrSet`, at most one refresh per key at a time. Cold keys are left to
 * expire; keys that are not cached at all are left to their next reader.
 *
 * @example
 * const hotKeys = new HotKeys({ halfLife: '5m' });
 * hotKeys.attach(cache);
 * const refresher = new Refresher(cache, { hotKeys, tasks: warmer }).start();
 * refresher.register('fx:rates', loadRates, { ttl: '5m', tags: ['fx'] });
 */
export class Refresher {
  readonly #cache: RefreshableCache;
  readonly #hotKeys: HotKeys;
  readonly #tasks: TaskSource | undefined;
  readonly #interval: number;
  readonly #refreshAhead: number;
  /** Bounds the refreshes running at once, across passes (a manual tick can overlap a timed one). */
  readonly #limiter: Limiter;
  readonly #setTimer: SetTimer;
  readonly #onError: ((error: unknown, key: string) => void) | undefined;
  readonly #loaders = new Map<string, Registered>();
  /** Keys being refreshed, with the refresh. */
  readonly #inFlight = new Map<string, Promise<boolean>>();
  #cancel: (() => void) | undefined;
  #running = false;

  constructor(cache: RefreshableCache, options: RefresherOptions) {
    const { hotKeys, tasks, interval = '5s', refreshAhead = 0.2, concurrency = 4, onError } = options;
    if (!(hotKeys instanceof HotKeys)) throw new TypeError('hotKeys must be a HotKeys tracker');
    const setTimer = options.setTimer ?? timerOf(hotKeys.clock);
    if (tasks !== undefined && typeof tasks.taskForKey !== 'function') throw new TypeError('tasks must have taskForKey()');
    const intervalMs = parseDuration(interval, 'interval');
    if (intervalMs === 0) throw new TypeError('interval must be greater than 0');
    if (typeof refreshAhead !== 'number' || !(refreshAhead > 0 && refreshAhead < 1)) {
      throw new TypeError(`refreshAhead must be a fraction between 0 and 1, got ${String(refreshAhead)}`);
    }
    const limiter = new Limiter(concurrency);
    if (typeof setTimer !== 'function') throw new TypeError('setTimer must be a function');
    this.#cache = cache;
    this.#hotKeys = hotKeys;
    this.#tasks = tasks;
    this.#interval = intervalMs;
    this.#refreshAhead = refreshAhead;
    this.#limiter = limiter;
    this.#setTimer = setTimer;
    this.#onError = onError;
  }

  /**
   * Gives `key` (as the cache is called with it) a loader to refresh it with; replaces an earlier one.
   *
   * @example
   * refresher.register('fx:rates', () => fetchRates(), { ttl: '5m', tags: ['fx'] });
   */
  register<T>(key: string, loader: (context: LoaderContext) => T | Promise<T>, options: RefreshOptions = {}): this {
    if (typeof key !== 'string' || key.length === 0) throw new TypeError('key must be a non-empty string');
    if (typeof loader !== 'function') throw new TypeError(`loader for ${JSON.stringify(key)} must be a function`);
    this.#loaders.set(key, { loader, options: writeOptions(options.ttl, options.tags) });
    return this;
  }

  /**
   * Removes the loader of `key`; true when it had one.
   *
   * @example
   * refresher.unregister('fx:rates'); // true when it had a loader
   */
  unregister(key: string): boolean {
    return this.#loaders.delete(key);
  }

  /**
   * Checks hot keys every `interval` from now on.
   *
   * @example
   * const refresher = new Refresher(cache, { hotKeys }).start();
   */
  start(): this {
    if (!this.#running) {
      this.#running = true;
      this.#schedule();
    }
    return this;
  }

  /**
   * Stops checking, then resolves once the refreshes in progress have finished.
   *
   * @example
   * process.on('SIGTERM', () => void refresher.stop());
   */
  async stop(): Promise<void> {
    this.#running = false;
    this.#cancel?.();
    this.#cancel = undefined;
    await Promise.all(this.#inFlight.values());
  }

  /**
   * One pass over the hot keys; resolves when the refreshes it started have finished.
   *
   * @example
   * const { checked, started, failed } = await refresher.tick(); // one pass now, as the timer would
   */
  async tick(): Promise<RefreshReport> {
    const { report, refreshes } = await this.#scan();
    const results = await Promise.all(refreshes);
    report.failed = results.filter((ok) => !ok).length;
    return report;
  }

  #schedule(): void {
    this.#cancel = this.#setTimer(() => {
      this.#cancel = undefined;
      // Deliberately not awaited: refreshes outlive the pass, and #scan reports its own failures. The next
      // pass is armed once this one has looked at every key, so passes never pile up.
      void this.#scan()
        .catch((error: unknown) => this.#report(error, ''))
        .finally(() => {
          if (this.#running) this.#schedule();
        });
    }, this.#interval);
  }

  async #scan(): Promise<{ report: RefreshReport; refreshes: Promise<boolean>[] }> {
    const report: RefreshReport = { checked: 0, started: 0, failed: 0 };
    const refreshes: Promise<boolean>[] = [];
    const prefix = this.#cache.namespacePath ?? '';
    for (const { key: eventKey } of this.#hotKeys.hot()) {
      if (this.#limiter.full) break;
      if (!eventKey.startsWith(prefix)) continue;
      const key = eventKey.slice(prefix.length);
      if (this.#inFlight.has(key)) continue;
      const source = this.#sourceFor(key);
      if (source === undefined) continue;
      report.checked++;
      let info;
      try {
        info = await this.#cache.inspect(key);
      } catch (error) {
        this.#report(error, key);
        continue;
      }
      if (info === undefined) continue;
      const lifetime = info.expiresAt.getTime() - info.createdAt.getTime();
      if (!info.stale && info.ttlRemaining > lifetime * this.#refreshAhead) continue;
      // Re-checked: another pass (a manual tick) may have started it during the await above.
      if (this.#inFlight.has(key)) continue;
      report.started++;
      refreshes.push(this.#refresh(key, source));
    }
    return { report, refreshes };
  }

  #sourceFor(key: string): Registered | undefined {
    const registered = this.#loaders.get(key);
    if (registered !== undefined) return registered;
    const task = this.#tasks?.taskForKey(key);
    return task === undefined ? undefined : { loader: task.loader, options: writeOptions(task.ttl, task.tags) };
  }

  /** Resolves to whether the refresh succeeded; never rejects. */
  #refresh(key: string, source: Registered): Promise<boolean> {
    const refresh = this.#limiter.run(() => this.#cache.getOrSet(key, source.loader, source.options)).then(
      () => true,
      (error: unknown) => {
        this.#report(error, key);
        return false;
      },
    );
    this.#inFlight.set(key, refresh);
    void refresh.then(() => {
      if (this.#inFlight.get(key) === refresh) this.#inFlight.delete(key);
    });
    return refresh;
  }

  #report(error: unknown, key: string): void {
    if (this.#onError === undefined) return;
    try {
      this.#onError(error, key);
    } catch (thrown) {
      process.emitWarning(`tiercache: a refresher onError handler threw: ${String(thrown)}`);
    }
  }
}

function writeOptions(ttl: Ttl | undefined, tags: readonly string[] | undefined): GetOrSetOptions {
  const options: GetOrSetOptions = { forceRefresh: true };
  if (ttl !== undefined) options.ttl = ttl;
  if (tags !== undefined) options.tags = tags;
  return options;
}
