/**
 * Monitoring (seed 001): every `interval`, the difference between two metric snapshots becomes a window of
 * plain numbers kept in a ring of fixed size; trends compare the latest windows with the older ones; alert
 * rules are checked on each window. Costs one snapshot per interval and nothing on the read path.
 */
import type { TimerHandle } from '../clock.js';
import type { Engine } from '../engine.js';
import type { InstanceAlert } from '../fleet/info.js';
import { parseDuration } from '../ttl.js';
import { AlertBook, defaultAlertRules, resolveAlertRules, type Alert, type AlertRule } from './alerts.js';
import { metricsOf, type MetricsSnapshot } from './snapshot.js';
import { mergeWindows, trendOf, windowOf, type MonitorWindow, type Trend } from './trends.js';

export interface MonitorOptions {
  /**
   * How often a window closes, in ms or a duration string.
   * @default '10s'
   */
  interval?: number | string;
  /**
   * Windows kept, the oldest dropped first: the monitor's memory is fixed by this count (an integer from 2 to 10,000).
   * @default 60
   */
  windows?: number;
  /**
   * Windows `trend()` counts as "now".
   * @default 3
   */
  recent?: number;
  /**
   * Windows before the recent ones that `trend()` and the `hitRateDrop` alerts compare against.
   * @default every older window in the ring
   */
  baseline?: number;
  /**
   * Fewest requests a window needs before its rates count: reads for hit rates, store calls for error rates,
   * timed reads for latency. A window with fewer neither raises nor resolves an alert, and a trend with fewer
   * leaves the figure out.
   * @default 20
   */
  minRequests?: number;
  /**
   * Alert rules: `true` for the defaults (`defaultAlertRules(interval)`), `false` for none, or an array that
   * replaces the defaults (spread `defaultAlertRules(interval)` into it to extend them).
   * @default true
   */
  alerts?: boolean | readonly AlertRule[];
  /**
   * Called with each alert raised (`state: 'active'`) and resolved (`state: 'resolved'`), after the `alert`
   * and `resolve` listeners.
   * @default none
   */
  onAlert?: (alert: Alert) => void;
}

/** The events of a monitor. */
export interface MonitorEvents {
  alert: Alert;
  resolve: Alert;
}

export type MonitorEventName = keyof MonitorEvents;

const DEFAULT_INTERVAL = '10s';
const DEFAULT_WINDOWS = 60;
const DEFAULT_RECENT = 3;
const DEFAULT_MIN_REQUESTS = 20;
const MAX_WINDOWS = 10_000;

/** The running monitor of each engine, for `getReport()` (the latest started wins). */
const monitors = new WeakMap<Engine, Monitor>();

/** The monitor running on an engine, if any. */
export function monitorOf(engine: Engine): Monitor | undefined {
  return monitors.get(engine);
}

