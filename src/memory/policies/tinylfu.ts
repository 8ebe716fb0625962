import { FrequencySketch } from '../frequency-sketch.js';
import { hashString } from '../hash.js';
import { Links } from './links.js';
import type { Policy, PolicyHost } from './policy.js';
import { WindowTuner } from './window-tuner.js';

const WINDOW = 0;
const PROBATION = 1;
const PROTECTED = 2;
/** Per-slot node: prev, next, then the key's hash, so a hit need not rehash the key. */
const STRIDE = 3;
const HASH = 2;
/** Share of the main area kept for entries that were hit while on probation. */
const PROTECTED_SHARE = 0.8;
/** Window share before the tuner has evidence; Caffeine's default. */
const INITIAL_WINDOW = 0.01;
/** Below this many entries the mini caches are too small to tell window shares apart. */
const MIN_TUNED_ENTRIES = 16;
/** Sketch size before the cache has grown, in entries. */
const INITIAL_SKETCH = 64;
/**
 * Most entries moved between regions by one call after the window share changes, so that retuning a large
 * cache is spread over many requests instead of stalling one; the rest follows on later sampled requests.
 */
const TRANSFER_LIMIT = 1000;

export interface TinyLfuOptions {
  maxEntries: number;
  maxBytes: number;
}

/**
 * W-TinyLFU: new entries enter a small LRU window; on leaving it they must beat the main area's eviction
 * victim on estimated frequency to get in. The main area is a segmented LRU (probation, then protected
 * once hit again). The window's share of the capacity is chosen by a {@link WindowTuner}.
 *
 * Both bounds are honoured: each region has an entry quota and a byte quota, and whichever is tighter binds.
 */
export class TinyLfuPolicy extends Links implements Policy {
  /** WINDOW, PROBATION or PROTECTED per slot. */
  private region: Uint8Array;
  private readonly sketch = new FrequencySketch(INITIAL_SKETCH);
  private readonly maxEntries: number;
  private readonly maxBytes: number;

  private count = 0;
  private bytes = 0;
  private windowCount = 0;
  private windowBytes = 0;
  private protectedCount = 0;
  private protectedBytes = 0;

  private windowMaxEntries = 0;
  private windowMaxBytes = 0;
  private protectedMaxEntries = 0;
  private protectedMaxBytes = 0;
  private share: number;

  private tuner: WindowTuner | undefined = undefined;
  /** The tuner was started, or found not worth starting for this capacity. */
  private tunerTried = false;
  /** The cache has evicted since it was created or cleared. */
  private evicted = false;
  /** Regions are still being resized to a new window share. */
  private rebalancing = false;

  /**
   * Keys missed and not inserted since, with their hashes: the `set` that fills a miss is not a second request,
   * also when a batch read misses many keys before it copies them in. Bounded: past PENDING_MISSES the oldest
   * half is forgotten (an insert of a forgotten key is then counted as a request of its own).
   */
  private readonly pendingMisses = new Map<string, number>();
  private rng = 0x2545f491;

  constructor(
    private readonly host: PolicyHost,
    entries: number,
    options: TinyLfuOptions,
  ) {
    super(3, STRIDE, 3 + entries);
    this.region = new Uint8Array(3 + entries);
    this.maxEntries = options.maxEntries;
    this.maxBytes = options.maxBytes;
    this.share = INITIAL_WINDOW;
    this.setQuotas(this.share);
  }

  private setQuotas(share: number): void {
    this.share = share;
    const me = this.maxEntries;
    const mb = this.maxBytes;
    this.windowMaxEntries = me === Infinity ? Infinity : Math.max(1, Math.round(me * share));
    this.windowMaxBytes = mb * share;
    this.protectedMaxEntries = me === Infinity ? Infinity : PROTECTED_SHARE * (me - this.windowMaxEntries);
    this.protectedMaxBytes = PROTECTED_SHARE * (mb - this.windowMaxBytes);
  }

  private protectedOver(): boolean {
    return this.protectedCount > this.protectedMaxEntries || this.protectedBytes > this.protectedMaxBytes;
  }

  private windowOver(): boolean {
    return this.windowCount > this.windowMaxEntries || this.windowBytes > this.windowMaxBytes;
  }

  private hashOf(slot: number): number {
    return this.nodes[slot * STRIDE + HASH]!;
  }

  grow(capacity: number): void {
    this.growLinks(capacity);
    const region = new Uint8Array(capacity);
    region.set(this.region);
    this.region = region;
    this.sketch.ensureCapacity(capacity - this.reserved);
  }

