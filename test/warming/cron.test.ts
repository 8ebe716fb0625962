import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { CronExpression, CronExpressionError, parseCron } from '../../src/warming/cron.js';

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

const NAMES: Readonly<Record<string, number>> = { JAN: 1, FEB: 2, DEC: 12, SUN: 0, MON: 1, SAT: 6 };

/** The values a field of the property test's small vocabulary allows, read independently of croner. */
function values(text: string, min: number, max: number): Set<number> {
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const [range = '', stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    const value = (token: string) => NAMES[token] ?? Number(token);
    const [low, high] = range === '*' ? [min, max] : range.includes('-') ? range.split('-').map(value) : [value(range), value(range)];
    for (let v = low as number; v <= (high as number); v += step) out.add(v === 7 && max === 7 ? 0 : v);
  }
  return out;
}

/** The next firing after `after` found by looking at every day, then every minute of a matching day (UTC, Vixie day rule). */
function slowNext(text: string, after: number): string | undefined {
  const [m = '', h = '', dom = '', mon = '', dow = ''] = text.split(' ');
  const minutes = values(m, 0, 59);
  const hours = values(h, 0, 23);
  const days = values(dom, 1, 31);
  const months = values(mon, 1, 12);
  const weekdays = values(dow, 0, 7);
  const either = !dom.startsWith('*') && !dow.startsWith('*');
  const first = new Date(after);
  for (let d = Date.UTC(first.getUTCFullYear(), first.getUTCMonth(), first.getUTCDate()); d < after + 30 * 366 * 86_400_000; d += 86_400_000) {
    const date = new Date(d);
    if (!months.has(date.getUTCMonth() + 1)) continue;
    const byDay = days.has(date.getUTCDate());
    const byWeekday = weekdays.has(date.getUTCDay());
    if (either ? !(byDay || byWeekday) : !(byDay && byWeekday)) continue;
    for (let minute = 0; minute < 1440; minute++) {
      const t = d + minute * 60_000;
      if (t > after && hours.has(Math.floor(minute / 60)) && minutes.has(minute % 60)) return new Date(t).toISOString();
    }
  }
  return undefined;
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
    expect(() => utc('0 0 30 2 *')).toThrow(CronExpressionError);
    expect(() => utc('0 0 31 4,6,9,11 *')).toThrow(/never fires/);
    // With a weekday restriction too, any Monday in February fires.
    expect(next('0 0 30 2 MON', '2026-01-01T00:00:00Z')).toBe('2026-02-02T00:00:00.000Z');
  });

  it('agrees with a plain day-by-day, minute-by-minute search', () => {
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
        const got = cron.nextAfter(after)?.toISOString();
        expect(got, text).toBe(slowNext(text, after));
      }),
      { numRuns: 200 },
    );
  });

  it('throws a TypeError for an invalid start', () => {
    expect(() => utc('* * * * *').nextAfter(new Date('nope'))).toThrow(TypeError);
    expect(() => utc('* * * * *').nextAfter(Number.NaN)).toThrow(TypeError);
  });
});

