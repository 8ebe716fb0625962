import { createHash, randomBytes } from 'node:crypto';
import memjs from 'memjs';
import type { Client as MemjsClient, Response as MemjsResponse } from 'memjs';
import { CacheBackendError } from '../errors.js';
import { assertStoreKey, assertStoreKeys } from '../keys/validate.js';
import { parseDuration } from '../ttl.js';
import { UNREADABLE, type BaseStoreOptions, type Store, type StoreCapabilities, type StoreContext, type StoreWrite } from './contract.js';
import { StoreTime } from './store-time.js';

/** A memjs client that moves raw bytes (the default serializer). */
export type MemcachedClient = MemjsClient<string | Buffer, Buffer | null>;

export interface MemcachedStoreOptions extends BaseStoreOptions {
  /** `host:port`, `user:pass@host:port`, or a list of them. Ignored when `client` is given. @default '127.0.0.1:11211' */
  servers?: string | readonly string[];
  /**
   * A memjs client you own, with the default (pass-through) serializer. `close()` leaves it open. Its own
   * retry and timeout settings still apply underneath this store's `timeout`.
   */
  client?: MemcachedClient;
  /** Put before every key; separates the applications (and caches) sharing the servers. @default 'tiercache:' */
  prefix?: string;
  /** @default 'memcached' */
  name?: string;
  /** Longest an operation may take, connecting included, before it fails: ms or a duration. @default 1000 */
  timeout?: number | string;
  /**
   * Largest value accepted. Memcached's limit (`-I`, 1 MiB by default) is on the whole item: keep this about
   * 1 KiB below it for the item header, the key and this store's 9-byte header. @default 1 MiB - 1 KiB
   */
  maxValueBytes?: number;
}

/** Memcached reads an expiry above 30 days as an absolute Unix time, and at most this as a relative one. */
export const MEMCACHED_MAX_RELATIVE_EXPIRY_S = 2_592_000;
const MAX_KEY_BYTES = 250;
const DEFAULT_MAX_VALUE_BYTES = 1024 * 1024 - 1024;
const FORMAT_VERSION = 1;
const HEADER_BYTES = 9;
/** 72 random bits: a generation chosen again after an eviction must not meet an old one still holding entries. */
const GENERATION_BYTES = 9;
const GENERATION = /^[A-Za-z0-9_-]{1,64}$/;
const HASHED_KEY_CHARS = 43;
/** Printable ASCII without space: what the text protocol (and other clients sharing the server) can carry. */
const PLAIN_KEY = /^[\x21-\x7e]*$/;
const OPCODE_GET = 0x00;
const OPCODE_SET = 0x01;
const STATUS_OK = 0x00;
const STATUS_NOT_FOUND = 0x01;
const STATUS_EXISTS = 0x02;

/**
 * The exptime to send for `expiresAt`, or `undefined` when the deadline has passed (delete instead).
 *
 * Memcached's clock ticks once a second and an item expires when that clock reaches its exptime, so a
 * 1-second TTL can end after only a few hundred ms. One second is added to the rounded-up remaining time so the
 * server never drops an entry before its deadline; reads check the exact deadline (kept in the value header),
 * so the extra second only delays when memory is reclaimed. Beyond 30 days the protocol wants an absolute Unix
 * time, taken from the wall clock (the server is assumed to agree with it); past 2106 nothing fits in 32 bits
 * and 0 ("no expiry", LRU eviction only) is sent.
 *
 * @example
 * memcachedExpiration(now + 1_500, now); // 3: rounded up, plus one second
 * memcachedExpiration(now - 1, now); // undefined: delete instead
 */
export function memcachedExpiration(expiresAt: number, now: number, wallClockMs: number = Date.now()): number | undefined {
  if (Number.isNaN(expiresAt) || expiresAt <= now) return undefined;
  const seconds = Math.ceil((expiresAt - now) / 1000) + 1;
  if (seconds <= MEMCACHED_MAX_RELATIVE_EXPIRY_S) return seconds;
  const absolute = Math.ceil(wallClockMs / 1000) + seconds;
  return Number.isFinite(absolute) && absolute <= 0xffff_ffff ? absolute : 0;
}

