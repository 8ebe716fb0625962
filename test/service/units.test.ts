import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { day as calendarDay } from '../../src/forecast/data/calendar.js';
import { ConfigError, configFromEnv, DEFAULT_DEMO_END } from '../../src/service/config.js';
import { HttpError } from '../../src/service/http.js';
import { day, instantParam, money } from '../../src/service/input.js';
import { moneyText, toJson } from '../../src/service/json.js';
import { createLogger } from '../../src/service/logger.js';

describe('configFromEnv', () => {
  it('has embedded defaults under the working directory', () => {
    const config = configFromEnv({}, '/srv/app');
    expect(config).toMatchObject({
      port: 3000,
      host: '127.0.0.1',
      financeDb: '/srv/app/.data/finance.db',
      cacheDb: '/srv/app/.data/cache.db',
      redisUrl: undefined,
      cachePrefix: 'forecast-service:',
      logLevel: 'info',
      logFormat: 'text',
    });
    expect(config.demo).toEqual({ users: 5, months: 12, seed: 42, endDate: calendarDay(2025, 12, 31) });
    // The demo's data ends on a fixed day, and its forecasts are as of that day.
    expect(config.asOf).toEqual(calendarDay(2025, 12, 31));
    expect(DEFAULT_DEMO_END).toBe('2025-12-31');
  });

  it('reads every variable', () => {
    const config = configFromEnv(
      {
        PORT: '0',
        HOST: '::1',
        FORECAST_DB: 'data/f.db',
        CACHE_DB: '/abs/c.db',
        REDIS_URL: 'redis://127.0.0.1:6380',
        CACHE_PREFIX: 'x:',
        FORECAST_DEMO_USERS: '2',
        FORECAST_DEMO_MONTHS: '24',
        FORECAST_DEMO_SEED: '-7',
        FORECAST_DEMO_END: '2024-06-30',
        LOG_LEVEL: 'DEBUG',
        LOG_FORMAT: 'JSON',
      },
      '/w',
    );
    expect(config).toMatchObject({ port: 0, host: '::1', financeDb: '/w/data/f.db', cacheDb: '/abs/c.db', redisUrl: 'redis://127.0.0.1:6380', cachePrefix: 'x:', logLevel: 'debug', logFormat: 'json' });
    expect(config.demo).toEqual({ users: 2, months: 24, seed: -7, endDate: calendarDay(2024, 6, 30) });
    expect(config.asOf).toEqual(calendarDay(2024, 6, 30));
    expect(configFromEnv({ FORECAST_AS_OF: 'today' }).asOf).toBe('today');
    expect(configFromEnv({}).warmCron).toBe('0 2 * * *');
    expect(configFromEnv({ FORECAST_WARM_CRON: 'off' }).warmCron).toBeUndefined();
    expect(configFromEnv({ FORECAST_WARM_CRON: '0 1 * * SUN' }).warmCron).toBe('0 1 * * SUN');
    expect(configFromEnv({}).warmTimezone).toBe('UTC');
    expect(configFromEnv({}).httpCacheTtl).toBeUndefined();
    expect(configFromEnv({ FORECAST_HTTP_CACHE: '5m' }).httpCacheTtl).toBe(300_000);
    expect(configFromEnv({ FORECAST_HTTP_CACHE: '1500' }).httpCacheTtl).toBe(1_500);
    expect(configFromEnv({ FORECAST_HTTP_CACHE: 'OFF' }).httpCacheTtl).toBeUndefined();
    expect(configFromEnv({ FORECAST_WARM_TZ: 'Europe/Paris' }).warmTimezone).toBe('Europe/Paris');
    expect(configFromEnv({ FORECAST_WARM_TZ: 'local' }).warmTimezone).toBe('local');
    expect(configFromEnv({ FORECAST_AS_OF: '2025-03-31' }).asOf).toEqual(calendarDay(2025, 3, 31));
    expect(configFromEnv({ FORECAST_DEMO: 'off' })).toMatchObject({ demo: undefined, asOf: 'today' });
  });

  it('names the variable it cannot use', () => {
    const cases: [Record<string, string>, string][] = [
      [{ PORT: '80a' }, 'PORT'],
      [{ PORT: '70000' }, 'PORT'],
      [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
      [{ LOG_FORMAT: 'xml' }, 'LOG_FORMAT'],
      [{ FORECAST_DEMO: 'maybe' }, 'FORECAST_DEMO'],
      [{ FORECAST_DEMO_END: '2025-02-30' }, 'FORECAST_DEMO_END'],
      [{ FORECAST_AS_OF: 'yesterday' }, 'FORECAST_AS_OF'],
      [{ FORECAST_DEMO_USERS: '0' }, 'FORECAST_DEMO_USERS'],
      [{ REDIS_URL: '127.0.0.1:6379' }, 'REDIS_URL'],
      [{ FORECAST_WARM_CRON: '0 25 * * *' }, 'FORECAST_WARM_CRON'],
      [{ FORECAST_WARM_TZ: 'Europe/Atlantis' }, 'FORECAST_WARM_TZ'],
      [{ FORECAST_HTTP_CACHE: 'soon' }, 'FORECAST_HTTP_CACHE'],
      [{ FORECAST_HTTP_CACHE: '0' }, 'FORECAST_HTTP_CACHE'],
      [{ FORECAST_WARM_TZ: 'Europe/Atlantis', FORECAST_WARM_CRON: 'off' }, 'FORECAST_WARM_TZ'],
    ];
    for (const [env, variable] of cases) {
      let error: unknown;
      try {
        configFromEnv(env);
      } catch (caught) {
        error = caught;
      }
      expect(error, variable).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).variable).toBe(variable);
      expect((error as ConfigError).message.startsWith(variable)).toBe(true);
    }
  });
});

