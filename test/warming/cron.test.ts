import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { CronExpression, parseCron } from '../../src/warming/cron.js';

const utc = (expression: string) => new CronExpression(expression, { timezone: 'UTC' });
const next = (expression: string, after: string) => utc(expression).nextAfter(new Date(after))?.toISOString();

/** The next `count` firings, each searched from the previous one. */
function firings(expression: string, after: string, count: number): string[] {
  const cron = utc(expression);
  const out: string[] = [];
  let at = new Date(after);
  for (let i = 0; i < count; i++) {
    at = cron.nextAfter(at) as Date;
    out.push(at.toISOString());
  }
  return out;
}

describe('cron: field syntax', () => {
  it('steps, ranges, lists and stepped ranges', () => {
    expect(firings('*/15 * * * *', '2026-01-01T10:07:00Z', 4)).toStrictEqual([
      '2026-01-01T10:15:00.000Z',
      '2026-01-01T10:30:00.000Z',
      '2026-01-01T10:45:00.000Z',
      '2026-01-01T11:00:00.000Z',
    ]);
    expect(firings('0 9-11 * * *', '2026-01-01T09:30:00Z', 3)).toStrictEqual([
      '2026-01-01T10:00:00.000Z',
      '2026-01-01T11:00:00.000Z',
      '2026-01-02T09:00:00.000Z',
    ]);
    expect(firings('5,50 8,20 * * *', '2026-01-01T00:00:00Z', 4)).toStrictEqual([
      '2026-01-01T08:05:00.000Z',
      '2026-01-01T08:50:00.000Z',
      '2026-01-01T20:05:00.000Z',
      '2026-01-01T20:50:00.000Z',
    ]);
    expect(firings('1-30/10 0 * * *', '2026-01-01T00:00:00Z', 4)).toStrictEqual([
      '2026-01-01T00:01:00.000Z',
      '2026-01-01T00:11:00.000Z',
      '2026-01-01T00:21:00.000Z',
      '2026-01-02T00:01:00.000Z',
    ]);
    // `5/20`: from 5 to the end of the field.
    expect(firings('5/20 0 * * *', '2026-01-01T00:00:00Z', 4)).toStrictEqual([
      '2026-01-01T00:05:00.000Z',
      '2026-01-01T00:25:00.000Z',
      '2026-01-01T00:45:00.000Z',
      '2026-01-02T00:05:00.000Z',
    ]);
  });

  it('month and weekday names, in any case, also in ranges', () => {
    // 2026-01-01 is a Thursday.
    expect(firings('0 9 * * mon-FRI', '2026-01-01T12:00:00Z', 3)).toStrictEqual([
      '2026-01-02T09:00:00.000Z',
      '2026-01-05T09:00:00.000Z',
      '2026-01-06T09:00:00.000Z',
    ]);
    expect(next('0 0 1 jun,DEC *', '2026-01-01T00:00:00Z')).toBe('2026-06-01T00:00:00.000Z');
    expect(next('0 0 1 JUN-AUG/2 *', '2026-06-02T00:00:00Z')).toBe('2026-08-01T00:00:00.000Z');
  });

  it('0 and 7 are both Sunday', () => {
    const sunday = '2026-01-04T00:00:00.000Z';
    expect(next('0 0 * * 0', '2026-01-01T00:00:00Z')).toBe(sunday);
    expect(next('0 0 * * 7', '2026-01-01T00:00:00Z')).toBe(sunday);
    expect(next('0 0 * * SUN', '2026-01-01T00:00:00Z')).toBe(sunday);
    // 5-7 is Friday, Saturday, Sunday.
    expect(firings('0 0 * * 5-7', '2026-01-01T00:00:00Z', 4)).toStrictEqual([
      '2026-01-02T00:00:00.000Z',
      '2026-01-03T00:00:00.000Z',
      '2026-01-04T00:00:00.000Z',
      '2026-01-09T00:00:00.000Z',
    ]);
    // A stepped `*` over weekdays stops at Saturday: Sunday is not counted twice.
    expect(utc('0 0 * * */2').matches(new Date('2026-01-04T00:00:00Z'))).toBe(true);
    expect(utc('0 0 * * */2').matches(new Date('2026-01-05T00:00:00Z'))).toBe(false);
  });

  it('when both day fields are restricted, a day matching either fires', () => {
    // The 13th, or any Friday: Friday 2 Jan, Friday 9 Jan, Tuesday 13 Jan, Friday 16 Jan.
    expect(firings('0 0 13 * FRI', '2026-01-01T00:00:00Z', 4)).toStrictEqual([
      '2026-01-02T00:00:00.000Z',
      '2026-01-09T00:00:00.000Z',
      '2026-01-13T00:00:00.000Z',
      '2026-01-16T00:00:00.000Z',
    ]);
  });

  it('a day field starting with * is unrestricted, so a day must match both (Vixie cron)', () => {
    expect(firings('0 0 * * FRI', '2026-01-01T00:00:00Z', 2)).toStrictEqual(['2026-01-02T00:00:00.000Z', '2026-01-09T00:00:00.000Z']);
    expect(firings('0 0 13 * *', '2026-01-01T00:00:00Z', 2)).toStrictEqual(['2026-01-13T00:00:00.000Z', '2026-02-13T00:00:00.000Z']);
    // Odd days that are Mondays: 5 Jan, 19 Jan, 2 Feb...
    expect(firings('0 0 */2 * MON', '2026-01-01T00:00:00Z', 3)).toStrictEqual([
      '2026-01-05T00:00:00.000Z',
      '2026-01-19T00:00:00.000Z',
      '2026-02-09T00:00:00.000Z',
    ]);
  });

  it('macros', () => {
    const after = '2026-03-15T10:30:00Z';
    expect(next('@hourly', after)).toBe('2026-03-15T11:00:00.000Z');
    expect(next('@daily', after)).toBe('2026-03-16T00:00:00.000Z');
    expect(next('@midnight', after)).toBe('2026-03-16T00:00:00.000Z');
    expect(next('@weekly', after)).toBe('2026-03-22T00:00:00.000Z');
    expect(next('@monthly', after)).toBe('2026-04-01T00:00:00.000Z');
    expect(next('@yearly', after)).toBe('2027-01-01T00:00:00.000Z');
    expect(next('@annually', after)).toBe('2027-01-01T00:00:00.000Z');
    expect(next(' @DAILY ', after)).toBe('2026-03-16T00:00:00.000Z');
  });
});

