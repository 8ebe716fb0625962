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
 * Halving the whole table at once would stall the one request that crossed the line for O(width), so the
 * halving is lazy instead: crossing the line only starts a new epoch, and each block remembers the epoch it
 * was last brought up to. A block is caught up (one shift of its 16 words) before it is counted into, and read
 * as if caught up before that, so every estimate is exactly what an all-at-once halving would have left. A
 * hand catching up one block every few requests keeps any block from falling more than two epochs behind,
 * which is what lets a byte hold a block's epoch.
 */

const WORDS_PER_BLOCK = 16;
/** 16 counters per entry, as in Caffeine; about 8 bytes per entry. */
const ENTRIES_PER_BLOCK = 8;
/** Per-nibble masks after shifting a word right by 0..3 bits; a fourth halving leaves any 4-bit counter 0. */
const SHIFT_MASKS = [0xffffffff | 0, 0x77777777, 0x33333333, 0x11111111] as const;
const INV_2_32 = 1 / 4294967296;
/** Requests per entry of capacity between two halvings. */
const SAMPLE_FACTOR = 10;

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
  /** Low byte of the epoch each block was last caught up to. */
  private ages: Uint8Array;
  /** Halvings so far (mod 256). */
  private epoch = 0;
  private additions = 0;
  /** Requests counted since the hand last moved, scaled by `blocks` (see {@link increment}). */
  private credit = 0;
  /** Next block the hand catches up. */
  private hand = 0;
  private sampleSize = SAMPLE_FACTOR;
  private capacity = 0;

  constructor(expectedEntries: number) {
    this.blocks = 1;
    this.scale = INV_2_32;
    this.table = new Int32Array(WORDS_PER_BLOCK);
    this.ages = new Uint8Array(1);
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
    const ages = new Uint8Array(wanted);
    for (let b = 0; b < wanted; b++) {
      // Exact when the table doubles; otherwise a new block's keys come from one or two old blocks and
      // it inherits the first, which only blurs counts gathered while the cache was still filling.
      const from = Math.floor((b * oldBlocks) / wanted) * WORDS_PER_BLOCK;
      table.set(old.subarray(from, from + WORDS_PER_BLOCK), b * WORDS_PER_BLOCK);
      ages[b] = this.ages[from / WORDS_PER_BLOCK]!;
    }
    this.ages = ages;
    this.table = table;
    this.blocks = wanted;
    this.scale = wanted * INV_2_32;
    this.hand = Math.floor((this.hand * wanted) / oldBlocks);
  }

  /** Estimated recent requests for the key with this hash, 0–15. */
  frequency(hash: number): number {
    const t = this.table;
    const b = ((hash >>> 0) * this.scale) | 0;
    const lag = (this.epoch - this.ages[b]!) & 255;
    if (lag > 3) return 0;
    const block = b << 4;
    const h = counterHash(hash);
    const c0 = (t[block + (h & 3)]! >>> (((h >>> 2) & 7) << 2)) & 15;
    const c1 = (t[block + 4 + ((h >>> 8) & 3)]! >>> (((h >>> 10) & 7) << 2)) & 15;
    const c2 = (t[block + 8 + ((h >>> 16) & 3)]! >>> (((h >>> 18) & 7) << 2)) & 15;
    const c3 = (t[block + 12 + ((h >>> 24) & 3)]! >>> (((h >>> 26) & 7) << 2)) & 15;
    const a = c0 < c1 ? c0 : c1;
    const d = c2 < c3 ? c2 : c3;
    // Floor-halving `lag` times is one shift, so a block not yet caught up reads as if it were.
    return (a < d ? a : d) >>> lag;
  }

  /** Counts one request for the key with this hash. */
  increment(hash: number): void {
    const t = this.table;
    const b = ((hash >>> 0) * this.scale) | 0;
    if (this.ages[b] !== (this.epoch & 255)) this.catchUp(b);
    const block = b << 4;
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
    if (++this.additions >= this.sampleSize) {
      this.epoch = (this.epoch + 1) & 255;
      // The tally halves with the counts, so later epochs are about half a period apart, as when the halving
      // was eager.
      this.additions >>>= 1;
    }
    // The hand visits every block twice per period, which bounds how far behind a block can fall. A block
    // holds 8 entries' counters and a period is 10 requests per entry, so blocks × 2 <= sampleSize: one
    // request moves it at most once.
    this.credit += this.blocks * 2;
    if (this.credit >= this.sampleSize) {
      this.credit -= this.sampleSize;
      const hand = this.hand;
      if (this.ages[hand] !== this.epoch) this.catchUp(hand);
      this.hand = hand + 1 === this.blocks ? 0 : hand + 1;
    }
  }

  /** Applies the halvings block `b` missed: at most 16 words, whatever the table's width. */
  private catchUp(b: number): void {
    const lag = (this.epoch - this.ages[b]!) & 255;
    this.ages[b] = this.epoch;
    const t = this.table;
    const from = b << 4;
    if (lag > 3) {
      t.fill(0, from, from + WORDS_PER_BLOCK);
      return;
    }
    const mask = SHIFT_MASKS[lag]!;
    for (let i = from; i < from + WORDS_PER_BLOCK; i++) t[i] = (t[i]! >>> lag) & mask;
  }

  clear(): void {
    this.table.fill(0);
    this.ages.fill(0);
    this.epoch = 0;
    this.additions = 0;
    this.credit = 0;
    this.hand = 0;
  }

  get byteLength(): number {
    return this.table.byteLength + this.ages.byteLength;
  }
}
