import { escapeSegment } from './escape.js';
import { paramsHash } from './params-hash.js';

export type KeyPart = string | number | bigint | boolean | Date;

export interface BuildKeyOptions {
  /** Prepended verbatim, e.g. `'v2:'`. */
  prefix?: string;
}

const PLACEHOLDER = /\{([A-Za-z_$][\w$]*|\d+)\}/g;

function partToString(value: unknown, name: string): string {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`key placeholder {${name}} must be finite, got ${value}`);
      return String(value);
    case 'bigint':
    case 'boolean':
      return String(value);
    default:
      if (value instanceof Date && !Number.isNaN(value.getTime())) return value.toISOString();
      throw new TypeError(
        `key placeholder {${name}} must be a string, number, bigint, boolean or valid Date, got ${value === null ? 'null' : typeof value}`,
      );
  }
}

/**
 * Fills a key template with named (`user:{userId}`) or positional (`items:{0}:{1}`) placeholders. Every
 * substituted value is escaped, so an id holding `:` or `*` cannot forge another key or widen a pattern.
 *
 * @example
 * buildKey('user:{userId}', { userId: '123' })            // 'user:123'
 * buildKey('items:{0}:{1}', ['category', 'page1'])         // 'items:category:page1'
 * buildKey('user:{id}', { id: '123' }, { prefix: 'v2:' })  // 'v2:user:123'
 */
export function buildKey(
  template: string,
  params: Readonly<Record<string, unknown>> | readonly unknown[] = {},
  options: BuildKeyOptions = {},
): string {
  if (typeof template !== 'string' || template.length === 0) throw new TypeError('key template must be a non-empty string');
  const lookup = params as Readonly<Record<string, unknown>>;
  const filled = template.replace(PLACEHOLDER, (_, name: string) => {
    if (!Object.hasOwn(lookup, name) || lookup[name] === undefined) {
      throw new TypeError(`key template ${JSON.stringify(template)} needs a value for {${name}}`);
    }
    return escapeSegment(partToString(lookup[name], name));
  });
  return (options.prefix ?? '') + filled;
}

export interface ForecastKeyParts {
  userId: string;
  metric: string;
  horizon: string;
  algorithm: string;
  /** Extra parameters, hashed with {@link paramsHash}. Absent: the segment is `default`, as in the seeds' examples. */
  params?: Readonly<Record<string, unknown>>;
}

/**
 * The structured forecast key `forecast:{userId}:{metric}:{horizon}:{algorithm}:{paramsHash}`.
 *
 * @example
 * forecastKey({ userId: 'user_123', metric: 'balance', horizon: '30d', algorithm: 'linear', params: { window_months: 3 } })
 */
export function forecastKey(parts: ForecastKeyParts): string {
  const segments = [parts.userId, parts.metric, parts.horizon, parts.algorithm].map((value, i) => {
    const name = (['userId', 'metric', 'horizon', 'algorithm'] as const)[i] as string;
    if (typeof value !== 'string' || value.length === 0) {
      throw new TypeError(`forecastKey ${name} must be a non-empty string, got ${JSON.stringify(value)}`);
    }
    return escapeSegment(value);
  });
  const hash = parts.params === undefined ? 'default' : paramsHash(parts.params);
  return `forecast:${segments.join(':')}:${hash}`;
}
