// What the Prometheus and OpenTelemetry exporters share. Kept apart from both so that neither subpath loads
// the other's client library.
import type { Cache } from '../cache.js';
import type { BreakerState } from '../tiers/store-tier.js';

/** What an exporter reads: a cache, or anything else that hands out the same snapshot. */
export type MetricsSource = Pick<Cache, 'getMetrics'>;

/** A breaker state as a number, for gauges (and for dashboards to map back to words). */
export const BREAKER_STATE_VALUES: Readonly<Record<BreakerState, number>> = Object.freeze({ closed: 0, 'half-open': 1, open: 2 });
