/**
 * Every error tiercache raises on purpose is a {@link CacheError} with a stable `code`.
 * Codes are part of the public contract: match on `code`, not on messages.
 */
export type CacheErrorCode =
  | 'E_SERIALIZATION'
  | 'E_DECODE'
  | 'E_INVALID_KEY'
  | 'E_BACKEND'
  | 'E_NOT_CONFIRMED'
  | 'E_CLOSED'
  | 'E_UNSUPPORTED'
  | 'E_LOADER_TIMEOUT'
  | 'E_INVALID_PATTERN'
  | 'E_BUS_TIMEOUT'
  | 'E_WARM_REQUEST';

const CACHE_ERROR_BRAND = Symbol.for('tiercache.CacheError');

export interface CacheErrorOptions {
  cause?: unknown;
  key?: string;
}

/** Base class of the errors tiercache raises. */
export class CacheError extends Error {
  readonly code: CacheErrorCode;
  /** The cache key the failed operation was about, when there was one. */
  readonly key: string | undefined;

  constructor(code: CacheErrorCode, message: string, options: CacheErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CacheError';
    this.code = code;
    this.key = options.key;
    // A brand survives duplicated package copies, where `instanceof` does not.
    Object.defineProperty(this, CACHE_ERROR_BRAND, { value: true });
  }
}

/** A value could not be encoded: a function, a symbol, an unregistered class, a cycle, or too large. */
export class SerializationError extends CacheError {
  /** Where in the value the problem is, as a property path such as `$.items[3].handler`. */
  readonly path: string;

  constructor(message: string, options: CacheErrorOptions & { path: string }) {
    super('E_SERIALIZATION', message, options);
    this.name = 'SerializationError';
    this.path = options.path;
  }
}

/** Stored bytes could not be decoded: truncated, corrupt, or written by an unknown extension. */
export class DecodeError extends CacheError {
  constructor(message: string, options: CacheErrorOptions = {}) {
    super('E_DECODE', message, options);
    this.name = 'DecodeError';
  }
}

/** A key is empty, too long, holds control characters (C0, DEL, C1) or a lone surrogate (not well-formed Unicode). */
export class InvalidKeyError extends CacheError {
  constructor(message: string, options: CacheErrorOptions = {}) {
    super('E_INVALID_KEY', message, options);
    this.name = 'InvalidKeyError';
  }
}

/** A store failed and the cache was told to be strict about it. */
export class CacheBackendError extends CacheError {
  /** The store that failed. */
  readonly store: string;

  constructor(message: string, options: CacheErrorOptions & { store: string }) {
    super('E_BACKEND', message, options);
    this.name = 'CacheBackendError';
    this.store = options.store;
  }
}

/** A loader ran past its `hardTimeout`: its signal was aborted and its result, if it ever comes, is dropped. */
export class LoaderTimeoutError extends CacheError {
  /** The timeout that passed, in ms. */
  readonly timeoutMs: number;

  constructor(message: string, options: CacheErrorOptions & { timeoutMs: number }) {
    super('E_LOADER_TIMEOUT', message, options);
    this.name = 'LoaderTimeoutError';
    this.timeoutMs = options.timeoutMs;
  }
}

/** A glob pattern is empty, too long, or holds control characters. */
export class InvalidPatternError extends CacheError {
  constructor(message: string, options: CacheErrorOptions = {}) {
    super('E_INVALID_PATTERN', message, options);
    this.name = 'InvalidPatternError';
  }
}

/** The bus did not answer in time: subscribing past its connect timeout, or a publish past its publish timeout. */
export class BusTimeoutError extends CacheError {
  /** The bus that did not answer. */
  readonly bus: string;
  /** The timeout that passed, in ms. */
  readonly timeoutMs: number;

  constructor(message: string, options: CacheErrorOptions & { bus: string; timeoutMs: number }) {
    super('E_BUS_TIMEOUT', message, options);
    this.name = 'BusTimeoutError';
    this.bus = options.bus;
    this.timeoutMs = options.timeoutMs;
  }
}

/**
 * A fleet warm request (`cache.requestWarm`) did not end in a report: no instance took it within the accept
 * timeout (`not_accepted`), the instance that took it refused it (`rejected`: an unknown task id, a warmer
 * that cannot select tasks), or it stopped reporting progress (`lost`: it died or lost the store).
 */
export class WarmRequestError extends CacheError {
  readonly reason: 'not_accepted' | 'rejected' | 'lost';
  /** The request's id (its progress record and lease are named after it). */
  readonly requestId: string;

  constructor(message: string, options: CacheErrorOptions & { reason: WarmRequestError['reason']; requestId: string }) {
    super('E_WARM_REQUEST', message, options);
    this.name = 'WarmRequestError';
    this.reason = options.reason;
    this.requestId = options.requestId;
  }
}

/** True for any error tiercache raised on purpose, even from another copy of the package. */
export function isCacheError(error: unknown): error is CacheError {
  return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[CACHE_ERROR_BRAND] === true;
}
