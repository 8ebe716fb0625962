// Invalidation: the one place a selection (tags, a whole user, a pattern, the keys of a date range) becomes a
// `Cache.invalidate` call, and the per-user index is told what went. The ten triggers arrive here as plans.
import type { InvalidateSelection, PatternOptions } from '../cache.js';
import type { Clock } from '../clock.js';
import { isCacheError } from '../errors.js';
import { compilePattern } from '../freshness/pattern.js';
import { escapeSegment } from '../keys/escape.js';
import { requireArray, requireString, toDay } from './check.js';
import type { ForecastIndex, Indexed, Span } from './key-index.js';
import type { CacheHandle } from './open.js';
import { MS_PER_DAY, type Planner } from './plan.js';
import { InvalidationTrigger, planInvalidation, userTag, type InvalidationPlan, type TriggerPayloads } from './triggers.js';
import type { DateRangeOptions, ForecastInvalidateOptions, TriggerOptions } from './types.js';

/** Inspected at once while a date range looks at keys this instance did not write. */
const INSPECT_BATCH = 32;

export class Invalidator {
  readonly #handle: CacheHandle;
  readonly #clock: Clock;
  readonly #index: ForecastIndex;
  readonly #planner: Planner;
  readonly #triggeredBy: string;
  /** False once the cache refused a pattern (a store that cannot list keys, such as Memcached). */
  #patterns = true;

  constructor(handle: CacheHandle, clock: Clock, index: ForecastIndex, planner: Planner, triggeredBy: string) {
    this.#handle = handle;
    this.#clock = clock;
    this.#index = index;
    this.#planner = planner;
    this.#triggeredBy = triggeredBy;
  }

