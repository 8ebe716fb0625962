// `tiercache/hono`: route middleware over the HTTP core for Hono on Node (@hono/node-server). A hit is a
// Response returned without calling `next()`; a miss reads `c.res` after `await next()`.
import type { Context, MiddlewareHandler } from 'hono';
import { HttpCache, type Captured, type Dispatch, type RequestView } from './core.js';
import type { HeaderLine } from './headers.js';
import type { HttpCacheOptions, InvalidateAfterOptions, RouteCacheOptions } from './options.js';

/** Anything with Hono's `fetch`: the app itself. */
export interface FetchApp {
  fetch(request: Request): Response | Promise<Response>;
}

/** What the Hono middleware takes besides the HTTP cache's options. */
export interface HonoHttpCacheExtras {
  /**
   * The app, for stale-while-revalidate: a background refresh is an internal `app.fetch()` of the same request.
   * Needed when a route has `grace` (Hono's context does not lead back to its app).
   * @default none
   */
  app?: FetchApp;
}

/** The options of {@link honoCache}: the HTTP cache's, and `app`. */
export type HonoHttpCacheOptions = HttpCacheOptions<Context> & HonoHttpCacheExtras;

/** The middleware factories of one HTTP cache for Hono. */
export interface HonoHttpCache {
  /** Middleware that caches the GET/HEAD responses of the routes it is put in front of. */
  cache(options?: RouteCacheOptions<Context>): MiddlewareHandler;
  /** Middleware that invalidates tags, paths or patterns once the handler answered 2xx (before it is sent). */
  invalidate(options: InvalidateAfterOptions<Context>): MiddlewareHandler;
  /** Resolves when every background refresh started so far has settled. */
  drain(): Promise<void>;
  readonly core: HttpCache<Context>;
}

/** Statuses whose Response must have a null body. */
const NULL_BODY = new Set([101, 204, 205, 304]);

function viewOf(c: Context): RequestView {
  const raw = c.req.raw;
  const url = new URL(raw.url);
  return {
    method: raw.method,
    path: url.pathname,
    search: url.search.slice(1),
    header: (name) => raw.headers.get(name) ?? undefined,
    headers: () => Object.fromEntries(raw.headers),
  };
}

function linesOf(headers: Headers): HeaderLine[] {
  const lines: HeaderLine[] = [];
  for (const [name, value] of headers) lines.push([name, value]);
  return lines;
}

/** The body as bytes when it fits in `limit`, and a body to send on (the part read, then the rest of the stream). */
async function readBody(response: Response, limit: number): Promise<{ body: Uint8Array | undefined; stream: ReadableStream<Uint8Array> | Uint8Array | null }> {
  if (response.body === null) return { body: new Uint8Array(0), stream: null };
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const next = await reader.read();
    if (next.done) break;
    chunks.push(next.value);
    size += next.value.byteLength;
    if (size > limit) {
      const read = chunks.splice(0);
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          for (const chunk of read) controller.enqueue(chunk);
        },
        async pull(controller) {
          const more = await reader.read();
          if (more.done) controller.close();
          else controller.enqueue(more.value);
        },
        cancel: (reason) => reader.cancel(reason),
      });
      return { body: undefined, stream };
    }
  }
  const body = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    body.set(chunk, at);
    at += chunk.byteLength;
  }
  return { body, stream: body };
}

function response(status: number, lines: readonly HeaderLine[], body: ConstructorParameters<typeof Response>[0]): Response {
  const headers = new Headers();
  for (const [name, value] of lines) headers.append(name, value);
  return new Response(NULL_BODY.has(status) ? null : body, { status, headers });
}

function dispatchFor(app: FetchApp | undefined, c: Context, limit: number): Dispatch | undefined {
  if (app === undefined) return undefined;
  const url = c.req.raw.url;
  return async (headers) => {
    const answered = await app.fetch(new Request(url, { headers }));
    const read = await readBody(answered, limit);
    return { status: answered.status, headers: linesOf(answered.headers), body: read.body } satisfies Captured;
  };
}

/**
 * An HTTP response cache for Hono 4 on Node.
 *
 * @example
 * const app = new Hono();
 * const http = honoCache({ cache, app, ttl: '1m', grace: '10m' });
 * app.get('/forecasts/:id', http.cache({ tags: (c) => [`forecast:${c.req.param('id')}`] }), handler);
 * app.put('/forecasts/:id', http.invalidate({ tags: (c) => [`forecast:${c.req.param('id')}`] }), update);
 */
export function honoCache(options: HonoHttpCacheOptions): HonoHttpCache {
  const { app, ...rest } = options;
  if (app !== undefined && (typeof app !== 'object' || app === null || typeof app.fetch !== 'function')) {
    throw new TypeError('honoCache.app must be the Hono app (an object with fetch(request))');
  }
  const core = new HttpCache<Context>(rest, 'honoCache');
  const needsApp = (grace: unknown, where: string) => {
    if (app === undefined && grace !== undefined && grace !== 0 && grace !== '0s') {
      throw new TypeError(`${where}.grace needs honoCache.app: a background refresh is an internal app.fetch()`);
    }
  };
  needsApp(core.defaults.grace, 'honoCache');
  return {
    core,
    drain: () => core.drain(),
    cache(routeOptions = {}) {
      const route = core.route(routeOptions, 'honoCache route');
      needsApp(route.grace, 'honoCache route');
      return async (c, next) => {
        const decision = await core.handle(viewOf(c), c, route, dispatchFor(app, c, core.maxBodyBytes));
        switch (decision.kind) {
          case 'serve':
            return response(decision.status, decision.headers, decision.body === undefined ? null : (decision.body as Uint8Array<ArrayBuffer>));
          case 'pass':
            await next();
            for (const [name, value] of decision.headers) c.header(name, value);
            return;
          case 'lead': {
            try {
              await next();
            } catch (error) {
              decision.fail(error);
              throw error;
            }
            const answered = c.res;
            const read = await readBody(answered, core.maxBodyBytes);
            const finish = await decision.finish({ status: answered.status, headers: linesOf(answered.headers), body: read.body });
            const lines = [...linesOf(answered.headers).filter(([name]) => !finish.headers.some(([added]) => added === name)), ...finish.headers];
            // Cleared first: assigning over an existing c.res would merge the old headers back in.
            c.res = undefined;
            c.res = finish.notModified
              ? response(304, lines.filter(([name]) => !name.startsWith('content-')), null)
              : response(answered.status, lines, read.stream as ConstructorParameters<typeof Response>[0]);
            return;
          }
        }
      };
    },
    invalidate(invalidateOptions) {
      const invalidation = core.invalidation(invalidateOptions, 'honoCache invalidate');
      return async (c, next) => {
        await next();
        await core.invalidateAfter(c.res.status, c, invalidation);
      };
    },
  };
}

export type { HttpCacheOptions, InvalidateAfterOptions, RouteCacheOptions } from './options.js';
