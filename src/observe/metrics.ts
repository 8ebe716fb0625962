import { Histogram } from './histogram.js';

/** How a loader run ended. */
export type LoadOutcome = 'ok' | 'error' | 'timeout';
/** Invalidation kinds, as the invalidation log names them, plus `namespace` (a view's `clear`, or a remote one). */
export type InvalidationKind = 'keys' | 'pattern' | 'tags' | 'expire-tags' | 'clear' | 'namespace';
/** Where an invalidation came from: a call on this instance, or another instance over the bus. */
export type InvalidationOrigin = 'local' | 'remote';

/** What one key group saw. Memory-tier hits are counted one in `sampleEvery` and scaled back up. */
export interface KeyGroupCounts {
  /** Hits of every tier (memory-tier hits estimated from the sample). */
  hits: number;
  /** Reads no tier answered (exact). */
  misses: number;
  /** Loader runs (exact). */
  loads: number;
  /** Milliseconds spent in those loader runs: what the group's misses cost. */
  loadMs: number;
}

export interface MetricsOptions {
  /**
   * The bounded label a key is counted under in the key-group figures: by default, what comes before its
   * first `:` (a namespace view's name, or `user` in `user:42`), `-` for a key without one. Return a small
   * set of values: past `maxKeyGroups`, new groups are counted as `other`.
   * @default the key up to its first ':'
   */
  keyGroup?: (key: string) => string;
  /**
   * Most key groups (and most invalidation reasons) kept as separate labels; the rest count as `other`.
   * @default 64
   */
  maxKeyGroups?: number;
  /**
   * With metrics on, one memory-tier read in this many is timed and counted in its key group (the others are
   * only counted). A power of two up to 65,536.
   * @default 64
   */
  sampleEvery?: number;
}

const DEFAULT_MAX_GROUPS = 64;
const DEFAULT_SAMPLE_EVERY = 64;
export const OTHER_LABEL = 'other';

function defaultGroup(key: string): string {
  const colon = key.indexOf(':');
  return colon <= 0 ? '-' : key.slice(0, colon);
}

/** A label set that never grows past `max`: later labels are folded into `other`. */
export class BoundedLabels<T> {
  readonly #entries = new Map<string, T>();
  readonly #max: number;
  readonly #make: () => T;

  constructor(max: number, make: () => T) {
    this.#max = max;
    this.#make = make;
  }

  get(label: string): T {
    let entry = this.#entries.get(label);
    if (entry !== undefined) return entry;
    const name = this.#entries.size >= this.#max ? OTHER_LABEL : label;
    entry = this.#entries.get(name);
    if (entry === undefined) this.#entries.set(name, (entry = this.#make()));
    return entry;
  }

  entries(): IterableIterator<[string, T]> {
    return this.#entries.entries();
  }
}

export interface ResolvedMetricsOptions {
  keyGroup: (key: string) => string;
  maxKeyGroups: number;
  sampleEvery: number;
}

/** Checks `metrics` options once, at construction. `true` means the defaults. */
export function resolveMetricsOptions(options: boolean | MetricsOptions | undefined): ResolvedMetricsOptions | undefined {
  if (options === undefined || options === false) return undefined;
  const given: MetricsOptions = options === true ? {} : options;
  if (typeof given !== 'object' || given === null) throw new TypeError('metrics must be true, false or an options object');
  const keyGroup = given.keyGroup ?? defaultGroup;
  if (typeof keyGroup !== 'function') throw new TypeError('metrics.keyGroup must be a function');
  const maxKeyGroups = given.maxKeyGroups ?? DEFAULT_MAX_GROUPS;
  if (!Number.isInteger(maxKeyGroups) || maxKeyGroups < 1 || maxKeyGroups > 10_000) {
    throw new TypeError(`metrics.maxKeyGroups must be an integer from 1 to 10000, got ${String(maxKeyGroups)}`);
  }
  const sampleEvery = given.sampleEvery ?? DEFAULT_SAMPLE_EVERY;
  if (!Number.isInteger(sampleEvery) || sampleEvery < 1 || sampleEvery > 65_536 || (sampleEvery & (sampleEvery - 1)) !== 0) {
    throw new TypeError(`metrics.sampleEvery must be a power of two from 1 to 65536, got ${String(sampleEvery)}`);
  }
  return { keyGroup, maxKeyGroups, sampleEvery };
}

