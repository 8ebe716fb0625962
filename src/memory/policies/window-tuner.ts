import type { FrequencySketch } from '../frequency-sketch.js';

const WIN = 0;
const PROB = 1;
const PROT = 2;
const SENTINELS = 3;

/** Window shares tried side by side, log-spaced so each step is a similar relative change. */
export const WINDOW_SHARES: readonly number[] = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 0.95];
/** Most entries per mini cache; larger caches are tuned on a proportionally smaller key sample. */
const SIM_ENTRIES = 256;
/** Pairwise score decay per epoch (one epoch replays as many sampled requests as a mini cache holds). */
const DECAY = 0.85;
/** Sampled requests between two decisions; the decay is scaled so an epoch still decays by DECAY. */
const CHECK = 32;
/** Standard deviations a difference in hits must exceed before the window moves. */
const Z = 3;
/** Scouts are this many times smaller than the mini caches, so they evict from a quarter full on. */
const SCOUT_DIVISOR = 4;
/** Standard deviations the scouts' leader must beat the default share by to open the cache with it. */
const SCOUT_Z = 3;

/**
 * A scaled-down W-TinyLFU over sampled key hashes with one fixed window share. Keys are the 32-bit hashes
 * the tier already computes; frequencies come from the tier's own sketch, since the sampled stream ages at
 * the same pace and so sees the estimates the full-size cache would.
 */
class MiniCache {
  /** Node numbers (plus one in the table) are at most SIM_ENTRIES + 4, so two bytes hold them. */
  private readonly table: Int16Array;
  private readonly mask: number;
  private readonly keyOf: Int32Array;
  private readonly prev: Int16Array;
  private readonly next: Int16Array;
  private readonly region: Uint8Array;
  private readonly windowMax: number;
  private readonly protectedMax: number;
  private size = 0;
  private windowCount = 0;
  private protectedCount = 0;
  private fresh = SENTINELS;
  private freeHead = -1;
  private rng: number;

  constructor(
    private readonly capacity: number,
    share: number,
    private readonly sketch: FrequencySketch,
    seed: number,
  ) {
    const nodes = capacity + 1 + SENTINELS;
    let buckets = 4;
    while (buckets < nodes * 2) buckets *= 2;
    this.table = new Int16Array(buckets);
    this.mask = buckets - 1;
    this.keyOf = new Int32Array(nodes);
    this.prev = new Int16Array(nodes);
    this.next = new Int16Array(nodes);
    this.region = new Uint8Array(nodes);
    for (let s = 0; s < SENTINELS; s++) {
      this.prev[s] = s;
      this.next[s] = s;
    }
    this.windowMax = Math.max(1, Math.round(capacity * share));
    this.protectedMax = 0.8 * (capacity - this.windowMax);
    this.rng = seed | 1;
  }

  /** Open addressing with linear probing; the table stores node + 1 so that 0 means empty. */
  private find(key: number): number {
    const table = this.table;
    const mask = this.mask;
    let i = key & mask;
    for (;;) {
      const n = table[i]!;
      if (n === 0) return -1;
      if (this.keyOf[n - 1] === key) return n - 1;
      i = (i + 1) & mask;
    }
  }

