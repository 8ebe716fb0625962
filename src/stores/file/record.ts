import type { FileHandle } from 'node:fs/promises';

// The entry file format: a fixed header, the key in UTF-16 (to tell SHA-256 collisions apart and for keys()),
// then the value. Only this file knows the byte layout.

export const MAGIC = 0x54434631; // "TCF1"
export const FORMAT_VERSION = 1;
/** magic u32, version u8, 3 reserved, expiresAt f64, key bytes u32, value bytes f64 (a u53) */
export const HEADER_BYTES = 28;
/** First read of an entry: the header, the key and, for small values, the whole value in one system call. */
export const FIRST_READ_BYTES = 64 * 1024;
/** First read when only the header and key matter (keys(), prune(), add): enough for a 2,000-character key. */
export const HEADER_READ_BYTES = 4096;

export type EntryRead =
  | { kind: 'missing' }
  /** Unreadable (truncated by a power loss, written by something else): never served, safe to remove. */
  | { kind: 'corrupt' }
  /** A different key with the same SHA-256: not ours to serve, and a write may replace it. */
  | { kind: 'other' }
  | { kind: 'expired' }
  | { kind: 'live'; key: string; expiresAt: number; value: Uint8Array | undefined };

/** The header and key that start an entry file holding a value of `valueBytes` bytes. */
export function encodeHead(key: string, valueBytes: number, expiresAt: number): Buffer {
  const keyBuffer = Buffer.from(key, 'utf16le');
  const head = Buffer.alloc(HEADER_BYTES + keyBuffer.length);
  head.writeUInt32BE(MAGIC, 0);
  head[4] = FORMAT_VERSION;
  head.writeDoubleBE(expiresAt, 8);
  head.writeUInt32BE(keyBuffer.length, 16);
  head.writeDoubleBE(valueBytes, 20);
  keyBuffer.copy(head, HEADER_BYTES);
  return head;
}

/**
 * Reads an open entry file: `wantValue: false` stops after the header and key. `key` undefined accepts any
 * key (a walk); otherwise a different stored key reads as `other`. Expiry is judged by `clock` after the reads.
 */
export async function readRecord(handle: FileHandle, key: string | undefined, wantValue: boolean, clock: { now(): number }): Promise<EntryRead> {
  const { size } = await handle.stat();
  const first = new Uint8Array(Math.min(size, wantValue ? FIRST_READ_BYTES : HEADER_READ_BYTES));
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
  if (!(expiresAt > clock.now())) return { kind: 'expired' };
  let value: Uint8Array | undefined;
  if (wantValue) {
    value = new Uint8Array(valueBytes);
    const already = Math.max(0, Math.min(bytesRead - valueStart, valueBytes));
    if (already > 0) value.set(first.subarray(valueStart, valueStart + already));
    if (already < valueBytes) await readFully(handle, value.subarray(already), valueStart + already);
  }
  return { kind: 'live', key: storedKey, expiresAt, value };
}

export async function readFully(handle: FileHandle, into: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await handle.read(into, done, into.length - done, position + done);
    // The header promised these bytes; a shorter file was cut while we read it.
    if (bytesRead === 0) throw new Error('entry file ended early');
    done += bytesRead;
  }
}

export async function writeFully(handle: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await handle.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}