  /**
   * Runs one `Cache.invalidate` (one event in the log) for the union of: the entries carrying one of `tags`
   * (the indexed ones of `users`, or of everyone when no user is named, are also deleted by key, which is
   * what makes them counted); every forecast of `wholeUser`, by pattern, or where the stores cannot list keys
   * (Memcached) by its `user:` tag and the keys this instance knows; and `pattern`'s keys.
   */
  async #execute(request: { tags: readonly string[]; users: readonly string[]; wholeUser: string | undefined; pattern: string | undefined }, options: PatternOptions): Promise<number> {
    const cache = this.#handle.current ?? (await this.#handle.opening);
    const now = this.#clock.now();
    const wanted = new Set(request.tags);
    const tagged = new Map<string, string[]>();
    if (wanted.size > 0) {
      const carries = (entry: Indexed) => entry.expiresAt > now && entry.tags.some((tag) => wanted.has(tag));
      if (request.users.length > 0) {
        for (const userId of request.users) {
          const list: string[] = [];
          for (const [key, entry] of this.#index.forUser(userId, now)) if (carries(entry)) list.push(key);
          tagged.set(userId, list);
        }
      } else {
        for (const [userId, key] of this.#index.where((_, entry) => carries(entry))) tagged.set(userId, [...(tagged.get(userId) ?? []), key]);
      }
    }
    const keys = new Set([...tagged.values()].flat());
    const { wholeUser, pattern } = request;
    const selection: InvalidateSelection = {};
    const tags = wholeUser === undefined ? wanted : new Set([...wanted, userTag(wholeUser)]);
    if (tags.size > 0) selection.tags = [...tags];
    if (pattern !== undefined) selection.pattern = pattern;
    let count: number | undefined;
    if (wholeUser !== undefined && this.#patterns) {
      try {
        // Every forecast of this user, with the id escaped so the pattern matches this user only.
        const userPattern = `forecast:${escapeSegment(wholeUser)}:*`;
        count = await cache.invalidate({ ...selection, ...(keys.size === 0 ? {} : { keys: [...keys] }), patterns: [userPattern] }, options);
      } catch (error) {
        // Refused before anything was removed: the stores cannot list keys, so no pattern can run there.
        if (!isCacheError(error) || error.code !== 'E_UNSUPPORTED' || pattern !== undefined) throw error;
        this.#patterns = false;
      }
    }
    if (count === undefined) {
      if (wholeUser !== undefined) for (const key of this.#index.forUser(wholeUser, now).keys()) keys.add(key);
      if (keys.size > 0 || (selection.tags === undefined && selection.pattern === undefined)) selection.keys = [...keys];
      count = await cache.invalidate(selection, options);
    }
    for (const [userId, list] of tagged) this.#index.dropKeys(userId, list);
    if (wholeUser !== undefined) this.#index.dropUser(wholeUser);
    if (pattern !== undefined) this.#dropMatching(pattern);
    return count;
  }

  options(reason: string, triggeredBy: string | undefined): PatternOptions {
    return { reason, triggeredBy: triggeredBy ?? this.#triggeredBy };
  }

  /** See `ForecastCache.invalidate`. */
  async invalidate(selection: ForecastInvalidateOptions): Promise<number> {
    if (typeof selection !== 'object' || selection === null) throw new TypeError('invalidate expects { pattern?, tags?, userId? }');
    const { pattern, tags, userId } = selection;
    if (pattern === undefined && tags === undefined && userId === undefined) throw new TypeError('invalidate needs at least one of pattern, tags or userId');
    if (tags !== undefined) {
      requireArray(tags, 'tags must be a non-empty array of strings');
      if (tags.length === 0) throw new TypeError('tags must be a non-empty array of strings');
    }
    if (userId !== undefined) requireString(userId, 'userId');
    return this.#execute(
      { tags: [...new Set(tags ?? [])], users: [], wholeUser: userId, pattern },
      this.options(selection.reason ?? 'invalidate', selection.triggeredBy),
    );
  }

  #dropMatching(pattern: string): void {
    const match = compilePattern(pattern);
    const doomed = new Map<string, string[]>();
    for (const [owner, key] of this.#index.where((key) => match.test(key))) doomed.set(owner, [...(doomed.get(owner) ?? []), key]);
    for (const [owner, keys] of doomed) this.#index.dropKeys(owner, keys);
  }

  /** Executes a trigger's plan (one `Cache.invalidate`, one event). */
  #run(plan: InvalidationPlan, triggeredBy: string | undefined): Promise<number> {
    if (plan.wholeUsers.length > 1 || plan.patterns.length > 1) throw new Error('internal: a trigger plan selects at most one whole user and one pattern');
    return this.#execute({ tags: plan.tags, users: plan.users, wholeUser: plan.wholeUsers[0], pattern: plan.patterns[0] }, this.options(plan.reason, triggeredBy));
  }

  /** See `ForecastCache.trigger`. */
  trigger<K extends InvalidationTrigger>(trigger: K, payload: TriggerPayloads[K], options: TriggerOptions = {}): Promise<number> {
    try {
      return this.#run(planInvalidation(trigger, payload), options.triggeredBy);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** See `ForecastCache.invalidateByDateRange`. */
  async invalidateByDateRange(userId: string, start: Date | string, end: Date | string, options: DateRangeOptions = {}): Promise<number> {
    requireString(userId, 'userId');
    const from = toDay(start, 'start').getTime();
    const to = toDay(end, 'end').getTime() + MS_PER_DAY - 1;
    if (to < from) throw new RangeError('end must not be before start');
    const cache = this.#handle.current ?? (await this.#handle.opening);
    const reason = options.reason ?? InvalidationTrigger.HISTORICAL_DATA_CORRECTED;
    const shared = Object.keys(cache.getStats().stores).length > 0;
    const lister = this.#handle.lister;
    if ((shared && lister === undefined) || (!shared && !this.#index.complete(userId))) {
      return this.invalidate({ userId, reason, ...(options.triggeredBy === undefined ? {} : { triggeredBy: options.triggeredBy }) });
    }
    const overlaps = (span: Span | undefined) => span !== undefined && span.start <= to && from <= span.end;
    const selected = new Set<string>();
    const known = this.#index.forUser(userId, this.#clock.now());
    for (const [key, entry] of known) if (overlaps(entry.span)) selected.add(key);
    if (lister !== undefined) {
      const unknown: string[] = [];
      for await (const key of lister(`forecast:${escapeSegment(userId)}:*`)) if (!known.has(key)) unknown.push(key);
      for (let i = 0; i < unknown.length; i += INSPECT_BATCH) {
        const batch = unknown.slice(i, i + INSPECT_BATCH);
        const infos = await Promise.all(batch.map((key) => cache.inspect(key)));
        batch.forEach((key, j) => {
          const info = infos[j];
          if (info === undefined) return;
          const { definition, spanContext, horizon } = this.#planner.describeKey(key, undefined);
          if (overlaps(this.#planner.spanOf(definition, spanContext, horizon, info.createdAt))) selected.add(key);
        });
      }
    }
    const keys = [...selected];
    const count = await cache.invalidate({ keys }, this.options(reason, options.triggeredBy));
    this.#index.dropKeys(userId, keys);
    return count;
  }
}