function integer(value: unknown, option: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`${option} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

/**
 * A running monitor, from `cache.monitor(options)`. Stopped by `stop()` or when the cache closes.
 *
 * @example
 * const monitor = cache.monitor({ interval: '10s' });
 * monitor.on('alert', (alert) => log.warn(alert.message));
 * monitor.on('resolve', (alert) => log.info(alert.message));
 */
export class Monitor {
  /** Milliseconds between windows. */
  readonly interval: number;
  /** Windows the ring holds. */
  readonly capacity: number;
  /** The options as resolved: what `trend()` and the alerts use. */
  readonly recent: number;
  readonly baseline: number;
  readonly minRequests: number;
  readonly #engine: Engine;
  readonly #ring: (MonitorWindow | undefined)[];
  /** Next slot to write; the oldest window once the ring is full. */
  #head = 0;
  #size = 0;
  #previous: MetricsSnapshot;
  #timer: TimerHandle | undefined;
  #forget: () => void = () => undefined;
  readonly #alerts: AlertBook;
  readonly #onAlert: ((alert: Alert) => void) | undefined;
  readonly #listeners: { [E in MonitorEventName]: ((payload: MonitorEvents[E]) => void)[] } = { alert: [], resolve: [] };

  /** Use `cache.monitor(options)`. */
  constructor(engine: Engine, options: MonitorOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new TypeError('monitor options must be an object');
    const { interval = DEFAULT_INTERVAL, windows = DEFAULT_WINDOWS, recent = DEFAULT_RECENT, minRequests = DEFAULT_MIN_REQUESTS, alerts = true, onAlert } = options;
    const intervalMs = parseDuration(interval, 'interval');
    if (intervalMs < 1) throw new TypeError(`interval must be at least 1 ms, got ${String(interval)}`);
    this.interval = intervalMs;
    this.capacity = integer(windows, 'windows', 2, MAX_WINDOWS);
    this.recent = integer(recent, 'recent', 1, this.capacity - 1);
    this.baseline = integer(options.baseline ?? this.capacity - this.recent, 'baseline', 1, this.capacity - this.recent);
    this.minRequests = integer(minRequests, 'minRequests', 0, Number.MAX_SAFE_INTEGER);
    if (onAlert !== undefined && typeof onAlert !== 'function') throw new TypeError('onAlert must be a function');
    this.#onAlert = onAlert;
    if (typeof alerts !== 'boolean' && !Array.isArray(alerts)) throw new TypeError('alerts must be true, false or an array of alert rules');
    const rules = alerts === false ? [] : alerts === true ? defaultAlertRules(intervalMs) : alerts;
    this.#previous = metricsOf(engine);
    this.#alerts = new AlertBook(resolveAlertRules(rules, intervalMs, this.#previous.tiers));
    this.#engine = engine;
    this.#ring = new Array<MonitorWindow | undefined>(this.capacity).fill(undefined);
    this.#arm();
    monitors.set(engine, this);
    engine.fleet.alertSource = this.#alertSource;
    // On a cache already closed, this stops the monitor at once.
    this.#forget = engine.onClose(() => this.stop());
  }

  /** True until `stop()` or the cache's `close()`. */
  get running(): boolean {
    return this.#timer !== undefined;
  }

  /**
   * The windows kept, oldest first (at most `windows` of them).
   *
   * @example
   * const rates = monitor.windows().map((w) => w.hitRate);
   */
  windows(): MonitorWindow[] {
    const out: MonitorWindow[] = [];
    const start = this.#size < this.capacity ? 0 : this.#head;
    for (let i = 0; i < this.#size; i++) out.push(this.#ring[(start + i) % this.capacity] as MonitorWindow);
    return out;
  }

  /**
   * The last window closed; undefined before the first `interval` has passed.
   *
   * @example
   * const p99 = monitor.latest()?.tiers[1]?.latency.p99; // the first store's read p99, in ms
   */
  latest(): MonitorWindow | undefined {
    return this.#size === 0 ? undefined : this.#ring[(this.#head - 1 + this.capacity) % this.capacity];
  }

  /**
   * The last `recent` windows against up to `baseline` windows before them: the overall and per-tier hit rate
   * (change in points, as a fraction) and p95 read latency (ratio), each `stable`, `improving` or
   * `degrading` (a hit rate 5 points down, or a latency 1.5 times up and by at least 0.1 ms, is degrading).
   *
   * @example
   * const { verdict, hitRate } = monitor.trend();
   * if (verdict === 'degrading') log.warn({ hitRate }, 'cache degrading');
   */
  trend(): Trend {
    return trendOf(this.windows(), this.recent, this.baseline, this.minRequests);
  }

  /**
   * The alerts raised and not yet resolved.
   *
   * @example
   * const paging = monitor.activeAlerts().filter((a) => a.severity === 'critical');
   */
  activeAlerts(): Alert[] {
    return this.#alerts.active();
  }

  /**
   * Listens for alerts raised (`alert`) and resolved (`resolve`). A listener that throws is reported on the
   * cache's `error` event.
   *
   * @example
   * monitor.on('alert', (alert) => pager.send(alert.message));
   */
  on<E extends MonitorEventName>(event: E, listener: (payload: MonitorEvents[E]) => void): this {
    if (!Object.hasOwn(this.#listeners, event)) throw new TypeError(`unknown monitor event ${JSON.stringify(event)}: use 'alert' or 'resolve'`);
    if (typeof listener !== 'function') throw new TypeError(`listener for ${event} must be a function`);
    const list = this.#listeners[event] as ((payload: MonitorEvents[E]) => void)[];
    // Copy on write: an emit in progress keeps the list it started with.
    (this.#listeners as Record<E, ((payload: MonitorEvents[E]) => void)[]>)[event] = [...list, listener];
    return this;
  }

  /**
   * Stops listening.
   *
   * @example
   * monitor.off('alert', onAlert);
   */
  off<E extends MonitorEventName>(event: E, listener: (payload: MonitorEvents[E]) => void): this {
    const list = this.#listeners[event] as ((payload: MonitorEvents[E]) => void)[] | undefined;
    if (list !== undefined) (this.#listeners as Record<E, ((payload: MonitorEvents[E]) => void)[]>)[event] = list.filter((l) => l !== listener);
    return this;
  }

  /**
   * Stops the timer: no window closes after this. The windows and alerts taken so far stay readable.
   *
   * @example
   * monitor.stop();
   */
  stop(): void {
    if (this.#timer !== undefined) this.#engine.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#forget();
    this.#forget = () => undefined;
    if (monitors.get(this.#engine) === this) monitors.delete(this.#engine);
    if (this.#engine.fleet.alertSource === this.#alertSource) this.#engine.fleet.alertSource = undefined;
  }

  /** What the fleet heartbeat shows of this monitor: its firing alerts. */
  readonly #alertSource = (): InstanceAlert[] => this.activeAlerts().map((alert) => ({ name: alert.rule, severity: alert.severity, since: alert.since }));

  #arm(): void {
    this.#timer = this.#engine.clock.setTimeout(() => this.#close(), this.interval);
  }

  #close(): void {
    if (this.#timer === undefined) return;
    try {
      const now = metricsOf(this.#engine);
      const window = windowOf(now, this.#previous);
      this.#previous = now;
      // The baseline of this window's hit-rate-drop check: the windows before it, up to `baseline` of them.
      const before = this.windows().slice(-this.baseline);
      this.#ring[this.#head] = window;
      this.#head = (this.#head + 1) % this.capacity;
      if (this.#size < this.capacity) this.#size++;
      this.#evaluate(window, before);
    } catch (error) {
      this.#engine.emitter.reportError(error, 'monitor');
    }
    if (this.#timer !== undefined) this.#arm();
  }

  #evaluate(window: MonitorWindow, before: readonly MonitorWindow[]): void {
    let base: MonitorWindow | undefined | null = null;
    const minRequests = this.minRequests;
    const { raised, resolved } = this.#alerts.evaluate({
      window,
      minRequests,
      baselineHitRate(tier) {
        if (base === null) base = mergeWindows(before);
        if (base === undefined) return undefined;
        const figures = tier === undefined ? base : base.tiers.find((t) => t.tier === tier);
        return figures === undefined || figures.reads < minRequests ? undefined : figures.hitRate;
      },
    });
    for (const alert of resolved) this.#emit('resolve', alert);
    for (const alert of raised) this.#emit('alert', alert);
  }

  #emit(event: MonitorEventName, alert: Alert): void {
    for (const listener of this.#listeners[event]) this.#call(listener, alert, `monitor ${event} listener`);
    if (this.#onAlert !== undefined) this.#call(this.#onAlert, alert, 'monitor onAlert');
  }

  #call(fn: (alert: Alert) => void, alert: Alert, operation: string): void {
    try {
      fn(alert);
    } catch (error) {
      this.#engine.emitter.reportError(error, operation);
    }
  }
}
