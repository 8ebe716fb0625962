// `tiercache/express`: route middleware over the HTTP core. `cache()` goes in front of a GET route's handler
// (route-level, so `req.params` is known to the options' functions), `invalidate()` in front of a write route.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { HttpCache, type Dispatch, type RequestView } from './core.js';
import type { HttpCacheOptions, InvalidateAfterOptions, RouteCacheOptions } from './options.js';
import { dispatchInProcess, holdResponse } from './node-capture.js';

/** The middleware factories of one HTTP cache for Express. */
export interface ExpressHttpCache {
  /** Middleware that caches the GET/HEAD responses of the route it is put in front of. */
  cache(options?: RouteCacheOptions<Request>): RequestHandler;
  /** Middleware that invalidates tags, paths or patterns once the route's handler answered 2xx (before it is sent). */
  invalidate(options: InvalidateAfterOptions<Request>): RequestHandler;
  /** Resolves when every background refresh started so far has settled. */
  drain(): Promise<void>;
  /** The framework-free core. */
  readonly core: HttpCache<Request>;
}

function flatHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** A view over a snapshot of the headers: the leader's conditional headers are removed from `req` afterwards. */
function viewOf(req: Request): RequestView {
  const headers = flatHeaders(req.headers);
  const url = req.originalUrl;
  const q = url.indexOf('?');
  return {
    method: req.method,
    path: q === -1 ? url : url.slice(0, q),
    search: q === -1 ? '' : url.slice(q + 1),
    header: (name) => headers[name],
    headers: () => ({ ...headers }),
  };
}

/** What Express's `app.handle` is (undocumented in its types, stable since Express 3). */
interface Handling {
  parent?: Handling;
  handle(req: IncomingMessage, res: ServerResponse, done: (error?: unknown) => void): void;
}

/** The top app: a mounted sub-app sees URLs without its mount path, `originalUrl` is the whole one. */
function rootApp(req: Request): Handling {
  let app = req.app as unknown as Handling;
  while (app.parent !== undefined) app = app.parent;
  return app;
}

function dispatchFor(req: Request): Dispatch {
  const app = rootApp(req);
  const url = req.originalUrl;
  return (headers) => dispatchInProcess(url, headers, (r, s, done) => app.handle(r, s, done));
}

/**
 * An HTTP response cache for Express 4 and 5.
 *
 * @example
 * const http = expressCache({ cache, ttl: '1m', grace: '10m' });
 * app.get('/forecasts/:id', http.cache({ tags: (req) => [`forecast:${req.params.id}`] }), handler);
 * app.put('/forecasts/:id', http.invalidate({ tags: (req) => [`forecast:${req.params.id}`] }), update);
 */
export function expressCache(options: HttpCacheOptions<Request>): ExpressHttpCache {
  const core = new HttpCache<Request>(options, 'expressCache');
  return {
    core,
    drain: () => core.drain(),
    cache(routeOptions = {}) {
      const route = core.route(routeOptions, 'expressCache route');
      return (req: Request, res: Response, next: NextFunction) => {
        const view = viewOf(req);
        core.handle(view, req, route, dispatchFor(req)).then(
          (decision) => {
            switch (decision.kind) {
              case 'serve':
                res.status(decision.status);
                for (const [name, value] of decision.headers) res.append(name, value);
                res.end(decision.body === undefined ? undefined : Buffer.from(decision.body.buffer, decision.body.byteOffset, decision.body.byteLength));
                return;
              case 'pass':
                for (const [name, value] of decision.headers) res.setHeader(name, value);
                next();
                return;
              case 'lead':
                // The core answers conditional requests itself, from the complete response.
                delete req.headers['if-none-match'];
                delete req.headers['if-modified-since'];
                res.once('close', () => decision.fail(new Error('the response closed before it ended')));
                // finish only fails on a bug; the response then goes out as the handler made it.
                holdResponse(res, core.maxBodyBytes, (captured) => decision.finish(captured), () => undefined);
                next();
            }
          },
          (error: unknown) => next(error),
        );
      };
    },
    invalidate(invalidateOptions) {
      const invalidation = core.invalidation(invalidateOptions, 'expressCache invalidate');
      return (req: Request, res: Response, next: NextFunction) => {
        // eslint-disable-next-line @typescript-eslint/unbound-method -- called back with apply(this, …)
        const end = res.end;
        // Held at `end`, so a client that reads this response and asks again finds the entries gone.
        res.end = function held(this: Response, ...args: unknown[]) {
          res.end = end;
          core.invalidateAfter(res.statusCode, req, invalidation).then(
            () => end.apply(this, args as Parameters<Response['end']>),
            (error: unknown) => {
              if (res.headersSent) res.destroy(error instanceof Error ? error : new Error(String(error)));
              else next(error);
            },
          );
          return this;
        } as Response['end'];
        next();
      };
    },
  };
}

export type { HttpCacheOptions, InvalidateAfterOptions, RouteCacheOptions } from './options.js';
