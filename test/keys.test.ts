import { describe, expect, it } from 'vitest';
import { InvalidKeyError } from '../src/errors.js';
import { buildKey, canonicalJson, escapeSegment, forecastKey, paramsHash, unescapeSegment } from '../src/keys/index.js';
import { assertValidKey } from '../src/keys/validate.js';

describe('paramsHash', () => {
  it('matches the hash the Python services compute with json.dumps(sort_keys=True)', () => {
    // Reference values printed by python3: hashlib.md5(json.dumps(p, sort_keys=True).encode()).hexdigest()[:8]
    expect(paramsHash({ window_months: 3, trend_sensitivity: 0.1, include_weekends: false })).toBe('a2d36ec3');
    expect(paramsHash({ b: [1, 2, { z: null, a: 'é' }], a: 'x' })).toBe('abc2e864');
  });

  it('ignores parameter order at every depth', () => {
    const a = paramsHash({ x: 1, nested: { b: 2, a: [1, { d: 4, c: 3 }] } });
    const b = paramsHash({ nested: { a: [1, { c: 3, d: 4 }], b: 2 }, x: 1 });
    expect(a).toBe(b);
    expect(a).toMatch(/^[0-9a-f]{8}$/);
  });

  it('tells different parameters apart', () => {
    expect(paramsHash({ a: 1 })).not.toBe(paramsHash({ a: '1' }));
    expect(paramsHash({ a: [1, 2] })).not.toBe(paramsHash({ a: [2, 1] }));
  });

  it('writes Dates and BigInts explicitly and refuses what it cannot hash', () => {
    expect(canonicalJson({ at: new Date(0), n: 10n ** 20n })).toBe('{"at": "1970-01-01T00:00:00.000Z", "n": 100000000000000000000}');
    expect(() => paramsHash({ f: () => 1 })).toThrow(/params \$\.f cannot be hashed: function/);
    expect(() => paramsHash({ n: Number.NaN })).toThrow(TypeError);
  });
});

describe('buildKey', () => {
  it('fills named and positional placeholders and applies a prefix', () => {
    expect(buildKey('user:{userId}', { userId: '123' })).toBe('user:123');
    expect(buildKey('items:{0}:{1}', ['category', 'page1'])).toBe('items:category:page1');
    expect(buildKey('user:{id}', { id: '123' }, { prefix: 'v2:' })).toBe('v2:user:123');
    expect(buildKey('n:{a}:{b}', { a: 7, b: true })).toBe('n:7:true');
  });

  it('escapes values so an id cannot forge another key or widen a pattern', () => {
    expect(buildKey('user:{id}:profile', { id: 'a:b' })).toBe('user:a%3Ab:profile');
    expect(buildKey('user:{id}', { id: '*' })).toBe('user:%2A');
    expect(buildKey('user:{id}', { id: '10%?[x]' })).toBe('user:10%25%3F%5Bx%5D');
  });

  it('names the placeholder that is missing or of the wrong type', () => {
    expect(() => buildKey('user:{userId}', {})).toThrow(/needs a value for \{userId\}/);
    expect(() => buildKey('user:{userId}', { userId: { id: 1 } })).toThrow(/\{userId\} must be a string/);
    expect(() => buildKey('x:{0}', [Number.POSITIVE_INFINITY])).toThrow(/\{0\} must be finite/);
  });
});

describe('forecastKey', () => {
  it('builds the seed key structure', () => {
    const params = { window_months: 3, trend_sensitivity: 0.1, include_weekends: false };
    expect(forecastKey({ userId: 'user_123', metric: 'balance', horizon: '30d', algorithm: 'linear', params })).toBe(
      'forecast:user_123:balance:30d:linear:a2d36ec3',
    );
    expect(forecastKey({ userId: 'user_456', metric: 'burn_rate', horizon: '90d', algorithm: 'ema' })).toBe(
      'forecast:user_456:burn_rate:90d:ema:default',
    );
  });

  it('keeps a hostile user id inside its own segment', () => {
    const key = forecastKey({ userId: 'evil:*', metric: 'balance', horizon: '30d', algorithm: 'linear' });
    expect(key).toBe('forecast:evil%3A%2A:balance:30d:linear:default');
    expect(key.split(':')).toHaveLength(6);
  });

  it('refuses empty segments, naming them', () => {
    expect(() => forecastKey({ userId: '', metric: 'balance', horizon: '30d', algorithm: 'linear' })).toThrow(/userId/);
  });
});

describe('escapeSegment', () => {
  it('round-trips any text', () => {
    for (const s of ['plain', 'a:b*c?d[e]f\\g%h', '%3A', '']) expect(unescapeSegment(escapeSegment(s))).toBe(s);
    expect(escapeSegment('plain')).toBe('plain');
  });
});

describe('assertValidKey', () => {
  it('refuses empty, too long, non-string and control-character keys with InvalidKeyError', () => {
    expect(() => assertValidKey('')).toThrow(InvalidKeyError);
    expect(() => assertValidKey('x'.repeat(1025))).toThrow(/1025 characters long; the limit is 1024/);
    expect(() => assertValidKey('a\nb')).toThrow(/U\+000a at index 1/);
    expect(() => assertValidKey(42)).toThrow(/must be a string, got number/);
    expect(() => assertValidKey('fine:key ✓')).not.toThrow();
  });
});