  miss(key: string): void {
    const h = hashString(key);
    this.sketch.increment(h);
    const pending = this.pendingMisses;
    if (pending.size >= PENDING_MISSES) forgetOldest(pending, PENDING_MISSES / 2);
    pending.set(key, h);
    const tuner = this.tuner;
    if (tuner !== undefined && tuner.wants(h)) this.tune(tuner, h);
  }

  hit(slot: number, _key: string): void {
    const h = this.nodes[slot * STRIDE + HASH]!;
    this.sketch.increment(h);
    this.touch(slot);
    const tuner = this.tuner;
    if (tuner !== undefined && tuner.wants(h)) this.tune(tuner, h);
  }

  private tune(tuner: WindowTuner, hash: number): void {
    const share = tuner.record(hash);
    if (share >= 0 && share !== this.share) {
      this.setQuotas(share);
      this.rebalancing = true;
    }
    if (this.rebalancing) this.rebalance();
  }

  private touch(slot: number): void {
    const region = this.region[slot]!;
    if (region === WINDOW) {
      this.moveToFront(WINDOW, slot);
    } else if (region === PROTECTED) {
      this.moveToFront(PROTECTED, slot);
    } else {
      this.unlink(slot);
      this.region[slot] = PROTECTED;
      this.pushFront(PROTECTED, slot);
      this.protectedCount++;
      this.protectedBytes += this.host.sizeAt(slot);
      // One promotion needs one demotion; a larger excess is the rebalancing's to work off.
      this.demoteProtected(1);
    }
  }

  /** Moves up to `limit` of protected's oldest entries back to probation while protected is over quota. */
  private demoteProtected(limit: number): number {
    let moved = 0;
    while (moved < limit && this.protectedOver()) {
      const victim = this.tail(PROTECTED);
      if (victim === PROTECTED) break;
      this.unlink(victim);
      this.region[victim] = PROBATION;
      this.pushFront(PROBATION, victim);
      this.protectedCount--;
      this.protectedBytes -= this.host.sizeAt(victim);
      moved++;
    }
    return moved;
  }

  insert(slot: number, key: string, size: number): void {
    let h = this.pendingMisses.get(key);
    if (h !== undefined) {
      this.pendingMisses.delete(key);
    } else {
      h = hashString(key);
      this.sketch.increment(h);
    }
    this.nodes[slot * STRIDE + HASH] = h;
    this.region[slot] = WINDOW;
    this.pushFront(WINDOW, slot);
    this.windowCount++;
    this.windowBytes += size;
    this.count++;
    this.bytes += size;
    if (this.tuner === undefined && !this.tunerTried) this.startTuner();
  }

  /**
   * Under an entry bound the tuner starts with the first entry, so that its mini caches fill as the cache
   * does. Under a byte bound alone the entry capacity is whatever fits, so it waits until the cache is half
   * full and extrapolates from the mean size so far.
   */
  private startTuner(): void {
    let capacity = this.maxEntries;
    if (capacity === Infinity) {
      if (this.bytes * 2 < this.maxBytes) return;
      capacity = Math.round((this.count * this.maxBytes) / Math.max(1, this.bytes));
    }
    this.tunerTried = true;
    if (capacity < MIN_TUNED_ENTRIES) return;
    this.tuner = new WindowTuner(capacity, this.sketch, this.share);
  }

  update(slot: number, _key: string, oldSize: number): void {
    const delta = this.host.sizeAt(slot) - oldSize;
    this.bytes += delta;
    const region = this.region[slot]!;
    if (region === WINDOW) this.windowBytes += delta;
    else if (region === PROTECTED) this.protectedBytes += delta;
    this.sketch.increment(this.hashOf(slot));
    this.touch(slot);
  }

  remove(slot: number, size: number): void {
    this.count--;
    this.bytes -= size;
    const region = this.region[slot]!;
    if (region === WINDOW) {
      this.windowCount--;
      this.windowBytes -= size;
    } else if (region === PROTECTED) {
      this.protectedCount--;
      this.protectedBytes -= size;
    }
    this.unlink(slot);
  }

  /**
   * Moves entries between the window and the main area toward the current quotas, at most TRANSFER_LIMIT
   * of them; clears `rebalancing` once the quotas hold.
   */
  /** Moves the window's least recent entry to the front of probation; false when the window is empty. */
  private demoteWindowTail(): boolean {
    const s = this.tail(WINDOW);
    if (s === WINDOW) return false;
    this.unlink(s);
    this.windowCount--;
    this.windowBytes -= this.host.sizeAt(s);
    this.region[s] = PROBATION;
    this.pushFront(PROBATION, s);
    return true;
  }

