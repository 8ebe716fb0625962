// Scenario 4: hostile input. Patterns that make a backtracking matcher explode, and keys and values chosen to
// break a cache: each must either work (and round-trip through Redis to a fresh instance, without colliding
// with another key) or be refused with a typed error; nothing may crash, hang or pollute Object.prototype.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { Redis } from 'ioredis';
import { Cache, isCacheError } from '../src/index.js';
import { redisStore } from '../src/stores/redis.js';
import { bounded, describeError, ms, percentile, type Section, type Target } from './lib.js';

const CHILD = fileURLToPath(new URL('./hostile-patterns-child.ts', import.meta.url));
const SHARED_REDIS = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface HostileOptions {
  seed: number;
  /** Keys in the memory tier for the pattern cases. @default 10000 */
  patternKeys?: number;
  /** A pattern still running this long after the keys are in is killed and counted as hung, ms. @default 10000 */
  patternLimitMs?: number;
  /** A key or value call pending this long counts as hung, ms. @default 5000 */
  callLimitMs?: number;
}

export interface PatternCase {
  name: string;
  patternLength: number;
  /** 'removed N', an error's class and code, or 'hung' / 'crashed'. */
  outcome: string;
  /** Median over the rounds. */
  ms: number;
  /** The first round, JIT and all. */
  coldMs: number;
  /** Keys the pattern matches by a linear reference matcher. */
  expected: number | undefined;
  ok: boolean;
}

export interface InputCase {
  kind: 'key' | 'value';
  name: string;
  /** 'works', 'wrong value', 'collides with …', an error's class and code, 'hung'. */
  outcome: string;
  ms: number;
  ok: boolean;
}

export interface HostileResult {
  seed: number;
  patterns: PatternCase[];
  inputs: InputCase[];
  prototypePolluted: boolean;
  unhandledRejections: number;
}

