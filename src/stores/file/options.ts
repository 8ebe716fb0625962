import type { BaseStoreOptions } from '../contract.js';

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
