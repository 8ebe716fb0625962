import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { BreakerState } from '../tiers/store-tier.js';

/** One store tier of an instance, as its heartbeat shows it. */
export interface InstanceStore {
  name: string;
  breaker: BreakerState;
  hits: number;
  misses: number;
  /** Failed and timed-out calls since start. */
  errors: number;
}

/** One firing alert of the instance's monitor. */
export interface InstanceAlert {
  /** The alert rule's name. */
  name: string;
  severity: string;
  /** When the condition started to hold, epoch ms. */
  since: number;
}

/** The memory tier of an instance. `maxEntries`/`maxBytes` are `Infinity` when only the other bound applies. */
export interface InstanceMemory {
  entries: number;
  bytes: number;
  maxEntries: number;
  maxBytes: number;
}

/**
 * One live cache instance of a fleet, as `cache.listInstances()` returns it: what its last heartbeat said
 * (for this instance itself: its figures now). Times are epoch ms on the publishing instance's clock.
 */
export interface InstanceInfo {
  /** The instance's bus origin id: unique per process, the `origin` its bus messages carry. */
  id: string;
  /** `fleet.name` (default `host:pid`). */
  name: string;
  host: string;
  pid: number;
  /** The tiercache package version it runs. */
  version: string;
  /** Its Node.js version (`process.version`). */
  node: string;
  startedAt: number;
  heartbeatAt: number;
  uptimeMs: number;
  /** Reads since start. */
  hits: number;
  misses: number;
  /** hits / (hits + misses), 0 before the first read. */
  hitRate: number;
  memory: InstanceMemory;
  stores: InstanceStore[];
  /**
   * From what the instance knows without asking anything: `degraded` when a breaker is not closed, writes wait
   * for a store, a store or the bus failed since the last heartbeat (or its last probe did), or the bus is not
   * subscribed; `down` when `strict` is on and every store's breaker is open. No probe is run for it.
   */
  health: 'ok' | 'degraded' | 'down';
  /** The firing alerts of the monitor running on the instance (none without a monitor). */
  alerts: InstanceAlert[];
}

/** Heartbeat records larger than this are refused on read (another process may have written anything there). */
export const MAX_HEARTBEAT_BYTES = 16_384;
/** Most stores and alerts a heartbeat carries, and longest string it keeps: the record stays small. */
export const MAX_LISTED = 32;
export const MAX_TEXT = 256;

const HEALTH = new Set(['ok', 'degraded', 'down']);
const BREAKERS = new Set(['closed', 'open', 'half-open']);

/** The version in the package's own package.json (two levels above both src/fleet and dist/fleet). */
export const PACKAGE_VERSION: string = (() => {
  try {
    const parsed = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof parsed.version === 'string' ? parsed.version : 'unknown';
  } catch {
    return 'unknown';
  }
})();

export const HOST = hostname();

/**
 * The bytes of a heartbeat: JSON (not the cache's codec, which a user may replace), with `Infinity` bounds
 * written as null since JSON has no infinity.
 */
export function encodeHeartbeat(info: InstanceInfo, expiresAt: number): Uint8Array {
  const memory = info.memory;
  const record = {
    v: 1,
    ...info,
    memory: { ...memory, maxEntries: finiteOrNull(memory.maxEntries), maxBytes: finiteOrNull(memory.maxBytes) },
    expiresAt,
  };
  return new TextEncoder().encode(JSON.stringify(record));
}

function finiteOrNull(n: number): number | null {
  return Number.isFinite(n) ? n : null;
}

/** What a heartbeat decodes to: the instance and when its heartbeat lapses (epoch ms, its publisher's clock). */
export interface DecodedHeartbeat {
  info: InstanceInfo;
  expiresAt: number;
}

/**
 * Decodes and checks a heartbeat read from the store. Throws a TypeError naming the first thing wrong: the
 * caller skips that record and reports it.
 */
export function decodeHeartbeat(bytes: Uint8Array): DecodedHeartbeat {
  if (bytes.length > MAX_HEARTBEAT_BYTES) throw new TypeError(`heartbeat of ${bytes.length} bytes is larger than ${MAX_HEARTBEAT_BYTES}`);
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    throw new TypeError(`heartbeat is not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  const r = record(raw, 'heartbeat');
  if (r.v !== 1) throw new TypeError(`heartbeat has unknown format version ${JSON.stringify(r.v)}`);
  const memory = record(r.memory, 'memory');
  const info: InstanceInfo = {
    id: text(r.id, 'id'),
    name: text(r.name, 'name'),
    host: text(r.host, 'host'),
    pid: count(r.pid, 'pid'),
    version: text(r.version, 'version'),
    node: text(r.node, 'node'),
    startedAt: count(r.startedAt, 'startedAt'),
    heartbeatAt: count(r.heartbeatAt, 'heartbeatAt'),
    uptimeMs: count(r.uptimeMs, 'uptimeMs'),
    hits: count(r.hits, 'hits'),
    misses: count(r.misses, 'misses'),
    hitRate: ratio(r.hitRate, 'hitRate'),
    memory: {
      entries: count(memory.entries, 'memory.entries'),
      bytes: count(memory.bytes, 'memory.bytes'),
      maxEntries: memory.maxEntries === null ? Number.POSITIVE_INFINITY : count(memory.maxEntries, 'memory.maxEntries'),
      maxBytes: memory.maxBytes === null ? Number.POSITIVE_INFINITY : count(memory.maxBytes, 'memory.maxBytes'),
    },
    stores: list(r.stores, 'stores').map((item, i) => {
      const s = record(item, `stores[${i}]`);
      return {
        name: text(s.name, `stores[${i}].name`),
        breaker: oneOf(s.breaker, BREAKERS, `stores[${i}].breaker`) as BreakerState,
        hits: count(s.hits, `stores[${i}].hits`),
        misses: count(s.misses, `stores[${i}].misses`),
        errors: count(s.errors, `stores[${i}].errors`),
      };
    }),
    health: oneOf(r.health, HEALTH, 'health') as InstanceInfo['health'],
    alerts: list(r.alerts, 'alerts').map((item, i) => {
      const a = record(item, `alerts[${i}]`);
      return { name: text(a.name, `alerts[${i}].name`), severity: text(a.severity, `alerts[${i}].severity`), since: count(a.since, `alerts[${i}].since`) };
    }),
  };
  return { info, expiresAt: count(r.expiresAt, 'expiresAt') };
}

export function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TypeError(`${what} must be an object`);
  return value as Record<string, unknown>;
}

export function text(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_TEXT) throw new TypeError(`${what} must be a string of 1 to ${MAX_TEXT} characters`);
  return value;
}

export function count(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new TypeError(`${what} must be a whole number >= 0`);
  return value;
}

function ratio(value: unknown, what: string): number {
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) throw new TypeError(`${what} must be a number from 0 to 1`);
  return value;
}

function list(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value) || value.length > MAX_LISTED) throw new TypeError(`${what} must be an array of at most ${MAX_LISTED} items`);
  return value;
}

export function oneOf(value: unknown, allowed: ReadonlySet<string>, what: string): string {
  if (typeof value !== 'string' || !allowed.has(value)) throw new TypeError(`${what} must be one of ${[...allowed].join(', ')}`);
  return value;
}
