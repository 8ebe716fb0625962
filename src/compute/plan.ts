import { parseDuration } from '../ttl.js';
import type { GetOrSetOptions, LeaseOptions } from './types.js';

/** Cache-wide defaults of `getOrSet` (`new Cache({ compute })`); each call may override them. */
export type ComputeDefaults = Pick<GetOrSetOptions, 'grace' | 'softTimeout' | 'hardTimeout' | 'refreshAhead' | 'failSafeBackoff' | 'negativeTtl' | 'lease'>;

export interface ResolvedLease {
  readonly ttlMs: number;
  readonly waitMs: number;
}

/** Everything a load needs to know, in milliseconds; `hardTimeoutMs` is Infinity when there is none. */
export interface LoadPlan {
  readonly graceMs: number;
  readonly softTimeoutMs: number;
  readonly hardTimeoutMs: number;
  readonly refreshAhead: number | undefined;
  readonly failSafeBackoffMs: number;
  readonly negativeTtlMs: number;
  readonly lease: ResolvedLease | undefined;
  readonly forceRefresh: boolean;
}

/** Also the life of the lease entry a load without `lease` leaves for fencing. */
export const DEFAULT_LEASE: ResolvedLease = Object.freeze({ ttlMs: 10_000, waitMs: 30_000 });

function positiveDuration(value: unknown, option: string): number {
  const ms = parseDuration(value, option);
  if (ms === 0) throw new TypeError(`${option} must be greater than 0`);
  return ms;
}

function resolveLease(value: unknown, option: string, fallback: ResolvedLease | undefined): ResolvedLease | undefined {
  if (value === undefined) return fallback;
  if (value === false) return undefined;
  if (value === true) return fallback ?? DEFAULT_LEASE;
  if (typeof value !== 'object' || value === null) throw new TypeError(`${option} must be a boolean or { ttl, wait }, got ${typeof value}`);
  const lease = value as LeaseOptions;
  const base = fallback ?? DEFAULT_LEASE;
  return {
    ttlMs: lease.ttl === undefined ? base.ttlMs : positiveDuration(lease.ttl, `${option}.ttl`),
    waitMs: lease.wait === undefined ? base.waitMs : parseDuration(lease.wait, `${option}.wait`),
  };
}

function fraction(value: unknown, option: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !(value > 0 && value < 1)) throw new TypeError(`${option} must be a number between 0 and 1 (exclusive), got ${typeof value === 'number' ? value : typeof value}`);
  return value;
}

const NO_PLAN: LoadPlan = Object.freeze({
  graceMs: 0,
  softTimeoutMs: 0,
  hardTimeoutMs: Number.POSITIVE_INFINITY,
  refreshAhead: undefined,
  failSafeBackoffMs: 5_000,
  negativeTtlMs: 0,
  lease: undefined,
  forceRefresh: false,
});

/** Checks the cache-wide defaults once, at construction. */
export function resolveComputeDefaults(input: ComputeDefaults | undefined): LoadPlan {
  if (input === undefined) return NO_PLAN;
  if (typeof input !== 'object' || input === null) throw new TypeError('compute must be an object');
  return Object.freeze(planOf(input, NO_PLAN, 'compute.'));
}

/** One call's plan: its options over the cache's defaults. Bad options throw a TypeError naming them. */
export function planOf(options: GetOrSetOptions, defaults: LoadPlan, prefix = ''): LoadPlan {
  return {
    graceMs: options.grace === undefined ? defaults.graceMs : parseDuration(options.grace, `${prefix}grace`),
    softTimeoutMs: options.softTimeout === undefined ? defaults.softTimeoutMs : parseDuration(options.softTimeout, `${prefix}softTimeout`),
    hardTimeoutMs: options.hardTimeout === undefined ? defaults.hardTimeoutMs : positiveDuration(options.hardTimeout, `${prefix}hardTimeout`),
    refreshAhead: options.refreshAhead === undefined ? defaults.refreshAhead : fraction(options.refreshAhead, `${prefix}refreshAhead`),
    failSafeBackoffMs:
      options.failSafeBackoff === undefined ? defaults.failSafeBackoffMs : parseDuration(options.failSafeBackoff, `${prefix}failSafeBackoff`),
    negativeTtlMs: options.negativeTtl === undefined ? defaults.negativeTtlMs : parseDuration(options.negativeTtl, `${prefix}negativeTtl`),
    lease: resolveLease(options.lease, `${prefix}lease`, defaults.lease),
    forceRefresh: options.forceRefresh === true,
  };
}
