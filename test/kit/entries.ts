import { encodeEntry } from '../../src/entry.js';

/** The creation time the entry tests write with. */
export const CREATED = Date.UTC(2026, 0, 1, 12);
/** A value long enough to reach past the entry's fixed header. */
export const ENTRY_VALUE = new TextEncoder().encode('a value long enough to be past the header');

/** An encoded entry created at `createdAt`, living a minute, with tags (and their stamps) and grace when asked. */
export function sampleEntry(createdAt: number, extra: { tags?: string[]; grace?: boolean } = {}): Uint8Array {
  const tags = extra.tags;
  return encodeEntry(ENTRY_VALUE, {
    createdAt,
    expiresAt: createdAt + 60_000,
    freshUntil: extra.grace === true ? createdAt + 30_000 : undefined,
    tags,
    stamps: tags?.map((_, i) => `s${i}`),
  });
}
