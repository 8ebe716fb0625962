/**
 * Alert rules over monitor windows: a threshold that must be crossed for a number of consecutive windows
 * before the alert is raised, and a second threshold (hysteresis) that must be crossed the other way before
 * it is resolved, so a value hovering at the threshold does not flap.
 */
import { parseDuration } from '../ttl.js';
import type { MonitorWindow, TierWindow } from './trends.js';

/**
 * What a rule watches, per window:
 * - `hitRate`: reads answered / reads (0..1), of the whole cache or of `tier`;
 * - `hitRateDrop`: how far the hit rate fell below the baseline windows before it (0..1: 0.2 is 20 points);
 * - `errorRate`: failed store calls / calls (0..1), per store;
 * - `latencyP99`: p99 of a tier's reads (ms), per store unless `tier` names one (the memory tier is timed with `metrics: true` only);
 * - `memoryUsage`: memory-tier bytes or entries over its bound, the fuller of the two (0..1);
 * - `evictionRate`: memory-tier entries evicted to respect its bounds, per second.
 */
export type AlertMetric = 'hitRate' | 'hitRateDrop' | 'errorRate' | 'latencyP99' | 'memoryUsage' | 'evictionRate';

export type AlertSeverity = 'info' | 'warning' | 'critical';

/** One alert rule of `cache.monitor({ alerts })`. Give exactly one of `above` and `below`. */
export interface AlertRule {
  /** Names the alert in events and in `activeAlerts()`; unique among the rules. */
  name: string;
  /** The figure watched; see `AlertMetric`. */
  metric: AlertMetric;
  /**
   * The tier watched, `'memory'` or a store's name.
   * @default the whole cache for hitRate and hitRateDrop, each store for errorRate and latencyP99, the memory tier otherwise
   */
  tier?: string;
  /**
   * Raise when the figure is greater than this.
   * @default none
   */
  above?: number;
  /**
   * Raise when the figure is less than this.
   * @default none
   */
  below?: number;
  /**
   * How long the condition must hold before the alert is raised, in ms or a duration string, counted in
   * windows (rounded up; at least one).
   * @default 0 (the first window past the threshold)
   */
  for?: number | string;
  /**
   * Resolve only once the figure is back past this second threshold: at most `above` (below `resolve`), or at
   * least `below` (above `resolve`).
   * @default the raise threshold (no hysteresis)
   */
  resolve?: number;
  /**
   * How serious the alert is.
   * @default 'warning'
   */
  severity?: AlertSeverity;
}

/** A raised alert: an active one, or (in the `resolve` event) the one that just ended. */
export interface Alert {
  /** The rule's name. */
  readonly rule: string;
  readonly metric: AlertMetric;
  /** The tier it is about; undefined for the whole cache. */
  readonly tier: string | undefined;
  readonly severity: AlertSeverity;
  readonly state: 'active' | 'resolved';
  /** The figure in the window that raised it (or, once resolved, in the window that resolved it). */
  readonly value: number;
  /** The raise threshold, and the side it was crossed on. */
  readonly threshold: number;
  readonly direction: 'above' | 'below';
  /** The threshold that resolves it. */
  readonly resolveAt: number;
  /** When the condition started to hold (start of the first window past the threshold), epoch ms. */
  readonly since: number;
  /** When it was raised (end of the window that raised it), epoch ms. */
  readonly raisedAt: number;
  /** When it was resolved, epoch ms (resolved alerts only). */
  readonly resolvedAt?: number;
  /** One line for a log or a pager. */
  readonly message: string;
}

/** A rule checked and resolved once: thresholds as numbers, `for` as a count of windows. */
interface ResolvedRule {
  readonly name: string;
  readonly metric: AlertMetric;
  readonly tier: string | undefined;
  readonly direction: 'above' | 'below';
  readonly threshold: number;
  readonly resolveAt: number;
  readonly forWindows: number;
  readonly severity: AlertSeverity;
}

