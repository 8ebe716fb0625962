// The one handler mounted in each framework docs/dashboard.md shows: the page, the snapshot, the stream and an
// action (with its JSON body) all work through Express, Fastify and Hono's node server.
import { serve as honoServe, type HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Cache } from '../../src/cache.js';
import { createDashboard, type DashboardHandler } from '../../src/dashboard/index.js';

const TOKEN = 'mount-token';
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function setup(): { cache: Cache; dashboard: DashboardHandler } {
  const cache = new Cache();
  const dashboard = createDashboard({ cache, token: TOKEN, basePath: '/dashboard' });
  cleanups.push(async () => {
    dashboard.close();
    await cache.close();
  });
  return { cache, dashboard };
}

async function exercise(base: string, cache: Cache): Promise<void> {
  const bare = await fetch(`${base}/dashboard`, { redirect: 'manual' });
  expect(bare.status).toBe(308);
  expect(bare.headers.get('location')).toBe('/dashboard/');
  const page = await fetch(`${base}/dashboard/`);
  expect(page.status).toBe(200);
  expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
  const snapshot = (await (await fetch(`${base}/dashboard/api/snapshot`)).json()) as { access: { actions: boolean } };
  expect(snapshot.access.actions).toBe(true);
  const controller = new AbortController();
  const stream = await fetch(`${base}/dashboard/api/stream`, { signal: controller.signal });
  expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const first = await (stream.body as ReadableStream<Uint8Array>).getReader().read();
  expect(new TextDecoder().decode(first.value)).toMatch(/^retry: /);
  controller.abort();
  await cache.set('k', 1);
  const action = await fetch(`${base}/dashboard/api/actions/invalidate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ keys: ['k'] }),
  });
  expect(action.status).toBe(200);
  expect(await cache.get('k')).toBeUndefined();
}

describe('mounting the dashboard', () => {
  it('works as Express middleware under app.use(path)', async () => {
    const { cache, dashboard } = setup();
    const app = express();
    app.use('/dashboard', dashboard);
    app.get('/other', (_req, res) => void res.send('other'));
    const server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await exercise(base, cache);
    expect(await (await fetch(`${base}/other`)).text()).toBe('other');
    server.closeAllConnections();
  });

  it('works in Fastify through a route that hands over the raw request and response', async () => {
    const { cache, dashboard } = setup();
    const app = Fastify({ forceCloseConnections: true });
    await app.register((scope, _options, done) => {
      // The dashboard reads its own bodies: this scope must leave them unread.
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', (_request, _payload, parsed) => parsed(null));
      const hand = (request: { raw: Parameters<DashboardHandler>[0] }, reply: { hijack(): void; raw: Parameters<DashboardHandler>[1] }): void => {
        reply.hijack();
        dashboard(request.raw, reply.raw);
      };
      scope.all('/dashboard', hand);
      scope.all('/dashboard/*', hand);
      done();
    });
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    cleanups.push(async () => {
      await app.close();
    });
    await exercise(base, cache);
  });

  it("works behind Hono's node server, from the incoming and outgoing objects", async () => {
    const { cache, dashboard } = setup();
    const app = new Hono<{ Bindings: HttpBindings }>();
    const hand = (c: { env: HttpBindings }): Response => {
      dashboard(c.env.incoming, c.env.outgoing);
      // Tells the node server that the handler writes the response itself.
      return RESPONSE_ALREADY_SENT;
    };
    app.all('/dashboard', hand);
    app.all('/dashboard/*', hand);
    const server = await new Promise<Server>((resolve) => {
      const s = honoServe({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as Server));
    });
    cleanups.push(
      () =>
        new Promise((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    );
    await exercise(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, cache);
  });
});
