import { hostname } from 'node:os';
import { parseDuration } from '../ttl.js';

/**
 * The fleet heartbeat (`fleet` option of `CacheOptions`): every instance with a store publishes a small record
 * of its stats and health to its first store, so `cache.listInstances()` (and the dashboard and the CLI) can
 * show every live instance sharing the store prefix.
 */
export interface FleetOptions {
  /**
   * How often this instance publishes its heartbeat, in ms or a duration (at least 100 ms). On the cache's
   * clock; the timer never keeps the process alive, and `close()` stops it.
   * @default '10s'
   */
  interval?: number | string;
  /**
   * How long a heartbeat stays readable after it was published, in ms or a duration: an instance that stops
   * publishing (a killed process) drops out of `listInstances()` this long after its last heartbeat. Must be
   * longer than `interval`.
   * @default 3 × interval
   */
  ttl?: number | string;
  /**
   * The name this instance shows in the fleet (1 to 128 characters).
   * @default '<hostname>:<pid>'
   */
  name?: string;
}

export interface ResolvedFleetOptions {
  readonly intervalMs: number;
  readonly ttlMs: number;
  readonly name: string;
}

const DEFAULT_INTERVAL_MS = 10_000;
const MIN_INTERVAL_MS = 100;

/** Validates `fleet` once, at construction: undefined when the heartbeat is off. */
export function resolveFleetOptions(given: false | FleetOptions | undefined): ResolvedFleetOptions | undefined {
  if (given === false) return undefined;
  if (given === undefined) return Object.freeze({ intervalMs: DEFAULT_INTERVAL_MS, ttlMs: 3 * DEFAULT_INTERVAL_MS, name: defaultName() });
  if (typeof given !== 'object' || given === null) throw new TypeError("fleet must be false or an object such as { interval: '10s' }");
  const intervalMs = given.interval === undefined ? DEFAULT_INTERVAL_MS : parseDuration(given.interval, 'fleet.interval');
  if (intervalMs < MIN_INTERVAL_MS) throw new TypeError(`fleet.interval must be at least ${MIN_INTERVAL_MS} ms, got ${String(given.interval)}`);
  const ttlMs = given.ttl === undefined ? 3 * intervalMs : parseDuration(given.ttl, 'fleet.ttl');
  if (ttlMs <= intervalMs) throw new TypeError(`fleet.ttl must be longer than fleet.interval (${intervalMs} ms), got ${String(given.ttl)}`);
  const name = given.name ?? defaultName();
  if (typeof name !== 'string' || name.length === 0 || name.length > 128) throw new TypeError(`fleet.name must be a string of 1 to 128 characters, got ${String(name)}`);
  return Object.freeze({ intervalMs, ttlMs, name });
}

function defaultName(): string {
  return `${hostname()}:${process.pid}`.slice(0, 128);
}