const METRICS: readonly AlertMetric[] = ['hitRate', 'hitRateDrop', 'errorRate', 'latencyP99', 'memoryUsage', 'evictionRate'];
const SEVERITIES: readonly AlertSeverity[] = ['info', 'warning', 'critical'];
const FRACTIONS = new Set<AlertMetric>(['hitRate', 'hitRateDrop', 'errorRate', 'memoryUsage']);

/**
 * The rules a monitor starts with (`alerts` left out or `true`), after seed 001's bands: the overall hit rate
 * poor (< 50 %) for three windows, resolved above 55 %; a hit rate 20 points under its baseline for two
 * windows, resolved within 10; a store failing more than 5 % of its calls for two windows, resolved under 1 %;
 * the memory tier over 95 % of its bound for three windows, resolved under 90 % (`info`: a full bounded
 * tier is working as designed, but worth knowing when the hit rate is low). `for` is counted in windows of
 * `interval`, so pass the monitor's interval to extend them: `alerts: [...defaultAlertRules('10s'), mine]`.
 *
 * @example
 * cache.monitor({ interval: '30s', alerts: [...defaultAlertRules('30s'), { name: 'slow-redis', metric: 'latencyP99', tier: 'redis', above: 20 }] });
 */
export function defaultAlertRules(interval: number | string = '10s'): AlertRule[] {
  const every = parseDuration(interval, 'interval');
  return [
    { name: 'hit-rate-poor', metric: 'hitRate', below: 0.5, resolve: 0.55, for: 3 * every, severity: 'warning' },
    { name: 'hit-rate-drop', metric: 'hitRateDrop', above: 0.2, resolve: 0.1, for: 2 * every, severity: 'warning' },
    { name: 'store-errors', metric: 'errorRate', above: 0.05, resolve: 0.01, for: 2 * every, severity: 'critical' },
    { name: 'memory-full', metric: 'memoryUsage', above: 0.95, resolve: 0.9, for: 3 * every, severity: 'info' },
  ];
}

function finite(value: unknown, option: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new TypeError(`${option} must be a finite number, got ${String(value)}`);
  return value;
}

/** Checks the rules once, when the monitor starts. Throws a `TypeError` naming the bad option. */
export function resolveAlertRules(rules: readonly AlertRule[], intervalMs: number, tiers: readonly { tier: string; kind: 'memory' | 'store' }[]): ResolvedRule[] {
  // Array.isArray narrows a readonly array to any[]: check another reference, keep the typed one.
  const given: unknown = rules;
  if (!Array.isArray(given)) throw new TypeError('alerts must be true, false or an array of alert rules');
  const names = new Set<string>();
  return rules.map((rule, i): ResolvedRule => {
    const at = `alerts[${i}]`;
    if (typeof rule !== 'object' || rule === null) throw new TypeError(`${at} must be an alert rule object`);
    if (typeof rule.name !== 'string' || rule.name.length === 0 || rule.name.length > 128) throw new TypeError(`${at}.name must be a string of 1 to 128 characters`);
    if (names.has(rule.name)) throw new TypeError(`${at}.name ${JSON.stringify(rule.name)} is used by another rule`);
    names.add(rule.name);
    if (!METRICS.includes(rule.metric)) throw new TypeError(`${at}.metric must be one of ${METRICS.join(', ')}, got ${JSON.stringify(rule.metric)}`);
    let tier: string | undefined;
    if (rule.tier !== undefined) {
      const found = tiers.find((t) => t.tier === rule.tier);
      if (found === undefined) throw new TypeError(`${at}.tier must be one of ${tiers.map((t) => t.tier).join(', ')}, got ${JSON.stringify(rule.tier)}`);
      if (rule.metric === 'errorRate' && found.kind === 'memory') throw new TypeError(`${at}.tier: errorRate is measured on stores, not the memory tier`);
      if ((rule.metric === 'memoryUsage' || rule.metric === 'evictionRate') && found.kind !== 'memory') {
        throw new TypeError(`${at}.tier: ${rule.metric} is measured on the memory tier only`);
      }
      tier = rule.tier;
    }
    if ((rule.above === undefined) === (rule.below === undefined)) throw new TypeError(`${at} must give exactly one of above and below`);
    const direction = rule.above !== undefined ? 'above' : 'below';
    const threshold = finite(rule.above ?? rule.below, `${at}.${direction}`);
    if (FRACTIONS.has(rule.metric) && (threshold < 0 || threshold > 1)) throw new TypeError(`${at}.${direction} must be a fraction from 0 to 1 for ${rule.metric}, got ${threshold}`);
    const resolveAt = rule.resolve === undefined ? threshold : finite(rule.resolve, `${at}.resolve`);
    if (direction === 'above' ? resolveAt > threshold : resolveAt < threshold) {
      throw new TypeError(`${at}.resolve must be ${direction === 'above' ? 'at most above' : 'at least below'} (${threshold}), got ${resolveAt}`);
    }
    const forMs = rule.for === undefined ? 0 : parseDuration(rule.for, `${at}.for`);
    const severity = rule.severity ?? 'warning';
    if (!SEVERITIES.includes(severity)) throw new TypeError(`${at}.severity must be one of ${SEVERITIES.join(', ')}, got ${JSON.stringify(severity)}`);
    return { name: rule.name, metric: rule.metric, tier, direction, threshold, resolveAt, forWindows: Math.max(1, Math.ceil(forMs / intervalMs)), severity };
  });
}