  private rebalance(): void {
    const host = this.host;
    let budget = TRANSFER_LIMIT;
    while (budget > 0 && this.windowOver()) {
      if (!this.demoteWindowTail()) break;
      budget--;
    }
    // A bigger window takes over the main area's least valuable entries rather than waiting to refill.
    while (budget > 0) {
      let s = this.tail(PROBATION);
      if (s === PROBATION) s = this.tail(PROTECTED);
      if (s === PROTECTED) break;
      const size = host.sizeAt(s);
      if (this.windowCount + 1 > this.windowMaxEntries || this.windowBytes + size > this.windowMaxBytes) break;
      if (this.region[s] === PROTECTED) {
        this.protectedCount--;
        this.protectedBytes -= size;
      }
      this.unlink(s);
      this.region[s] = WINDOW;
      this.pushFront(WINDOW, s);
      this.windowCount++;
      this.windowBytes += size;
      budget--;
    }
    if (budget > 0) budget -= this.demoteProtected(budget);
    if (budget > 0) this.rebalancing = false;
  }

  evict(keep: number): void {
    const host = this.host;
    if (!this.evicted) {
      this.evicted = true;
      const share = this.tuner?.opening() ?? -1;
      if (share >= 0 && share !== this.share) {
        this.setQuotas(share);
        this.rebalancing = true;
        this.rebalance();
      }
    }
    let candidates = 0;
    // Normally one entry overflows the window per write; after the window shrank, the excess drains over
    // several writes rather than all at once.
    while (candidates < TRANSFER_LIMIT && this.windowOver()) {
      if (!this.demoteWindowTail()) break;
      candidates++;
    }
    // Candidates (just out of the window) are walked from the newest, victims from probation's oldest;
    // each comparison evicts the less frequent of the two. Either walk may run out first.
    let victim = this.tail(PROBATION);
    let candidate = candidates > 0 ? this.head(PROBATION) : PROBATION;
    let victimList = PROBATION;
    while (host.overCapacity()) {
      if (candidates === 0) candidate = PROBATION;
      if (victim === victimList) {
        if (candidate === PROBATION) {
          // Probation is exhausted: fall back to protected, then to the window, oldest first.
          if (victimList === PROBATION) victimList = PROTECTED;
          else if (victimList === PROTECTED) victimList = WINDOW;
          else return;
          victim = this.tail(victimList);
          continue;
        }
        const next = this.nextOf(candidate);
        candidates--;
        if (candidate !== keep) host.evict(candidate);
        candidate = next;
        continue;
      }
      if (candidate === PROBATION || candidate === victim) {
        if (candidate === victim) {
          candidates--;
          candidate = PROBATION;
        }
        const next = this.prevOf(victim);
        if (victim !== keep) host.evict(victim);
        victim = next;
        continue;
      }
      candidates--;
      if (candidate === keep || victim === keep || this.admit(candidate, victim)) {
        const next = this.prevOf(victim);
        if (victim !== keep) host.evict(victim);
        victim = next;
        candidate = this.nextOf(candidate);
      } else {
        const next = this.nextOf(candidate);
        host.evict(candidate);
        candidate = next;
      }
    }
  }

  private admit(candidate: number, victim: number): boolean {
    const cf = this.sketch.frequency(this.hashOf(candidate));
    const vf = this.sketch.frequency(this.hashOf(victim));
    if (cf > vf) return true;
    if (cf < 6) return false;
    // Keys that collide with a hot key in the sketch (or an attacker flooding it) cannot keep a victim
    // resident forever: a warm candidate is let in at random now and then.
    let x = this.rng;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.rng = x;
    return (x & 127) === 0;
  }

  sweep(_now: number, _limit: number): number {
    return -1;
  }

  clear(capacity: number): void {
    this.resetLinks(capacity);
    this.region = new Uint8Array(capacity);
    this.sketch.clear();
    this.tuner = undefined;
    this.tunerTried = false;
    this.evicted = false;
    this.count = 0;
    this.bytes = 0;
    this.windowCount = 0;
    this.windowBytes = 0;
    this.protectedCount = 0;
    this.protectedBytes = 0;
    this.pendingMisses.clear();
    this.rebalancing = false;
    this.setQuotas(INITIAL_WINDOW);
  }
}

/** Misses remembered for the inserts that fill them (see `pendingMisses`). */
const PENDING_MISSES = 512;

/** Drops the `count` oldest keys of `map` (insertion order). */
function forgetOldest(map: Map<string, number>, count: number): void {
  let left = count;
  for (const key of map.keys()) {
    if (left-- <= 0) return;
    map.delete(key);
  }
}
