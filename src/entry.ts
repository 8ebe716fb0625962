import { DecodeError } from './errors.js';

/**
 * The envelope the core writes to every store: the entry's timestamps and tags around the codec's bytes.
 * Stores see opaque bytes; deadlines travel inside, so an entry read back from any tier keeps its remaining
 * TTL (backfilling never extends an entry's life).
 *
 * Layout: u8 version | u8 flags | f64 createdAt | f64 expiresAt | [u16 tag count | (tag, stamp)*] | value,
 * where tag and stamp are each u16 length + UTF-8.
 */
export interface EntryHeader {
  createdAt: number;
  expiresAt: number;
  tags: readonly string[] | undefined;
  /** The tags' stamps when the entry was written, in the same order (see freshness/tags.ts). */
  stamps: readonly string[] | undefined;
}

export interface DecodedEntry extends EntryHeader {
  /** The codec's bytes, a view into the input. */
  value: Uint8Array;
}

const ENTRY_VERSION = 1;
const FLAG_TAGS = 1;
const FIXED = 18;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

export function encodeEntry(value: Uint8Array, header: EntryHeader): Uint8Array {
  const tags = header.tags;
  if (tags !== undefined && header.stamps?.length !== tags.length) throw new RangeError('every tag needs its stamp');
  const stamps = header.stamps ?? [];
  const encodedTags = tags === undefined || tags.length === 0 ? undefined : tags.flatMap((t, i) => [utf8.encode(t), utf8.encode(stamps[i] as string)]);
  let size = FIXED + value.length;
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
  out[1] = encodedTags === undefined ? 0 : FLAG_TAGS;
  view.setFloat64(2, header.createdAt, true);
  view.setFloat64(10, header.expiresAt, true);
  let at = FIXED;
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
function fail(why: string, key: string | undefined): never {
  throw new DecodeError(`cannot read the stored entry${key === undefined ? '' : ` for key ${JSON.stringify(key)}`}: ${why}`, key === undefined ? {} : { key });
}

export function decodeEntry(bytes: Uint8Array, key?: string): DecodedEntry {
  if (bytes.length < FIXED) fail(`${bytes.length} bytes is shorter than an entry header`, key);
  if (bytes[0] !== ENTRY_VERSION) fail(`unknown entry version ${bytes[0]}`, key);
  const flags = bytes[1] as number;
  if ((flags & ~FLAG_TAGS) !== 0) fail(`unknown entry flags ${flags}`, key);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const createdAt = view.getFloat64(2, true);
  const expiresAt = view.getFloat64(10, true);
  if (!Number.isFinite(createdAt) || Number.isNaN(expiresAt)) fail('bad timestamps', key);
  let at = FIXED;
  let tags: string[] | undefined;
  let stamps: string[] | undefined;
  const text = (): string => {
    if (at + 2 > bytes.length) fail('truncated tag list', key);
    const length = view.getUint16(at, true);
    at += 2;
    if (at + length > bytes.length) fail('truncated tag', key);
    let out = '';
    try {
      out = fromUtf8.decode(bytes.subarray(at, at + length));
    } catch {
      fail('a tag is not valid UTF-8', key);
    }
    at += length;
    return out;
  };
  if ((flags & FLAG_TAGS) !== 0) {
    if (at + 2 > bytes.length) fail('truncated tag list', key);
    const count = view.getUint16(at, true);
    at += 2;
    tags = [];
    stamps = [];
    for (let i = 0; i < count; i++) {
      tags.push(text());
      stamps.push(text());
    }
  }
  return { createdAt, expiresAt, tags, stamps, value: bytes.subarray(at) };
}
