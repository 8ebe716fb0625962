import type { InvalidationEvent } from './freshness/invalidation-event.js';

/** The payload of each event `Cache#on` can listen to. */
export interface CacheEvents {
  hit: { key: string; tier: string };
  miss: { key: string };
  set: { key: string; tier: string };
  delete: { key: string };
  /** An entry was pushed out to respect the tier's bounds. */
  evict: { key: string; tier: string };
  /** An entry reached its deadline and was removed. */
  expire: { key: string; tier: string };
  /** Another instance's invalidation arrived over the bus and was applied to the memory tier. */
  remote: { origin: string; type: 'keys' | 'clear' | 'namespace' | 'pattern' | 'tags'; keys?: readonly string[] };
  /**
   * The bus may have missed invalidations (a gap in another instance's sequence numbers, a lost
   * subscription, or this instance's publishes failing until the breaker opened): the memory tier was emptied
   * so nothing stale is served.
   */
  recover: { reason: 'gap' | 'reconnect' | 'publish' | 'tracking'; dropped: number; origin?: string };
  /**
   * A message from the bus was refused before anything ran: malformed, oversized, or naming keys, tags or a
   * pattern that are not valid. `origin` is the sender it claims, when that much could be read.
   */
  dropped: { reason: string; origin?: string };
  /**
   * This instance invalidated something (keys, a pattern, tags, a clear): the event as the invalidation log
   * records it (`getInvalidationEvents`). Invalidations of other instances arrive as `remote`.
   */
  invalidate: InvalidationEvent;
  /** Something failed that the caller was not told about by a rejection (a listener, a background task). */
  error: { error: unknown; operation: string; key?: string };
}

export type CacheEventName = keyof CacheEvents;
export type CacheListener<E extends CacheEventName> = (payload: CacheEvents[E]) => void;

type ListenerTable = { [E in CacheEventName]: CacheListener<E>[] | undefined };

/**
 * A typed emitter whose "is anybody listening?" check is one property read, so the hot path builds no
 * payload and calls nothing when there is no listener.
 */
export class Emitter {
  readonly listeners: ListenerTable = {
    hit: undefined,
    miss: undefined,
    set: undefined,
    delete: undefined,
    evict: undefined,
    expire: undefined,
    remote: undefined,
    recover: undefined,
    dropped: undefined,
    invalidate: undefined,
    error: undefined,
  };

  on<E extends CacheEventName>(name: E, listener: CacheListener<E>): void {
    if (!Object.hasOwn(this.listeners, name)) throw new TypeError(`unknown cache event ${JSON.stringify(name)}`);
    if (typeof listener !== 'function') throw new TypeError(`listener for ${name} must be a function`);
    const list = (this.listeners[name] ?? []);
    // Copy on write: an emit in progress keeps iterating the array it started with.
    (this.listeners as Record<E, CacheListener<E>[] | undefined>)[name] = [...list, listener];
  }

  off<E extends CacheEventName>(name: E, listener: CacheListener<E>): void {
    const list = this.listeners[name];
    if (list === undefined) return;
    const next = list.filter((l) => l !== listener);
    (this.listeners as Record<E, CacheListener<E>[] | undefined>)[name] = next.length === 0 ? undefined : next;
  }

  /** Calls the listeners of `name`. A listener that throws is reported on `error`, never to the cache caller. */
  emit<E extends CacheEventName>(name: E, payload: CacheEvents[E]): void {
    const list = this.listeners[name];
    if (list === undefined) return;
    for (const listener of list) {
      try {
        listener(payload);
      } catch (error) {
        if (name === 'error') {
          process.emitWarning(`tiercache: an 'error' listener threw: ${String(error)}`);
        } else {
          this.emit('error', { error, operation: `${name} listener` });
        }
      }
    }
  }

  reportError(error: unknown, operation: string, key?: string): void {
    if (this.listeners.error === undefined) return;
    this.emit('error', key === undefined ? { error, operation } : { error, operation, key });
  }
}
