// The HTTP core's option checking (a bad option is a TypeError naming it, at setup) and the header rules,
// plus options that need only one framework to show (Fastify through inject).
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { Cache } from '../../src/cache.js';
import { HttpCache } from '../../src/http/core.js';
import { expressCache } from '../../src/http/express.js';
import { fastifyHttpCache } from '../../src/http/fastify.js';
import { etagOf, notModified, parseCacheControl, storableHeaders, varyOf } from '../../src/http/headers.js';
import { honoCache } from '../../src/http/hono.js';
import { createFakeClock } from '../kit/index.js';

const caches: Cache[] = [];
afterEach(async () => {
  await Promise.all(caches.splice(0).map((cache) => cache.close()));
});

function cache(): Cache {
  const made = new Cache({});
  caches.push(made);
  return made;
}

describe('options', () => {
  it('a bad cache-wide option is a TypeError naming it', () => {
    const c = cache();
    expect(() => new HttpCache({ cache: c, ttl: 'soon' })).toThrow(/httpCache\.ttl must be a duration/);
    expect(() => new HttpCache({ cache: c, grace: -1 })).toThrow(/httpCache\.grace/);
    expect(() => new HttpCache({ cache: c, prefix: 'a:b' })).toThrow(/httpCache\.prefix/);
    expect(() => new HttpCache({ cache: c, header: 'x cache' })).toThrow(/httpCache\.header/);
    expect(() => new HttpCache({ cache: c, maxBodyBytes: 0 })).toThrow(/httpCache\.maxBodyBytes/);
    expect(() => new HttpCache({ cache: c, statuses: [42] })).toThrow(/httpCache\.statuses/);
    expect(() => new HttpCache({ cache: c, etag: 'strongest' as 'strong' })).toThrow(/httpCache\.etag/);
    expect(() => new HttpCache({ cache: c, tags: [] })).toThrow(/httpCache\.tags/);
    expect(() => new HttpCache({ cache: {} as Cache })).toThrow(/httpCache\.cache must be a tiercache Cache/);
    expect(() => new HttpCache({ cache: c, tll: '1m' } as never)).toThrow(/unknown option "tll"/);
    expect(() => new HttpCache({ cache: c, ttl: 0 })).toThrow(/httpCache\.ttl must be greater than 0/);
    expect(() => new HttpCache({ cache: c, ttl: 0 })).toThrow(TypeError);
  });

  it('route and invalidation options are checked when the route is made', () => {
    const http = new HttpCache({ cache: cache() });
    expect(() => http.route({ query: 'some' as 'all' }, 'route /x')).toThrow(/route \/x\.query/);
    expect(() => http.route({ userKey: 'user' as never }, 'route /x')).toThrow(/route \/x\.userKey must be a function/);
    expect(() => http.route({ vary: [''] }, 'route /x')).toThrow(/route \/x\.vary/);
    expect(() => http.invalidation({}, 'invalidate')).toThrow(/invalidate needs at least one of tags, paths or patterns/);
    expect(() => http.invalidation({ paths: '/x' as never }, 'invalidate')).toThrow(/invalidate\.paths must be an array/);
  });

  it('each adapter names its own options', async () => {
    const c = cache();
    expect(() => expressCache({ cache: c, softTimeout: 'later' })).toThrow(/expressCache\.softTimeout/);
    expect(() => honoCache({ cache: c, grace: '1m' })).toThrow(/grace needs honoCache\.app/);
    expect(() => expressCache({ cache: c }).cache({ ttl: 'x' })).toThrow(/expressCache route\.ttl/);
    const app = Fastify();
    await app.register(fastifyHttpCache, { cache: c });
    // At the route's declaration, before the server starts.
    expect(() => app.get('/x', { config: { httpCache: { ttl: -5 } } }, () => 'x')).toThrow(/route GET \/x config\.httpCache\.ttl/);
    expect(() => app.post('/y', { config: { httpInvalidate: {} } }, () => 'y')).toThrow(/route POST \/y config\.httpInvalidate needs at least one/);
    await app.close();
    const bad = Fastify();
    await expect(bad.register(fastifyHttpCache, { cache: c, maxBodyBytes: -1 }).ready()).rejects.toThrow(/tiercache\/fastify\.maxBodyBytes/);
  });
});

