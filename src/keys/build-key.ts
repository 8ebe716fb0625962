import { escapeSegment } from './escape.js';

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
