import type { Cache } from '../cache.js';
import { escapeSegment } from '../keys/escape.js';
import type { KeyTemplateOptions } from './key-template.js';
import { keyPlan, optionsPlan, readThrough, writePlan, writeThen, type CacheAsideOptions, type CacheOf, type InvalidationTargets } from './wrappers.js';

/**
 * The cache a decorated method uses: a cache, or a function of the instance (for static methods, of the
 * class) returning it, for classes whose instances own their cache.
 */
export type CacheSource<This> = Cache | ((self: This) => Cache);

/** A method the decorators accept: it must return a Promise (declare it `async`), as the cached version does. */
export type AsyncMethod<This, A extends unknown[], R> = (this: This, ...args: A) => Promise<R>;

/** Options of {@link invalidates}: what a successful call makes out of date, filled from its arguments. */
export interface InvalidatesOptions<A extends unknown[]> extends InvalidationTargets<A> {
  /** Names of the method's positional parameters, for named placeholders (see `KeyTemplateOptions.params`). */
  params?: KeyTemplateOptions['params'];
  /** Recorded in the invalidation log. @default `'write:<Class>.<method>'` */
  reason?: string;
}

function cacheOf<This>(source: CacheSource<This>, what: string): CacheOf {
  if (typeof source === 'function') {
    return (self) => {
      // The getter is typed against the class it decorates; `self` is that class's instance by construction.
      const cache: unknown = source(self as This);
      if (typeof cache !== 'object' || cache === null || typeof (cache as { getOrSet?: unknown }).getOrSet !== 'function') {
        throw new TypeError(`${what}: the cache getter returned ${cache === null ? 'null' : typeof cache}, not a Cache`);
      }
      return cache as Cache;
    };
  }
  if (typeof source !== 'object' || source === null || typeof (source as { getOrSet?: unknown }).getOrSet !== 'function') {
    throw new TypeError(`${what}: expects a Cache or a function (self) => Cache`);
  }
  return () => source;
}

/** `Class.method`, read from the receiver: TC39 method decorators are not told which class they decorate. */
function ownerName(self: unknown, isStatic: boolean, method: string, what: string): string {
  if (isStatic) {
    if (typeof self === 'function') return `${self.name}.${method}`;
  } else if (typeof self === 'object' && self !== null) {
    const ctor: unknown = (self as { constructor?: unknown }).constructor;
    return `${typeof ctor === 'function' ? ctor.name : 'Object'}.${method}`;
  }
  throw new TypeError(`${what} ${method}: called without its ${isStatic ? 'class' : 'instance'} as this (a detached method?)`);
}

function checkMethod(context: { kind: string }, what: string): void {
  // Guards plain-JS callers and TypeScript's legacy mode, where the decorator would get other arguments.
  if (typeof context !== 'object' || context === null || context.kind !== 'method') {
    throw new TypeError(`${what} decorates methods only (standard decorators, experimentalDecorators off)`);
  }
}

/**
 * A standard (TC39) method decorator caching the method's results through `cache.getOrSet`: concurrent
 * calls with the same arguments share one run, and every `getOrSet` option applies. The method must return
 * a Promise.
 *
 * Keys: a template (`{0}` for positional arguments, `{field}` for a field of the first argument or a
 * parameter named in `params`), a function of the arguments called with the instance as `this`, or by
 * default `<Class>.<method>:<hash of the arguments>`. The class name is read from the instance at run time,
 * so a subclass has entries of its own, and the name is whatever the build left: minifiers rename classes
 * (two classes both named `a` would share entries) and esbuild names a decorated class that refers to itself
 * `_Name`. Give `prefix` or `key` when entries are shared between programs or must survive a rebuild.
 * Instances of one class share entries: the instance is not part of the key unless `key` puts it there.
 *
 * @example
 * class UserRepository {
 *   constructor(readonly cache: Cache, private readonly db: Db) {}
 *
 *   @cached((self: UserRepository) => self.cache, { key: 'user:{0}', ttl: '5m', tags: ['users'] })
 *   async findUser(id: string): Promise<User> {
 *     return this.db.users.find(id);
 *   }
 *
 *   @invalidates((self: UserRepository) => self.cache, { keys: ['user:{0}'], patterns: ['users:list:*'] })
 *   async renameUser(id: string, name: string): Promise<void> {
 *     await this.db.users.update(id, { name });
 *   }
 * }
 */
export function cached<This = unknown, A extends unknown[] = unknown[]>(source: CacheSource<This>, options: CacheAsideOptions<A> = {}) {
  const what = '@cached';
  const cacheFor = cacheOf(source, what);
  const getOrSetOptions = optionsPlan(options, what);
  return function <T extends This, B extends A, R>(method: AsyncMethod<T, B, R>, context: ClassMethodDecoratorContext<T, AsyncMethod<T, B, R>>): AsyncMethod<T, B, R> {
    checkMethod(context, what);
    const name = String(context.name);
    const keyOf = keyPlan<B>(options.key, options, (self) => escapeSegment(ownerName(self, context.static, name, what)) + ':', false);
    return readThrough(method as (...args: B) => Promise<R>, cacheFor, keyOf, getOrSetOptions, true);
  };
}

/**
 * A standard (TC39) method decorator that, after the method resolves, invalidates the keys, patterns and tags
 * filled from its arguments. A method that throws or rejects invalidates nothing. Every template is filled
 * before the method runs, so an argument missing from a template rejects without running it.
 *
 * @example
 * class Orders {
 *   constructor(readonly cache: Cache) {}
 *
 *   @invalidates((self: Orders) => self.cache, { params: ['userId'], tags: ['orders:{userId}'], patterns: ['orders:list:{userId}:*'] })
 *   async placeOrder(userId: string, order: Order): Promise<string> {
 *     return db.orders.insert(userId, order);
 *   }
 * }
 */
export function invalidates<This = unknown, A extends unknown[] = unknown[]>(source: CacheSource<This>, options: InvalidatesOptions<A>) {
  const what = '@invalidates';
  const cacheFor = cacheOf(source, what);
  if (typeof options !== 'object' || options === null) throw new TypeError(`${what} needs { keys?, patterns?, tags? }`);
  const { params, reason, keys, patterns, tags } = options;
  if (keys === undefined && patterns === undefined && tags === undefined) throw new TypeError(`${what} needs at least one of keys, patterns or tags`);
  const targets: InvalidationTargets<A> = {
    ...(keys === undefined ? {} : { keys }),
    ...(patterns === undefined ? {} : { patterns }),
    ...(tags === undefined ? {} : { tags }),
  };
  return function <T extends This, B extends A, R>(method: AsyncMethod<T, B, R>, context: ClassMethodDecoratorContext<T, AsyncMethod<T, B, R>>): AsyncMethod<T, B, R> {
    checkMethod(context, what);
    const name = String(context.name);
    const plan = writePlan<B>(
      { invalidate: targets, ...(params === undefined ? {} : { params }), ...(reason === undefined ? {} : { reason }) },
      (self) => ownerName(self, context.static, name, what),
      what,
    );
    return writeThen(method as (...args: B) => Promise<R>, cacheFor, plan, true);
  };
}
