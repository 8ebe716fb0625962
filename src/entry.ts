import { DecodeError } from './errors.js';
import { readFloat64LE, readUint16LE } from './codec/float.js';

/**
 * The envelope the core writes to every store: the entry's timestamps and tags around the codec's bytes.
 * Stores see opaque bytes; deadlines travel inside, so an entry read back from any tier keeps its remaining
 * TTL (backfilling never extends an entry's life).
 *
 * Layout: u8 version | u8 flags | f64 createdAt | f64 expiresAt | [f64 freshUntil] | [u16 tag count | (tag, stamp)*] | value,
 * where tag and stamp are each u16 length + UTF-8. `freshUntil` is there only for an entry kept past its TTL
 * for grace (stale-while-revalidate, fail-safe).
 *
 * A lease entry (see compute/lease.ts) is an entry with the lease flag whose value is the holder's token: it
 * holds a key's place while one process loads it, and is never a value.
 */
export interface EntryHeader {
  createdAt: number;
  /** When the entry is gone from every tier: its TTL plus any grace. */
  expiresAt: number;
  /** When it stops being fresh, if before `expiresAt`: between the two it is stale, served only within grace. */
  freshUntil?: number | undefined;
  tags: readonly string[] | undefined;
  /** The tags' stamps when the entry was written, in the same order (see freshness/tags.ts). */
  stamps: readonly string[] | undefined;
}

export interface DecodedEntry extends EntryHeader {
  /** The codec's bytes, a view into the input (a lease entry: the holder's token). */
  value: Uint8Array;
  /** A lease entry, not a value: see compute/lease.ts. */
  lease: boolean;
}

/** The first byte of every entry; an entry with another one is refused rather than misread. */
export const ENTRY_VERSION = 1;
const FLAG_TAGS = 1;
const FLAG_GRACE = 2;
const FLAG_LEASE = 4;
/** Where `createdAt` (f64, little-endian) starts: after the version and flags bytes. */
export const CREATED_AT_OFFSET = 2;
/** Where `expiresAt` (f64, little-endian) starts. */
export const EXPIRES_AT_OFFSET = 10;
/**
 * Bytes of the fixed header: version, flags, createdAt, expiresAt. They also identify one write of a key:
 * two writes share them only if they were made in the same millisecond with the same deadline and flags, which
 * is why the lease fence compares them (see {@link identityOf}).
 */
export const ENTRY_HEADER_BYTES = 18;
const FIXED = ENTRY_HEADER_BYTES;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

export function encodeEntry(value: Uint8Array, header: EntryHeader, lease = false): Uint8Array {
  const tags = header.tags;
  const grace = header.freshUntil !== undefined && header.freshUntil < header.expiresAt;
  if (tags !== undefined && header.stamps?.length !== tags.length) throw new RangeError('every tag needs its stamp');
  const stamps = header.stamps ?? [];
  const encodedTags = tags === undefined || tags.length === 0 ? undefined : tags.flatMap((t, i) => [utf8.encode(t), utf8.encode(stamps[i] as string)]);
  let size = FIXED + (grace ? 8 : 0) + value.length;
  if (encodedTags !== undefined) {
    if (encodedTags.length / 2 > 0xffff) throw new RangeError('an entry holds at most 65535 tags');
    size += 2;
    for (const t of encodedTags) {
      if (t.length > 0xffff) throw new RangeError('a tag is at most 65535 bytes');
      size += 2 + t.length;
    }
  }
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out[0] = ENTRY_VERSION;
  out[1] = (encodedTags === undefined ? 0 : FLAG_TAGS) | (grace ? FLAG_GRACE : 0) | (lease ? FLAG_LEASE : 0);
  view.setFloat64(CREATED_AT_OFFSET, header.createdAt, true);
  view.setFloat64(EXPIRES_AT_OFFSET, header.expiresAt, true);
  let at = FIXED;
  if (grace) {
    view.setFloat64(at, header.freshUntil as number, true);
    at += 8;
  }
  if (encodedTags !== undefined) {
    view.setUint16(at, encodedTags.length / 2, true);
    at += 2;
    for (const t of encodedTags) {
      view.setUint16(at, t.length, true);
      out.set(t, at + 2);
      at += 2 + t.length;
    }
  }
  out.set(value, at);
  return out;
}

