import { createHash } from 'node:crypto';
import { escapeSegment } from '../keys/escape.js';
import { canonicalJson } from '../keys/params-hash.js';

/** A key computed from a call's arguments: a template (`'user:{userId}'`, `'items:{0}:{1}'`) or a function. */
export type KeySpec<A extends unknown[]> = string | ((...args: A) => string);

export interface KeyTemplateOptions {
  /**
   * Names of the function's positional parameters, so that `{userId}` can mean "the first argument" when
   * `params: ['userId']`. Without it, a named placeholder is read from the fields of the first argument.
   * Names are given rather than parsed from `fn.toString()`, which minifiers and transpilers rewrite.
   */
  params?: readonly string[];
  /**
   * Prepended verbatim to every key: to the filled template, or to the hash of the arguments when no key is
   * given (then it replaces the function's name).
   * @default '' with a key; the function's name + `':'` without
   */
  prefix?: string;
}

/** What a template is for: patterns are refused when they would match every key; errors name the role. */
export type TemplateRole = 'key' | 'tag' | 'pattern';

type Part = string | { readonly index: number; readonly name: string } | { readonly field: string; readonly param: number };

const PLACEHOLDER = /\{([A-Za-z_$][\w$]*|\d+)\}/y;
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
/** Characters that SCAN MATCH and the glob matcher would read as wildcards. */
const GLOB_CHARS = /[*?[\]\\]/;

/**
 * Compiles a template once into a filler of argument lists. Syntax errors (a stray `{` or `}`, a placeholder
 * that is not an identifier or an index) are reported here, when the wrapper is built, rather than on the
 * first call.
 */
export function compileTemplate(template: string, options: KeyTemplateOptions & { role?: TemplateRole } = {}): (args: readonly unknown[]) => string {
  const role = options.role ?? 'key';
  if (typeof template !== 'string' || template.length === 0) throw new TypeError(`${role} template must be a non-empty string`);
  const params = checkParams(options.params);
  const prefix = options.prefix ?? '';
  if (typeof prefix !== 'string') throw new TypeError(`prefix must be a string, got ${typeof prefix}`);
  const parts: Part[] = [];
  let literal = '';
  let i = 0;
  while (i < template.length) {
    const ch = template[i] as string;
    if (ch === '{') {
      PLACEHOLDER.lastIndex = i;
      const match = PLACEHOLDER.exec(template);
      if (match === null) {
        throw new TypeError(`${role} template ${JSON.stringify(template)} has a malformed placeholder at index ${i}: use {name} or {0}`);
      }
      const name = match[1] as string;
      if (literal !== '') parts.push(literal);
      literal = '';
      if (/^\d+$/.test(name)) parts.push({ index: Number(name), name });
      else parts.push({ field: name, param: params.indexOf(name) });
      i += match[0].length;
      continue;
    }
    if (ch === '}') throw new TypeError(`${role} template ${JSON.stringify(template)} has an unmatched } at index ${i}`);
    literal += ch;
    i++;
  }
  if (literal !== '') parts.push(literal);

  if (parts.every((part) => typeof part === 'string')) {
    const constant = prefix + template;
    if (role === 'pattern') assertNarrowPattern(constant, `template ${JSON.stringify(template)}`);
    return () => constant;
  }
  return (args) => {
    let out = prefix;
    for (const part of parts) out += typeof part === 'string' ? part : escapeSegment(valueOf(part, args, template, role));
    if (role === 'pattern') assertNarrowPattern(out, `template ${JSON.stringify(template)}`);
    return out;
  };
}

/**
 * Refuses a pattern of only `*`: a wrapper must never be one empty argument away from wiping the cache
 * (`{0}*` filled with '' is `*`).
 */
export function assertNarrowPattern(pattern: string, source: string): void {
  if (/^\*+$/.test(pattern)) throw new TypeError(`pattern ${JSON.stringify(pattern)} (${source}) matches every key`);
}

function checkParams(params: unknown): readonly string[] {
  if (params === undefined) return [];
  if (!Array.isArray(params)) throw new TypeError('params must be an array of parameter names');
  const seen = new Set<string>();
  for (const name of params as readonly unknown[]) {
    if (typeof name !== 'string' || !IDENTIFIER.test(name)) throw new TypeError(`params: ${JSON.stringify(name)} is not a parameter name`);
    if (seen.has(name)) throw new TypeError(`params: ${name} is named twice`);
    seen.add(name);
  }
  return [...seen];
}

