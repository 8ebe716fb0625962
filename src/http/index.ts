// `tiercache/http`: the framework-free HTTP response cache the Fastify, Express and Hono adapters share.
export { HttpCache, REFRESH_HEADER, type Captured, type Decision, type Dispatch, type Finish, type RequestView } from './core.js';
export { etagOf, notModified, parseCacheControl, type Directives, type HeaderLine } from './headers.js';
export { DEFAULT_MAX_BODY_BYTES, type HttpCacheOptions, type HttpCacheSetup, type InvalidateAfterOptions, type PerRequest, type ResolvedInvalidate, type ResolvedRoute, type RouteCacheOptions } from './options.js';