describe('cron: bad expressions', () => {
  it.each([
    ['0 0 * *', 'expression', /must have 5 fields .* got 4/],
    ['0 0 * * * *', 'expression', /must have 5 fields .* got 6/],
    ['', 'expression', /must have 5 fields .* got 0/],
    ['60 * * * *', 'minute', /minute field "60" is invalid/],
    ['* 24 * * *', 'hour', /hour field "24" is invalid/],
    ['* * 0 * *', 'day-of-month', /day-of-month field "0" is invalid/],
    ['* * 32 * *', 'day-of-month', /day-of-month field "32" is invalid/],
    ['* * * 13 *', 'month', /month field "13" is invalid/],
    ['* * * * 8', 'day-of-week', /day-of-week field "8" is invalid/],
    ['* * * FOO *', 'month', /month field "FOO" is invalid/],
    ['* * * * MONDAY', 'day-of-week', /day-of-week field "MONDAY" is invalid/],
    ['*/0 * * * *', 'minute', /minute field "\*\/0" is invalid/],
    ['*/x * * * *', 'minute', /minute field "\*\/x" is invalid/],
    ['*/61 * * * *', 'minute', /minute field "\*\/61" is invalid/],
    ['5-1 * * * *', 'minute', /minute field "5-1" is invalid/],
    ['1,,2 * * * *', 'minute', /minute field "1,,2" is invalid/],
    ['* * ? * *', 'day-of-month', /day-of-month field "\?" uses "\?", which is not supported/],
    ['-1 * * * *', 'minute', /minute field "-1"/],
    ['1.5 * * * *', 'minute', /minute field "1.5"/],
    ['@reboot', 'expression', /cron expression "@reboot" is invalid/],
  ])('%j', (expression, field, message) => {
    let error: unknown;
    try {
      utc(expression);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(CronExpressionError);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as CronExpressionError).field).toBe(field);
    expect((error as CronExpressionError).message).toMatch(message);
  });

  it('bad options and inputs', () => {
    const unknownZone = () => new CronExpression('* * * * *', { timezone: 'Europe/Atlantis' });
    expect(unknownZone).toThrow(CronExpressionError);
    expect(unknownZone).toThrow(/timezone "Europe\/Atlantis" is not a known IANA time zone/);
    expect(() => new CronExpression('* * * * *', { timezone: '' })).toThrow(/timezone must be 'UTC', 'local' or an IANA time zone name/);
    try {
      unknownZone();
    } catch (error) {
      expect((error as CronExpressionError).field).toBe('timezone');
    }
    expect(() => new CronExpression(5 as unknown as string)).toThrow(TypeError);
  });

  it("croner's extensions: L (last day), W (nearest weekday), # (nth weekday)", () => {
    expect(firings('0 0 L * *', '2026-01-01T00:00:00Z', 2)).toStrictEqual(['2026-01-31T00:00:00.000Z', '2026-02-28T00:00:00.000Z']);
    // The second Friday of January 2026 is the 9th; of February, the 13th.
    expect(firings('0 0 * * FRI#2', '2026-01-01T00:00:00Z', 2)).toStrictEqual(['2026-01-09T00:00:00.000Z', '2026-02-13T00:00:00.000Z']);
    // 15 August 2026 is a Saturday: the nearest weekday is Friday 14th.
    expect(next('0 0 15W 8 *', '2026-01-01T00:00:00Z')).toBe('2026-08-14T00:00:00.000Z');
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

describe('cron: IANA time zones', () => {
  const paris = (expression: string) => new CronExpression(expression, { timezone: 'Europe/Paris' });
  const runs = (cron: CronExpression, after: string, count: number) => {
    const out: string[] = [];
    let at: Date | undefined = new Date(after);
    for (let i = 0; i < count && at !== undefined; i++) {
      at = cron.nextAfter(at);
      if (at !== undefined) out.push(at.toISOString());
    }
    return out;
  };
  const saved = process.env.TZ;
  afterEach(() => {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  });

  it('02:00 Europe/Paris is 01:00Z in winter and 00:00Z in summer, whatever the process time zone', () => {
    process.env.TZ = 'America/Los_Angeles';
    expect(paris('0 2 * * *').nextAfter(new Date('2026-01-15T12:00:00Z'))?.toISOString()).toBe('2026-01-16T01:00:00.000Z');
    expect(paris('0 2 * * *').nextAfter(new Date('2026-07-15T12:00:00Z'))?.toISOString()).toBe('2026-07-16T00:00:00.000Z');
    expect(paris('0 2 * * *').timezone).toBe('Europe/Paris');
  });

  it('spring forward (29 March 2026, 02:00 CET becomes 03:00 CEST): a skipped 02:00 or 02:30 fires at 03:00 CEST, once', () => {
    // The clocks jump at 01:00Z: 02:00-02:59 does not exist that night in Paris.
    expect(runs(paris('0 2 * * *'), '2026-03-27T12:00:00Z', 3)).toStrictEqual([
      '2026-03-28T01:00:00.000Z', // 02:00 CET
      '2026-03-29T01:00:00.000Z', // 03:00 CEST, the first instant after the gap
      '2026-03-30T00:00:00.000Z', // 02:00 CEST
    ]);
    expect(runs(paris('30 2 * * *'), '2026-03-28T12:00:00Z', 2)).toStrictEqual(['2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z']);
    // A repeating expression skips the minutes that do not exist: hourly goes 01:00 CET, 03:00 CEST.
    expect(runs(paris('0 * * * *'), '2026-03-28T23:30:00Z', 3)).toStrictEqual(['2026-03-29T00:00:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-29T02:00:00.000Z']);
    expect(paris('0 * * * *').matches(new Date('2026-03-29T01:00:00Z'))).toBe(true);
  });

  it('fall back (25 October 2026, 03:00 CEST becomes 02:00 CET): a fixed 02:00 fires once, the first time', () => {
    // 02:00-02:59 happens twice: in CEST from 00:00Z, in CET from 01:00Z.
    expect(runs(paris('0 2 * * *'), '2026-10-24T12:00:00Z', 2)).toStrictEqual(['2026-10-25T00:00:00.000Z', '2026-10-26T01:00:00.000Z']);
    expect(runs(paris('30 2 * * *'), '2026-10-24T12:00:00Z', 2)).toStrictEqual(['2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']);
    // From inside the second 02:xx, the first 02:30 is already past: the next is the following night.
    expect(paris('30 2 * * *').nextAfter(new Date('2026-10-25T01:10:00Z'))?.toISOString()).toBe('2026-10-26T01:30:00.000Z');
    // A repeating expression fires on both occurrences of the repeated hour.
    expect(runs(paris('0 * * * *'), '2026-10-24T23:30:00Z', 3)).toStrictEqual(['2026-10-25T00:00:00.000Z', '2026-10-25T01:00:00.000Z', '2026-10-25T02:00:00.000Z']);
  });

  it('zones far from UTC, and with quarter-hour offsets', () => {
    // Kiritimati is UTC+14: at 00:00Z on 1 January it is already 14:00 there, so the next 09:00 is 2 January local.
    expect(new CronExpression('0 9 * * *', { timezone: 'Pacific/Kiritimati' }).nextAfter(new Date('2026-01-01T00:00:00Z'))?.toISOString()).toBe('2026-01-01T19:00:00.000Z');
    // Its weekdays are a day ahead of UTC's: Monday 09:00 there is Sunday 19:00Z.
    expect(new CronExpression('0 9 * * MON', { timezone: 'Pacific/Kiritimati' }).nextAfter(new Date('2026-01-01T00:00:00Z'))?.toISOString()).toBe('2026-01-04T19:00:00.000Z');
    // Kathmandu is UTC+05:45.
    expect(new CronExpression('0 0 * * *', { timezone: 'Asia/Kathmandu' }).nextAfter(new Date('2026-01-01T00:00:00Z'))?.toISOString()).toBe('2026-01-01T18:15:00.000Z');
    // Honolulu is UTC-10: 09:00 there is 19:00Z the same day.
    expect(new CronExpression('0 9 1 * *', { timezone: 'Pacific/Honolulu' }).nextAfter(new Date('2026-01-01T00:00:00Z'))?.toISOString()).toBe('2026-01-01T19:00:00.000Z');
  });
});
