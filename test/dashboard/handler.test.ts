// The dashboard's request handler over a memory-only cache, served by node:http on loopback: access rules,
// redaction, actions through the Cache API, the event stream's bounds and timers, and the page's headers.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Cache } from '../../src/cache.js';
import { createDashboard, type DashboardHandler, type DashboardOptions, type Snapshot } from '../../src/dashboard/index.js';
import { Warmer } from '../../src/warming/warmer.js';
import { createFakeClock, until, type FakeClock } from '../kit/index.js';

const TOKEN = 'test-token-0123456789';

interface Served {
  url: string;
  cache: Cache;
  clock: FakeClock;
  dashboard: DashboardHandler;
}

const open: { server: Server; dashboard: DashboardHandler; cache: Cache }[] = [];

afterEach(async () => {
  for (const { server, dashboard, cache } of open.splice(0)) {
    dashboard.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await cache.close();
  }
});

async function serve(options: Partial<DashboardOptions> | ((cache: Cache) => Partial<DashboardOptions>) = {}): Promise<Served> {
  const clock = createFakeClock();
  const cache = new Cache({ clock, memory: { maxEntries: 1_000 } });
  const extra = typeof options === 'function' ? options(cache) : options;
  const dashboard = createDashboard({ cache, clock, token: TOKEN, interval: 1_000, heartbeat: 5_000, ...extra });
  const server = createServer((req, res) => dashboard(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  open.push({ server, dashboard, cache });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, cache, clock, dashboard };
}

function post(url: string, path: string, body: unknown, token?: string, type = 'application/json'): Promise<Response> {
  return fetch(url + path, {
    method: 'POST',
    headers: { 'content-type': type, ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function snapshot(url: string, token?: string): Promise<Snapshot> {
  const response = await fetch(`${url}/api/snapshot`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  expect(response.status).toBe(200);
  return (await response.json()) as Snapshot;
}

/** Reads a stream's text until `done` holds for what arrived so far. */
async function readStream(response: Response, done: (text: string) => boolean): Promise<string> {
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = '';
  while (!done(text)) {
    const { value, done: ended } = await reader.read();
    if (ended) break;
    text += decoder.decode(value, { stream: true });
  }
  void reader.cancel().catch(() => undefined);
  return text;
}

describe('dashboard access', () => {
  it('is read-only without a configured token: actions answer 403 and change nothing', async () => {
    const { url, cache } = await serve({ token: '' });
    await cache.set('k', 1);
    const response = await post(url, '/api/actions/invalidate', { keys: ['k'] }, 'anything');
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('read_only');
    expect(await cache.get('k')).toBe(1);
    expect((await snapshot(url)).access).toEqual({ actions: false, authorized: false, showKeys: false });
  });

  it('refuses a missing or wrong token with 401 and runs the action with the right one, signed by the dashboard', async () => {
    const { url, cache } = await serve();
    await cache.set('k', 1);
    expect((await post(url, '/api/actions/invalidate', { keys: ['k'] })).status).toBe(401);
    const wrong = await post(url, '/api/actions/invalidate', { keys: ['k'] }, 'test-token-0123456788');
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await cache.get('k')).toBe(1);
    const right = await post(url, '/api/actions/invalidate', { keys: ['k'], reason: 'bad price' }, TOKEN);
    expect(right.status).toBe(200);
    expect(await right.json()).toEqual({ ok: true, action: 'invalidate', removed: 1 });
    expect(await cache.get('k')).toBeUndefined();
    const [event] = await cache.getInvalidationEvents();
    expect(event).toMatchObject({ kind: 'keys', reason: 'bad price', triggeredBy: 'dashboard', keys: ['k'] });
  });

  it('after 10 wrong tokens in a minute refuses token requests from that address with 429 until the minute is over', async () => {
    const { url, cache, clock } = await serve();
    await cache.set('k', 1);
    for (let i = 0; i < 10; i++) expect((await post(url, '/api/actions/invalidate', { keys: ['k'] }, `guess-${i}`)).status).toBe(401);
    // The right token too: a guesser learns nothing from the answers any more.
    const refused = await post(url, '/api/actions/invalidate', { keys: ['k'] }, TOKEN);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('too_many_guesses');
    expect(await cache.get('k')).toBe(1);
    // Reading without a token is not affected.
    expect((await snapshot(url)).access.authorized).toBe(false);
    clock.advance(61_000);
    expect((await post(url, '/api/actions/invalidate', { keys: ['k'] }, TOKEN)).status).toBe(200);
    expect(await cache.get('k')).toBeUndefined();
  });

  it('does not lock out an address whose wrong tokens are spread out over time', async () => {
    const { url, clock } = await serve();
    for (let i = 0; i < 25; i++) {
      expect((await post(url, '/api/actions/invalidate', { keys: ['k'] }, `slow-guess-${i}`)).status).toBe(401);
      clock.advance(7_000);
    }
    expect((await post(url, '/api/actions/invalidate', { keys: ['k'] }, TOKEN)).status).toBe(200);
  });

  it('takes actions only as a JSON POST: a form post or a GET is refused', async () => {
    const { url, cache } = await serve();
    await cache.set('k', 1);
    expect((await post(url, '/api/actions/invalidate', 'keys=k', TOKEN, 'application/x-www-form-urlencoded')).status).toBe(415);
    expect((await fetch(`${url}/api/actions/invalidate`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(405);
    expect((await post(url, '/api/actions/invalidate', '{not json', TOKEN)).status).toBe(400);
    expect((await post(url, '/api/actions/invalidate', {}, TOKEN)).status).toBe(400);
    expect(await cache.get('k')).toBe(1);
  });

  it('hides key names, tags and patterns from a viewer without the token, unless showValues', async () => {
    const { url, cache } = await serve();
    await cache.set('user:42:profile', 1, { tags: ['user:42'] });
    await cache.invalidateTags(['user:42'], { reason: 'profile updated' });
    await cache.invalidate({ keys: ['user:42:profile'] }, { reason: 'gdpr' });
    const [byTag, byKey] = (await snapshot(url)).events.slice(-2);
    expect(byTag).toMatchObject({ kind: 'tags', reason: 'profile updated', tags: null, redacted: true });
    expect(byKey).toMatchObject({ kind: 'keys', reason: 'gdpr', keys: null, count: 1, redacted: true });
    expect(JSON.stringify(await snapshot(url))).not.toContain('user:42');
    const admin = (await snapshot(url, TOKEN)).events.slice(-2);
    expect(admin).toMatchObject([{ tags: ['user:42'], redacted: false }, { keys: ['user:42:profile'], redacted: false }]);

    const open = await serve({ showValues: true, token: '' });
    await open.cache.invalidate({ keys: ['order:7'] });
    expect((await snapshot(open.url)).events.at(-1)).toMatchObject({ keys: ['order:7'], redacted: false });
  });
});

describe('dashboard actions', () => {
  it('invalidates a tag and a pattern, expires a tag (stale reads still get it) and clears only when confirmed', async () => {
    const { url, cache } = await serve();
    await cache.set('a', 1, { tags: ['t'] });
    await cache.set('report:1', 2);
    await cache.set('b', 3, { tags: ['soft'] });
    await cache.set('c', 4);
    expect((await post(url, '/api/actions/invalidate', { tags: ['t'] }, TOKEN)).status).toBe(200);
    expect(await cache.get('a')).toBeUndefined();
    expect(await (await post(url, '/api/actions/invalidate', { pattern: 'report:*' }, TOKEN)).json()).toMatchObject({ removed: 1 });
    expect(await cache.get('report:1')).toBeUndefined();
    expect((await post(url, '/api/actions/expire', { tags: ['soft'] }, TOKEN)).status).toBe(200);
    expect(await cache.get('b')).toBeUndefined();
    expect(await cache.get('b', { stale: true })).toBe(3);

    const refused = await post(url, '/api/actions/clear', { confirm: true }, TOKEN);
    expect(refused.status).toBe(400);
    expect(await cache.get('c')).toBe(4);
    expect((await post(url, '/api/actions/clear', { confirm: 'clear' }, TOKEN)).status).toBe(200);
    expect(await cache.get('c')).toBeUndefined();
    const kinds = (await cache.getInvalidationEvents()).map((e) => `${e.kind}:${e.triggeredBy}`);
    expect(kinds).toEqual(['tags:dashboard', 'pattern:dashboard', 'expire-tags:dashboard', 'clear:dashboard']);
  });

  it('answers a bad pattern with 400 naming the problem', async () => {
    const { url } = await serve();
    const response = await post(url, '/api/actions/invalidate', { pattern: '*' }, TOKEN);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(/confirm/);
  });

  it('starts a registered warmer, reports its progress, and refuses a second run while the first is going', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const served = await serve((cache) => {
      const warmer = new Warmer(cache);
      warmer.register({ id: 'one', key: 'w:1', loader: () => 1 });
      warmer.register({ id: 'two', key: 'w:2', loader: async () => (await gate, 2) });
      return { warmers: { main: warmer } };
    });
    const none = await serve();
    const first = await post(served.url, '/api/actions/warm', {}, TOKEN);
    expect(first.status).toBe(202);
    expect(await first.json()).toMatchObject({ run: { warmer: 'main', state: 'running' } });
    expect((await post(served.url, '/api/actions/warm', { warmer: 'main' }, TOKEN)).status).toBe(409);
    expect((await post(served.url, '/api/actions/warm', { warmer: 'other' }, TOKEN)).status).toBe(404);
    expect((await post(none.url, '/api/actions/warm', {}, TOKEN)).status).toBe(404);
    release();
    await until(async () => (await snapshot(served.url)).warming.runs[0]?.state === 'done', 'the warm run to finish');
    expect((await snapshot(served.url)).warming.runs[0]).toMatchObject({ done: 2, total: 2, generated: 2 });
    expect(await served.cache.get('w:2')).toBe(2);
  });
});

describe('dashboard stream', () => {
  it('sends a snapshot at once, invalidations as they happen, a snapshot every interval and heartbeats', async () => {
    const { url, cache, clock, dashboard } = await serve();
    const response = await fetch(`${url}/api/stream`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reading = readStream(response, (text) => text.includes(': heartbeat') && (text.match(/event: snapshot/g) ?? []).length >= 2);
    await until(() => dashboard.clients === 1, 'the stream to open');
    await cache.set('k', 1);
    await cache.invalidate({ keys: ['k'] }, { reason: 'because' });
    await clock.tick(5_000);
    const text = await reading;
    expect(text).toMatch(/event: invalidation\ndata: .*"reason":"because"/);
    expect(text).toMatch(/"keys":\["k"\]/);
  });

  it('bounds the open streams, and close() ends them and leaves no timer', async () => {
    const { url, clock, dashboard } = await serve({ maxClients: 2 });
    // The cache's own timers (its maintenance sweep) stay; the dashboard's must all go.
    const cacheTimers = clock.pending;
    const a = await fetch(`${url}/api/stream`);
    const b = await fetch(`${url}/api/stream`);
    expect((await fetch(`${url}/api/stream`)).status).toBe(503);
    await until(() => dashboard.clients === 2, 'two streams open');
    expect(clock.pending).toBeGreaterThan(cacheTimers);
    dashboard.close();
    expect(dashboard.clients).toBe(0);
    expect(clock.pending).toBe(cacheTimers);
    // Both streams end (their bodies finish) rather than hang.
    await Promise.all([a.text(), b.text()]);
    expect((await fetch(`${url}/api/stream`)).status).toBe(503);
  });

  it('stops its timers when the last stream goes away', async () => {
    const { url, clock, dashboard } = await serve();
    const cacheTimers = clock.pending;
    const controller = new AbortController();
    const response = await fetch(`${url}/api/stream`, { signal: controller.signal });
    expect(response.status).toBe(200);
    await until(() => clock.pending > cacheTimers, 'the stream timers to be armed');
    controller.abort();
    await until(() => dashboard.clients === 0 && clock.pending === cacheTimers, 'the timers to stop with the last stream');
  });
});

describe('dashboard page', () => {
  it('serves the built page with a strict CSP and its hashed assets as immutable', async () => {
    const { url } = await serve();
    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('cache-control')).toBe('no-cache');
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    const html = await page.text();
    const script = /src="\.\/(assets\/[^"]+\.js)"/.exec(html)?.[1];
    const style = /href="\.\/(assets\/[^"]+\.css)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const js = await fetch(`${url}/${script}`);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toContain('immutable');
    expect((await fetch(`${url}/${style}`)).headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(html).not.toMatch(/https?:\/\//);
    const again = await fetch(`${url}/${script}`, { headers: { 'if-none-match': js.headers.get('etag') ?? '' } });
    expect(again.status).toBe(304);
    expect((await fetch(`${url}/assets/..%2F..%2Fpackage.json`)).status).toBe(404);
  });

  it('strips its base path, redirects the bare mount to a trailing slash and leaves other paths to next()', async () => {
    const clock = createFakeClock();
    const cache = new Cache({ clock });
    const dashboard = createDashboard({ cache, clock, basePath: '/ops/cache' });
    const server = createServer((req, res) =>
      dashboard(req, res, () => {
        res.writeHead(418);
        res.end('next');
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    open.push({ server, dashboard, cache });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const bare = await fetch(`${url}/ops/cache`, { redirect: 'manual' });
    expect(bare.status).toBe(308);
    expect(bare.headers.get('location')).toBe('/ops/cache/');
    expect((await fetch(`${url}/ops/cache/`)).status).toBe(200);
    expect((await fetch(`${url}/ops/cache/api/snapshot`)).status).toBe(200);
    expect((await fetch(`${url}/elsewhere`)).status).toBe(418);
  });

  it('checks its options and names the bad one', () => {
    const cache = new Cache();
    expect(() => createDashboard({ cache, basePath: 'dash' })).toThrow(/basePath/);
    expect(() => createDashboard({ cache, interval: 10 })).toThrow(/interval/);
    expect(() => createDashboard({ cache, maxClients: 0 })).toThrow(/maxClients/);
    expect(() => createDashboard({ cache, warmers: { x: 3 as unknown as () => Promise<void> } })).toThrow(/warmers\.x/);
    expect(() => createDashboard({} as DashboardOptions)).toThrow(/cache/);
    void cache.close();
  });
});