describe('cron: nextAfter', () => {
  it('is strictly after, at whole minutes, whatever the seconds of the start', () => {
    expect(next('* * * * *', '2026-01-01T10:00:00.000Z')).toBe('2026-01-01T10:01:00.000Z');
    expect(next('* * * * *', '2026-01-01T10:00:59.999Z')).toBe('2026-01-01T10:01:00.000Z');
    expect(utc('30 10 * * *').nextAfter(Date.parse('2026-01-01T10:29:30Z'))?.toISOString()).toBe('2026-01-01T10:30:00.000Z');
  });

  it('rolls over hours, days, months and years', () => {
    expect(next('0 0 * * *', '2026-01-31T23:59:00Z')).toBe('2026-02-01T00:00:00.000Z');
    expect(next('0 0 1 1 *', '2026-12-31T23:59:00Z')).toBe('2027-01-01T00:00:00.000Z');
    expect(next('59 23 31 12 *', '2026-12-31T23:59:00Z')).toBe('2027-12-31T23:59:00.000Z');
    // The 31st only exists in some months.
    expect(firings('0 0 31 * *', '2026-01-31T00:00:00Z', 3)).toStrictEqual([
      '2026-03-31T00:00:00.000Z',
      '2026-05-31T00:00:00.000Z',
      '2026-07-31T00:00:00.000Z',
    ]);
  });

  it('29 February fires in leap years only, across the 2100 century rule', () => {
    expect(firings('0 12 29 2 *', '2026-01-01T00:00:00Z', 2)).toStrictEqual(['2028-02-29T12:00:00.000Z', '2032-02-29T12:00:00.000Z']);
    // 2100 is not a leap year: 2096 is followed by 2104.
    expect(next('0 0 29 2 *', '2096-03-01T00:00:00Z')).toBe('2104-02-29T00:00:00.000Z');
  });

  it('an expression that can never fire is refused at parse time, naming the field', () => {
    expect(() => utc('0 0 30 2 *')).toThrow(TypeError);
    expect(() => utc('0 0 30 2 *')).toThrow(/never fires: day-of-month "30" does not occur in month "2"/);
    expect(() => utc('0 0 31 4,6,9,11 *')).toThrow(/never fires/);
    // With a weekday restriction too, any Monday in February fires.
    expect(next('0 0 30 2 MON', '2026-01-01T00:00:00Z')).toBe('2026-02-02T00:00:00.000Z');
  });

  it('agrees with a minute-by-minute search', () => {
    const field = (values: readonly string[]) => fc.constantFrom(...values);
    const expression = fc
      .tuple(
        field(['*', '0', '*/7', '15,45', '10-20/5', '59']),
        field(['*', '0', '*/5', '9-17', '23', '6,18']),
        field(['*', '1', '15', '31', '*/10', '28-31']),
        field(['*', '*', 'FEB', '1-6', '*/3', 'DEC']),
        field(['*', 'MON', '0', '7', '1-5', 'SAT,SUN']),
      )
      .map((parts) => parts.join(' '));
    const start = fc.integer({ min: Date.UTC(2024, 0, 1), max: Date.UTC(2030, 0, 1) });
    fc.assert(
      fc.property(expression, start, (text, after) => {
        let cron: CronExpression;
        try {
          cron = utc(text);
        } catch (error) {
          // Some combinations never fire (`* * 31 FEB *`): refused at parse time, tested above.
          expect(String(error)).toMatch(/never fires/);
          return;
        }
        const got = cron.nextAfter(after)?.getTime();
        expect(got).toBeDefined();
        const first = Math.floor(after / 60_000) * 60_000 + 60_000;
        // The expected firing is before `got` and is `got`: no minute in between matches.
        for (let t = first; t < (got as number); t += 60_000) {
          if (cron.matches(t)) throw new Error(`${text} from ${new Date(after).toISOString()}: skipped ${new Date(t).toISOString()}`);
        }
        expect(cron.matches(got as number)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('throws a TypeError for an invalid start', () => {
    expect(() => utc('* * * * *').nextAfter(new Date('nope'))).toThrow(TypeError);
    expect(() => utc('* * * * *').nextAfter(Number.NaN)).toThrow(TypeError);
  });
});

describe('cron: bad expressions', () => {
  it.each([
    ['0 0 * *', /must have 5 fields .* got 4/],
    ['0 0 * * * *', /must have 5 fields .* got 6/],
    ['', /must have 5 fields .* got 0/],
    ['60 * * * *', /minute field "60" has 60, outside 0-59/],
    ['* 24 * * *', /hour field "24" has 24, outside 0-23/],
    ['* * 0 * *', /day-of-month field "0" has 0, outside 1-31/],
    ['* * 32 * *', /day-of-month field "32"/],
    ['* * * 13 *', /month field "13" has 13, outside 1-12/],
    ['* * * * 8', /day-of-week field "8" has 8, outside 0-7/],
    ['* * * FOO *', /month field "FOO" has "FOO" where a number or one of JAN/],
    ['* * * * MONDAY', /day-of-week field "MONDAY"/],
    ['*/0 * * * *', /minute field "\*\/0" has a bad step "0"/],
    ['*/x * * * *', /minute field "\*\/x" has a bad step "x"/],
    ['*/61 * * * *', /bad step "61" \(expected 1-60\)/],
    ['5-1 * * * *', /minute field "5-1" has a range that runs backwards: "5-1"/],
    ['1,,2 * * * *', /minute field "1,,2" has "" where a number was expected/],
    ['* * L * *', /day-of-month field "L"/],
    ['* * ? * *', /day-of-month field "\?"/],
    ['-1 * * * *', /minute field "-1"/],
    ['1.5 * * * *', /minute field "1.5"/],
    ['@reboot', /unknown macro "@reboot"/],
  ])('%j', (expression, message) => {
    expect(() => utc(expression)).toThrow(TypeError);
    expect(() => utc(expression)).toThrow(message);
  });

  it('bad options and inputs', () => {
    expect(() => new CronExpression('* * * * *', { timezone: 'Europe/Paris' as 'UTC' })).toThrow(/timezone must be 'UTC' or 'local'/);
    expect(() => new CronExpression(5 as unknown as string)).toThrow(TypeError);
  });

  it('parseCron is the constructor', () => {
    const cron = parseCron('0 2 * * *', { timezone: 'UTC' });
    expect(cron).toBeInstanceOf(CronExpression);
    expect(cron.expression).toBe('0 2 * * *');
    expect(String(cron)).toBe('0 2 * * *');
    expect(new CronExpression('* * * * *').timezone).toBe('local');
  });
});

describe('cron: local time', () => {
  const saved = process.env.TZ;
  afterEach(() => {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  });

  it('reads fields in the process time zone', () => {
    process.env.TZ = 'Asia/Tokyo'; // UTC+9, no DST
    expect(new CronExpression('0 9 * * *').nextAfter(new Date('2026-01-01T00:30:00Z'))?.toISOString()).toBe('2026-01-02T00:00:00.000Z');
  });

  it('a time skipped by the DST change fires at the change; a repeated time fires once', () => {
    process.env.TZ = 'America/New_York';
    // 8 March 2026: 02:00 EST becomes 03:00 EDT (07:00Z).
    const spring = new CronExpression('30 2 * * *');
    expect(spring.nextAfter(new Date('2026-03-08T05:00:00Z'))?.toISOString()).toBe('2026-03-08T07:00:00.000Z');
    expect(spring.nextAfter(new Date('2026-03-08T07:00:00Z'))?.toISOString()).toBe('2026-03-09T06:30:00.000Z');
    // 1 November 2026: 01:00-01:59 happens twice (EDT, then EST from 06:00Z).
    const autumn = new CronExpression('30 1 * * *');
    expect(autumn.nextAfter(new Date('2026-11-01T04:00:00Z'))?.toISOString()).toBe('2026-11-01T05:30:00.000Z');
    expect(autumn.nextAfter(new Date('2026-11-01T05:30:00Z'))?.toISOString()).toBe('2026-11-02T06:30:00.000Z');
    // From inside the second 01:xx, the first 01:30 is already past.
    expect(autumn.nextAfter(new Date('2026-11-01T06:10:00Z'))?.toISOString()).toBe('2026-11-02T06:30:00.000Z');
    // Hourly firings go on across the spring change: 02:00 does not exist, 03:00 EDT comes an hour after 01:00 EST.
    const hourly = new CronExpression('0 * * * *');
    expect(hourly.nextAfter(new Date('2026-03-08T06:30:00Z'))?.toISOString()).toBe('2026-03-08T07:00:00.000Z');
  });
});
