/**
 * Count-min sketch of 4-bit counters estimating how often each key was requested recently (TinyLFU).
 *
 * Layout: 64-byte blocks of 16 32-bit words, 8 counters per word. A key's four counters all live in one
 * block, each in its own group of four words, so an update touches a single cache line. The block comes
 * from the high bits of the hash (multiply-shift), so the table can have any number of blocks and tracks
 * the cache's size instead of rounding up to a power of two. Doubling the table maps block b onto blocks
 * 2b and 2b+1, so copying b into both keeps every estimate (count-min only ever overestimates).
 *
 * Aging: after `10 × capacity` counted requests every counter is halved, so popularity that stopped fades.
 */

const WORDS_PER_BLOCK = 16;
/** 16 counters per entry, as in Caffeine; about 8 bytes per entry. */
const ENTRIES_PER_BLOCK = 8;
const RESET_MASK = 0x77777777;
const ONE_MASK = 0x11111111;
const INV_2_32 = 1 / 4294967296;
/** Requests per entry of capacity between two halvings. */
const SAMPLE_FACTOR = 10;

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** Counter positions must not repeat the bits that picked the block, so they come from a re-mix. */
function counterHash(hash: number): number {
  const h = Math.imul(hash, 0x9e3779b1);
  return h ^ (h >>> 16);
}

export class FrequencySketch {
  private table: Int32Array;
  /** blocks / 2^32: the block of a hash is floor(hash × scale), exact while blocks < 2^21. */
  private scale: number;
  private blocks: number;
  private additions = 0;
  private sampleSize = SAMPLE_FACTOR;
  private capacity = 0;

  constructor(expectedEntries: number) {
    this.blocks = 1;
    this.scale = INV_2_32;
    this.table = new Int32Array(WORDS_PER_BLOCK);
    this.ensureCapacity(expectedEntries);
  }

  /** Grows the table (never shrinks) to suit `entries`; estimates carry over. */
  ensureCapacity(entries: number): void {
    if (!(entries > this.capacity)) return;
    this.capacity = entries;
    this.sampleSize = SAMPLE_FACTOR * entries;
    const wanted = Math.min(Math.ceil(entries / ENTRIES_PER_BLOCK), 1 << 20);
    const oldBlocks = this.blocks;
    if (wanted <= oldBlocks) return;
    const old = this.table;
    const table = new Int32Array(wanted * WORDS_PER_BLOCK);
    for (let b = 0; b < wanted; b++) {
      // Exact when the table doubles; otherwise a new block's keys come from one or two old blocks and
      // it inherits the first, which only blurs counts gathered while the cache was still filling.
      const from = Math.floor((b * oldBlocks) / wanted) * WORDS_PER_BLOCK;
      table.set(old.subarray(from, from + WORDS_PER_BLOCK), b * WORDS_PER_BLOCK);
    }
    this.table = table;
    this.blocks = wanted;
    this.scale = wanted * INV_2_32;
  }

  /** Estimated recent requests for the key with this hash, 0–15. */
  frequency(hash: number): number {
    const t = this.table;
    const block = ((hash >>> 0) * this.scale) << 4;
    const h = counterHash(hash);
    const c0 = (t[block + (h & 3)]! >>> (((h >>> 2) & 7) << 2)) & 15;
    const c1 = (t[block + 4 + ((h >>> 8) & 3)]! >>> (((h >>> 10) & 7) << 2)) & 15;
    const c2 = (t[block + 8 + ((h >>> 16) & 3)]! >>> (((h >>> 18) & 7) << 2)) & 15;
    const c3 = (t[block + 12 + ((h >>> 24) & 3)]! >>> (((h >>> 26) & 7) << 2)) & 15;
    const a = c0 < c1 ? c0 : c1;
    const b = c2 < c3 ? c2 : c3;
    return a < b ? a : b;
  }

  /** Counts one request for the key with this hash. */
  increment(hash: number): void {
    const t = this.table;
    const block = ((hash >>> 0) * this.scale) << 4;
    const h = counterHash(hash);
    const w0 = block + (h & 3);
    const w1 = block + 4 + ((h >>> 8) & 3);
    const w2 = block + 8 + ((h >>> 16) & 3);
    const w3 = block + 12 + ((h >>> 24) & 3);
    const s0 = ((h >>> 2) & 7) << 2;
    const s1 = ((h >>> 10) & 7) << 2;
    const s2 = ((h >>> 18) & 7) << 2;
    const s3 = ((h >>> 26) & 7) << 2;
    // A saturated counter stays at 15 instead of carrying into its neighbour.
    if (((t[w0]! >>> s0) & 15) !== 15) t[w0] = (t[w0]! + (1 << s0)) | 0;
    if (((t[w1]! >>> s1) & 15) !== 15) t[w1] = (t[w1]! + (1 << s1)) | 0;
    if (((t[w2]! >>> s2) & 15) !== 15) t[w2] = (t[w2]! + (1 << s2)) | 0;
    if (((t[w3]! >>> s3) & 15) !== 15) t[w3] = (t[w3]! + (1 << s3)) | 0;
    if (++this.additions >= this.sampleSize) this.halve();
  }

  /** Halves every counter; each odd counter loses half a count, which the addition tally is corrected for. */
  private halve(): void {
    const t = this.table;
    let odd = 0;
    for (let i = 0; i < t.length; i++) {
      const w = t[i]!;
      odd += popcount(w & ONE_MASK);
      t[i] = (w >>> 1) & RESET_MASK;
    }
    this.additions = Math.max(0, (this.additions - (odd >>> 2)) >>> 1);
  }

  clear(): void {
    this.table.fill(0);
    this.additions = 0;
  }

  get byteLength(): number {
    return this.table.byteLength;
  }
}
