import { escapeSegment, unescapeSegment } from '../keys/escape.js';
import { paramsHash } from '../keys/params-hash.js';

/**
 * Forecast keys: `forecast:{userId}:{metric}:{horizon}:{algorithm}:{paramsHash}`, the structured key of seed
 * 000. They belong to the forecast package, not the engine: the engine's keys are any string, built with its
 * generic `buildKey` and `paramsHash`.
 */

/** The parts {@link forecastKey} builds a key from. */
export interface ForecastKeyParts {
  userId: string;
  metric: string;
  horizon: string;
  algorithm: string;
  /** Extra parameters, hashed with `paramsHash`. Absent: the segment is `default`, as in the seeds' examples. */
  params?: Readonly<Record<string, unknown>>;
}

const PART_NAMES = ['userId', 'metric', 'horizon', 'algorithm'] as const;

/**
 * The structured forecast key. Every part is escaped, so an id holding `:` or `*` cannot forge another key or
 * widen a pattern.
 *
 * @throws {TypeError} naming the part that is not a non-empty string.
 * @example
 * forecastKey({ userId: 'user_123', metric: 'balance', horizon: '30d', algorithm: 'linear', params: { window_months: 3 } })
 */
export function forecastKey(parts: ForecastKeyParts): string {
  const segments = PART_NAMES.map((name) => {
    const value: unknown = parts[name];
    if (typeof value !== 'string' || value.length === 0) {
      throw new TypeError(`forecastKey ${name} must be a non-empty string, got ${JSON.stringify(value)}`);
    }
    return escapeSegment(value);
  });
  const hash = parts.params === undefined ? 'default' : paramsHash(parts.params);
  return `forecast:${segments.join(':')}:${hash}`;
}

/**
 * The key group a forecast key is counted under in the cache's metrics: `forecast:<metric>` (bounded by the
 * registered metrics), so reports rank metrics by traffic and by what their misses cost. Other keys: up to
 * their first `:`.
 */
export function forecastKeyGroup(key: string): string {
  const user = key.startsWith('forecast:') ? key.indexOf(':', 9) : -1;
  const metricEnd = user < 0 ? -1 : key.indexOf(':', user + 1);
  if (metricEnd > user + 1) return `forecast:${key.slice(user + 1, metricEnd)}`;
  const colon = key.indexOf(':');
  return colon <= 0 ? '-' : key.slice(0, colon);
}

/** The parts of a structured key `forecast:{userId}:{metric}:{horizon}:{algorithm}:{paramsHash}`, unescaped. */
export interface ParsedForecastKey {
  userId: string;
  metric: string;
  horizon: string;
  algorithm: string;
  /** The last segment as written: a params hash, `default`, or whatever the key's author put there. */
  paramsHash: string;
}

/**
 * The parts of a structured forecast key, or `undefined` when `key` is not one (a segment missing, empty, or
 * an unescaped `:` inside an id). Inverse of {@link forecastKey} for the first five segments.
 *
 * @example
 * parseForecastKey('forecast:a%3Ab:balance:30d:linear:default') // { userId: 'a:b', metric: 'balance', … }
 */
export function parseForecastKey(key: string): ParsedForecastKey | undefined {
  if (typeof key !== 'string') return undefined;
  const parts = key.split(':');
  if (parts.length !== 6 || parts[0] !== 'forecast' || parts.some((part) => part.length === 0)) return undefined;
  const [, userId, metric, horizon, algorithm, hash] = parts as [string, string, string, string, string, string];
  return {
    userId: unescapeSegment(userId),
    metric: unescapeSegment(metric),
    horizon: unescapeSegment(horizon),
    algorithm: unescapeSegment(algorithm),
    paramsHash: hash,
  };
}

