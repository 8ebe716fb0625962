// One app, built three ways: the same routes and handlers on Fastify (through `inject`), Express and Hono (each
// on a real loopback port, asked with Node's fetch). The behaviour table in adapters.test.ts runs against each.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { serve, type ServerType } from '@hono/node-server';
import express, { type Request as ExpressRequest } from 'express';
import Fastify, { type FastifyRequest } from 'fastify';
import { Hono, type Context } from 'hono';
import type { Cache } from '../../src/cache.js';
import type { Clock } from '../../src/clock.js';
import { expressCache } from '../../src/http/express.js';
import { fastifyHttpCache } from '../../src/http/fastify.js';
import { honoCache } from '../../src/http/hono.js';
import type { HttpCacheOptions, InvalidateAfterOptions, RouteCacheOptions } from '../../src/http/options.js';

/** What a test handler sees of a request, whatever the framework. */
export interface TestRequest {
  params: Record<string, string>;
  query(name: string): string | undefined;
  header(name: string): string | undefined;
}

/** What a test handler answers; `stream` sends the chunks one by one. */
export interface TestResponse {
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  stream?: string[];
}

type Handler = (request: TestRequest) => TestResponse | Promise<TestResponse>;

/** Route options without framework-typed functions: those come as the `…For` helpers over TestRequest. */
export type PlainRouteOptions = Omit<RouteCacheOptions<unknown>, 'tags' | 'userKey' | 'ttl' | 'grace'> & {
  ttl?: number | string;
  grace?: number | string;
  tagsFor?: (request: TestRequest) => string[];
  userKeyFor?: (request: TestRequest) => string | undefined;
};

export interface GetRoute {
  path: string;
  cache?: PlainRouteOptions;
  handler: Handler;
}

export interface WriteRoute {
  method: 'POST' | 'PUT' | 'DELETE';
  path: string;
  invalidate: { tagsFor?: (request: TestRequest) => string[]; paths?: string[] };
  handler: Handler;
}

export interface AppSpec {
  cache: Cache;
  clock?: Clock;
  defaults?: Omit<HttpCacheOptions<unknown>, 'cache' | 'clock' | 'tags' | 'userKey' | 'ttl' | 'grace'> & { ttl?: number | string; grace?: number | string };
  gets: GetRoute[];
  writes?: WriteRoute[];
}

export interface Answer {
  status: number;
  header(name: string): string | undefined;
  body: string;
}

export interface RequestInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface RunningApp {
  request(path: string, init?: RequestInit): Promise<Answer>;
  /** Requests that reached the app so far (counted before the cache sees them). */
  arrived(): number;
  /** Waits for the background refreshes to settle. */
  drain(): Promise<void>;
  close(): Promise<void>;
}

export interface Adapter {
  name: 'fastify' | 'express' | 'hono';
  start(spec: AppSpec): Promise<RunningApp>;
}

/** The route options with their functions over the framework's request, given how to read one. */
function routeOptions<Req>(plain: PlainRouteOptions | undefined, view: (req: Req) => TestRequest): RouteCacheOptions<Req> {
  if (plain === undefined) return {};
  const { tagsFor, userKeyFor, ...rest } = plain;
  const out: RouteCacheOptions<Req> = { ...(rest as RouteCacheOptions<Req>) };
  if (tagsFor !== undefined) out.tags = (req) => tagsFor(view(req));
  if (userKeyFor !== undefined) out.userKey = (req) => userKeyFor(view(req));
  return out;
}

function invalidateOptions<Req>(plain: WriteRoute['invalidate'], view: (req: Req) => TestRequest): InvalidateAfterOptions<Req> {
  const out: InvalidateAfterOptions<Req> = {};
  if (plain.tagsFor !== undefined) {
    const tagsFor = plain.tagsFor;
    out.tags = (req) => tagsFor(view(req));
  }
  if (plain.paths !== undefined) out.paths = plain.paths;
  return out;
}

function baseOptions(spec: AppSpec) {
  return { cache: spec.cache, ...(spec.clock === undefined ? {} : { clock: spec.clock }), ...(spec.defaults ?? {}) };
}

async function fetchAnswer(base: string, path: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(base + path, { method: init.method ?? 'GET', headers: init.headers ?? {}, ...(init.body === undefined ? {} : { body: init.body }) });
  const body = await response.text();
  return { status: response.status, header: (name) => response.headers.get(name) ?? undefined, body };
}

