import { afterEach, describe, expect, it } from 'vitest';
import { createFakeClock } from '../../src/testing/index.js';
import type { Lease } from '../../src/warming/lease.js';
import { Scheduler, type FiringContext, type SchedulerOptions } from '../../src/warming/scheduler.js';
import { CronExpression } from '../../src/warming/cron.js';
import { MAX_TIMER_DELAY_MS, unrefTimer } from '../../src/warming/timer.js';
import { createFakeTimers, deferred, drain } from '../kit/index.js';

const START = Date.UTC(2026, 0, 1, 0, 0, 30); // 30 s past midnight UTC

const running: Scheduler[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

function setup(options: Omit<SchedulerOptions, 'clock' | 'setTimer'> = {}) {
  const clock = createFakeClock(START);
  const timers = createFakeTimers(clock);
  const scheduler = new Scheduler({ timezone: 'UTC', ...options, clock, setTimer: timers.setTimer });
  running.push(scheduler);
  return { clock, timers, scheduler };
}

/** A lease held in this process: enough to stand for a shared store between schedulers in one test. */
function memoryLease(clock: { now(): number }) {
  const held = new Map<string, { token: string; until: number }>();
  let n = 0;
  const acquired: { name: string; ttlMs: number }[] = [];
  const lease: Lease = {
    acquire(name, ttlMs) {
      const current = held.get(name);
      if (current !== undefined && current.until > clock.now()) return Promise.resolve(undefined);
      const token = `t${++n}`;
      held.set(name, { token, until: clock.now() + ttlMs });
      acquired.push({ name, ttlMs });
      return Promise.resolve(token);
    },
    release(name, token) {
      if (held.get(name)?.token === token) held.delete(name);
      return Promise.resolve();
    },
  };
  return { lease, held, acquired };
}

const iso = (ms: number) => new Date(ms).toISOString();

describe('Scheduler', () => {
  it('runs a job at each cron firing, telling it which firing', async () => {
    const { timers, scheduler } = setup();
    const fired: string[] = [];
    scheduler.add({
      name: 'quarter',
      cron: '*/15 * * * *',
      run: ({ name, fireAt }: FiringContext) => {
        fired.push(`${name}@${fireAt.toISOString()}`);
        return Promise.resolve();
      },
    });
    expect(scheduler.status('quarter')?.nextRunAt?.toISOString()).toBe('2026-01-01T00:15:00.000Z');
    await timers.advance(14 * 60_000);
    expect(fired).toStrictEqual([]);
    await timers.advance(60 * 60_000);
    expect(fired).toStrictEqual([
      'quarter@2026-01-01T00:15:00.000Z',
      'quarter@2026-01-01T00:30:00.000Z',
      'quarter@2026-01-01T00:45:00.000Z',
      'quarter@2026-01-01T01:00:00.000Z',
    ]);
    expect(scheduler.status('quarter')).toMatchObject({ runs: 4, running: false, lastRunAt: new Date('2026-01-01T01:00:00Z'), errors: 0 });
  });

  it('skips (and counts) a firing that comes while the previous run of the schedule is still going', async () => {
    const { timers, scheduler } = setup();
    const gate = deferred();
    let calls = 0;
    scheduler.add({
      name: 'slow',
      cron: '* * * * *',
      run: () => {
        calls++;
        return calls === 1 ? gate.promise : Promise.resolve();
      },
    });
    await timers.advance(30_000 + 3 * 60_000);
    expect(calls).toBe(1);
    expect(scheduler.status('slow')).toMatchObject({ runs: 1, skippedOverlap: 3, running: true });
    gate.resolve();
    await drain();
    await timers.advance(60_000);
    expect(calls).toBe(2);
    expect(scheduler.status('slow')).toMatchObject({ runs: 2, skippedOverlap: 3, running: false });
  });

  it('schedules are independent: one running long does not hold another back', async () => {
    const { timers, scheduler } = setup();
    const fast: string[] = [];
    scheduler.add({ name: 'stuck', cron: '* * * * *', run: () => new Promise(() => {}) });
    scheduler.add({
      name: 'fast',
      cron: '* * * * *',
      run: ({ fireAt }) => {
        fast.push(iso(fireAt.getTime()));
        return Promise.resolve();
      },
    });
    await timers.advance(30_000 + 2 * 60_000);
    expect(fast).toHaveLength(3);
    scheduler.remove('stuck');
  });

  it('a failing run is counted and reported, and the schedule goes on', async () => {
    const errors: [unknown, string][] = [];
    const { timers, scheduler } = setup({ onError: (error, { name }) => errors.push([error, name]) });
    const boom = new Error('warm-up failed');
    let calls = 0;
    scheduler.add({
      name: 'flaky',
      cron: '* * * * *',
      run: () => (++calls === 1 ? Promise.reject(boom) : Promise.resolve()),
    });
    await timers.advance(30_000 + 60_000);
    expect(calls).toBe(2);
    expect(errors).toStrictEqual([[boom, 'flaky']]);
    expect(scheduler.status('flaky')).toMatchObject({ runs: 2, errors: 1, lastError: boom });
  });

  it('a timer that comes late runs the latest firing due, once, and counts the ones missed', async () => {
    const { clock, timers, scheduler } = setup();
    const fired: string[] = [];
    scheduler.add({
      name: 'hourly',
      cron: '0 * * * *',
      run: ({ fireAt }) => {
        fired.push(iso(fireAt.getTime()));
        return Promise.resolve();
      },
    });
    // The process was suspended: the clock jumped while no timer could run.
    clock.advance(3 * 3_600_000 + 10 * 60_000);
    await timers.advance(0);
    expect(fired).toStrictEqual(['2026-01-01T03:00:00.000Z']);
    expect(scheduler.status('hourly')).toMatchObject({ runs: 1, missed: 2, nextRunAt: new Date('2026-01-01T04:00:00Z') });
  });

  it('a firing further away than a timer can wait is reached by re-arming', async () => {
    const { timers, scheduler } = setup();
    let calls = 0;
    scheduler.add({
      name: 'yearly',
      cron: '@yearly',
      run: () => {
        calls++;
        return Promise.resolve();
      },
    });
    await timers.advance(MAX_TIMER_DELAY_MS + 1_000);
    expect(calls).toBe(0);
    expect(timers.count).toBe(1);
    await timers.advanceTo(Date.UTC(2027, 0, 1));
    expect(calls).toBe(1);
    expect(scheduler.status('yearly')?.nextRunAt?.toISOString()).toBe('2028-01-01T00:00:00.000Z');
  });

  it('stop cancels every timer and waits for the runs in progress', async () => {
    const { timers, scheduler } = setup();
    const gate = deferred();
    let calls = 0;
    scheduler.add({
      name: 'a',
      cron: '* * * * *',
      run: () => {
        calls++;
        return gate.promise;
      },
    });
    scheduler.add({ name: 'b', cron: '0 0 * * *', run: () => Promise.resolve() });
    await timers.advance(30_000);
    expect(calls).toBe(1);
    let stopped = false;
    const stopping = scheduler.stop().then(() => {
      stopped = true;
    });
    expect(timers.count).toBe(0);
    await drain();
    expect(stopped).toBe(false);
    gate.resolve();
    await stopping;
    await timers.advance(3_600_000 * 48);
    expect(calls).toBe(1);
    expect(() => scheduler.add({ name: 'c', cron: '* * * * *', run: () => Promise.resolve() })).toThrow(/stopped/);
    await scheduler.stop();
  });

  it('remove stops one schedule', async () => {
    const { timers, scheduler } = setup();
    let calls = 0;
    scheduler.add({
      name: 'a',
      cron: '* * * * *',
      run: () => {
        calls++;
        return Promise.resolve();
      },
    });
    expect(scheduler.remove('a')).toBe(true);
    expect(scheduler.remove('a')).toBe(false);
    await timers.advance(5 * 60_000);
    expect(calls).toBe(0);
    expect(scheduler.status()).toStrictEqual([]);
  });

  it('takes a parsed expression with its own timezone, and refuses bad schedules', () => {
    const { scheduler } = setup();
    scheduler.add({ name: 'x', cron: new CronExpression('0 9 * * *', { timezone: 'UTC' }), run: () => Promise.resolve() });
    expect(scheduler.status('x')?.nextRunAt?.toISOString()).toBe('2026-01-01T09:00:00.000Z');
    expect(scheduler.status('nope')).toBeUndefined();
    const run = () => Promise.resolve();
    expect(() => scheduler.add({ name: 'x', cron: '* * * * *', run })).toThrow(/"x" already exists/);
    expect(() => scheduler.add({ name: '', cron: '* * * * *', run })).toThrow(/name must be a non-empty string/);
    expect(() => scheduler.add({ name: 'y', cron: '* * *', run })).toThrow(/must have 5 fields/);
    expect(() => scheduler.add({ name: 'y', cron: '* * * * *', run: 'go' as unknown as typeof run })).toThrow(/run must be a function/);
    expect(() => new Scheduler({ leaseTtl: 0 })).toThrow(/leaseTtl must be greater than 0/);
    expect(() => new Scheduler({ leaseTtl: 'soon' })).toThrow(/leaseTtl must be a duration/);
    expect(() => new Scheduler({ timezone: 'Mars/Olympus_Mons' })).toThrow(/timezone "Mars\/Olympus_Mons" is not a known IANA time zone/);
  });

  it('a nightly 02:00 Europe/Paris schedule fires at 02:00 Paris time on both sides of a DST change, read from the clock', async () => {
    // 24 October 2026, 12:00Z: Paris is on summer time (UTC+2) until 25 October 01:00Z.
    const clock = createFakeClock(Date.UTC(2026, 9, 24, 12));
    const timers = createFakeTimers(clock);
    const scheduler = new Scheduler({ timezone: 'Europe/Paris', clock, setTimer: timers.setTimer });
    running.push(scheduler);
    const fired: string[] = [];
    scheduler.add({ name: 'nightly', cron: '0 2 * * *', run: ({ fireAt }) => (fired.push(fireAt.toISOString()), Promise.resolve()) });
    expect(scheduler.status('nightly')?.nextRunAt?.toISOString()).toBe('2026-10-25T00:00:00.000Z');
    await timers.advance(3 * 86_400_000);
    // 02:00 CEST, then 02:00 CET (an hour later in UTC) once winter time has begun.
    expect(fired).toStrictEqual(['2026-10-25T00:00:00.000Z', '2026-10-26T01:00:00.000Z', '2026-10-27T01:00:00.000Z']);
  });

  it('the default timers never keep the process alive', () => {
    const timeouts = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timeouts();
    const plain = setTimeout(() => {}, 60_000);
    expect(timeouts()).toBe(before + 1);
    clearTimeout(plain);
    const cancel = unrefTimer(() => {}, 60_000);
    expect(timeouts()).toBe(before);
    cancel();
  });
});

describe('Scheduler with a lease', () => {
  it('with several instances, each firing runs on one of them', async () => {
    const clock = createFakeClock(START);
    const timers = createFakeTimers(clock);
    const { lease } = memoryLease(clock);
    const runs: string[] = [];
    const instances = ['a', 'b', 'c'].map((id) => {
      const scheduler = new Scheduler({ timezone: 'UTC', clock, setTimer: timers.setTimer, lease });
      running.push(scheduler);
      scheduler.add({
        name: 'warm',
        cron: '* * * * *',
        run: ({ fireAt }) => {
          runs.push(`${id}@${iso(fireAt.getTime())}`);
          return Promise.resolve();
        },
      });
      return scheduler;
    });
    await timers.advance(30_000 + 4 * 60_000);
    const firings = runs.map((r) => r.slice(2));
    expect(firings).toStrictEqual([
      '2026-01-01T00:01:00.000Z',
      '2026-01-01T00:02:00.000Z',
      '2026-01-01T00:03:00.000Z',
      '2026-01-01T00:04:00.000Z',
      '2026-01-01T00:05:00.000Z',
    ]);
    const statuses = instances.map((s) => s.status('warm'));
    expect(statuses.reduce((sum, s) => sum + (s?.runs ?? 0), 0)).toBe(5);
    expect(statuses.reduce((sum, s) => sum + (s?.skippedLease ?? 0), 0)).toBe(10);
  });

  it('names the lease after the firing and keeps it until the next one, so a late instance finds the firing taken', async () => {
    const clock = createFakeClock(Date.UTC(2026, 0, 1, 1, 59));
    const memory = memoryLease(clock);
    const onTimeTimers = createFakeTimers(clock);
    const lateTimers = createFakeTimers(clock);
    let runs = 0;
    const job = {
      name: 'nightly',
      cron: '0 2 * * *',
      run: () => {
        runs++;
        return Promise.resolve();
      },
    };
    const onTime = new Scheduler({ timezone: 'UTC', clock, setTimer: onTimeTimers.setTimer, lease: memory.lease }).add(job);
    const late = new Scheduler({ timezone: 'UTC', clock, setTimer: lateTimers.setTimer, lease: memory.lease }).add(job);
    running.push(onTime, late);

    await onTimeTimers.advanceTo(Date.UTC(2026, 0, 1, 2));
    expect(runs).toBe(1);
    expect(memory.acquired).toStrictEqual([{ name: 'nightly@2026-01-01T02:00:00.000Z', ttlMs: 86_400_000 }]);
    expect(memory.held.has('nightly@2026-01-01T02:00:00.000Z')).toBe(true);

    clock.set(Date.UTC(2026, 0, 1, 2, 0, 20));
    await lateTimers.advance(0);
    expect(runs).toBe(1);
    expect(late.status('nightly')).toMatchObject({ runs: 0, skippedLease: 1 });
  });

  it('a fixed leaseTtl is used as given', async () => {
    const clock = createFakeClock(START);
    const timers = createFakeTimers(clock);
    const memory = memoryLease(clock);
    const scheduler = new Scheduler({ timezone: 'UTC', clock, setTimer: timers.setTimer, lease: memory.lease, leaseTtl: '10m' });
    running.push(scheduler);
    scheduler.add({ name: 'j', cron: '* * * * *', run: () => Promise.resolve() });
    await timers.advance(30_000);
    expect(memory.acquired).toStrictEqual([{ name: 'j@2026-01-01T00:01:00.000Z', ttlMs: 600_000 }]);
  });

  it('when the lease cannot be asked for, the firing does not run and the failure is reported', async () => {
    const errors: unknown[] = [];
    const down = new Error('redis down');
    const lease: Lease = { acquire: () => Promise.reject(down), release: () => Promise.resolve() };
    const { timers, scheduler } = setup({ lease, onError: (error) => errors.push(error) });
    let calls = 0;
    scheduler.add({
      name: 'j',
      cron: '* * * * *',
      run: () => {
        calls++;
        return Promise.resolve();
      },
    });
    await timers.advance(30_000);
    expect(calls).toBe(0);
    expect(errors).toStrictEqual([down]);
    expect(scheduler.status('j')).toMatchObject({ runs: 0, errors: 1 });
  });

  it('a lease won after the scheduler was stopped is released for another instance', async () => {
    const clock = createFakeClock(START);
    const timers = createFakeTimers(clock);
    const memory = memoryLease(clock);
    const gate = deferred<string | undefined>();
    const slowLease: Lease = {
      acquire: async (name, ttl) => {
        await gate.promise;
        return memory.lease.acquire(name, ttl);
      },
      release: (name, token) => memory.lease.release(name, token),
    };
    const scheduler = new Scheduler({ timezone: 'UTC', clock, setTimer: timers.setTimer, lease: slowLease });
    let calls = 0;
    scheduler.add({
      name: 'j',
      cron: '* * * * *',
      run: () => {
        calls++;
        return Promise.resolve();
      },
    });
    await timers.advance(30_000);
    const stopping = scheduler.stop();
    gate.resolve(undefined);
    await stopping;
    expect(calls).toBe(0);
    expect(memory.acquired).toHaveLength(1);
    expect(memory.held.size).toBe(0);
  });
});