function describeKey(key: string): string {
  return JSON.stringify(key.length > 80 ? `${key.slice(0, 80)}…` : key);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * A store on Memcached (through memjs, the binary protocol).
 *
 * Prefixes: memcached cannot list or delete by prefix, so every key is `prefix + generation + ':' + key`
 * with the generation kept at `prefix + '__ns'`. `clear()` writes a new random generation: O(1), and the old
 * generation's entries become unreachable and expire (or are evicted) on their own. A random token rather
 * than a counter because an evicted or restarted counter would start again at a value whose old entries may
 * still be there; memjs's `increment` also carries only 32 bits.
 *
 * Every operation reads the generation in the same round trip as its own request (both are pipelined on one
 * connection) and redoes the request under the new generation when it changed. So a `clear()` by another
 * process is seen by the very next operation here: in particular a `delete` (an invalidation) always reaches
 * the current generation. The price is one extra small request per operation (per batch for the `*Many`
 * calls), not an extra round trip. With several servers the generation lives on one of them (memjs hashes
 * keys to servers): while that one is down, every operation under the prefix fails rather than risk serving
 * entries a clear() elsewhere had removed.
 *
 * Keys longer than memcached's 250 bytes, or holding spaces, control or non-ASCII characters, are replaced by
 * `'#' + base64url(sha256(key))` (SHA-256 rather than SHA-1: chosen-prefix SHA-1 collisions are practical,
 * and keys are often built from user input); the separator (`#` vs `:`) keeps a hashed key from ever
 * equalling a plain one.
 *
 * Each value carries a 9-byte header (format version, exact deadline), so a `get` never returns an entry
 * after its deadline despite memcached's one-second resolution.
 *
 * @example
 * const cache = new Cache({ stores: [memcachedStore({ servers: ['10.0.0.5:11211', '10.0.0.6:11211'], prefix: 'myapp:' })] });
 */
export function memcachedStore(options: MemcachedStoreOptions = {}): MemcachedStore {
  return new MemcachedStoreImpl(options);
}

/** A {@link Store} with the optional methods memcached supports present (it cannot list keys). */
export type MemcachedStore = Store & Required<Pick<Store, 'getMany' | 'setMany' | 'deleteMany' | 'add'>>;

class MemcachedStoreImpl implements MemcachedStore {
  readonly name: string;
  readonly capabilities: StoreCapabilities;
  readonly #client: MemcachedClient;
  readonly #ownsClient: boolean;
  readonly #prefix: string;
  readonly #generationKey: string;
  readonly #clock: StoreTime;
  readonly #timeoutMs: number;
  readonly #maxPlainKeyChars: number;
  #generation: string | undefined;
  #loading: Promise<string> | undefined;
  #closed = false;

  constructor(options: MemcachedStoreOptions) {
    this.name = options.name ?? 'memcached';
    this.#prefix = options.prefix ?? 'tiercache:';
    this.#clock = new StoreTime(options.clock);
    const overhead = GENERATION_BYTES * (4 / 3) + 1;
    if (!PLAIN_KEY.test(this.#prefix) || this.#prefix.length + overhead + HASHED_KEY_CHARS > MAX_KEY_BYTES) {
      throw new TypeError(
        `${this.name}: prefix must be printable ASCII without spaces and at most ${MAX_KEY_BYTES - overhead - HASHED_KEY_CHARS} characters, got ${describeKey(this.#prefix)}`,
      );
    }
    this.#generationKey = `${this.#prefix}__ns`;
    this.#maxPlainKeyChars = MAX_KEY_BYTES - this.#prefix.length - overhead;
    try {
      this.#timeoutMs = parseDuration(options.timeout ?? 1000, 'timeout');
    } catch (error) {
      throw new TypeError(`${this.name}: ${messageOf(error)}`, { cause: error });
    }
    if (this.#timeoutMs <= 0) throw new TypeError(`${this.name}: timeout must be more than 0 ms`);
    const maxValueBytes = options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES;
    if (!Number.isSafeInteger(maxValueBytes) || maxValueBytes <= 0) {
      throw new TypeError(`${this.name}: maxValueBytes must be a positive integer, got ${String(maxValueBytes)}`);
    }
    this.capabilities = Object.freeze({
      nativeExpiry: true,
      expiryResolutionMs: 1000,
      shared: true,
      iterate: false,
      atomicAdd: true,
      maxValueBytes,
    });
    if (options.client === undefined) {
      const servers = typeof options.servers === 'string' ? [options.servers] : (options.servers ?? ['127.0.0.1:11211']);
      if (servers.length === 0) throw new TypeError(`${this.name}: servers must name at least one server`);
      const seconds = this.#timeoutMs / 1000;
      this.#client = memjs.Client.create(servers.join(','), {
        timeout: seconds,
        conntimeout: seconds,
        // One attempt: this store's timeout is the whole budget, and the caller decides about retrying.
        retries: 1,
        logger: { log: () => undefined },
      });
      this.#ownsClient = true;
    } else {
      this.#client = options.client;
      this.#ownsClient = false;
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    assertStoreKey(this.name, key);
    return this.#run('get', key, async () => {
      const value = await this.#withGeneration((generation) => this.#client.get(this.#fullKey(generation, key)));
      return this.#decode(value.value, UNREADABLE);
    });
  }

  async getMany(keys: readonly string[]): Promise<(Uint8Array | undefined)[]> {
    assertStoreKeys(this.name, keys);
    if (keys.length === 0) return this.#run('getMany', undefined, () => Promise.resolve([]));
    // memjs 1.3 has no getMulti: the gets are pipelined on the connection instead, in one round trip.
    return this.#run('getMany', undefined, async () => {
      const found = await this.#withGeneration((generation) =>
        Promise.all(keys.map((key) => this.#client.get(this.#fullKey(generation, key)))),
      );
      return found.map((item) => this.#decode(item.value, UNREADABLE));
    });
  }

  async set(key: string, value: Uint8Array, expiresAt: number): Promise<void> {
    assertStoreKey(this.name, key);
    this.#checkSize(key, value);
    await this.#run('set', key, () => this.#withGeneration((generation) => this.#write(generation, key, value, expiresAt)));
  }

  async setMany(entries: readonly StoreWrite[]): Promise<void> {
    for (const entry of entries) assertStoreKey(this.name, entry.key);
    for (const entry of entries) this.#checkSize(entry.key, entry.value);
    if (entries.length === 0) return this.#run('setMany', undefined, () => Promise.resolve());
    await this.#run('setMany', undefined, () =>
      this.#withGeneration((generation) =>
        Promise.all(entries.map((entry) => this.#write(generation, entry.key, entry.value, entry.expiresAt))),
      ),
    );
  }

  async delete(key: string): Promise<boolean> {
    assertStoreKey(this.name, key);
    return this.#run('delete', key, () => this.#withGeneration((generation) => this.#client.delete(this.#fullKey(generation, key))));
  }

  async deleteMany(keys: readonly string[]): Promise<number> {
    assertStoreKeys(this.name, keys);
    if (keys.length === 0) return this.#run('deleteMany', undefined, () => Promise.resolve(0));
    return this.#run('deleteMany', undefined, async () => {
      const removed = await this.#withGeneration((generation) =>
        Promise.all(keys.map((key) => this.#client.delete(this.#fullKey(generation, key)))),
      );
      return removed.filter(Boolean).length;
    });
  }

  async add(key: string, value: Uint8Array, expiresAt: number): Promise<boolean> {
    assertStoreKey(this.name, key);
    this.#checkSize(key, value);
    return this.#run('add', key, () => this.#withGeneration((generation) => this.#add(generation, key, value, expiresAt)));
  }

  async clear(): Promise<void> {
    await this.#run('clear', undefined, async () => {
      const generation = randomBytes(GENERATION_BYTES).toString('base64url');
      await this.#client.set(this.#generationKey, generation, { expires: 0 });
      this.#generation = generation;
    });
  }

  attach(context: StoreContext): void {
    this.#clock.attach(context);
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    if (this.#ownsClient) this.#client.close();
    return Promise.resolve();
  }

  async #write(generation: string, key: string, value: Uint8Array, expiresAt: number): Promise<void> {
    const fullKey = this.#fullKey(generation, key);
    const exptime = memcachedExpiration(expiresAt, this.#clock.now());
    if (exptime === undefined) {
      await this.#client.delete(fullKey);
      return;
    }
    await this.#client.set(fullKey, this.#encode(value, expiresAt), { expires: exptime });
  }

  async #add(generation: string, key: string, value: Uint8Array, expiresAt: number): Promise<boolean> {
    const fullKey = this.#fullKey(generation, key);
    const exptime = memcachedExpiration(expiresAt, this.#clock.now());
    // A passed deadline stores nothing, and an add must never remove what someone else stored.
    if (exptime === undefined) return false;
    const payload = this.#encode(value, expiresAt);
    // Bounded: each turn means another client changed the key in between, which cannot go on for long.
    for (let turn = 0; turn < 8; turn++) {
      if (await this.#client.add(fullKey, payload, { expires: exptime })) return true;
      const existing = await this.#getWithCas(fullKey);
      if (existing === undefined) continue;
      if (this.#decode(existing.value) !== undefined) return false;
      // Past its exact deadline but inside memcached's extra second: not a live entry, yet it blocks `add`.
      // Replace it only if nobody wrote it since we read it (CAS), so concurrent adds still have one winner.
      if (await this.#setWithCas(fullKey, payload, exptime, existing.cas)) return true;
    }
    return false;
  }

  /** A get that also returns the item's CAS token; memjs 1.3's `get` does not expose it, its `perform` does. */
  #getWithCas(fullKey: string): Promise<{ value: Buffer; cas: Buffer } | undefined> {
    return this.#perform(fullKey, OPCODE_GET, Buffer.alloc(0), Buffer.alloc(0), undefined).then((response) => {
      if (response.header.status === STATUS_NOT_FOUND) return undefined;
      if (response.header.status !== STATUS_OK) throw new Error(`GET answered status ${response.header.status}`);
      return { value: response.val, cas: response.header.cas };
    });
  }

  /** A set that succeeds only while the item still has `cas`; false when it changed or vanished. */
  #setWithCas(fullKey: string, payload: Buffer, exptime: number, cas: Buffer): Promise<boolean> {
    const extras = Buffer.alloc(8);
    extras.writeUInt32BE(exptime, 4);
    return this.#perform(fullKey, OPCODE_SET, extras, payload, cas).then((response) => {
      const status = response.header.status;
      if (status === STATUS_OK) return true;
      if (status === STATUS_NOT_FOUND || status === STATUS_EXISTS) return false;
      throw new Error(`SET answered status ${status}`);
    });
  }

  #perform(fullKey: string, opcode: number, extras: Buffer, value: Buffer, cas: Buffer | undefined): Promise<MemjsResponse> {
    return new Promise((resolve, reject) => {
      const client = this.#client;
      client.incrSeq();
      const seq = client.seq;
      const request = memjs.Utils.makeRequestBuffer(opcode, fullKey, extras, value, seq);
      // The binary protocol header keeps the CAS token at bytes 16..23.
      if (cas !== undefined) cas.copy(request, 16, 0, 8);
      client.perform(fullKey, request, seq, (error: Error | null, response?: MemjsResponse) => {
        if (error !== null) reject(error);
        else if (response === undefined) reject(new Error('no response'));
        else resolve(response);
      });
    });
  }

  /**
   * Runs `work` under the cached generation while reading the current one alongside; when they differ (another
   * process cleared, or the generation was evicted), runs it again under the current one. The first run then
   * touched only an unreachable generation, so repeating it is harmless.
   */
  async #withGeneration<T>(work: (generation: string) => Promise<T>): Promise<T> {
    const cached = this.#generation ?? (await this.#loadGeneration());
    const [current, result] = await Promise.all([this.#readGeneration(), work(cached)]);
    if (current === cached) return result;
    this.#generation = current;
    return work(current ?? (await this.#loadGeneration()));
  }

  #loadGeneration(): Promise<string> {
    // Concurrent first operations share one load instead of each creating a generation.
    this.#loading ??= (async () => {
      try {
        let generation = await this.#readGeneration();
        if (generation === undefined) {
          const fresh = randomBytes(GENERATION_BYTES).toString('base64url');
          // `add`: when two processes start together, both end up on the one that got there first.
          generation = (await this.#client.add(this.#generationKey, fresh, { expires: 0 })) ? fresh : await this.#readGeneration();
          if (generation === undefined) throw new Error(`the generation key ${this.#generationKey} vanished while being created`);
        }
        this.#generation = generation;
        return generation;
      } finally {
        this.#loading = undefined;
      }
    })();
    return this.#loading;
  }

  async #readGeneration(): Promise<string | undefined> {
    const { value } = await this.#client.get(this.#generationKey);
    if (value === null) return undefined;
    const generation = value.toString('latin1');
    if (GENERATION.test(generation)) return generation;
    // Not ours: replacing it is the same as a clear, which is the safe reading of an unknown state.
    const fresh = randomBytes(GENERATION_BYTES).toString('base64url');
    await this.#client.set(this.#generationKey, fresh, { expires: 0 });
    return fresh;
  }

  #fullKey(generation: string, key: string): string {
    if (key.length <= this.#maxPlainKeyChars && PLAIN_KEY.test(key)) return `${this.#prefix}${generation}:${key}`;
    return `${this.#prefix}${generation}#${createHash('sha256').update(key, 'utf8').digest('base64url')}`;
  }

  #encode(value: Uint8Array, expiresAt: number): Buffer {
    const out = Buffer.allocUnsafe(HEADER_BYTES + value.byteLength);
    out[0] = FORMAT_VERSION;
    out.writeDoubleBE(expiresAt, 1);
    out.set(value, HEADER_BYTES);
    return out;
  }

  /** The entry's bytes; `unreadable` for an item in a format this store does not know, undefined when none or expired. */
  #decode(stored: Buffer | null, unreadable?: Uint8Array): Uint8Array | undefined {
    if (stored === null) return undefined;
    // An unknown format (another program, a future version, corruption) is handed up as `unreadable`: the core
    // reports it and reads a miss, and the caller recomputes.
    if (stored.length < HEADER_BYTES || stored[0] !== FORMAT_VERSION) return unreadable;
    if (stored.readDoubleBE(1) <= this.#clock.now()) return undefined;
    // A copy: memjs hands out views of its socket buffer, which may hold other responses too.
    return Uint8Array.prototype.slice.call(stored, HEADER_BYTES);
  }

  #checkSize(key: string, value: Uint8Array): void {
    if (value.byteLength > this.capabilities.maxValueBytes) {
      throw this.#error(
        `value of ${value.byteLength} bytes for key ${describeKey(key)} exceeds the limit of ${this.capabilities.maxValueBytes} bytes (maxValueBytes); it was not sent`,
        undefined,
        key,
      );
    }
  }

  async #run<T>(operation: string, key: string | undefined, work: () => Promise<T>): Promise<T> {
    const where = key === undefined ? operation : `${operation} ${describeKey(key)}`;
    if (this.#closed) throw this.#error(`${where} failed: the store is closed`, undefined, key);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.#timeoutMs} ms`)), this.#timeoutMs);
    });
    const attempt = work();
    // The losing side of the race must not surface later as an unhandled rejection.
    attempt.catch(() => undefined);
    try {
      return await Promise.race([attempt, timeout]);
    } catch (error) {
      throw this.#error(`${where} failed: ${messageOf(error)}`, error, key);
    } finally {
      clearTimeout(timer);
    }
  }

  #error(message: string, cause?: unknown, key?: string): CacheBackendError {
    return new CacheBackendError(`${this.name}: ${message}`, {
      store: this.name,
      ...(cause === undefined ? {} : { cause }),
      ...(key === undefined ? {} : { key }),
    });
  }
}