function valueOf(part: Exclude<Part, string>, args: readonly unknown[], template: string, role: TemplateRole): string {
  let value: unknown;
  let name: string;
  if ('index' in part) {
    name = part.name;
    value = args[part.index];
  } else {
    name = part.field;
    if (part.param >= 0) {
      value = args[part.param];
    } else {
      const first = args[0];
      if (typeof first === 'object' && first !== null && !Array.isArray(first)) {
        const proto: unknown = Object.getPrototypeOf(first);
        // A plain object contributes its own fields only, so `{constructor}` cannot pick up Object.prototype;
        // a class instance may also answer through a getter.
        const plain = proto === Object.prototype || proto === null;
        if (plain ? Object.hasOwn(first, name) : name in first) value = (first as Record<string, unknown>)[name];
      }
    }
  }
  if (value === undefined) {
    const hint = 'index' in part ? `argument ${part.index} is missing` : part.param >= 0 ? `parameter ${name} (argument ${part.param}) is missing` : `the first argument has no field ${name} (or name the parameters with the params option)`;
    throw new TypeError(`${role} template ${JSON.stringify(template)} has no value for {${name}}: ${hint}`);
  }
  return segmentOf(value, name, template, role);
}

function segmentOf(value: unknown, name: string, template: string, role: TemplateRole): string {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
      if (Number.isFinite(value)) return String(value);
      break;
    case 'bigint':
    case 'boolean':
      return String(value);
    default:
      if (value instanceof Date && !Number.isNaN(value.getTime())) return value.toISOString();
  }
  const shown = typeof value === 'number' ? String(value) : value === null ? 'null' : typeof value;
  throw new TypeError(`${role} template ${JSON.stringify(template)}: {${name}} must be a string, finite number, bigint, boolean or valid Date, got ${shown}`);
}

/**
 * A 128-bit digest of the arguments' canonical JSON (the form `paramsHash` hashes: object keys sorted, so
 * `{ a, b }` and `{ b, a }` agree). Not `paramsHash` itself: its 32 bits would make two argument lists share
 * one entry, and return one caller's result to another, with even odds at about 77,000 distinct calls.
 * An `undefined` argument counts as absent, so `f(1)` and `f(1, undefined)` share an entry.
 *
 * @example
 * argsHash(['u1', { window: 3, sensitivity: 0.1 }]) === argsHash(['u1', { sensitivity: 0.1, window: 3 }]) // true
 */
export function argsHash(args: readonly unknown[]): string {
  const record: Record<string, unknown> = {};
  for (let i = 0; i < args.length; i++) record[i] = args[i];
  return createHash('sha256').update(canonicalJson(record, '$args')).digest('hex').slice(0, 32);
}

/**
 * A function that builds the key of a call from its arguments, for code that wants the keys a wrapper uses
 * (to read or invalidate them elsewhere). Each substituted value is escaped with `escapeSegment`, so an id
 * holding `:`, `*` or `?` can neither forge another key nor widen a pattern. A placeholder without a value
 * throws a `TypeError` naming it.
 *
 * @example
 * const userKey = keyTemplate<[{ userId: string }]>('user:{userId}');
 * userKey({ userId: '42' })                                        // 'user:42'
 * keyTemplate<[string, number]>('report:{period}:{page}', { params: ['period', 'page'] })('2026-q1', 2) // 'report:2026-q1:2'
 * keyTemplate<[string, string]>('items:{0}:{1}', { prefix: 'v2:' })('a*', 'b')  // 'v2:items:a%2A:b'
 */
export function keyTemplate<A extends unknown[]>(template: string, options: KeyTemplateOptions = {}): (...args: A) => string {
  const fill = compileTemplate(template, options);
  return (...args) => fill(args);
}

/** Checks that `prefix` can head a glob: it must not hold characters the glob or `SCAN MATCH` read as wildcards. */
export function assertLiteralPrefix(prefix: string, what: string): void {
  if (typeof prefix !== 'string' || prefix.length === 0) throw new TypeError(`${what} must be a non-empty string`);
  if (GLOB_CHARS.test(prefix)) throw new TypeError(`${what} ${JSON.stringify(prefix)} must not contain * ? [ ] or \\: it heads an invalidation pattern`);
}
