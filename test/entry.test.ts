import { CREATED, sampleEntry as entry } from './kit/entries.js';
import { describe, expect, it } from 'vitest';
import { createdAtOf, decodeEntry, ENTRY_HEADER_BYTES, identityOf } from '../src/entry.js';

describe('the entry header, read without decoding', () => {
  it('createdAtOf reads what encodeEntry wrote, whatever follows the fixed header', () => {
    for (const bytes of [entry(CREATED), entry(CREATED + 1, { tags: ['user:1', 'fx'] }), entry(CREATED + 2, { grace: true, tags: ['t'] })]) {
      expect(createdAtOf(bytes)).toBe(decodeEntry(bytes).createdAt);
    }
    expect(createdAtOf(entry(CREATED))).toBe(CREATED);
  });

  it('createdAtOf refuses bytes that are not an entry', () => {
    expect(createdAtOf(new Uint8Array(ENTRY_HEADER_BYTES - 1).fill(1))).toBeUndefined();
    const other = entry(CREATED);
    other[0] = 2;
    expect(createdAtOf(other)).toBeUndefined();
  });

  it('identityOf is the fixed header: the same for one write, different for a later one', () => {
    const first = entry(CREATED);
    expect(identityOf(first)).toHaveLength(ENTRY_HEADER_BYTES);
    expect(identityOf(first)).toEqual(identityOf(entry(CREATED)));
    expect(identityOf(first)).not.toEqual(identityOf(entry(CREATED + 1)));
  });
});
