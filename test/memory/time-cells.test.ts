import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { MemoryTier } from '../../src/memory/memory-tier.js';
import { ALL_POLICIES, harness } from './helpers.js';

const DAY = 86_400_000;

/**
 * The tier keeps deadlines and creation times in narrow cells (milliseconds after a base, creation times as a
 * lifetime code at first) and changes their form as times stop fitting. Whatever the form, a user sees the
 * exact times that were written and expiry at the exact millisecond.
 */
describe.each(ALL_POLICIES)('creation times and deadlines stay exact (%s)', (policy) => {
  it('through hundreds of distinct lifetimes and an entry without a deadline', () => {
    const { tier, clock } = harness<number>({ maxEntries: 1000, policy });
    const written = new Map<string, { createdAt: number; expiresAt: number }>();
    const write = (key: string, expiresAt: number) => {
      expect(tier.set(key, 1, 1, expiresAt)).toBe(true);
      written.set(key, { createdAt: clock.now(), expiresAt });
    };
    for (let i = 0; i < 300; i++) {
      write(`k${i}`, clock.now() + 1000 + i * 7);
      clock.advance(3);
    }
    write('forever', Infinity);
    clock.advance(1);
    write('k5', clock.now() + 50);
    for (const [key, times] of written) {
      const slot = tier.peek(key);
      expect(slot, key).toBeGreaterThanOrEqual(0);
      expect(tier.createdAtOf(slot), key).toBe(times.createdAt);
      expect(tier.expiresAtOf(slot), key).toBe(times.expiresAt);
    }
  });

  it.each([
    ['nothing older', false],
    ['an entry without a deadline held throughout', true],
  ])('across months of clock time, with %s: expires at the exact millisecond', (_, keepOld) => {
    const { tier, clock } = harness<string>({ maxEntries: 100, policy });
    const oldAt = clock.now();
    if (keepOld) tier.set('old', 'v', 1, Infinity);
    for (let month = 1; month <= 4; month++) {
      clock.advance(30 * DAY);
      const createdAt = clock.now();
      const key = `m${month}`;
      tier.set(key, 'v', 1, createdAt + DAY);
      clock.advance(DAY - 1);
      const slot = tier.find(key);
      expect(slot).toBeGreaterThanOrEqual(0);
      expect(tier.createdAtOf(slot)).toBe(createdAt);
      expect(tier.expiresAtOf(slot)).toBe(createdAt + DAY);
      clock.advance(1);
      expect(tier.find(key)).toBe(-1);
    }
    expect(tier.count).toBe(keepOld ? 1 : 0);
    if (keepOld) {
      const slot = tier.find('old');
      expect(tier.createdAtOf(slot)).toBe(oldAt);
      expect(tier.expiresAtOf(slot)).toBe(Infinity);
    }
  });

  it('with a lifetime longer than the narrow cells cover, fractional times and a clock set back', () => {
    const { tier, clock } = harness<string>({ maxEntries: 100, policy });
    tier.set('a', 'v', 1, clock.now() + 10);
    const aAt = clock.now();
    clock.advance(0.5);
    tier.set('half', 'v', 1, clock.now() + 10.25);
    const halfAt = clock.now();
    tier.set('far', 'v', 1, clock.now() + 400 * DAY);
    clock.set(aAt - 5 * DAY);
    tier.set('early', 'v', 1, clock.now() + 3);
    const earlyAt = clock.now();
    expect(tier.createdAtOf(tier.peek('a'))).toBe(aAt);
    expect(tier.createdAtOf(tier.peek('half'))).toBe(halfAt);
    expect(tier.expiresAtOf(tier.peek('half'))).toBe(halfAt + 10.25);
    expect(tier.expiresAtOf(tier.peek('far'))).toBe(halfAt + 400 * DAY);
    expect(tier.createdAtOf(tier.peek('early'))).toBe(earlyAt);
    clock.advance(2.75);
    expect(tier.find('early')).toBeGreaterThanOrEqual(0);
    clock.advance(0.25);
    expect(tier.find('early')).toBe(-1);
  });

  it('reuses freed slots correctly after the cells change form', () => {
    // Exactly the bound: a slot lost from the free list would leave no room to take a new one from.
    const { tier, clock, removed } = harness<number>({ maxEntries: 41, policy });
    for (let i = 0; i < 40; i++) tier.set(`k${i}`, i, 1, clock.now() + 1000);
    for (let i = 0; i < 40; i += 2) tier.delete(`k${i}`);
    // A new lifetime for each write turns the codes into cells; months later, with everything swept, the
    // cells rebase; then a fraction widens them. Each change must keep the free list intact.
    for (let i = 0; i < 300; i++) tier.set('churn', -1, 1, clock.now() + 2000 + i);
    clock.advance(60 * DAY);
    expect(tier.sweep()).toBe(21);
    removed.length = 0;
    for (let i = 1; i < 40; i += 2) tier.set(`k${i}`, i, 1, clock.now() + 1000);
    clock.advance(0.5);
    for (let i = 0; i < 40; i += 2) tier.set(`k${i}`, i, 1, clock.now() + 1000);
    tier.set('churn', -1, 1, Infinity);
    expect(tier.count).toBe(41);
    expect(removed).toEqual([]);
    for (let i = 0; i < 40; i++) {
      const slot = tier.peek(`k${i}`);
      expect(tier.valueAt(slot)).toBe(i);
      expect([tier.createdAtOf(slot), tier.expiresAtOf(slot), tier.sizeOf(slot)]).toEqual(
        i % 2 === 0 ? [clock.now(), clock.now() + 1000, 1] : [clock.now() - 0.5, clock.now() + 999.5, 1],
      );
    }
    const slots = new Set(Array.from({ length: 40 }, (_, i) => tier.peek(`k${i}`)));
    expect(slots.size).toBe(40);
  });

  it('matches a model under random lifetimes, jumps of the clock and fractions', () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), key: fc.integer({ min: 0, max: 7 }), ttl: fc.oneof(fc.integer({ min: 1, max: 3 * DAY }), fc.constant(Infinity), fc.constant(45 * DAY), fc.constant(0.5)) }),
      fc.record({ kind: fc.constant('advance' as const), ms: fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.constant(20 * DAY), fc.constant(0.25)) }),
      fc.record({ kind: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ kind: fc.constant('back' as const), ms: fc.integer({ min: 1, max: 2 * DAY }) }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const { tier, clock } = harness<number>({ maxEntries: 100, policy });
        const model = new Map<number, { createdAt: number; expiresAt: number }>();
        for (const s of steps) {
          if (s.kind === 'set') {
            if (tier.set(`k${s.key}`, s.key, 1, clock.now() + s.ttl)) model.set(s.key, { createdAt: clock.now(), expiresAt: clock.now() + s.ttl });
          } else if (s.kind === 'advance') {
            clock.advance(s.ms);
          } else if (s.kind === 'back') {
            clock.set(clock.now() - s.ms);
          } else {
            tier.delete(`k${s.key}`);
            model.delete(s.key);
          }
          for (const [key, times] of model) {
            const slot = tier.peek(`k${key}`);
            if (times.expiresAt <= clock.now()) {
              expect(slot).toBe(-1);
              model.delete(key);
            } else {
              expect(tier.createdAtOf(slot)).toBe(times.createdAt);
              expect(tier.expiresAtOf(slot)).toBe(times.expiresAt);
            }
          }
          expect(tier.count).toBe(model.size);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('the shared clock reading of the system clock', () => {
  it('is taken again after the cells are rebased', () => {
    // The system clock is what makes reads share one reading; its `now` is swapped for a hand-moved one, and
    // the test runs without yielding, so the reading is never dropped by its timer.
    const real = Object.getOwnPropertyDescriptor(systemClock, 'now')!;
    let now = Date.UTC(2026, 0, 1);
    systemClock.now = () => now;
    try {
      const tier = new MemoryTier<string>({ maxEntries: 10, clock: systemClock, sweepInterval: 0 });
      tier.set('old', 'v', 1, now + 1000);
      now += 60 * DAY;
      // Read at the far end of the cells: the reading shared from here on is their ceiling.
      expect(tier.find('old')).toBe(-1);
      tier.set('new', 'v', 1, now + DAY);
      const slot = tier.find('new');
      expect(slot).toBeGreaterThanOrEqual(0);
      expect(tier.expiresAtOf(slot)).toBe(now + DAY);
    } finally {
      Object.defineProperty(systemClock, 'now', real);
    }
  });
});
