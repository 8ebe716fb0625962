import { createHash } from 'node:crypto';
import { unlink } from 'node:fs/promises';

// Where entries live on disk (`directory/prefix/category/ab/cd/<sha256 of the key>`), the names the store
// recognises there, and the per-file lock shared by every store of the process.

/**
 * A temporary file untouched this long belongs to a writer that crashed: a live writer finishes (or at least
 * writes to it) far sooner.
 */
export const STALE_TEMP_MS = 10 * 60_000;
export const ENTRY_NAME = /^[0-9a-f]{64}$/;
export const FAN_OUT_NAME = /^[0-9a-f]{2}$/;
export const SAFE_SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/;
export const TRASH_PREFIX = '.tiercache-trash-';
/** Plain names (SAFE_SEGMENT) cannot start with `~`, so neither this nor a hashed name can clash with one. */
export const DEFAULT_CATEGORY_DIR = '~';

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function hasCode(error: unknown, ...codes: string[]): boolean {
  return typeof error === 'object' && error !== null && codes.includes(String((error as { code?: unknown }).code));
}

export function describeKey(key: string): string {
  return JSON.stringify(key.length > 80 ? `${key.slice(0, 80)}…` : key);
}

export function sha256(text: string): string {
  // UTF-16 code units, not UTF-8: two strings differing only in lone surrogates must not share an entry.
  return createHash('sha256').update(Buffer.from(text, 'utf16le')).digest('hex');
}

/**
 * A category's directory name: a plain name as it is; anything else (`..`, `/`, long or non-ASCII names)
 * hashed behind a `~`, which plain names cannot start with. `~` alone is the default category.
 */
export function categoryDirectory(category: string | undefined): string {
  if (category === undefined) return DEFAULT_CATEGORY_DIR;
  if (SAFE_SEGMENT.test(category)) return category;
  return `~${sha256(category).slice(0, 32)}`;
}

/**
 * Per-file mutual exclusion shared by every store of this process (two stores on one directory must agree):
 * writes, deletes and `add` on one entry run one at a time, which makes `add` atomic within the process.
 */
export const fileLocks = new Map<string, Promise<void>>();

export async function withFileLock<T>(file: string, work: () => Promise<T>): Promise<T> {
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

export interface Location {
  file: string;
  directory: string;
  categoryDir: string;
}

export async function unlinkQuietly(file: string): Promise<boolean> {
  try {
    await unlink(file);
    return true;
  } catch (error) {
    if (hasCode(error, 'ENOENT')) return false;
    throw error;
  }
}
