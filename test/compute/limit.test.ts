import { describe, expect, it } from 'vitest';
import { checkConcurrency, Limiter } from '../../src/compute/limit.js';

/** A promise with its resolver, to hold a task in flight until the test lets it finish. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe('Limiter', () => {
  it('runs at most `limit` tasks at once and lets the rest through in arrival order', async () => {
    const limiter = new Limiter(2);
    const gates = Array.from({ length: 5 }, gate);
    const started: number[] = [];
    let peak = 0;
    const runs = gates.map((g, i) =>
      limiter.run(async () => {
        started.push(i);
        peak = Math.max(peak, limiter.active);
        await g.promise;
        return i;
      }),
    );
    expect(started).toEqual([0, 1]);
    expect(limiter.full).toBe(true);
    // Finishing the second task frees a slot for the third, not for a newcomer.
    gates[1]?.open();
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual([0, 1, 2]);
    for (const g of gates) g.open();
    expect(await Promise.all(runs)).toEqual([0, 1, 2, 3, 4]);
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(peak).toBe(2);
    expect(limiter.active).toBe(0);
    expect(limiter.full).toBe(false);
  });

  it('frees the slot of a task that fails', async () => {
    const limiter = new Limiter(1);
    await expect(limiter.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await limiter.run(() => 'next')).toBe('next');
    expect(limiter.active).toBe(0);
  });

  it('refuses a concurrency that is not an integer >= 1, naming the owner', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, '2']) expect(() => checkConcurrency(bad)).toThrow(/^concurrency must be an integer >= 1/);
    expect(() => new Limiter(0, 'file')).toThrow(/^file: concurrency must be an integer >= 1, got 0$/);
    expect(checkConcurrency(3)).toBe(3);
  });
});