/** A RunningApp over a listening Node server, asked with fetch. */
function onPort(server: Server | ServerType, arrived: () => number, drain: () => Promise<void>): RunningApp {
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    request: (path, init) => fetchAnswer(base, path, init),
    arrived,
    drain,
    close: () =>
      new Promise<void>((resolve) => {
        if ('closeAllConnections' in server) server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const fastifyView = (req: FastifyRequest): TestRequest => ({
  params: req.params as Record<string, string>,
  query: (name) => (req.query as Record<string, string | undefined>)[name],
  header: (name) => req.headers[name] as string | undefined,
});

export const fastifyAdapter: Adapter = {
  name: 'fastify',
  async start(spec) {
    const app = Fastify();
    let arrived = 0;
    app.addHook('onRequest', (_req, _reply, done) => {
      arrived++;
      done();
    });
    await app.register(fastifyHttpCache, baseOptions(spec) as HttpCacheOptions<FastifyRequest>);
    for (const route of spec.gets) {
      app.get(route.path, { config: { httpCache: routeOptions(route.cache, fastifyView) } }, async (req, reply) => {
        const answer = await route.handler(fastifyView(req));
        reply.code(answer.status ?? 200).headers(answer.headers ?? {});
        return answer.stream === undefined ? (answer.body ?? '') : reply.send(Readable.from(answer.stream));
      });
    }
    for (const route of spec.writes ?? []) {
      app.route({
        method: route.method,
        url: route.path,
        config: { httpInvalidate: invalidateOptions(route.invalidate, fastifyView) },
        handler: async (req, reply) => {
          const answer = await route.handler(fastifyView(req));
          reply.code(answer.status ?? 200);
          return answer.body ?? '';
        },
      });
    }
    await app.ready();
    return {
      async request(path, init = {}) {
        const response = await app.inject({ method: (init.method ?? 'GET') as 'GET', url: path, headers: init.headers ?? {}, ...(init.body === undefined ? {} : { payload: init.body }) });
        return { status: response.statusCode, header: (name) => response.headers[name]?.toString(), body: response.body };
      },
      arrived: () => arrived,
      drain: () => app.httpCache.drain(),
      close: () => app.close(),
    };
  },
};

const expressView = (req: ExpressRequest): TestRequest => ({
  params: req.params as Record<string, string>,
  query: (name) => (typeof req.query[name] === 'string' ? req.query[name] : undefined),
  header: (name) => req.get(name),
});

export const expressAdapter: Adapter = {
  name: 'express',
  async start(spec) {
    const app = express();
    let arrived = 0;
    app.use((_req, _res, next) => {
      arrived++;
      next();
    });
    const http = expressCache(baseOptions(spec) as HttpCacheOptions<ExpressRequest>);
    for (const route of spec.gets) {
      app.get(route.path, http.cache(routeOptions(route.cache, expressView)), (req, res, next) => {
        Promise.resolve(route.handler(expressView(req))).then((answer) => {
          res.status(answer.status ?? 200).set(answer.headers ?? {});
          if (answer.stream === undefined) {
            res.send(answer.body ?? '');
            return;
          }
          for (const chunk of answer.stream) res.write(chunk);
          res.end();
        }, next);
      });
    }
    for (const route of spec.writes ?? []) {
      const method = route.method.toLowerCase() as 'post' | 'put' | 'delete';
      app[method](route.path, http.invalidate(invalidateOptions(route.invalidate, expressView)), (req, res, next) => {
        Promise.resolve(route.handler(expressView(req))).then((answer) => void res.status(answer.status ?? 200).send(answer.body ?? ''), next);
      });
    }
    const server = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', resolve));
    return onPort(server, () => arrived, () => http.drain());
  },
};

const honoView = (c: Context): TestRequest => ({
  params: c.req.param(),
  query: (name) => c.req.query(name),
  header: (name) => c.req.header(name),
});

export const honoAdapter: Adapter = {
  name: 'hono',
  async start(spec) {
    const app = new Hono();
    let arrived = 0;
    app.use(async (_c, next) => {
      arrived++;
      await next();
    });
    const http = honoCache({ ...(baseOptions(spec) as HttpCacheOptions<Context>), app });
    for (const route of spec.gets) {
      app.get(route.path, http.cache(routeOptions(route.cache, honoView)), async (c) => {
        const answer = await route.handler(honoView(c));
        const headers = answer.headers ?? {};
        if (answer.stream === undefined) return new Response(answer.body ?? '', { status: answer.status ?? 200, headers });
        const chunks = answer.stream;
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk));
            controller.close();
          },
        });
        return new Response(body, { status: answer.status ?? 200, headers });
      });
    }
    for (const route of spec.writes ?? []) {
      app.on(route.method, route.path, http.invalidate(invalidateOptions(route.invalidate, honoView)), async (c) => {
        const answer = await route.handler(honoView(c));
        return c.body(answer.body ?? '', (answer.status ?? 200) as 200);
      });
    }
    const server: ServerType = await new Promise((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    return onPort(server, () => arrived, () => http.drain());
  },
};

export const ADAPTERS: readonly Adapter[] = [fastifyAdapter, expressAdapter, honoAdapter];
