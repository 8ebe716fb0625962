import { createHash, randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { link, mkdir, open, readdir, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { systemClock, type Clock } from '../clock.js';
import { Limiter } from '../compute/limit.js';
import { CacheBackendError, InvalidKeyError } from '../errors.js';
import { compilePattern, STORE_PATTERN, type PatternMatcher } from '../freshness/pattern.js';
import { assertStoreKey, assertStoreKeys } from '../keys/validate.js';
import { parseDuration } from '../ttl.js';
import { prefixOption, UNREADABLE, type BaseStoreOptions, type Store, type StoreCapabilities, type StoreWrite } from './contract.js';

/** The kinds of filesystem work the store does, as reported to {@link FileStoreOptions.onIo}. */
export type FileIoOperation = 'read' | 'write' | 'delete' | 'scan';

export interface FileIoEvent {
  operation: FileIoOperation;
  /** Operations running now, this one included; never more than `limit`. */
  active: number;
  limit: number;
}

export interface FileStoreOptions extends BaseStoreOptions {
  /** Root directory; created when missing. Several prefixes (and processes) may share it. */
  directory: string;
  /** Subdirectory holding this store's entries; `clear()` empties only it. Letters, digits, `.`, `_`, `-`. @default 'default' */
  prefix?: string;
  /** @deprecated Use `prefix`; the same option under its old name. */
  namespace?: string;
  /**
   * Puts a key in a category: a subdirectory with its own `maxEntriesPerCategory`. `undefined` is the default
   * category. Names of letters, digits, `.`, `_`, `-` (up to 64, not starting with `.`) are used as they are,
   * anything else is hashed, so a category can never name a path outside the prefix's directory.
   */
  category?: (key: string) => string | undefined;
  /** Entries per category before the least recently used one is removed. @default unbounded */
  maxEntriesPerCategory?: number;
  /** Filesystem operations in flight at once (each holds a file descriptor). @default 8 */
  concurrency?: number;
  /** How often expired entries and abandoned temporary files are removed: ms or a duration; 0 turns it off. @default '10m' */
  cleanupInterval?: number | string;
  /** @default 'file' */
  name?: string;
  /** @default 512 MiB */
  maxValueBytes?: number;
  /**
   * Called as each filesystem operation starts, inside the concurrency limit; the store waits for a returned
   * promise. For metrics and for tests that need to hold operations in flight.
   */
  onIo?: (event: FileIoEvent) => void | Promise<void>;
}

const MAGIC = 0x54434631; // "TCF1"
const FORMAT_VERSION = 1;
/** magic u32, version u8, 3 reserved, expiresAt f64, key bytes u32, value bytes f64 (a u53) */
const HEADER_BYTES = 28;
/** First read of an entry: the header, the key and, for small values, the whole value in one system call. */
const FIRST_READ_BYTES = 64 * 1024;
/** First read when only the header and key matter (keys(), prune(), add): enough for a 2,000-character key. */
const HEADER_READ_BYTES = 4096;
const DEFAULT_MAX_VALUE_BYTES = 512 * 1024 * 1024;
const DEFAULT_CLEANUP_MS = 10 * 60_000;
/**
 * A temporary file untouched this long belongs to a writer that crashed: a live writer finishes (or at least
 * writes to it) far sooner.
 */
const STALE_TEMP_MS = 10 * 60_000;
const ENTRY_NAME = /^[0-9a-f]{64}$/;
const FAN_OUT_NAME = /^[0-9a-f]{2}$/;
const SAFE_SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/;
const TRASH_PREFIX = '.tiercache-trash-';
/** Plain names (SAFE_SEGMENT) cannot start with `~`, so neither this nor a hashed name can clash with one. */
const DEFAULT_CATEGORY_DIR = '~';

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function hasCode(error: unknown, ...codes: string[]): boolean {
  return typeof error === 'object' && error !== null && codes.includes(String((error as { code?: unknown }).code));
}

function describeKey(key: string): string {
  return JSON.stringify(key.length > 80 ? `${key.slice(0, 80)}…` : key);
}

function sha256(text: string): string {
  // UTF-16 code units, not UTF-8: two strings differing only in lone surrogates must not share an entry.
  return createHash('sha256').update(Buffer.from(text, 'utf16le')).digest('hex');
}

/**
 * A category's directory name: a plain name as it is; anything else (`..`, `/`, long or non-ASCII names)
 * hashed behind a `~`, which plain names cannot start with. `~` alone is the default category.
 */
function categoryDirectory(category: string | undefined): string {
  if (category === undefined) return DEFAULT_CATEGORY_DIR;
  if (SAFE_SEGMENT.test(category)) return category;
  return `~${sha256(category).slice(0, 32)}`;
}

/**
 * Per-file mutual exclusion shared by every store of this process (two stores on one directory must agree):
 * writes, deletes and `add` on one entry run one at a time, which makes `add` atomic within the process.
 */
const fileLocks = new Map<string, Promise<void>>();

async function withFileLock<T>(file: string, work: () => Promise<T>): Promise<T> {
  const previous = fileLocks.get(file) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => (release = resolve));
  const tail = previous.then(() => mine);
  fileLocks.set(file, tail);
  await previous;
  try {
    return await work();
  } finally {
    release();
    if (fileLocks.get(file) === tail) fileLocks.delete(file);
  }
}

type EntryRead =
  | { kind: 'missing' }
  /** Unreadable (truncated by a power loss, written by something else): never served, safe to remove. */
  | { kind: 'corrupt' }
  /** A different key with the same SHA-256: not ours to serve, and a write may replace it. */
  | { kind: 'other' }
  | { kind: 'expired' }
  | { kind: 'live'; key: string; expiresAt: number; value: Uint8Array | undefined };

interface Location {
  file: string;
  directory: string;
  categoryDir: string;
}

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
  readonly #clock: Clock;
  readonly #category: ((key: string) => string | undefined) | undefined;
  readonly #maxEntries: number | undefined;
  readonly #limiter: Limiter;
  readonly #onIo: ((event: FileIoEvent) => void | Promise<void>) | undefined;
  readonly #timer: NodeJS.Timeout | undefined;
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
    this.#clock = options.clock ?? systemClock;
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
    if (interval > 0) {
      // setInterval keeps at most 2^31-1 ms; a longer interval would fire immediately.
      this.#timer = setInterval(() => this.#backgroundCleanup(), Math.min(interval, 2 ** 31 - 1));
      // A cache's housekeeping must never keep the process alive.
      this.#timer.unref();
    }
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
    if (this.#timer !== undefined) clearInterval(this.#timer);
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
    if (!(expiresAt > this.#clock.now())) {
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
    if (!(expiresAt > this.#clock.now())) return false;
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
      const { size } = await handle.stat();
      const first = new Uint8Array(Math.min(size, want.value ? FIRST_READ_BYTES : HEADER_READ_BYTES));
      const { bytesRead } = await handle.read(first, 0, first.length, 0);
      const head = Buffer.from(first.buffer, first.byteOffset, bytesRead);
      if (bytesRead < HEADER_BYTES || head.readUInt32BE(0) !== MAGIC || head[4] !== FORMAT_VERSION) return { kind: 'corrupt' };
      const expiresAt = head.readDoubleBE(8);
      const keyBytes = head.readUInt32BE(16);
      const valueBytes = head.readDoubleBE(20);
      const valueStart = HEADER_BYTES + keyBytes;
      if (!Number.isSafeInteger(valueBytes) || valueBytes < 0 || size !== valueStart + valueBytes) return { kind: 'corrupt' };
      let storedKey: string;
      if (valueStart <= bytesRead) {
        storedKey = head.toString('utf16le', HEADER_BYTES, valueStart);
      } else {
        const keyBuffer = Buffer.alloc(keyBytes);
        await readFully(handle, keyBuffer, HEADER_BYTES);
        storedKey = keyBuffer.toString('utf16le');
      }
      if (key !== undefined && storedKey !== key) return { kind: 'other' };
      if (!(expiresAt > this.#clock.now())) return { kind: 'expired' };
      let value: Uint8Array | undefined;
      if (want.value) {
        value = new Uint8Array(valueBytes);
        const already = Math.max(0, Math.min(bytesRead - valueStart, valueBytes));
        if (already > 0) value.set(first.subarray(valueStart, valueStart + already));
        if (already < valueBytes) await readFully(handle, value.subarray(already), valueStart + already);
      }
      if (want.touch) {
        // mtime records the last use, so the recency order can be rebuilt after a restart.
        const now = new Date();
        await handle.utimes(now, now);
      }
      return { kind: 'live', key: storedKey, expiresAt, value };
    } finally {
      await handle.close();
    }
  }

  /**
   * Writes the entry to a temporary file beside it, then renames it over the entry (`replace`) or links it
   * there (`create`, which fails if the entry exists). False only when `create` found the entry there.
   */
  async #write(where: Location, key: string, value: Uint8Array, expiresAt: number, mode: 'replace' | 'create'): Promise<boolean> {
    const keyBuffer = Buffer.from(key, 'utf16le');
    const head = Buffer.alloc(HEADER_BYTES + keyBuffer.length);
    head.writeUInt32BE(MAGIC, 0);
    head[4] = FORMAT_VERSION;
    head.writeDoubleBE(expiresAt, 8);
    head.writeUInt32BE(keyBuffer.length, 16);
    head.writeDoubleBE(value.byteLength, 20);
    keyBuffer.copy(head, HEADER_BYTES);
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

async function unlinkQuietly(file: string): Promise<boolean> {
  try {
    await unlink(file);
    return true;
  } catch (error) {
    if (hasCode(error, 'ENOENT')) return false;
    throw error;
  }
}

async function readFully(handle: FileHandle, into: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await handle.read(into, done, into.length - done, position + done);
    // The header promised these bytes; a shorter file was cut while we read it.
    if (bytesRead === 0) throw new Error('entry file ended early');
    done += bytesRead;
  }
}

async function writeFully(handle: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await handle.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}
