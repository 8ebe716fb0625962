// The behaviour table of the HTTP response cache, run against each adapter (Fastify, Express, Hono) through
// its real server. A memory-only Cache on a fake clock: what is cached, when the handler runs, which headers.
import { afterEach, describe, expect, it } from 'vitest';
import { Cache } from '../../src/cache.js';
import { createFakeClock, deferred, until, type FakeClock } from '../kit/index.js';
import { ADAPTERS, type AppSpec, type GetRoute, type RunningApp, type TestRequest, type TestResponse } from './harness.js';

const running: RunningApp[] = [];
const caches: Cache[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((app) => app.close()));
  await Promise.all(caches.splice(0).map((cache) => cache.close()));
});

/** A handler that counts its calls and answers what `answer` says for the call number. */
function counted(answer: (call: number, request: TestRequest) => TestResponse | Promise<TestResponse>) {
  const seen = { calls: 0 };
  const handler = (request: TestRequest) => answer(++seen.calls, request);
  return { seen, handler };
}

describe.each(ADAPTERS)('$name adapter', (adapter) => {
  async function start(gets: GetRoute[], extra: Partial<AppSpec> = {}): Promise<{ app: RunningApp; clock: FakeClock; cache: Cache }> {
    const clock = createFakeClock();
    const cache = new Cache({ clock, defaultTtl: '1m' });
    caches.push(cache);
    const app = await adapter.start({ cache, clock, gets, ...extra });
    running.push(app);
    return { app, clock, cache };
  }

  it('a miss runs the handler, a hit does not; X-Cache, Age and ETag say so', async () => {
    const { seen, handler } = counted((n) => ({ body: `v${n}`, headers: { 'content-type': 'text/plain' } }));
    const { app, clock } = await start([{ path: '/items/:id', handler }]);
    const first = await app.request('/items/1');
    expect([first.status, first.body, first.header('x-cache')]).toStrictEqual([200, 'v1', 'miss']);
    clock.advance(3_000);
    const second = await app.request('/items/1');
    expect([second.status, second.body, second.header('x-cache'), second.header('age')]).toStrictEqual([200, 'v1', 'hit', '3']);
    expect(second.header('content-type')).toMatch(/^text\/plain/);
    expect(second.header('etag')).toBe(first.header('etag'));
    expect(second.header('etag')).toMatch(/"/);
    expect(seen.calls).toBe(1);
    expect((await app.request('/items/2')).body).toBe('v2');
  });

  it('If-None-Match with the ETag gets 304 without a body, on a hit and on the miss itself', async () => {
    const { seen, handler } = counted(() => ({ body: 'same body' }));
    const { app } = await start([{ path: '/doc', handler }]);
    const etag = (await app.request('/doc')).header('etag') as string;
    // fetch() adds `Cache-Control: no-cache` to a conditional request that has no Cache-Control (a refresh):
    // this client accepts a cached copy.
    const hit = await app.request('/doc', { headers: { 'if-none-match': etag, 'cache-control': 'max-age=600' } });
    expect([hit.status, hit.body, hit.header('etag')]).toStrictEqual([304, '', etag]);
    // A 304 describes no body: a stray Content-Length would leave a keep-alive client waiting for bytes.
    expect(hit.header('content-length') ?? '0').toBe('0');
    expect((await app.request('/doc', { headers: { 'if-none-match': '"other"', 'cache-control': 'max-age=600' } })).status).toBe(200);
    const { app: other } = await start([{ path: '/doc', handler }]);
    const miss = await other.request('/doc', { headers: { 'if-none-match': etag } });
    expect([miss.status, miss.header('x-cache')]).toStrictEqual([304, 'miss']);
    expect(seen.calls).toBe(2);
  });

  it('If-Modified-Since against the Last-Modified the handler set', async () => {
    const { handler } = counted(() => ({ body: 'dated', headers: { 'last-modified': 'Wed, 01 Jan 2025 00:00:00 GMT' } }));
    const { app } = await start([{ path: '/dated', handler }]);
    await app.request('/dated');
    const since = (date: string) => ({ headers: { 'if-modified-since': date, 'cache-control': 'max-age=600' } });
    const later = await app.request('/dated', since('Thu, 02 Jan 2025 00:00:00 GMT'));
    expect([later.status, later.header('x-cache')]).toStrictEqual([304, 'hit']);
    expect((await app.request('/dated', since('Tue, 31 Dec 2024 00:00:00 GMT'))).status).toBe(200);
  });

  it('HEAD is served from the GET entry', async () => {
    const { seen, handler } = counted(() => ({ body: 'twelve bytes' }));
    const { app } = await start([{ path: '/h', handler }]);
    await app.request('/h');
    const head = await app.request('/h', { method: 'HEAD' });
    expect([head.status, head.body, head.header('x-cache'), head.header('content-length')]).toStrictEqual([200, '', 'hit', '12']);
    expect(seen.calls).toBe(1);
  });

  it('the chosen query parameters make the key, others are ignored; "all" sorts them', async () => {
    const chosen = counted((n, r) => ({ body: `${r.query('q') ?? '-'}:${n}` }));
    const all = counted((n) => ({ body: `all:${n}` }));
    const { app } = await start([
      { path: '/search', cache: { query: ['q'] }, handler: chosen.handler },
      { path: '/all', handler: all.handler },
    ]);
    expect((await app.request('/search?q=a&utm=1')).body).toBe('a:1');
    expect((await app.request('/search?utm=2&q=a')).body).toBe('a:1');
    expect((await app.request('/search?q=b')).body).toBe('b:2');
    expect((await app.request('/all?a=1&b=2')).body).toBe('all:1');
    expect((await app.request('/all?b=2&a=1')).body).toBe('all:1');
    expect((await app.request('/all?a=1&b=3')).body).toBe('all:2');
  });

  it('Vary: each value of the named request header gets its own entry', async () => {
    const { seen, handler } = counted((n, r) => ({ body: `${r.header('accept-language') ?? 'none'}:${n}`, headers: { vary: 'Accept-Language' } }));
    const { app } = await start([{ path: '/greet', handler }]);
    const en = { headers: { 'accept-language': 'en' } };
    const fr = { headers: { 'accept-language': 'fr' } };
    expect((await app.request('/greet', en)).body).toBe('en:1');
    expect((await app.request('/greet', fr)).body).toBe('fr:2');
    const again = await app.request('/greet', en);
    expect([again.body, again.header('x-cache')]).toStrictEqual(['en:1', 'hit']);
    expect((await app.request('/greet', fr)).body).toBe('fr:2');
    expect((await app.request('/greet', { headers: { 'accept-language': 'de' } })).body).toBe('de:3');
    expect(seen.calls).toBe(3);
  });

  it('client Cache-Control: no-cache and max-age=0 refresh the entry, no-store bypasses it', async () => {
    const { seen, handler } = counted((n) => ({ body: `v${n}` }));
    const { app } = await start([{ path: '/cc', handler }]);
    await app.request('/cc');
    const refreshed = await app.request('/cc', { headers: { 'cache-control': 'no-cache' } });
    expect([refreshed.body, refreshed.header('x-cache')]).toStrictEqual(['v2', 'miss']);
    expect((await app.request('/cc')).body).toBe('v2');
    expect((await app.request('/cc', { headers: { 'cache-control': 'max-age=0' } })).body).toBe('v3');
    const bypass = await app.request('/cc', { headers: { 'cache-control': 'no-store' } });
    expect([bypass.body, bypass.header('x-cache')]).toStrictEqual(['v4', 'bypass']);
    expect((await app.request('/cc')).body).toBe('v3');
    expect(seen.calls).toBe(4);
  });

  it('handler Cache-Control: private and no-store are never cached; s-maxage sets the TTL when allowed', async () => {
    const priv = counted((n) => ({ body: `p${n}`, headers: { 'cache-control': 'private, max-age=60' } }));
    const nostore = counted((n) => ({ body: `n${n}`, headers: { 'cache-control': 'no-store' } }));
    const timed = counted((n) => ({ body: `t${n}`, headers: { 'cache-control': 'public, max-age=600, s-maxage=5' } }));
    const { app, clock } = await start([
      { path: '/private', handler: priv.handler },
      { path: '/nostore', handler: nostore.handler },
      { path: '/timed', cache: { ttlFromResponse: true }, handler: timed.handler },
    ]);
    for (let i = 0; i < 2; i++) {
      await app.request('/private');
      await app.request('/nostore');
    }
    expect([priv.seen.calls, nostore.seen.calls]).toStrictEqual([2, 2]);
    expect((await app.request('/timed')).body).toBe('t1');
    clock.advance(4_000);
    expect((await app.request('/timed')).body).toBe('t1');
    clock.advance(2_000);
    expect((await app.request('/timed')).body).toBe('t2');
  });

  it('requests with Authorization or a Cookie pass straight through unless the route keys them per user', async () => {
    const shared = counted((n) => ({ body: `s${n}` }));
    const mine = counted((n, r) => ({ body: `${r.header('authorization') ?? 'anon'}:${n}` }));
    const { app } = await start([
      { path: '/shared', handler: shared.handler },
      { path: '/mine', cache: { userKeyFor: (r) => r.header('authorization') ?? 'anon' }, handler: mine.handler },
    ]);
    await app.request('/shared');
    const authed = await app.request('/shared', { headers: { authorization: 'Bearer a' } });
    expect([authed.body, authed.header('x-cache')]).toStrictEqual(['s2', 'bypass']);
    expect((await app.request('/shared', { headers: { cookie: 'sid=1' } })).body).toBe('s3');
    expect((await app.request('/shared')).body).toBe('s1');
    const alice = { headers: { authorization: 'alice' } };
    expect((await app.request('/mine', alice)).body).toBe('alice:1');
    expect((await app.request('/mine', { headers: { authorization: 'bob' } })).body).toBe('bob:2');
    const again = await app.request('/mine', alice);
    expect([again.body, again.header('x-cache')]).toStrictEqual(['alice:1', 'hit']);
  });

  it('only 2xx is cached by default; a Set-Cookie response is not cached; a list of statuses widens it', async () => {
    const missing = counted((n) => ({ status: 404, body: `gone${n}` }));
    const cookie = counted((n) => ({ body: `c${n}`, headers: { 'set-cookie': 'sid=1' } }));
    const listed = counted((n) => ({ status: 404, body: `l${n}` }));
    const { app } = await start([
      { path: '/missing', handler: missing.handler },
      { path: '/cookie', handler: cookie.handler },
      { path: '/listed', cache: { statuses: [200, 404] }, handler: listed.handler },
    ]);
    for (let i = 0; i < 2; i++) {
      await app.request('/missing');
      await app.request('/cookie');
      await app.request('/listed');
    }
    expect([missing.seen.calls, cookie.seen.calls, listed.seen.calls]).toStrictEqual([2, 2, 1]);
    const hit = await app.request('/listed');
    expect([hit.status, hit.body]).toStrictEqual([404, 'l1']);
  });

  it('cacheSetCookie caches the response without its cookie; with userKey a private response is cached per user', async () => {
    const cookie = counted((n) => ({ body: `c${n}`, headers: { 'set-cookie': 'seen=1' } }));
    const personal = counted((n, r) => ({ body: `${r.header('authorization') as string}:${n}`, headers: { 'cache-control': 'private' } }));
    const { app } = await start([
      { path: '/cookie', cache: { cacheSetCookie: true }, handler: cookie.handler },
      { path: '/me', cache: { userKeyFor: (r) => r.header('authorization') }, handler: personal.handler },
    ]);
    expect((await app.request('/cookie')).header('set-cookie')).toBe('seen=1');
    const hit = await app.request('/cookie');
    expect([hit.body, hit.header('x-cache'), hit.header('set-cookie')]).toStrictEqual(['c1', 'hit', undefined]);
    expect((await app.request('/me', { headers: { authorization: 'ann' } })).body).toBe('ann:1');
    expect((await app.request('/me', { headers: { authorization: 'ann' } })).body).toBe('ann:1');
    expect((await app.request('/me', { headers: { authorization: 'ben' } })).body).toBe('ben:2');
    const anonymous = await app.request('/me');
    expect([anonymous.body, anonymous.header('x-cache')]).toStrictEqual(['undefined:3', 'bypass']);
  });

  it('a streamed body past maxBodyBytes is sent whole, uncached', async () => {
    const big = counted((n) => ({ stream: ['a'.repeat(40), 'b'.repeat(40), String(n)] }));
    const small = counted((n) => ({ stream: ['ab', 'cd', String(n)] }));
    const { app } = await start(
      [
        { path: '/big', handler: big.handler },
        { path: '/small', handler: small.handler },
      ],
      { defaults: { maxBodyBytes: 64 } },
    );
    expect((await app.request('/big')).body).toBe(`${'a'.repeat(40)}${'b'.repeat(40)}1`);
    expect((await app.request('/big')).body).toBe(`${'a'.repeat(40)}${'b'.repeat(40)}2`);
    expect((await app.request('/small')).body).toBe('abcd1');
    expect((await app.request('/small')).body).toBe('abcd1');
  });

  it('100 concurrent identical requests share one handler run', async () => {
    const gate = deferred();
    const { seen, handler } = counted(async (n) => {
      await gate.promise;
      return { body: `once${n}` };
    });
    const { app } = await start([{ path: '/hot', handler }]);
    const answers = Array.from({ length: 100 }, () => app.request('/hot'));
    // Every request is in the app, waiting on the one handler run, before that run ends.
    await until(() => app.arrived() === 100, 'all 100 requests to reach the app');
    await until(() => seen.calls === 1, 'the first handler call');
    gate.resolve();
    const bodies = (await Promise.all(answers)).map((a) => a.body);
    expect(new Set(bodies)).toStrictEqual(new Set(['once1']));
    expect(seen.calls).toBe(1);
  });

  it('past its TTL, within grace, the stale response is served while one refresh runs', async () => {
    let release = deferred();
    const { seen, handler } = counted(async (n) => {
      if (n > 1) await release.promise;
      return { body: `v${n}` };
    });
    const { app, clock } = await start([{ path: '/swr', cache: { ttl: '10s', grace: '1m' }, handler }]);
    await app.request('/swr');
    clock.advance(11_000);
    const stale = await app.request('/swr');
    expect([stale.body, stale.header('x-cache')]).toStrictEqual(['v1', 'stale']);
    await until(() => seen.calls === 2, 'the background refresh');
    expect((await app.request('/swr')).body).toBe('v1');
    release.resolve();
    await app.drain();
    const fresh = await app.request('/swr');
    expect([fresh.body, fresh.header('x-cache')]).toStrictEqual(['v2', 'hit']);
    expect(seen.calls).toBe(2);
    release = deferred();
  });

  it('stale-if-error: a refresh that answers 5xx keeps the stale response served', async () => {
    const { seen, handler } = counted((n) => (n === 1 ? { body: 'good' } : { status: 503, body: 'down' }));
    const { app, clock } = await start([{ path: '/sie', cache: { ttl: '10s', grace: '1m' }, handler }]);
    await app.request('/sie');
    clock.advance(11_000);
    expect((await app.request('/sie')).body).toBe('good');
    await app.drain();
    expect(seen.calls).toBe(2);
    const after = await app.request('/sie');
    expect([after.status, after.body, after.header('x-cache')]).toStrictEqual([200, 'good', 'stale']);
    clock.advance(60_000);
    const gone = await app.request('/sie');
    expect([gone.status, gone.body]).toStrictEqual([503, 'down']);
  });

  it('a write route invalidates by tag and by path after a 2xx, and not after a failure', async () => {
    const read = counted((n, r) => ({ body: `${r.params.id}:${n}` }));
    const statuses = [500, 200, 204];
    const { app } = await start([{ path: '/things/:id', cache: { tagsFor: (r) => [`thing:${r.params.id as string}`] }, handler: read.handler }], {
      writes: [
        { method: 'PUT', path: '/things/:id', invalidate: { tagsFor: (r) => [`thing:${r.params.id as string}`] }, handler: () => ({ status: statuses.shift() as number }) },
        { method: 'DELETE', path: '/things', invalidate: { paths: ['/things/*'] }, handler: () => ({ status: 200 }) },
      ],
    });
    await app.request('/things/1');
    await app.request('/things/2');
    await app.request('/things/1', { method: 'PUT' });
    expect((await app.request('/things/1')).body).toBe('1:1');
    await app.request('/things/1', { method: 'PUT' });
    expect((await app.request('/things/1')).body).toBe('1:3');
    expect((await app.request('/things/2')).body).toBe('2:2');
    await app.request('/things', { method: 'DELETE' });
    expect((await app.request('/things/2')).body).toBe('2:4');
  });
});