// At module level: a closure per call costs an allocation (and, under esbuild's keepNames, a defineProperty).
/** Reads one length-prefixed UTF-8 string at `at` into `out`; returns the offset after it. */
function readText(bytes: Uint8Array, at: number, out: string[], key: string | undefined): number {
  if (at + 2 > bytes.length) fail('truncated tag list', key);
  const length = readUint16LE(bytes, at);
  const start = at + 2;
  if (start + length > bytes.length) fail('truncated tag', key);
  try {
    out.push(fromUtf8.decode(bytes.subarray(start, start + length)));
  } catch {
    fail('a tag is not valid UTF-8', key);
  }
  return start + length;
}

function fail(why: string, key: string | undefined): never {
  throw new DecodeError(`cannot read the stored entry${key === undefined ? '' : ` for key ${JSON.stringify(key)}`}: ${why}`, key === undefined ? {} : { key });
}

export function decodeEntry(bytes: Uint8Array, key?: string): DecodedEntry {
  if (bytes.length < FIXED) fail(`${bytes.length} bytes is shorter than an entry header`, key);
  if (bytes[0] !== ENTRY_VERSION) fail(`unknown entry version ${bytes[0]}`, key);
  const flags = bytes[1] as number;
  if ((flags & ~(FLAG_TAGS | FLAG_GRACE | FLAG_LEASE)) !== 0) fail(`unknown entry flags ${flags}`, key);
  const createdAt = readFloat64LE(bytes, CREATED_AT_OFFSET);
  const expiresAt = readFloat64LE(bytes, EXPIRES_AT_OFFSET);
  if (!Number.isFinite(createdAt) || Number.isNaN(expiresAt)) fail('bad timestamps', key);
  let at = FIXED;
  let freshUntil: number | undefined;
  if ((flags & FLAG_GRACE) !== 0) {
    if (bytes.length < at + 8) fail('truncated grace deadline', key);
    freshUntil = readFloat64LE(bytes, at);
    if (Number.isNaN(freshUntil)) fail('bad grace deadline', key);
    at += 8;
  }
  let tags: string[] | undefined;
  let stamps: string[] | undefined;
  if ((flags & FLAG_TAGS) !== 0) {
    if (at + 2 > bytes.length) fail('truncated tag list', key);
    const count = readUint16LE(bytes, at);
    at += 2;
    tags = [];
    stamps = [];
    for (let i = 0; i < count; i++) {
      at = readText(bytes, at, tags, key);
      at = readText(bytes, at, stamps, key);
    }
  }
  return { createdAt, expiresAt, freshUntil, tags, stamps, value: bytes.subarray(at), lease: (flags & FLAG_LEASE) !== 0 };
}

/** The `createdAt` of an encoded entry, without decoding the rest; undefined when the bytes are not an entry. */
export function createdAtOf(bytes: Uint8Array): number | undefined {
  if (bytes.length < ENTRY_HEADER_BYTES || bytes[0] !== ENTRY_VERSION) return undefined;
  return readFloat64LE(bytes, CREATED_AT_OFFSET);
}

/**
 * The bytes that identify one stored write of a key, for a store's `replaceIf`: its fixed header (a view, not
 * a copy). Comparing the header rather than the whole entry keeps the fence's round trip small for large
 * values, and still tells a newer write apart by its `createdAt` or deadline.
 */
export function identityOf(bytes: Uint8Array): Uint8Array {
  return bytes.subarray(0, ENTRY_HEADER_BYTES);
}
