import { tracingChannel, type TracingChannel } from 'node:diagnostics_channel';

/** What a `tiercache:load` span carries: one loader run of `getOrSet` (or one batch of `getOrSetMany`). */
export interface LoadTrace {
  /** The cache's `name`: the channel is process-wide, this tells the caches apart. */
  cache: string;
  /** The full key (namespace included); for a batch, the keys joined by `,`. */
  key: string;
  /** `'getOrSet'` or `'getOrSetMany'`. */
  operation: string;
  /** Set by the channel: the loader's value, or its error. */
  result?: unknown;
  error?: unknown;
}

/** What a `tiercache:store` span carries: one call to a store, under its timeout and breaker. */
export interface StoreTrace {
  /** The cache's `name`: the channel is process-wide, this tells the caches apart. */
  cache: string;
  /** The store's name (`'redis'`, `'sqlite'`...). */
  store: string;
  /** `get`, `set`, `delete`, `getMany`, `setMany`, `deleteMany`, `add`, `replaceIf`, `keys`, `deletePrefix`... */
  operation: string;
  /** The full key, when the call is about one. */
  key: string | undefined;
  result?: unknown;
  error?: unknown;
}

/**
 * Tracing channels (`node:diagnostics_channel`) that APMs and OpenTelemetry instrumentations can subscribe to
 * without tiercache depending on them: `tiercache:load` around every loader run and `tiercache:store` around
 * every store call (`tracing:tiercache:load:start`, `...:asyncEnd`, `...:error`, as `TracingChannel` names
 * them). With no subscriber, a traced call costs one property read; memory-tier hits are never traced.
 *
 * @example
 * import { tracingChannel } from 'node:diagnostics_channel';
 * tracingChannel('tiercache:load').subscribe({ start: (c) => spans.start(c), asyncEnd: (c) => spans.end(c), error: (c) => spans.fail(c) });
 */
export const TRACE_CHANNELS = Object.freeze({
  load: 'tiercache:load',
  store: 'tiercache:store',
});

const load: TracingChannel<unknown, LoadTrace> = tracingChannel(TRACE_CHANNELS.load);
const store: TracingChannel<unknown, StoreTrace> = tracingChannel(TRACE_CHANNELS.store);

/** Runs a loader call, traced when someone listens to `tiercache:load`. */
export function traceLoad<T>(cache: string, key: string, operation: string, run: () => Promise<T>): Promise<T> {
  if (!load.hasSubscribers) return run();
  return load.tracePromise(run, { cache, key, operation });
}

/** True when someone listens to `tiercache:store` (so a caller can skip building the closure `traceStore` takes). */
export function storeTraced(): boolean {
  return store.hasSubscribers;
}

/** Runs a store call, traced when someone listens to `tiercache:store`. */
export function traceStore<T>(cache: string, storeName: string, operation: string, key: string | undefined, run: () => Promise<T>): Promise<T> {
  if (!store.hasSubscribers) return run();
  return store.tracePromise(run, { cache, store: storeName, operation, key });
}