  private forget(node: number): void {
    const table = this.table;
    const mask = this.mask;
    let i = this.keyOf[node]! & mask;
    while (table[i] !== node + 1) i = (i + 1) & mask;
    // Backward-shift deletion keeps probe chains unbroken without tombstones.
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const n = table[j]!;
      if (n === 0) break;
      const home = this.keyOf[n - 1]! & mask;
      if (((j - home) & mask) >= ((j - i) & mask)) {
        table[i] = n;
        i = j;
      }
    }
    table[i] = 0;
    this.prev[node] = this.freeHead;
    this.freeHead = node;
  }

  private unlink(node: number): void {
    const p = this.prev[node]!;
    const n = this.next[node]!;
    this.next[p] = n;
    this.prev[n] = p;
  }

  private pushFront(list: number, node: number): void {
    const head = this.next[list]!;
    this.next[node] = head;
    this.prev[node] = list;
    this.prev[head] = node;
    this.next[list] = node;
    this.region[node] = list;
  }

  /** Replays one request; true on a hit. */
  access(key: number): boolean {
    const node = this.find(key);
    if (node >= 0) {
      const r = this.region[node]!;
      this.unlink(node);
      if (r === WIN) {
        this.pushFront(WIN, node);
      } else {
        if (r === PROB) this.protectedCount++;
        this.pushFront(PROT, node);
        if (this.protectedCount > this.protectedMax) {
          const demoted = this.prev[PROT]!;
          this.unlink(demoted);
          this.pushFront(PROB, demoted);
          this.protectedCount--;
        }
      }
      return true;
    }
    let added = this.freeHead;
    if (added >= 0) this.freeHead = this.prev[added]!;
    else added = this.fresh++;
    this.keyOf[added] = key;
    let i = key & this.mask;
    while (this.table[i] !== 0) i = (i + 1) & this.mask;
    this.table[i] = added + 1;
    this.pushFront(WIN, added);
    this.size++;
    if (++this.windowCount <= this.windowMax) return false;
    const candidate = this.prev[WIN]!;
    this.unlink(candidate);
    this.windowCount--;
    this.pushFront(PROB, candidate);
    if (this.size <= this.capacity) return false;
    let victim = this.prev[PROB]!;
    if (victim === candidate) {
      victim = this.prev[PROT]!;
      if (victim === PROT) {
        this.drop(candidate);
        return false;
      }
    }
    this.drop(this.admit(candidate, victim) ? victim : candidate);
    return false;
  }

  /** The same admission rule as the real cache, so the mini caches predict it. */
  private admit(candidate: number, victim: number): boolean {
    const cf = this.sketch.frequency(this.keyOf[candidate]!);
    const vf = this.sketch.frequency(this.keyOf[victim]!);
    if (cf > vf) return true;
    if (cf < 6) return false;
    let x = this.rng;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.rng = x;
    return (x & 127) === 0;
  }

  private drop(node: number): void {
    if (this.region[node] === PROT) this.protectedCount--;
    this.unlink(node);
    this.forget(node);
    this.size--;
  }
}

/** Mini caches with one share each, fed the same stream, and the pairwise record of where they disagreed. */
class Panel {
  readonly sims: MiniCache[];
  /** Count of requests where mini cache i hit and j missed, at [i * k + j]. */
  readonly wins: Float64Array;
  /** Hits of each mini cache, counting only requests where they disagreed (same argmax, less work). */
  readonly scores: Float64Array;

  constructor(entries: number, sketch: FrequencySketch, seed: number) {
    const k = WINDOW_SHARES.length;
    this.sims = WINDOW_SHARES.map((share, i) => new MiniCache(entries, share, sketch, seed + i * 0x632be5ab));
    this.wins = new Float64Array(k * k);
    this.scores = new Float64Array(k);
  }

  access(key: number): void {
    const sims = this.sims;
    const k = sims.length;
    let hitMask = 0;
    for (let i = 0; i < k; i++) if (sims[i]!.access(key)) hitMask |= 1 << i;
    if (hitMask === 0 || hitMask === (1 << k) - 1) return;
    const wins = this.wins;
    const scores = this.scores;
    for (let i = 0; i < k; i++) {
      if ((hitMask & (1 << i)) === 0) continue;
      scores[i]!++;
      for (let j = 0; j < k; j++) if ((hitMask & (1 << j)) === 0) wins[i * k + j]!++;
    }
  }

  best(): number {
    const scores = this.scores;
    let best = 0;
    for (let i = 1; i < scores.length; i++) if (scores[i]! > scores[best]!) best = i;
    return best;
  }

  /**
   * How many standard deviations by which mini cache `i` beat `j` on the requests where exactly one of them
   * hit (McNemar: under "no difference" each such request is a fair coin).
   */
  lead(i: number, j: number): number {
    const k = this.sims.length;
    const a = this.wins[i * k + j]!;
    const b = this.wins[j * k + i]!;
    return (a - b) / Math.sqrt(a + b + 1);
  }

