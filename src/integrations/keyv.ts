// A Keyv storage adapter over a tiercache Cache, so cache-manager 7, @nestjs/cache-manager and anything else
// built on Keyv (Apollo's KeyValueCache through Keyv) can keep their data in tiercache's tiers.
// It keeps to the part of the store contract Keyv 5 and Keyv 6 share: no iterator (a tiered cache cannot
// list its keys cheaply on every store), no hasMany (Keyv emulates it with has).
import { EventEmitter } from 'node:events';
import type { Cache } from '../cache.js';
import type { CacheEvents } from '../events.js';

/** Options of {@link TiercacheKeyv}. */
export interface TiercacheKeyvOptions {
  /**
   * Tags written with every entry, so `cache.invalidateTags([...])` drops everything stored through Keyv.
   * @default none
   */
  tags?: readonly string[];
  /**
   * Forward the cache's own `error` events (a store that failed and was skipped) to the adapter's `error`
   * event, which Keyv re-emits.
   * @default true
   */
  forwardErrors?: boolean;
}

/**
 * A Keyv store (`new Keyv({ store: new TiercacheKeyv(cache) })`) over a tiercache `Cache`. Keyv's namespace
 * becomes a tiercache namespace, so `clear()` removes that namespace only and goes through the engine (other
 * instances drop it over the bus). Without a Keyv namespace, `clear()` clears the whole `cache` given: hand
 * the adapter a namespace view (`cache.namespace('keyv')`) when the cache holds other data.
 *
 * @example
 * const keyv = new Keyv({ store: new TiercacheKeyv(cache.namespace('http')), serialize: undefined, deserialize: undefined });
 */
export class TiercacheKeyv extends EventEmitter {
  /** The options Keyv reads back (`store.opts`). */
  readonly opts: TiercacheKeyvOptions;
  /** Set by Keyv; keys come prefixed with it (`ns:key`) when Keyv's `useKeyPrefix` is on. */
  namespace: string | undefined;
  readonly #cache: Cache;
  readonly #views = new Map<string, Cache>();
  readonly #onError: ((event: CacheEvents['error']) => void) | undefined;

  constructor(cache: Cache, options: TiercacheKeyvOptions = {}) {
    super();
    if (typeof cache !== 'object' || cache === null || typeof cache.getOrSetMany !== 'function') {
      throw new TypeError('TiercacheKeyv needs a tiercache Cache');
    }
    if (options.tags !== undefined && !Array.isArray(options.tags)) throw new TypeError('TiercacheKeyv option tags must be an array of strings');
    this.opts = options;
    this.#cache = cache;
    if (options.forwardErrors !== false) {
      // An EventEmitter throws on `error` with no listener: only forward when someone (Keyv) listens.
      this.#onError = ({ error }) => {
        if (this.listenerCount('error') > 0) this.emit('error', error);
      };
      cache.on('error', this.#onError);
    }
  }

  /** The view for the current namespace and the key inside it. */
  #locate(key: string): [Cache, string] {
    const ns = this.namespace;
    if (ns === undefined || ns === '') return [this.#cache, key];
    let view = this.#views.get(ns);
    if (view === undefined) {
      view = this.#cache.namespace(ns);
      this.#views.set(ns, view);
    }
    return [view, key.startsWith(`${ns}:`) ? key.slice(ns.length + 1) : key];
  }

  #view(): Cache {
    return this.#locate('')[0];
  }

  #inner(keys: readonly string[]): string[] {
    return keys.map((key) => this.#locate(key)[1]);
  }

  async get<Value>(key: string): Promise<Value | undefined> {
    const [view, inner] = this.#locate(key);
    return view.get<Value>(inner);
  }

  async getMany<Value>(keys: string[]): Promise<(Value | undefined)[]> {
    return this.#view().getMany<Value>(this.#inner(keys));
  }

  /** `ttl` in ms from Keyv; `undefined` (or 0, which Keyv means as "no TTL") takes the cache's default TTL. */
  async set(key: string, value: unknown, ttl?: number): Promise<boolean> {
    const [view, inner] = this.#locate(key);
    return view.set(inner, value, this.#setOptions(ttl));
  }

  async setMany(entries: { key: string; value: unknown; ttl?: number }[]): Promise<void> {
    const view = this.#view();
    await view.setMany(entries.map((entry) => ({ key: this.#locate(entry.key)[1], value: entry.value, ...this.#setOptions(entry.ttl) })));
  }

  async has(key: string): Promise<boolean> {
    const [view, inner] = this.#locate(key);
    return view.has(inner);
  }

  async delete(key: string): Promise<boolean> {
    const [view, inner] = this.#locate(key);
    return view.delete(inner);
  }

  /** True when at least one of the keys was live. */
  async deleteMany(keys: string[]): Promise<boolean> {
    return (await this.#view().deleteMany(this.#inner(keys))) > 0;
  }

  async clear(): Promise<void> {
    await this.#view().clear({ confirm: true });
  }

  /** Stops forwarding errors. The cache stays open: its owner closes it. */
  async disconnect(): Promise<void> {
    if (this.#onError !== undefined) this.#cache.off('error', this.#onError);
    return Promise.resolve();
  }

  #setOptions(ttl: number | undefined): { ttl?: number; tags?: readonly string[] } {
    const options: { ttl?: number; tags?: readonly string[] } = {};
    if (typeof ttl === 'number' && ttl > 0) options.ttl = ttl;
    if (this.opts.tags !== undefined) options.tags = this.opts.tags;
    return options;
  }
}

/**
 * Shorthand for `new TiercacheKeyv(cache, options)`.
 *
 * @example
 * const cacheManager = createCache({ stores: [new Keyv({ store: createKeyvStore(cache) })] });
 */
export function createKeyvStore(cache: Cache, options?: TiercacheKeyvOptions): TiercacheKeyv {
  return new TiercacheKeyv(cache, options);
}
