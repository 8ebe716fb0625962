// `tiercache/fastify`: a Fastify plugin over the HTTP core. Routes opt in through their `config`
// (`config: { httpCache: {...} }`, `config: { httpInvalidate: {...} }`); the plugin's hooks do the rest:
// `onRequest` serves hits (the handler never runs), `onSend` captures what the handler produced.
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { HttpCache, type Captured, type Decision, type Dispatch, type RequestView } from './core.js';
import { linesOf, type HeaderLine } from './headers.js';
import type { HttpCacheOptions, InvalidateAfterOptions, ResolvedInvalidate, ResolvedRoute, RouteCacheOptions } from './options.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Cache this route's GET/HEAD responses (`true`: the plugin's defaults). */
    httpCache?: RouteCacheOptions<FastifyRequest> | boolean;
    /** Invalidate these once the route answered 2xx, before the response is sent. */
    httpInvalidate?: InvalidateAfterOptions<FastifyRequest>;
  }
  interface FastifyInstance {
    /** The HTTP cache the tiercache plugin registered (for `drain()`, `pathPattern()`). */
    httpCache: HttpCache<FastifyRequest>;
  }
}

/** What the Fastify plugin takes besides the HTTP cache's options. */
export interface FastifyHttpCacheExtras {
  /** Cache every GET route with the defaults unless its config says `httpCache: false`. @default false */
  cacheAll?: boolean;
}

/** The plugin's options: the HTTP cache's, and `cacheAll`. */
export type FastifyHttpCacheOptions = HttpCacheOptions<FastifyRequest> & FastifyHttpCacheExtras;

type Lead = Extract<Decision, { kind: 'lead' }>;
const requests = new WeakMap<FastifyRequest, Lead>();

function viewOf(request: FastifyRequest): RequestView {
  const url = request.url;
  const q = url.indexOf('?');
  const raw = request.headers;
  const header = (name: string): string | undefined => {
    const value = raw[name];
    return Array.isArray(value) ? value.join(', ') : value;
  };
  return {
    method: request.method,
    path: q === -1 ? url : url.slice(0, q),
    search: q === -1 ? '' : url.slice(q + 1),
    header,
    headers: () => {
      const out: Record<string, string> = {};
      for (const name of Object.keys(raw)) {
        const value = header(name);
        if (value !== undefined) out[name] = value;
      }
      return out;
    },
  };
}

function setHeaders(reply: FastifyReply, lines: readonly HeaderLine[]): void {
  const joined = new Map<string, string>();
  for (const [name, value] of lines) joined.set(name, joined.has(name) ? `${joined.get(name) as string}, ${value}` : value);
  for (const [name, value] of joined) reply.header(name, value);
}