  decay(factor: number): void {
    const { wins, scores } = this;
    for (let i = 0; i < wins.length; i++) wins[i] = wins[i]! * factor;
    for (let i = 0; i < scores.length; i++) scores[i] = scores[i]! * factor;
  }
}

/**
 * Chooses the window share of a W-TinyLFU cache by miniature simulation (after SHARDS): a hash-sampled
 * slice of the keys is replayed through one scaled-down cache per candidate share, all fed the same stream.
 *
 * Because the mini caches see identical requests, what separates two of them is only the requests one hit
 * and the other missed. Those pairwise counts (decayed, so the choice follows workload shifts) decide, with
 * a McNemar-style test: the window moves only when the leader beats the current share by Z standard
 * deviations, and then straight to the leader. The mini caches already say where the optimum is, so walking
 * there a step at a time would only pay for the difference for longer; the test and the decay are what keep
 * a short burst from swinging the cache.
 *
 * The first choice cannot wait for that evidence. Until the cache is full nothing is evicted, and by then
 * a recency-skewed workload has already lost to a small window what it cannot win back (a trace whose
 * every key returns within a few dozen requests loses a hit per request). So while the cache fills, scouts,
 * mini caches a quarter the size, replay the same sample: they start evicting at a quarter full, and at the
 * first real eviction their leader opens the cache if it clearly beats the default share. After that the
 * scouts are dropped; only full-size evidence moves the window.
 */
export class WindowTuner {
  private readonly panel: Panel;
  private scouts: Panel | undefined;
  /** A hash is sampled when its re-mix falls below this bound out of 2^32. */
  private readonly sampleBound: number;
  private readonly decay: number;
  private sampled = 0;
  private current: number;

  constructor(capacity: number, sketch: FrequencySketch, initialShare: number) {
    const rate = Math.min(1, SIM_ENTRIES / capacity);
    const entries = Math.max(16, Math.round(capacity * rate));
    this.sampleBound = rate >= 1 ? 2 ** 32 : Math.floor(rate * 2 ** 32);
    this.panel = new Panel(entries, sketch, 0x9e3779b9);
    const scoutEntries = Math.round(entries / SCOUT_DIVISOR);
    this.scouts = scoutEntries >= 8 ? new Panel(scoutEntries, sketch, 0x7f4a7c15) : undefined;
    this.decay = DECAY ** (CHECK / Math.max(64, entries));
    const k = WINDOW_SHARES.length;
    const distance = (i: number): number => Math.abs(Math.log(WINDOW_SHARES[i]! / initialShare));
    let nearest = 0;
    for (let i = 1; i < k; i++) if (distance(i) < distance(nearest)) nearest = i;
    this.current = nearest;
  }

  /** Whether requests for this key hash belong to the sample. */
  wants(hash: number): boolean {
    return Math.imul(hash ^ (hash >>> 16), 0x2c1b3c6d) >>> 0 < this.sampleBound;
  }

  /** Replays one sampled request; returns the window share to use from now on, or -1 to keep it. */
  record(key: number): number {
    this.panel.access(key);
    this.scouts?.access(key);
    if (++this.sampled % CHECK !== 0) return -1;
    const panel = this.panel;
    const best = panel.best();
    const cur = this.current;
    const lead = best === cur ? 0 : panel.lead(best, cur);
    panel.decay(this.decay);
    if (lead <= Z) return -1;
    this.current = best;
    return WINDOW_SHARES[best]!;
  }

  /**
   * The cache evicts for the first time: the share to open with, from the scouts' evidence, or -1 to keep
   * the current one. Later calls return -1.
   */
  opening(): number {
    const scouts = this.scouts;
    if (scouts === undefined) return -1;
    this.scouts = undefined;
    const best = scouts.best();
    const cur = this.current;
    if (best === cur || scouts.lead(best, cur) <= SCOUT_Z) return -1;
    this.current = best;
    return WINDOW_SHARES[best]!;
  }
}