describe('JSON out', () => {
  it('writes decimals as plain strings, dates as ISO, and keeps Maps and Sets', () => {
    expect(
      toJson({
        big: new Decimal('123456789012345678901234.5'),
        tiny: new Decimal('0.00000001'),
        at: new Date(Date.UTC(2025, 11, 31)),
        missing: undefined,
        none: null,
        n: Number.NaN,
        count: 3n,
        byCategory: new Map([['rent', new Decimal('1200.00')]]),
        tags: new Set(['a']),
      }),
    ).toEqual({
      big: '123456789012345678901234.5',
      tiny: '0.00000001',
      at: '2025-12-31T00:00:00.000Z',
      none: null,
      n: null,
      count: '3',
      byCategory: { rent: '1200' },
      tags: ['a'],
    });
  });

  it('writes record money with its cents', () => {
    expect(moneyText(new Decimal('120'))).toBe('120.00');
    expect(moneyText(new Decimal('12.5'))).toBe('12.50');
    expect(moneyText(new Decimal('-3.14159'))).toBe('-3.14159');
  });
});

describe('input', () => {
  const refusal = (run: () => unknown): HttpError => {
    try {
      run();
    } catch (error) {
      if (error instanceof HttpError) return error;
      throw error;
    }
    throw new Error('expected a refusal');
  };

  it('takes money only as decimal strings of whole cents', () => {
    expect(money('12.34', 'amount', 'positive').toFixed(2)).toBe('12.34');
    expect(money('0', 'saved', 'non-negative').isZero()).toBe(true);
    expect(money('999999999999999.99', 'amount', 'positive').toFixed(2)).toBe('999999999999999.99');
    for (const bad of [12.34, '12.345', '1e3', '', ' 1.00', '+1.00', '1.', '.5', '0x10', '01.00', null, true]) {
      const error = refusal(() => money(bad, 'amount', 'positive'));
      expect(error.status).toBe(400);
      expect(error.field).toBe('amount');
    }
    expect(refusal(() => money(12.34, 'amount', 'positive')).message).toContain('not the JSON number 12.34');
    expect(refusal(() => money('0.00', 'amount', 'positive')).message).toContain('greater than 0');
    expect(refusal(() => money('-1.00', 'saved', 'non-negative')).message).toContain('must not be negative');
  });

  it('takes days as YYYY-MM-DD and instants as ISO only', () => {
    expect(day('2024-02-29', 'date')).toEqual(calendarDay(2024, 2, 29));
    expect(refusal(() => day('2023-02-29', 'date')).field).toBe('date');
    expect(refusal(() => day(20240229, 'date')).field).toBe('date');
    expect(instantParam('2025-03-01', 'since')).toEqual(calendarDay(2025, 3, 1));
    expect(instantParam('2025-03-01T12:00:00+02:00', 'since').toISOString()).toBe('2025-03-01T10:00:00.000Z');
    expect(refusal(() => instantParam('03/01/2025', 'since')).field).toBe('since');
  });
});

describe('logger', () => {
  it('writes lines at or above its level, and nothing when silent', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'warn', write: (line) => lines.push(line) });
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error('e', new Error('boom'));
    expect(lines[0]).toBe('warn  w');
    expect(lines[1]).toMatch(/^error e: Error: boom\n\s+at /);
    const quiet: string[] = [];
    createLogger({ level: 'silent', write: (line) => quiet.push(line) }).error('x');
    expect(quiet).toEqual([]);
    expect(() => createLogger({ level: 'loud' as 'info' })).toThrow(TypeError);
  });

  it('keeps a message on one line whatever it quotes', () => {
    const lines: string[] = [];
    createLogger({ level: 'info', write: (line) => lines.push(line) }).info('GET /x -> 400 \nfake is not a parameter');
    expect(lines).toEqual(['info  GET /x -> 400 \\u000afake is not a parameter']);
  });

  it('writes pino JSON lines with format json: the level, the message, fields and the error', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'info', format: 'json', write: (line) => lines.push(line) });
    log.debug('hidden');
    log.info('GET /users/u/dashboard -> hit (memory) 0.20 ms', { cache: { source: 'memory' } });
    log.error('GET /users -> 500', new Error('disk on fire'));
    expect(lines).toHaveLength(2);
    const [read, failure] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(read).toMatchObject({ level: 30, msg: 'GET /users/u/dashboard -> hit (memory) 0.20 ms', cache: { source: 'memory' } });
    expect(typeof read?.time).toBe('number');
    expect(failure).toMatchObject({ level: 50, msg: 'GET /users -> 500', err: { type: 'Error', message: 'disk on fire' } });
    expect(log.pino.level).toBe('info');
    expect(() => createLogger({ format: 'xml' as 'json' })).toThrow(/format must be one of text, json/);
  });
});