function asBytes(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/** The payload as bytes when it fits in `limit` (a stream is read up to it), and the payload to send on. */
async function bytesOf(payload: unknown, limit: number): Promise<{ body: Uint8Array | undefined; payload: unknown }> {
  if (payload === null || payload === undefined) return { body: new Uint8Array(0), payload };
  if (typeof payload === 'string') {
    const bytes = Buffer.from(payload);
    return { body: bytes.byteLength <= limit ? asBytes(bytes) : undefined, payload };
  }
  if (payload instanceof Uint8Array) return { body: payload.byteLength <= limit ? payload : undefined, payload };
  if (payload instanceof Readable) {
    const chunks: Buffer[] = [];
    let size = 0;
    const iterator = payload[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
    for (;;) {
      const next = await iterator.next();
      if (next.done === true) break;
      const chunk = typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
      chunks.push(chunk);
      size += chunk.byteLength;
      if (size > limit) {
        // Past the limit: send what was read, then the rest of the stream, uncached.
        const rest = { [Symbol.asyncIterator]: () => iterator };
        return {
          body: undefined,
          payload: Readable.from(
            (async function* () {
              yield* chunks;
              yield* rest;
            })(),
          ),
        };
      }
    }
    const body = Buffer.concat(chunks);
    return { body: asBytes(body), payload: body };
  }
  // A web stream or a Response: sent as it is, never cached.
  return { body: undefined, payload };
}

function dispatchFor(request: FastifyRequest, limit: number): Dispatch {
  const server = request.server;
  const url = request.url;
  return async (headers) => {
    const response = await server.inject({ method: 'GET', url, headers });
    const payload = response.rawPayload;
    return {
      status: response.statusCode,
      headers: linesOf(response.headers),
      body: payload.byteLength <= limit ? asBytes(payload) : undefined,
    } satisfies Captured;
  };
}

function setup(fastify: FastifyInstance, options: FastifyHttpCacheOptions): void {
  const { cacheAll = false, ...rest } = options;
  if (typeof cacheAll !== 'boolean') throw new TypeError(`tiercache/fastify.cacheAll must be a boolean, got ${typeof cacheAll}`);
  const core = new HttpCache<FastifyRequest>(rest, 'tiercache/fastify');
  fastify.decorate('httpCache', core);

  const routes = new WeakMap<object, ResolvedRoute<FastifyRequest>>();
  const invalidations = new WeakMap<object, ResolvedInvalidate<FastifyRequest>>();
  const routeOf = (config: RouteCacheOptions<FastifyRequest> | boolean | undefined, where: string): ResolvedRoute<FastifyRequest> | undefined => {
    if (config === false || (config === undefined && !cacheAll)) return undefined;
    if (config === true || config === undefined) return core.defaults;
    let resolved = routes.get(config);
    if (resolved === undefined) {
      resolved = core.route(config, where);
      routes.set(config, resolved);
    }
    return resolved;
  };
  const invalidationOf = (config: InvalidateAfterOptions<FastifyRequest> | undefined, where: string): ResolvedInvalidate<FastifyRequest> | undefined => {
    if (config === undefined) return undefined;
    let resolved = invalidations.get(config);
    if (resolved === undefined) {
      resolved = core.invalidation(config, where);
      invalidations.set(config, resolved);
    }
    return resolved;
  };

  // Checked when the route is declared, so a bad option fails at startup rather than on the first request.
  fastify.addHook('onRoute', (route: RouteOptions) => {
    const where = `route ${String(route.method)} ${route.url} config`;
    routeOf(route.config?.httpCache, `${where}.httpCache`);
    invalidationOf(route.config?.httpInvalidate, `${where}.httpInvalidate`);
  });

  fastify.addHook('onRequest', async (request, reply) => {
    const route = routeOf(request.routeOptions.config.httpCache, 'httpCache');
    if (route === undefined) return;
    const decision = await core.handle(viewOf(request), request, route, dispatchFor(request, core.maxBodyBytes));
    switch (decision.kind) {
      case 'serve':
        reply.code(decision.status);
        setHeaders(reply, decision.headers);
        // No payload at all for a 304: `send(null)` would be serialized as the JSON text `null`.
        return decision.body === undefined ? reply.send() : reply.send(Buffer.from(decision.body.buffer, decision.body.byteOffset, decision.body.byteLength));
      case 'pass':
        setHeaders(reply, decision.headers);
        return;
      case 'lead':
        requests.set(request, decision);
        reply.raw.once('close', () => decision.fail(new Error('the response closed before it was sent')));
    }
  });

  fastify.addHook('onSend', async (request, reply, payload) => {
    const invalidation = invalidationOf(request.routeOptions.config.httpInvalidate, 'httpInvalidate');
    if (invalidation !== undefined) await core.invalidateAfter(reply.statusCode, request, invalidation);
    const lead = requests.get(request);
    if (lead === undefined) return payload;
    requests.delete(request);
    const read = await bytesOf(payload, core.maxBodyBytes);
    const finish = await lead.finish({ status: reply.statusCode, headers: linesOf(reply.getHeaders()), body: read.body });
    setHeaders(reply, finish.headers);
    if (!finish.notModified) return read.payload;
    reply.code(304);
    for (const name of ['content-type', 'content-length', 'content-encoding', 'content-range']) reply.removeHeader(name);
    return null;
  });

  fastify.addHook('onClose', async () => {
    await core.drain();
  });
}

const plugin: FastifyPluginAsync<FastifyHttpCacheOptions> = (fastify, options) => {
  try {
    setup(fastify, options);
    return Promise.resolve();
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new TypeError(String(error)));
  }
};

// What fastify-plugin does: the hooks apply to the scope that registers the plugin, not to a child scope.
Object.assign(plugin, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'tiercache-http' });

/**
 * The Fastify plugin. Register it, then mark routes with `config.httpCache` (and write routes with
 * `config.httpInvalidate`).
 *
 * @example
 * await app.register(fastifyHttpCache, { cache, ttl: '1m', grace: '10m' });
 * app.get('/forecasts/:id', { config: { httpCache: { tags: (req) => [`forecast:${(req.params as { id: string }).id}`] } } }, handler);
 * app.put('/forecasts/:id', { config: { httpInvalidate: { paths: (req) => [req.url] } } }, update);
 */
export const fastifyHttpCache = plugin;
export default plugin;

export type { HttpCacheOptions, InvalidateAfterOptions, RouteCacheOptions } from './options.js';