/** What the alerts are evaluated against, besides the window: the baseline hit rate of a tier (undefined: the whole cache). */
export interface AlertContext {
  readonly window: MonitorWindow;
  /** Hit rate of the windows before this one, when they had at least `minRequests` reads. */
  baselineHitRate(tier: string | undefined): number | undefined;
  readonly minRequests: number;
}

/** One rule on one target: how many windows in a row it held, and the alert it raised. */
interface Track {
  streak: number;
  since: number;
  active: Alert | undefined;
}

function tierOf(window: MonitorWindow, name: string | undefined): TierWindow | undefined {
  return name === undefined ? undefined : window.tiers.find((t) => t.tier === name);
}

/** The targets a rule is checked on: one tier, the whole cache (undefined), or each store. */
function targetsOf(rule: ResolvedRule, window: MonitorWindow): (string | undefined)[] {
  if (rule.tier !== undefined) return [rule.tier];
  switch (rule.metric) {
    case 'hitRate':
    case 'hitRateDrop':
      return [undefined];
    case 'errorRate':
    case 'latencyP99':
      return window.tiers.filter((t) => t.kind === 'store').map((t) => t.tier);
    case 'memoryUsage':
    case 'evictionRate':
      return ['memory'];
  }
}

/** The rule's figure in this window; undefined when the window has too little to go on. */
function valueOf(rule: ResolvedRule, target: string | undefined, ctx: AlertContext): number | undefined {
  const { window, minRequests } = ctx;
  const tier = tierOf(window, target);
  switch (rule.metric) {
    case 'hitRate': {
      const reads = tier?.reads ?? window.reads;
      return reads < minRequests ? undefined : (tier?.hitRate ?? window.hitRate);
    }
    case 'hitRateDrop': {
      const reads = tier?.reads ?? window.reads;
      const now = tier?.hitRate ?? window.hitRate;
      const base = ctx.baselineHitRate(target);
      return reads < minRequests || now === undefined || base === undefined ? undefined : base - now;
    }
    case 'errorRate':
      return tier === undefined || tier.calls < minRequests ? undefined : tier.errorRate;
    case 'latencyP99':
      return tier === undefined || tier.latency.count < minRequests ? undefined : tier.latency.p99;
    case 'memoryUsage':
      return window.memory.usage;
    case 'evictionRate': {
      const seconds = (window.end - window.start) / 1000;
      return seconds > 0 ? window.evictions / seconds : undefined;
    }
  }
}

const LABELS: Record<AlertMetric, string> = {
  hitRate: 'hit rate',
  hitRateDrop: 'hit rate drop',
  errorRate: 'error rate',
  latencyP99: 'p99 latency',
  memoryUsage: 'memory usage',
  evictionRate: 'eviction rate',
};

function show(metric: AlertMetric, value: number): string {
  if (FRACTIONS.has(metric)) return `${(value * 100).toFixed(1)} %`;
  if (metric === 'latencyP99') return `${value.toFixed(value < 10 ? 2 : 0)} ms`;
  return `${value.toFixed(1)}/s`;
}