async function patternCase(name: 'nested-stars' | 'long', options: Required<HostileOptions>): Promise<PatternCase> {
  const child = fork(CHILD, [String(options.seed), String(options.patternKeys), '60', name], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  type Reply = { ms: number; outcome: { kind: 'value'; removed: number } | { kind: 'error'; code: string | undefined; name: string }; expected: number | undefined; patternLength: number; last: boolean };
  const patternLength = name === 'long' ? 100_000 : 26;
  try {
    const result = await new Promise<PatternCase>((resolve) => {
      let limit: NodeJS.Timeout | undefined;
      let readyAt = 0;
      const times: number[] = [];
      const settle = (value: Omit<PatternCase, 'coldMs'> & { coldMs?: number }) => {
        clearTimeout(limit);
        resolve({ coldMs: times[0] ?? Number.NaN, ...value, ...(times.length > 0 && value.outcome !== undefined && !value.outcome.startsWith('hung') ? { ms: percentile(times, 50) } : {}) });
      };
      // Building 10,000 keys under tsx can take a while on a busy machine; the clock starts once they are in.
      const startup = setTimeout(() => settle({ name, patternLength, outcome: 'child did not start', ms: Number.NaN, expected: undefined, ok: false }), 60_000);
      child.on('message', (message: { ready?: boolean } & Partial<Reply>) => {
        if (message.ready === true) {
          clearTimeout(startup);
          readyAt = performance.now();
          limit = setTimeout(() => settle({ name, patternLength, outcome: `hung (killed after ${options.patternLimitMs} ms)`, ms: performance.now() - readyAt, expected: undefined, ok: false }), options.patternLimitMs);
          return;
        }
        const reply = message as Reply;
        clearTimeout(limit);
        times.push(reply.ms);
        if (!reply.last && reply.outcome.kind === 'value') return;
        if (reply.outcome.kind === 'value') {
          const correct = reply.expected === undefined || reply.expected === reply.outcome.removed;
          settle({
            name,
            patternLength: reply.patternLength,
            outcome: `removed ${reply.outcome.removed}${correct ? '' : ` (expected ${reply.expected})`}`,
            ms: reply.ms,
            expected: reply.expected,
            // A 100,000-character pattern is to be refused; the nested stars are to be matched, correctly.
            ok: name === 'nested-stars' && correct,
          });
        } else {
          settle({
            name,
            patternLength: reply.patternLength,
            outcome: `${reply.outcome.name} ${reply.outcome.code ?? '(untyped)'}`,
            ms: reply.ms,
            expected: reply.expected,
            ok: name === 'long' && reply.outcome.code === 'E_INVALID_PATTERN',
          });
        }
      });
      child.on('exit', (code, signal) => {
        clearTimeout(startup);
        if (code !== 0 && signal !== 'SIGKILL') settle({ name, patternLength, outcome: `crashed (${code ?? signal})`, ms: Number.NaN, expected: undefined, ok: false });
      });
    });
    return result;
  } finally {
    child.kill('SIGKILL');
  }
}

const KEY_CASES: readonly [string, unknown][] = [
  ['null', null],
  ['empty string', ''],
  ['lone high surrogate', '\uD800'],
  ['lone low surrogate', '\uDC00'],
  ['lone surrogate inside', 'user:\uDBFF:1'],
  ['C0 control (U+0001)', 'a\u0001b'],
  ['NUL', '\u0000'],
  ['C1 control (U+0085)', 'a\u0085b'],
  ['C1 control (U+009B)', '\u009b[2J'],
  ['10 MB key', 'k'.repeat(10 * 1024 * 1024)],
  ['__proto__', '__proto__'],
  ['constructor', 'constructor'],
  ['prototype', 'prototype'],
  ['hasOwnProperty', 'hasOwnProperty'],
];

function nested(depth: number): unknown[] {
  let value: unknown[] = [];
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

/** Depth of a chain of single-element arrays, walked without recursion (a recursive compare would overflow). */
function depthOf(value: unknown): number {
  let depth = 0;
  let at = value;
  while (Array.isArray(at) && at.length === 1 && depth < 1_000_000) {
    at = at[0];
    depth++;
  }
  return Array.isArray(at) && at.length === 0 ? depth : -1;
}

interface ValueCase {
  name: string;
  make: () => unknown;
  /** The value must be refused (it breaks a documented bound), not merely may be. */
  mustRefuse?: boolean;
  same?: (read: unknown, written: unknown) => boolean;
}

function valueCases(): ValueCase[] {
  const list: [string, () => unknown][] = [
    [
      'cycle',
      () => {
        const a: Record<string, unknown> = { name: 'a' };
        a.self = a;
        return a;
      },
    ],
    ['function', () => () => 1],
    ['object holding a function', () => ({ ok: 1, handler: () => 1 })],
    ['symbol', () => Symbol('s')],
    ['2 MiB object (maxValueBytes 1 MiB)', () => ({ items: Array.from({ length: 40_000 }, (_, i) => `item-${i}-${'x'.repeat(40)}`) })],
    ['arrays nested 100,000 deep', () => nested(100_000)],
    ['JSON with __proto__', () => JSON.parse('{"__proto__": {"polluted": "yes"}, "a": 1}') as unknown],
    ['constructor.prototype', () => JSON.parse('{"constructor": {"prototype": {"polluted": "yes"}}}') as unknown],
    ['Map with __proto__ key', () => new Map<string, unknown>([['__proto__', { polluted: 'yes' }]])],
  ];
  return list.map(([name, make]) => ({
    name,
    make,
    ...(name.startsWith('2 MiB') ? { mustRefuse: true } : {}),
    ...(name.startsWith('arrays nested') ? { same: (read: unknown) => depthOf(read) === 100_000 } : {}),
  }));
}

function polluted(): boolean {
  const probe: Record<string, unknown> = {};
  return probe.polluted !== undefined || Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted') || (Array.prototype as unknown as Record<string, unknown>).polluted !== undefined;
}

function errorOutcome(error: unknown, allowed: string): { outcome: string; ok: boolean } {
  return { outcome: `${describeError(error)}${isCacheError(error) ? '' : ' (untyped)'}`, ok: isCacheError(error) && error.code === allowed };
}

export async function runHostileInput(options: HostileOptions): Promise<HostileResult> {
  const resolved: Required<HostileOptions> = {
    seed: options.seed,
    patternKeys: options.patternKeys ?? 10_000,
    patternLimitMs: options.patternLimitMs ?? 10_000,
    callLimitMs: options.callLimitMs ?? 5_000,
  };
  let unhandledRejections = 0;
  const onUnhandled = () => void unhandledRejections++;
  process.on('unhandledRejection', onUnhandled);
  const prefix = `chaos-hostile-${options.seed}:`;
  const store = () => redisStore({ url: SHARED_REDIS, prefix });
  const writer = new Cache({ stores: [store()], maxValueBytes: 1024 * 1024 });
  const reader = new Cache({ stores: [store()], maxValueBytes: 1024 * 1024 });
  writer.on('error', () => undefined);
  reader.on('error', () => undefined);
  const inputs: InputCase[] = [];
  try {
    const patterns = [await patternCase('nested-stars', resolved), await patternCase('long', resolved)];

    // Keys: every accepted key gets its own value; a fresh instance reading through Redis must get that value
    // back, not another key's (lone surrogates become U+FFFD in UTF-8, so two of them would share one Redis key).
    const accepted: { name: string; key: string; value: string; ms: number }[] = [];
    for (const [name, key] of KEY_CASES) {
      const value = `value of ${name}`;
      const outcome = await bounded(async () => {
        await writer.set(key as string, value);
        return writer.get(key as string);
      }, resolved.callLimitMs);
      if (outcome.kind === 'stuck') inputs.push({ kind: 'key', name, outcome: 'hung', ms: outcome.ms, ok: false });
      else if (outcome.kind === 'error') inputs.push({ kind: 'key', name, ms: outcome.ms, ...errorOutcome(outcome.error, 'E_INVALID_KEY') });
      else if (outcome.value !== value) inputs.push({ kind: 'key', name, outcome: 'wrong value from the same instance', ms: outcome.ms, ok: false });
      else accepted.push({ name, key: key as string, value, ms: outcome.ms });
    }
    for (const item of accepted) {
      const outcome = await bounded(() => reader.get(item.key), resolved.callLimitMs);
      let verdict: { outcome: string; ok: boolean };
      if (outcome.kind === 'stuck') verdict = { outcome: 'hung on a fresh instance', ok: false };
      else if (outcome.kind === 'error') verdict = { outcome: `fresh instance: ${describeError(outcome.error)}`, ok: false };
      else if (outcome.value === item.value) verdict = { outcome: 'works', ok: true };
      else {
        const other = accepted.find((a) => a.value === outcome.value);
        verdict = { outcome: other === undefined ? `fresh instance read ${JSON.stringify(outcome.value)}` : `collides with "${other.name}" in Redis`, ok: false };
      }
      inputs.push({ kind: 'key', name: item.name, ms: item.ms + outcome.ms, ...verdict });
    }

    for (const { name, make, mustRefuse, same: sameAs } of valueCases()) {
      const key = `value:${name}`;
      let value: unknown;
      const outcome = await bounded(async () => {
        value = make();
        await writer.set(key, value);
        return reader.get(key);
      }, resolved.callLimitMs);
      if (outcome.kind === 'stuck') inputs.push({ kind: 'value', name, outcome: 'hung', ms: outcome.ms, ok: false });
      else if (outcome.kind === 'error') inputs.push({ kind: 'value', name, ms: outcome.ms, ...errorOutcome(outcome.error, 'E_SERIALIZATION') });
      else {
        let same = false;
        try {
          same = sameAs === undefined ? isDeepStrictEqual(outcome.value, value) : sameAs(outcome.value, value);
        } catch {
          same = false;
        }
        const verdict = mustRefuse === true ? 'accepted past maxValueBytes' : same ? 'works' : 'wrong value read back';
        inputs.push({ kind: 'value', name, outcome: verdict, ms: outcome.ms, ok: same && mustRefuse !== true });
      }
    }
    const getOrSetFn = await bounded(() => writer.getOrSet('value:loader function', () => () => 2), resolved.callLimitMs);
    inputs.push({
      kind: 'value',
      name: 'getOrSet loader returning a function',
      ms: getOrSetFn.ms,
      ...(getOrSetFn.kind === 'error' ? errorOutcome(getOrSetFn.error, 'E_SERIALIZATION') : getOrSetFn.kind === 'stuck' ? { outcome: 'hung', ok: false } : { outcome: `returned a ${typeof getOrSetFn.value}`, ok: true }),
    });
    return { seed: options.seed, patterns, inputs, prototypePolluted: polluted(), unhandledRejections };
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await bounded(() => writer.close(), 5_000);
    await bounded(() => reader.close(), 5_000);
    await sweep(prefix);
  }
}

async function sweep(prefix: string): Promise<void> {
  const client = new Redis(SHARED_REDIS, { maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  try {
    let cursor = '0';
    let steps = 0;
    do {
      const [next, keys] = await client.scanBuffer(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next.toString();
      if (keys.length > 0) await client.unlink(...keys);
    } while (cursor !== '0' && ++steps < 10_000);
  } finally {
    client.disconnect();
  }
}

export function hostileInputSection(result: HostileResult): Section {
  const nestedCase = result.patterns.find((p) => p.name === 'nested-stars');
  const targets: Target[] = [
    { what: 'nested-star pattern over 10,000 keys of 60 characters in < 10 ms (median of 5 rounds), with the right count', ok: nestedCase !== undefined && nestedCase.ok && nestedCase.ms < 10, detail: nestedCase === undefined ? 'not run' : `${nestedCase.outcome}, ${ms(nestedCase.ms, 2)} ms` },
    { what: '100,000-character pattern refused with InvalidPatternError', ok: result.patterns.find((p) => p.name === 'long')?.ok ?? false, detail: result.patterns.find((p) => p.name === 'long')?.outcome ?? 'not run' },
    { what: 'every key works (round-trips through Redis, no collision) or is refused with E_INVALID_KEY', ok: result.inputs.filter((i) => i.kind === 'key').every((i) => i.ok), detail: result.inputs.filter((i) => i.kind === 'key' && !i.ok).map((i) => `${i.name}: ${i.outcome}`).join('; ') || 'all' },
    { what: 'every value works or is refused with E_SERIALIZATION', ok: result.inputs.filter((i) => i.kind === 'value').every((i) => i.ok), detail: result.inputs.filter((i) => i.kind === 'value' && !i.ok).map((i) => `${i.name}: ${i.outcome}`).join('; ') || 'all' },
    { what: 'no prototype pollution, no unhandled rejection', ok: !result.prototypePolluted && result.unhandledRejections === 0, detail: `polluted: ${result.prototypePolluted}, unhandled rejections: ${result.unhandledRejections}` },
  ];
  return {
    title: '4. Hostile input',
    setup:
      'Patterns run in a child process over 10,000 memory-tier keys of 60 characters (mostly `a`), killed if still running after the limit; the expected count comes from a linear reference matcher. ' +
      'Keys and values go through a memory+Redis cache (maxValueBytes 1 MiB) and are read back by a second instance through Redis.',
    table: {
      head: ['input', 'case', 'outcome', 'ms (patterns: median of 5 rounds / first round)'],
      rows: [
        ...result.patterns.map((p) => ['pattern', p.name === 'long' ? `\`*a\` x 50,000 (${p.patternLength.toLocaleString('en')} chars)` : '`*a*a*a*a*a*a*a*a*a*a*a*a*b`', p.outcome, p.name === 'long' ? ms(p.ms, 2) : `${ms(p.ms, 2)} / ${ms(p.coldMs, 2)}`]),
        ...result.inputs.map((i) => [i.kind, i.name, i.outcome, ms(i.ms, 2)]),
      ],
    },
    targets,
  };
}