describe('header rules', () => {
  it('parses Cache-Control directives, quoted values and case', () => {
    const cc = parseCacheControl('No-Cache, max-age="60", private');
    expect([...cc]).toStrictEqual([
      ['no-cache', ''],
      ['max-age', '60'],
      ['private', ''],
    ]);
  });

  it('If-None-Match compares weakly, lists and * included; If-Modified-Since only without it', () => {
    expect(notModified('W/"a"', undefined, '"a"', undefined)).toBe(true);
    expect(notModified('"b", "a"', undefined, 'W/"a"', undefined)).toBe(true);
    expect(notModified('"b"', undefined, '"a"', undefined)).toBe(false);
    expect(notModified('*', undefined, undefined, undefined)).toBe(true);
    expect(notModified('"b"', 'Thu, 02 Jan 2025 00:00:00 GMT', '"a"', 'Wed, 01 Jan 2025 00:00:00 GMT')).toBe(false);
    expect(notModified(undefined, 'Thu, 02 Jan 2025 00:00:00 GMT', undefined, 'Wed, 01 Jan 2025 00:00:00 GMT')).toBe(true);
    expect(notModified(undefined, 'not a date', undefined, 'Wed, 01 Jan 2025 00:00:00 GMT')).toBe(false);
  });

  it('a stored copy drops hop-by-hop headers, those Connection names, Set-Cookie and per-response ones', () => {
    const kept = storableHeaders(
      [
        ['content-type', 'text/plain'],
        ['connection', 'x-trace'],
        ['x-trace', '1'],
        ['transfer-encoding', 'chunked'],
        ['set-cookie', 'a=1'],
        ['date', 'now'],
        ['x-cache', 'miss'],
        ['vary', 'Accept'],
      ],
      'x-cache',
    );
    expect(kept).toStrictEqual([
      ['content-type', 'text/plain'],
      ['vary', 'Accept'],
    ]);
    expect(varyOf([['vary', 'Accept-Language, accept'], ['vary', 'X-A']])).toStrictEqual(['accept', 'accept-language', 'x-a']);
    expect(varyOf([['vary', 'Accept, *']])).toStrictEqual(['*']);
  });

  it('a computed ETag depends on the bytes only, weak when asked', () => {
    const bytes = new TextEncoder().encode('body');
    expect(etagOf(bytes, false)).toBe(etagOf(new TextEncoder().encode('body'), false));
    expect(etagOf(bytes, false)).not.toBe(etagOf(new TextEncoder().encode('Body'), false));
    expect(etagOf(bytes, true)).toMatch(/^W\/"/);
  });
});

describe('per-request options and naming (Fastify)', () => {
  it('ttl from the request, weak ETags, a renamed X-Cache header, a namespaced cache', async () => {
    const clock = createFakeClock();
    const root = new Cache({ clock });
    caches.push(root);
    const app = Fastify();
    await app.register(fastifyHttpCache, { cache: root.namespace('web'), clock, header: 'x-served-by-cache', etag: 'weak' });
    let calls = 0;
    app.get('/t', { config: { httpCache: { ttl: (req) => `${(req.query as { s: string }).s}s`, query: [] } } }, () => `v${++calls}`);
    await app.ready();
    const first = await app.inject({ url: '/t?s=5' });
    expect(first.headers['x-served-by-cache']).toBe('miss');
    expect(first.headers['x-cache']).toBeUndefined();
    expect(first.headers.etag).toMatch(/^W\//);
    clock.advance(4_000);
    expect((await app.inject({ url: '/t?s=100' })).body).toBe('v1');
    clock.advance(2_000);
    expect((await app.inject({ url: '/t?s=100' })).body).toBe('v2');
    expect(await root.has('web:http:GET:/t:')).toBe(true);
    await app.close();
  });

  it('header: false adds no X-Cache; cacheAll caches routes without config unless they opt out', async () => {
    const app = Fastify();
    await app.register(fastifyHttpCache, { cache: cache(), header: false, cacheAll: true });
    let a = 0;
    let b = 0;
    app.get('/a', () => `a${++a}`);
    app.get('/b', { config: { httpCache: false } }, () => `b${++b}`);
    await app.ready();
    for (let i = 0; i < 2; i++) {
      const answer = await app.inject({ url: '/a' });
      expect(answer.headers['x-cache']).toBeUndefined();
      await app.inject({ url: '/b' });
    }
    expect([a, b]).toStrictEqual([1, 2]);
    await app.close();
  });
});
