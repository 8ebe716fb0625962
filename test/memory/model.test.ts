import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryTier } from '../../src/memory/memory-tier.js';
import type { EvictionPolicy, RemovalCause } from '../../src/memory/types.js';
import { ALL_POLICIES, testClock } from './helpers.js';

type Op =
  | { op: 'get'; key: string }
  | { op: 'peek'; key: string }
  | { op: 'set'; key: string; value: number; size: number; ttl: number }
  | { op: 'delete'; key: string }
  | { op: 'advance'; ms: number }
  | { op: 'sweep'; limit: number }
  | { op: 'keys' }
  | { op: 'clear' };

const KEYS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l'];
const key = fc.constantFrom(...KEYS);

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: key.map((k) => ({ op: 'get' as const, key: k })) },
  { weight: 2, arbitrary: key.map((k) => ({ op: 'peek' as const, key: k })) },
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant('set' as const),
      key,
      value: fc.integer(),
      size: fc.integer({ min: 0, max: 40 }),
      // 0 is "already expired"; -1 stands for no deadline.
      ttl: fc.oneof(fc.constant(-1), fc.constant(0), fc.integer({ min: 1, max: 100 })),
    }),
  },
  { weight: 2, arbitrary: key.map((k) => ({ op: 'delete' as const, key: k })) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 60 }).map((ms) => ({ op: 'advance' as const, ms })) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 5 }).map((limit) => ({ op: 'sweep' as const, limit })) },
  { weight: 1, arbitrary: fc.constant({ op: 'keys' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'clear' as const }) },
);

interface ModelEntry {
  value: number;
  size: number;
  expiresAt: number;
  /** Last find hit or write, for checking LRU's victims. */
  used: number;
  /** Last write, for checking the TTL policy's tie-break. */
  written: number;
}

/** The entry the policy must evict next, when the model can tell (LRU and TTL are fully ordered). */
function expectedVictim(policy: EvictionPolicy, model: Map<string, ModelEntry>, spare: string): string | undefined {
  let victim: string | undefined;
  let best: ModelEntry | undefined;
  for (const [k, e] of model) {
    if (k === spare) continue;
    const before =
      best === undefined ||
      (policy === 'lru'
        ? e.used < best.used
        : e.expiresAt < best.expiresAt || (e.expiresAt === best.expiresAt && e.written < best.written));
    if (before) {
      victim = k;
      best = e;
    }
  }
  return policy === 'lru' || policy === 'ttl' ? victim : undefined;
}

/**
 * Replays `ops` against the tier and a Map model. Evictions are the only thing the model cannot predict,
 * so it learns them from the tier's removal notices; everything else must match exactly.
 */
function check(policy: EvictionPolicy, maxEntries: number | undefined, maxBytes: number | undefined, ops: Op[]): void {
  const clock = testClock();
  const model = new Map<string, ModelEntry>();
  const notices: [string, RemovalCause][] = [];
  const tier = new MemoryTier<number>({
    policy,
    clock,
    sweepInterval: 0,
    ...(maxEntries === undefined ? {} : { maxEntries }),
    ...(maxBytes === undefined ? {} : { maxBytes }),
    onRemove: (k, cause) => notices.push([k, cause]),
  });
  const bounded = maxEntries !== undefined && maxEntries < KEYS.length;
  const byteBound = maxBytes ?? Infinity;
  const live = (e: ModelEntry | undefined): e is ModelEntry => e !== undefined && e.expiresAt > clock.now();
  let tick = 0;

  for (const step of ops) {
    notices.length = 0;
    switch (step.op) {
      case 'get':
      case 'peek': {
        const slot = step.op === 'get' ? tier.find(step.key) : tier.peek(step.key);
        const expected = model.get(step.key);
        if (live(expected)) {
          expect(slot).toBeGreaterThanOrEqual(0);
          expect(tier.valueAt(slot)).toBe(expected.value);
          expect(tier.sizeOf(slot)).toBe(expected.size);
          expect(tier.expiresAtOf(slot)).toBe(expected.expiresAt);
          expect(notices).toEqual([]);
          if (step.op === 'get') expected.used = ++tick;
        } else {
          expect(slot).toBe(-1);
          if (expected !== undefined) {
            expect(notices).toEqual([[step.key, 'expired']]);
            model.delete(step.key);
          } else {
            expect(notices).toEqual([]);
          }
        }
        break;
      }
      case 'set': {
        const expiresAt = step.ttl === -1 ? Infinity : clock.now() + step.ttl;
        const stored = tier.set(step.key, step.value, step.size, expiresAt);
        const accepted = step.size <= byteBound && expiresAt > clock.now();
        expect(stored).toBe(accepted);
        if (accepted) model.set(step.key, { value: step.value, size: step.size, expiresAt, used: ++tick, written: tick });
        else model.delete(step.key);
        for (const [k, cause] of notices) {
          expect(k).not.toBe(step.key);
          const predicted = expectedVictim(policy, model, step.key);
          if (predicted !== undefined) expect(k).toBe(predicted);
          const gone = model.get(k);
          expect(gone).toBeDefined();
          expect(cause).toBe(live(gone) ? 'capacity' : 'expired');
          model.delete(k);
        }
        if (!bounded && byteBound === Infinity) expect(notices).toEqual([]);
        break;
      }
      case 'delete':
        expect(tier.delete(step.key)).toBe(model.delete(step.key));
        expect(notices).toEqual([]);
        break;
      case 'advance':
        clock.advance(step.ms);
        break;
      case 'sweep': {
        const expired = [...model].filter(([, e]) => !live(e)).length;
        expect(tier.sweep(step.limit)).toBe(Math.min(step.limit, expired));
        for (const [k, cause] of notices) {
          expect(cause).toBe('expired');
          expect(live(model.get(k))).toBe(false);
          model.delete(k);
        }
        break;
      }
      case 'keys':
        expect([...tier.keys()].sort()).toEqual([...model].filter(([, e]) => live(e)).map(([k]) => k).sort());
        break;
      case 'clear':
        tier.clear();
        model.clear();
        expect(notices).toEqual([]);
        break;
    }
    // The tier holds exactly the model's entries (expired ones included until something removes them).
    const entries = [...model.values()];
    expect(tier.count).toBe(model.size);
    expect(tier.bytes).toBe(entries.reduce((sum, e) => sum + e.size, 0));
    const finite = entries.filter((e) => e.expiresAt !== Infinity);
    expect(tier.expiringCount).toBe(finite.length);
    expect(tier.expirySum).toBe(finite.reduce((sum, e) => sum + e.expiresAt, 0));
    expect(tier.count).toBeLessThanOrEqual(maxEntries ?? Infinity);
    expect(tier.bytes).toBeLessThanOrEqual(byteBound);
  }
}

const ops = fc.array(opArb, { minLength: 1, maxLength: 120 });

describe.each(ALL_POLICIES)('MemoryTier against a model (%s)', (policy) => {
  it('matches a plain map exactly when nothing needs evicting', () => {
    fc.assert(fc.property(ops, (list) => check(policy, 100, undefined, list)), { numRuns: 150 });
  });

  it('under an entry bound, never serves anything but the last live value set', () => {
    fc.assert(fc.property(ops, (list) => check(policy, 3, undefined, list)), { numRuns: 150 });
  });

  it('under a byte bound, keeps bytes exact and within the bound', () => {
    fc.assert(fc.property(ops, (list) => check(policy, undefined, 60, list)), { numRuns: 150 });
  });

  it('under both bounds at once', () => {
    fc.assert(fc.property(ops, (list) => check(policy, 4, 50, list)), { numRuns: 150 });
  });
});
