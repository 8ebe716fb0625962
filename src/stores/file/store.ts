import { randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { link, mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Limiter } from '../../compute/limit.js';
import { CacheBackendError, InvalidKeyError } from '../../errors.js';
import { compilePattern, STORE_PATTERN, type PatternMatcher } from '../../freshness/pattern.js';
import { assertStoreKey, assertStoreKeys } from '../../keys/validate.js';
import { parseDuration } from '../../ttl.js';
import { prefixOption, UNREADABLE, type Store, type StoreCapabilities, type StoreContext, type StoreWrite } from '../contract.js';
import { StoreTime } from '../store-time.js';
import {
  categoryDirectory,
  describeKey,
  ENTRY_NAME,
  FAN_OUT_NAME,
  hasCode,
  messageOf,
  SAFE_SEGMENT,
  sha256,
  STALE_TEMP_MS,
  TRASH_PREFIX,
  unlinkQuietly,
  withFileLock,
  type Location,
} from './layout.js';
import type { FileIoEvent, FileIoOperation, FileStoreOptions } from './options.js';
import { encodeHead, readRecord, writeFully, type EntryRead } from './record.js';

const DEFAULT_MAX_VALUE_BYTES = 512 * 1024 * 1024;
const DEFAULT_CLEANUP_MS = 10 * 60_000;

/**
 * A persistent cache in a directory tree, shared by the processes of one machine.
 *
 * Layout: `directory/prefix/category/ab/cd/<sha256 of the key>`. Hashed names mean a key can never reach
 * outside the directory, whatever it holds. Each file is a 28-byte header (format, deadline, lengths), the
 * key (needed by `keys()` and to tell SHA-256 collisions apart) and the value. Writes go to a uniquely named
 * temporary file in the same directory which is then renamed over the entry, so a reader sees the old file or
 * the new one, never a mix. No fsync (this is a cache): a file cut short by a power loss fails the length
 * check and reads as a miss.
 *
 * `add` is atomic within the process (per-file lock); across processes `link()` makes the first creation of
 * a key exclusive, but replacing an expired entry is check-then-rename, so `capabilities.atomicAdd` is false.
 *
 * With `maxEntriesPerCategory`, each category keeps a recency list in memory, rebuilt from file mtimes when a
 * category is first used (reads of such categories touch the mtime, so recency survives restarts). The bound
 * counts what this process wrote or found at that first use; entries other processes write meanwhile are
 * counted by each of them.
 *
 * @example
 * const cache = new Cache({ stores: [fileStore({ directory: './.cache', prefix: 'reports', cleanupInterval: '1h' })] });
 */
export function fileStore(options: FileStoreOptions): FileStore {
  return new FileStoreImpl(options);
}

/** A {@link Store} with every optional method present. */
export type FileStore = Store & Required<Pick<Store, 'getMany' | 'setMany' | 'deleteMany' | 'add' | 'prune' | 'keys'>>;

class FileStoreImpl implements FileStore {
  readonly name: string;
  readonly capabilities: StoreCapabilities;
  readonly #root: string;
  readonly #prefix: string;
  readonly #prefixDir: string;
  readonly #time: StoreTime;
  readonly #category: ((key: string) => string | undefined) | undefined;
  readonly #maxEntries: number | undefined;
  readonly #limiter: Limiter;
  readonly #onIo: ((event: FileIoEvent) => void | Promise<void>) | undefined;
  readonly #timer: { stop(): void } | undefined;
  /** Directories known to exist, so a write costs no mkdir; forgotten on `clear()` and on ENOENT. */
  #madeDirs = new Set<string>();
  /** Category directory → entry file paths, least recently used first (Map order). */
  #recency = new Map<string, Promise<Map<string, true>>>();
  readonly #inFlight = new Set<Promise<unknown>>();
  #cleanup: Promise<unknown> | undefined;
  #temporaries = 0;
  #closed = false;

  constructor(options: FileStoreOptions) {
    this.name = options.name ?? 'file';
    if (typeof options.directory !== 'string' || options.directory.length === 0) throw this.#error('directory is required');
    this.#root = path.resolve(options.directory);
    this.#prefix = prefixOption(options, 'default', this.name);
    if (!SAFE_SEGMENT.test(this.#prefix)) {
      throw new TypeError(`${this.name}: prefix must be 1-64 letters, digits, '.', '_' or '-', not starting with '.', got ${describeKey(this.#prefix)}`);
    }
    this.#prefixDir = path.join(this.#root, this.#prefix);
    this.#time = new StoreTime(options.clock);
    this.#category = options.category;
    const max = options.maxEntriesPerCategory;
    if (max !== undefined && (!Number.isSafeInteger(max) || max < 1)) {
      throw new TypeError(`${this.name}: maxEntriesPerCategory must be a positive integer, got ${String(max)}`);
    }
    this.#maxEntries = max;
    this.#limiter = new Limiter(options.concurrency ?? 8, this.name);
    this.#onIo = options.onIo;
    const maxValueBytes = options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES;
    if (!Number.isSafeInteger(maxValueBytes) || maxValueBytes < 0) throw new TypeError(`${this.name}: maxValueBytes must be an integer >= 0, got ${String(maxValueBytes)}`);
    this.capabilities = Object.freeze({
      nativeExpiry: false,
      expiryResolutionMs: 1,
      shared: true,
      iterate: true,
      atomicAdd: false,
      maxValueBytes,
    });
    let interval: number;
    try {
      interval = parseDuration(options.cleanupInterval ?? DEFAULT_CLEANUP_MS, 'cleanupInterval');
    } catch (error) {
      throw new TypeError(`${this.name}: ${messageOf(error)}`, { cause: error });
    }
    // On the store's time, which never keeps the process alive and moves to the cache's clock on attach.
    if (interval > 0) this.#timer = this.#time.every(interval, () => this.#backgroundCleanup());
  }

  attach(context: StoreContext): void {
    this.#time.attach(context);
  }

  get(key: string): Promise<Uint8Array | undefined> {
    return this.#operation('get', key, () => {
      assertStoreKey(this.name, key);
      return this.#get(key);
    });
  }

  getMany(keys: readonly string[]): Promise<(Uint8Array | undefined)[]> {
    return this.#operation('getMany', undefined, () => {
      assertStoreKeys(this.name, keys);
      return Promise.all(keys.map((key) => this.#get(key)));
    });
  }

  set(key: string, value: Uint8Array, expiresAt: number): Promise<void> {
    return this.#operation('set', key, () => {
      assertStoreKey(this.name, key);
      return this.#set(key, value, expiresAt);
    });
  }

  setMany(entries: readonly StoreWrite[]): Promise<void> {
    return this.#operation('setMany', undefined, async () => {
      for (const entry of entries) {
        assertStoreKey(this.name, entry.key);
        this.#checkSize(entry.key, entry.value);
      }
      await Promise.all(entries.map((entry) => this.#set(entry.key, entry.value, entry.expiresAt)));
    });
  }

  delete(key: string): Promise<boolean> {
    return this.#operation('delete', key, () => {
      assertStoreKey(this.name, key);
      return this.#delete(key);
    });
  }

  deleteMany(keys: readonly string[]): Promise<number> {
    return this.#operation('deleteMany', undefined, async () => {
      assertStoreKeys(this.name, keys);
      const removed = await Promise.all(keys.map((key) => this.#delete(key)));
      return removed.filter(Boolean).length;
    });
  }

  add(key: string, value: Uint8Array, expiresAt: number): Promise<boolean> {
    return this.#operation('add', key, () => {
      assertStoreKey(this.name, key);
      return this.#add(key, value, expiresAt);
    });
  }

  prune(): Promise<number> {
    return this.#operation('prune', undefined, () => this.#prune());
  }

  keys(pattern: string): AsyncIterable<string> {
    // Compiled here, not in the generator, so a bad pattern throws InvalidPatternError at the call.
    return this.#keys(compilePattern(pattern, 'keys(pattern)', STORE_PATTERN));
  }

  clear(): Promise<void> {
    return this.#operation('clear', undefined, async () => {
      // Renaming first makes the whole prefix directory disappear at once: writers racing with the removal would
      // otherwise recreate directories under `rm` and make it fail with ENOTEMPTY.
      const trash = path.join(this.#root, `${TRASH_PREFIX}${this.#prefix}-${randomBytes(6).toString('hex')}`);
      try {
        await rename(this.#prefixDir, trash);
      } catch (error) {
        if (hasCode(error, 'ENOENT')) return;
        throw error;
      } finally {
        this.#madeDirs = new Set();
        this.#recency = new Map();
      }
      await rm(trash, { recursive: true, force: true, maxRetries: 3 });
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#timer?.stop();
    // Let running work finish so nothing touches the directory after close() resolves.
    await Promise.allSettled([...this.#inFlight, this.#cleanup]);
  }

  // ---- entries ----

  async #get(key: string): Promise<Uint8Array | undefined> {
    const where = this.#locate(key);
    const recency = await this.#recencyOf(where.categoryDir);
    // No lock for reads: renames replace whole files, so a reader holds either the old inode or the new one.
    const entry = await this.#io('read', () => this.#read(where.file, key, { value: true, touch: recency !== undefined }));
    if (entry.kind === 'live') {
      if (recency?.delete(where.file) === true) recency.set(where.file, true);
      return entry.value;
    }
    if (entry.kind === 'expired' || entry.kind === 'corrupt') await this.#removeIfStale(where.file, recency);
    // A file this store cannot read is handed up as such: the core reports it and reads a miss.
    return entry.kind === 'corrupt' ? UNREADABLE : undefined;
  }

  async #set(key: string, value: Uint8Array, expiresAt: number): Promise<void> {
    this.#checkSize(key, value);
    const where = this.#locate(key);
    const recency = await this.#recencyOf(where.categoryDir);
    if (!(expiresAt > this.#time.now())) {
      await this.#delete(key);
      return;
    }
    await withFileLock(where.file, () => this.#io('write', () => this.#write(where, key, value, expiresAt, 'replace')));
    await this.#used(where, recency);
  }

  async #add(key: string, value: Uint8Array, expiresAt: number): Promise<boolean> {
    this.#checkSize(key, value);
    const where = this.#locate(key);
    const recency = await this.#recencyOf(where.categoryDir);
    // A passed deadline stores nothing, and an add must never remove what is there.
    if (!(expiresAt > this.#time.now())) return false;
    const added = await withFileLock(where.file, async () => {
      const entry = await this.#io('read', () => this.#read(where.file, key, { value: false, touch: false }));
      if (entry.kind === 'live') return false;
      // Nothing there: link() refuses to replace, so of two processes adding at once only one creates it.
      // An expired or foreign file is replaced by rename, atomic within this process only.
      return this.#io('write', () => this.#write(where, key, value, expiresAt, entry.kind === 'missing' ? 'create' : 'replace'));
    });
    if (added) await this.#used(where, recency);
    return added;
  }

  async #delete(key: string): Promise<boolean> {
    const where = this.#locate(key);
    const recency = await this.#recencyOf(where.categoryDir);
    return withFileLock(where.file, async () => {
      const entry = await this.#io('read', () => this.#read(where.file, key, { value: false, touch: false }));
      if (entry.kind === 'missing' || entry.kind === 'other') return false;
      await this.#io('delete', () => unlinkQuietly(where.file));
      recency?.delete(where.file);
      return entry.kind === 'live';
    });
  }

  /**
   * Removes an expired or unreadable file after reading it again under its lock: since the first read, a
   * newer write may have replaced it (an inode check alone can be fooled by inode reuse).
   */
  async #removeIfStale(file: string, recency: Map<string, true> | undefined): Promise<boolean> {
    return withFileLock(file, async () => {
      const entry = await this.#io('read', () => this.#read(file, undefined, { value: false, touch: false }));
      if (entry.kind !== 'expired' && entry.kind !== 'corrupt') return false;
      recency?.delete(file);
      return this.#io('delete', () => unlinkQuietly(file));
    });
  }

  /** Reads an entry file. `value: false` stops after the header and key. */
  async #read(file: string, key: string | undefined, want: { value: boolean; touch: boolean }): Promise<EntryRead> {
    let handle: FileHandle;
    try {
      handle = await open(file, 'r');
    } catch (error) {
      if (hasCode(error, 'ENOENT', 'ENOTDIR')) return { kind: 'missing' };
      throw error;
    }
    try {
      const entry = await readRecord(handle, key, want.value, this.#time);
      if (want.touch && entry.kind === 'live') {
        // mtime records the last use, so the recency order can be rebuilt after a restart.
        const now = new Date(this.#time.now());
        await handle.utimes(now, now);
      }
      return entry;
    } finally {
      await handle.close();
    }
  }

  /**
   * Writes the entry to a temporary file beside it, then renames it over the entry (`replace`) or links it
   * there (`create`, which fails if the entry exists). False only when `create` found the entry there.
   */
  async #write(where: Location, key: string, value: Uint8Array, expiresAt: number, mode: 'replace' | 'create'): Promise<boolean> {
    const head = encodeHead(key, value.byteLength, expiresAt);
    // Unique per process and write; the `.tmp` suffix keeps it out of reads, keys() and the LRU index.
    const temporary = `${where.file}.${process.pid}.${(++this.#temporaries).toString(36)}.${randomBytes(4).toString('hex')}.tmp`;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#ensureDirectory(where.directory);
        const handle = await open(temporary, 'wx');
        try {
          await writeFully(handle, head, 0);
          await writeFully(handle, value, head.length);
        } finally {
          await handle.close();
        }
        if (mode === 'replace') {
          await rename(temporary, where.file);
          return true;
        }
        try {
          await link(temporary, where.file);
          return true;
        } catch (error) {
          if (hasCode(error, 'EEXIST')) return false;
          if (!hasCode(error, 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS')) throw error;
          // A filesystem without hard links: rename still never shows a partial file, but is exclusive only
          // within this process (the file lock), as `capabilities.atomicAdd` already admits.
          await rename(temporary, where.file);
          return true;
        } finally {
          await unlinkQuietly(temporary);
        }
      } catch (error) {
        await unlinkQuietly(temporary);
        // The directory vanished under us (a clear() of this prefix, maybe by another process): once more.
        if (attempt === 0 && hasCode(error, 'ENOENT')) {
          this.#madeDirs.delete(where.directory);
          continue;
        }
        throw error;
      }
    }
  }

  async #ensureDirectory(directory: string): Promise<void> {
    if (this.#madeDirs.has(directory)) return;
    await mkdir(directory, { recursive: true });
    this.#madeDirs.add(directory);
  }

  #locate(key: string): Location {
    let category: string | undefined;
    try {
      category = this.#category?.(key);
    } catch (error) {
      throw this.#error(`category(${describeKey(key)}) threw: ${messageOf(error)}`, error, key);
    }
    const hash = sha256(key);
    const categoryDir = path.join(this.#prefixDir, categoryDirectory(category));
    const directory = path.join(categoryDir, hash.slice(0, 2), hash.slice(2, 4));
    return { file: path.join(directory, hash), directory, categoryDir };
  }

  #checkSize(key: string, value: Uint8Array): void {
    if (value.byteLength > this.capabilities.maxValueBytes) {
      throw this.#error(
        `value of ${value.byteLength} bytes for key ${describeKey(key)} exceeds the limit of ${this.capabilities.maxValueBytes} bytes (maxValueBytes)`,
        undefined,
        key,
      );
    }
  }

  // ---- least recently used, per category ----

  /** The category's recency list, loaded from the directory on first use; undefined when unbounded. */
  async #recencyOf(categoryDir: string): Promise<Map<string, true> | undefined> {
    if (this.#maxEntries === undefined) return undefined;
    let loading = this.#recency.get(categoryDir);
    if (loading === undefined) {
      loading = this.#loadRecency(categoryDir);
      this.#recency.set(categoryDir, loading);
      // A failed load is retried by the next operation rather than remembered.
      loading.catch(() => {
        if (this.#recency.get(categoryDir) === loading) this.#recency.delete(categoryDir);
      });
    }
    const recency = await loading;
    await this.#evictOverflow(recency);
    return recency;
  }

  async #loadRecency(categoryDir: string): Promise<Map<string, true>> {
    const found: { file: string; used: number }[] = [];
    for await (const files of this.#entryFiles(categoryDir)) {
      const stats = await Promise.all(
        files.map((file) =>
          this.#io('scan', () => stat(file)).then(
            (s) => ({ file, used: s.mtimeMs }),
            (error: unknown) => {
              if (hasCode(error, 'ENOENT')) return undefined;
              throw error;
            },
          ),
        ),
      );
      for (const item of stats) if (item !== undefined) found.push(item);
    }
    found.sort((a, b) => a.used - b.used);
    return new Map(found.map((item) => [item.file, true]));
  }

  async #used(where: Location, recency: Map<string, true> | undefined): Promise<void> {
    if (recency === undefined) return;
    recency.delete(where.file);
    recency.set(where.file, true);
    await this.#evictOverflow(recency);
  }

  async #evictOverflow(recency: Map<string, true>): Promise<void> {
    const max = this.#maxEntries;
    if (max === undefined) return;
    const victims: string[] = [];
    for (const file of recency.keys()) {
      if (recency.size - victims.length <= max) break;
      victims.push(file);
    }
    for (const file of victims) recency.delete(file);
    // Under each victim's own lock, taken after the caller's lock was released: never two locks at once.
    await Promise.all(victims.map((file) => withFileLock(file, () => this.#io('delete', () => unlinkQuietly(file)))));
  }

  // ---- walking: keys(), prune() ----

  /** Entry files under `directory` (the prefix's or one category's), a leaf directory at a time. */
  async *#entryFiles(directory: string, temporaries?: string[]): AsyncGenerator<string[]> {
    const depth = directory === this.#prefixDir ? 0 : 1;
    yield* this.#walk(directory, depth, temporaries);
  }

  async *#walk(directory: string, depth: number, temporaries: string[] | undefined): AsyncGenerator<string[]> {
    let children: Dirent[];
    try {
      children = await this.#io('scan', () => readdir(directory, { withFileTypes: true }));
    } catch (error) {
      if (hasCode(error, 'ENOENT', 'ENOTDIR')) return;
      throw error;
    }
    if (depth === 3) {
      const files: string[] = [];
      for (const child of children) {
        if (!child.isFile()) continue;
        if (ENTRY_NAME.test(child.name)) files.push(path.join(directory, child.name));
        else if (child.name.endsWith('.tmp')) temporaries?.push(path.join(directory, child.name));
      }
      if (files.length > 0) yield files;
      return;
    }
    for (const child of children) {
      if (!child.isDirectory()) continue;
      if (depth === 0 ? child.name.startsWith('.') : !FAN_OUT_NAME.test(child.name)) continue;
      yield* this.#walk(path.join(directory, child.name), depth + 1, temporaries);
    }
  }

  async *#keys(matcher: PatternMatcher): AsyncGenerator<string> {
    // A key can sit in two categories when `category()` changed between runs: report it once.
    const seen = new Set<string>();
    try {
      this.#checkOpen('keys');
      for await (const files of this.#entryFiles(this.#prefixDir)) {
        this.#checkOpen('keys');
        const entries = await Promise.all(files.map((file) => this.#io('scan', () => this.#read(file, undefined, { value: false, touch: false }))));
        for (const entry of entries) {
          if (entry.kind !== 'live' || seen.has(entry.key) || !matcher.test(entry.key)) continue;
          seen.add(entry.key);
          yield entry.key;
        }
      }
    } catch (error) {
      throw this.#wrap(error, 'keys', undefined);
    }
  }

  async #prune(): Promise<number> {
    let removed = 0;
    const temporaries: string[] = [];
    for await (const files of this.#entryFiles(this.#prefixDir, temporaries)) {
      const results = await Promise.all(
        files.map(async (file) => {
          const entry = await this.#io('scan', () => this.#read(file, undefined, { value: false, touch: false }));
          if (entry.kind !== 'expired' && entry.kind !== 'corrupt') return false;
          const recency = this.#maxEntries === undefined ? undefined : await this.#recency.get(path.resolve(file, '../../..'));
          return this.#removeIfStale(file, recency);
        }),
      );
      removed += results.filter(Boolean).length;
    }
    const staleBefore = Date.now() - STALE_TEMP_MS;
    await Promise.all(
      temporaries.map((file) =>
        this.#io('delete', async () => {
          try {
            if ((await stat(file)).mtimeMs < staleBefore) await unlinkQuietly(file);
          } catch (error) {
            if (!hasCode(error, 'ENOENT')) throw error;
          }
        }),
      ),
    );
    await this.#removeAbandonedTrash();
    return removed;
  }

  /** A clear() interrupted by a crash leaves its renamed directory behind. */
  async #removeAbandonedTrash(): Promise<void> {
    let children: Dirent[];
    try {
      children = await this.#io('scan', () => readdir(this.#root, { withFileTypes: true }));
    } catch (error) {
      if (hasCode(error, 'ENOENT')) return;
      throw error;
    }
    const staleBefore = Date.now() - STALE_TEMP_MS;
    for (const child of children) {
      if (!child.isDirectory() || !child.name.startsWith(`${TRASH_PREFIX}${this.#prefix}-`)) continue;
      const trash = path.join(this.#root, child.name);
      await this.#io('delete', async () => {
        try {
          // Only when old: a fresh one is being removed by the clear() that made it.
          if ((await stat(trash)).mtimeMs < staleBefore) await rm(trash, { recursive: true, force: true, maxRetries: 3 });
        } catch (error) {
          if (!hasCode(error, 'ENOENT', 'ENOTEMPTY')) throw error;
        }
      });
    }
  }

  #backgroundCleanup(): void {
    if (this.#closed || this.#cleanup !== undefined) return;
    // Failures here have no caller to report to; the next run, an explicit prune() or a read will meet them.
    this.#cleanup = this.prune()
      .catch(() => undefined)
      .finally(() => (this.#cleanup = undefined));
  }

  // ---- plumbing ----

  async #io<T>(operation: FileIoOperation, work: () => Promise<T>): Promise<T> {
    return this.#limiter.run(async () => {
      if (this.#onIo !== undefined) await this.#onIo({ operation, active: this.#limiter.active, limit: this.#limiter.limit });
      return work();
    });
  }

  async #operation<T>(operation: string, key: string | undefined, work: () => Promise<T>): Promise<T> {
    this.#checkOpen(operation, key);
    const running = work();
    this.#inFlight.add(running);
    try {
      return await running;
    } catch (error) {
      throw this.#wrap(error, operation, key);
    } finally {
      this.#inFlight.delete(running);
    }
  }

  #checkOpen(operation: string, key?: string): void {
    if (this.#closed) throw this.#error(`${operation}${key === undefined ? '' : ` ${describeKey(key)}`} failed: the store is closed`, undefined, key);
  }

  #wrap(error: unknown, operation: string, key: string | undefined): CacheBackendError | InvalidKeyError {
    // A refused key is the caller's mistake, not a failure of the store: it keeps its own type.
    if (error instanceof CacheBackendError || error instanceof InvalidKeyError) return error;
    const where = key === undefined ? operation : `${operation} ${describeKey(key)}`;
    return this.#error(`${where} failed: ${messageOf(error)}`, error, key);
  }

  #error(message: string, cause?: unknown, key?: string): CacheBackendError {
    return new CacheBackendError(`${this.name}: ${message}`, {
      store: this.name,
      ...(cause === undefined ? {} : { cause }),
      ...(key === undefined ? {} : { key }),
    });
  }
}
