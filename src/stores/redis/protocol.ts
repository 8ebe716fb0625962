// What the store needs to know about Redis itself: its limits, how Cluster assigns hash slots, and how
// keys, globs and replies cross the ioredis boundary.

import clusterKeySlot from 'cluster-key-slot';

/** Redis refuses bulk strings above `proto-max-bulk-len`, 512 MiB unless reconfigured. */
export const MAX_VALUE_BYTES = 512 * 1024 * 1024;
/** Keys per MGET/UNLINK: one huge multi-key command would stall every other client of the single-threaded server. */
export const MULTI_KEY_CHUNK = 1000;
/** SCAN hint: large enough to walk a big keyspace in few round trips, small enough to keep each step short. */
export const SCAN_COUNT = 1000;
/** How long `close()` waits for QUIT (which lets pending replies arrive) before dropping the socket. */
export const QUIT_TIMEOUT_MS = 2000;
/** Redis rejects a TTL that overflows a signed 64-bit deadline; beyond this a number also stops printing as digits. */
export const MAX_TTL_MS = Number.MAX_SAFE_INTEGER;
export const HASH_SLOTS = 16384;

/**
 * CRC16/XMODEM, kept by hand for the one key shape cluster-key-slot gets wrong (see {@link redisHashSlot}).
 * Bitwise rather than by table: it runs only for keys whose first `{` is directly followed by `}`.
 */
function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/**
 * The Redis Cluster hash slot of a key: CRC16/XMODEM of its UTF-8 bytes, mod 16384. When the key has a
 * non-empty `{...}` section (the first `{` and the first `}` after it), only that section is hashed, so
 * keys sharing a hash tag share a slot.
 *
 * The CRC is cluster-key-slot's (the library ioredis routes with), given the key's bytes as Node encodes them
 * (its own string encoder writes a lone surrogate differently from what the server receives). It reads a key
 * whose first braces are empty, `{}a}b`, as having the tag `a`, where Redis hashes the whole key; that shape
 * is hashed here.
 *
 * @example
 * redisHashSlot('{user:1}:profile') === redisHashSlot('{user:1}:orders'); // true: same hash tag
 */
export function redisHashSlot(key: string | Uint8Array): number {
  const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : Buffer.isBuffer(key) ? key : Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  const open = bytes.indexOf(0x7b);
  if (open !== -1 && bytes[open + 1] === 0x7d && bytes.indexOf(0x7d, open + 2) !== -1) return crc16(bytes) % HASH_SLOTS;
  return clusterKeySlot(bytes);
}

/** True when the prefix holds a non-empty `{...}`, so every key of the store (and its index) shares one hash slot. */
export function pinsOneSlot(prefix: string): boolean {
  const open = prefix.indexOf('{');
  return open !== -1 && prefix.indexOf('}', open + 1) > open + 1;
}

/** Escapes what Redis's glob treats specially (`*`, `?`, `[`, `]`, `\`), so the text matches only itself. */
export function escapeRedisGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/**
 * Our glob as a Redis MATCH pattern that selects at least every matching key. Redis's `?` matches one byte,
 * ours one character (up to 4 UTF-8 bytes), so `?` becomes `?*` ("one or more bytes") and the exact
 * match is left to {@link compilePattern} on the client.
 */
export function toRedisGlob(pattern: string): string {
  let out = '';
  for (const char of pattern) out += char === '*' ? '*' : char === '?' ? '?*' : escapeRedisGlob(char);
  return out;
}

/** ioredis sends only Buffers as binary; any other Uint8Array would be stringified. A view, not a copy. */
export function toBuffer(value: Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/**
 * A reply Buffer as a plain Uint8Array: a view, not a copy. Each reply has bytes of its own (a slice of the
 * socket's read chunk, or of the parser's pool for a reply spanning chunks, a region the parser never writes
 * again), so the view stays valid; copying it measured a fifth of the store's CPU per read. A view can keep the
 * chunk it lies in alive, so the core decodes it at once and copies what it keeps (the codec copies binary
 * values; a backfill into a store above copies the entry).
 */
export function toBytes(reply: Buffer): Uint8Array {
  return new Uint8Array(reply.buffer, reply.byteOffset, reply.byteLength);
}

/** What one step over the index did: members it went through, how many it removed, the last one it saw. */
export interface PrefixStep {
  seen: number;
  removed: number;
  last: Buffer;
}

/** The `{seen, removed, last}` array a step script returns. */
export function toStep(reply: unknown): PrefixStep {
  if (!Array.isArray(reply)) throw new Error(`unexpected script reply ${String(reply)}`);
  const [seen, removed, last] = reply as unknown[];
  if (typeof seen !== 'number' || typeof removed !== 'number' || !Buffer.isBuffer(last)) {
    throw new Error(`unexpected script reply ${String(reply)}`);
  }
  return { seen, removed, last };
}

/** `(` + member: ZRANGEBYLEX's exclusive bound, to resume after the last member seen. */
export function after(member: Buffer): Buffer {
  return Buffer.concat([Buffer.from('('), member]);
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Redirections that a per-node pipeline meets when slots moved after the client last read the slot map. */
export function isRedirection(error: Error): boolean {
  return /^(MOVED|ASK) /.test(error.message);
}