function messageOf(rule: ResolvedRule, target: string | undefined, value: number, state: 'active' | 'resolved', forWindows: number): string {
  const where = target === undefined ? 'cache' : target;
  const what = LABELS[rule.metric];
  if (state === 'resolved') return `${rule.name}: ${where} ${what} back to ${show(rule.metric, value)} (resolves ${rule.direction === 'above' ? 'below' : 'above'} ${show(rule.metric, rule.resolveAt)})`;
  return `${rule.name}: ${where} ${what} ${show(rule.metric, value)} ${rule.direction} ${show(rule.metric, rule.threshold)} for ${forWindows} window${forWindows === 1 ? '' : 's'}`;
}

/** The alert state of one monitor: bounded by rules × tiers, whatever the traffic. */
export class AlertBook {
  readonly #rules: readonly ResolvedRule[];
  readonly #tracks = new Map<string, Track>();

  constructor(rules: readonly ResolvedRule[]) {
    this.#rules = rules;
  }

  /** Checks every rule against a closed window; returns the alerts raised and resolved by it. */
  evaluate(ctx: AlertContext): { raised: Alert[]; resolved: Alert[] } {
    const raised: Alert[] = [];
    const resolved: Alert[] = [];
    const { window } = ctx;
    for (const rule of this.#rules) {
      for (const target of targetsOf(rule, window)) {
        const id = `${rule.name}\u0000${target ?? ''}`;
        let track = this.#tracks.get(id);
        if (track === undefined) this.#tracks.set(id, (track = { streak: 0, since: window.start, active: undefined }));
        const value = valueOf(rule, target, ctx);
        if (track.active !== undefined) {
          // Hysteresis: only a window past the second threshold resolves; a window with too little data does not.
          const clear = value !== undefined && (rule.direction === 'above' ? value < rule.resolveAt : value > rule.resolveAt);
          if (!clear) continue;
          const done: Alert = Object.freeze({ ...track.active, state: 'resolved', value, resolvedAt: window.end, message: messageOf(rule, target, value, 'resolved', rule.forWindows) });
          track.active = undefined;
          track.streak = 0;
          resolved.push(done);
          continue;
        }
        const breach = value !== undefined && (rule.direction === 'above' ? value > rule.threshold : value < rule.threshold);
        // The condition must hold for consecutive windows: one that does not (or has too little data) starts over.
        if (!breach) {
          track.streak = 0;
          continue;
        }
        if (track.streak === 0) track.since = window.start;
        track.streak++;
        if (track.streak < rule.forWindows) continue;
        track.active = Object.freeze({
          rule: rule.name,
          metric: rule.metric,
          tier: target,
          severity: rule.severity,
          state: 'active',
          value,
          threshold: rule.threshold,
          direction: rule.direction,
          resolveAt: rule.resolveAt,
          since: track.since,
          raisedAt: window.end,
          message: messageOf(rule, target, value, 'active', rule.forWindows),
        });
        raised.push(track.active);
      }
    }
    return { raised, resolved };
  }

  active(): Alert[] {
    const out: Alert[] = [];
    for (const track of this.#tracks.values()) if (track.active !== undefined) out.push(track.active);
    return out;
  }
}

/** Seed 001's bands of a hit rate (0..1): excellent above 90 %, good from 70 %, fair from 50 %, poor below. */
export type HitRateBand = 'excellent' | 'good' | 'fair' | 'poor';

/**
 * The band of a hit rate (a fraction, as `getStats().hitRate`).
 *
 * @example
 * hitRateBand(cache.getStats().hitRate); // 'good' for 0.82
 */
export function hitRateBand(rate: number): HitRateBand {
  if (!Number.isFinite(rate)) throw new TypeError(`hitRateBand(rate) needs a finite fraction, got ${String(rate)}`);
  if (rate > 0.9) return 'excellent';
  if (rate >= 0.7) return 'good';
  if (rate >= 0.5) return 'fair';
  return 'poor';
}