/**
 * The engine's measurements beyond its O(1) counters: loader runs by outcome with their durations, joins and
 * lease waits, bus delivery lag, invalidations by kind, origin and reason, and, with `metrics` on, the
 * sampled memory-tier latency and the key groups. Every method is O(1); labels are bounded.
 */
export class Metrics {
  /** Detailed metrics (sampled memory-tier timing, key groups) are on. */
  readonly detailed: boolean;
  /** Reads since the last sampled one; the hot path bumps it only when `detailed`. */
  tick = 0;
  readonly sampleEvery: number;
  readonly #keyGroup: (key: string) => string;
  /** Memory-tier look-ups, one in `sampleEvery` timed (ms). */
  readonly memoryGet = new Histogram();
  /** Loader runs by outcome (ms). */
  readonly loads: Record<LoadOutcome, Histogram> = { ok: new Histogram(), error: new Histogram(), timeout: new Histogram() };
  /** Stale values served because the loader had just failed (fail-safe). */
  failSafe = 0;
  /** Stale values served while a refresh ran (stale-while-revalidate, soft timeout). */
  staleServed = 0;
  /** Callers that joined a load already running here (single-flight). */
  joins = 0;
  /** Time loads waited for another instance's lease (ms). */
  readonly leaseWait = new Histogram();
  readonly #invalidations = new Map<string, { kind: InvalidationKind; origin: InvalidationOrigin; reason: string; count: number }>();
  readonly #reasons = new Set<string>();
  readonly #maxReasons: number;
  readonly groups: BoundedLabels<KeyGroupCounts> | undefined;

  constructor(options: ResolvedMetricsOptions | undefined) {
    this.detailed = options !== undefined;
    this.sampleEvery = options?.sampleEvery ?? DEFAULT_SAMPLE_EVERY;
    this.#keyGroup = options?.keyGroup ?? defaultGroup;
    const max = options?.maxKeyGroups ?? DEFAULT_MAX_GROUPS;
    this.#maxReasons = max;
    this.groups = options === undefined ? undefined : new BoundedLabels(max, () => ({ hits: 0, misses: 0, loads: 0, loadMs: 0 }));
  }

  /** The key group of a full key (only with detailed metrics). */
  group(full: string): KeyGroupCounts | undefined {
    const groups = this.groups;
    if (groups === undefined) return undefined;
    let label: string;
    try {
      label = String(this.#keyGroup(full));
    } catch {
      label = OTHER_LABEL;
    }
    return groups.get(label);
  }

  /** One sampled memory-tier look-up: its time, and (for a hit) its key group's share of the hits. */
  sampled(full: string, ms: number, hit: boolean): void {
    this.memoryGet.record(ms);
    if (hit) {
      const group = this.group(full);
      if (group !== undefined) group.hits += this.sampleEvery;
    }
  }

  /** A read no memory-tier entry answered: a store hit or a miss of every tier. */
  below(full: string, hit: boolean): void {
    const group = this.group(full);
    if (group === undefined) return;
    if (hit) group.hits++;
    else group.misses++;
  }

  load(full: string, outcome: LoadOutcome, ms: number): void {
    this.loads[outcome].record(ms);
    const group = this.group(full);
    if (group === undefined) return;
    group.loads++;
    group.loadMs += ms;
  }

  invalidated(kind: InvalidationKind, origin: InvalidationOrigin, reason: string | undefined): void {
    let label = reason ?? '';
    if (!this.#reasons.has(label)) {
      if (this.#reasons.size >= this.#maxReasons) label = OTHER_LABEL;
      else this.#reasons.add(label);
    }
    const id = `${kind}\u0000${origin}\u0000${label}`;
    const entry = this.#invalidations.get(id);
    if (entry === undefined) this.#invalidations.set(id, { kind, origin, reason: label, count: 1 });
    else entry.count++;
  }

  /** Invalidations so far, by kind, origin and reason (`''` when none was given; `other` past the bound). */
  invalidations(): { kind: InvalidationKind; origin: InvalidationOrigin; reason: string; count: number }[] {
    return [...this.#invalidations.values()].map((entry) => ({ ...entry }));
  }
}
