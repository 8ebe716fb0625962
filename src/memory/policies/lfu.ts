import { Links } from './links.js';
import type { Policy, PolicyHost } from './policy.js';

/** Per-slot field after prev and next: the use count. */
const COUNT = 2;

/** Counts saturate here; beyond it, being used more says little that recency does not. */
const MAX_COUNT = 32;
/** Requests per entry of capacity between two halvings of every count. */
const AGING_FACTOR = 10;

/**
 * Least frequently used, ties broken by recency. Entries live in one list per use count (the sentinel of
 * the list for count c is slot c - 1); eviction takes the least recent entry of the lowest non-empty list.
 * Aging halves every count periodically so that entries popular long ago fade; since halving maps each
 * count to a lower one, it is a splice of whole lists plus one pass over the counts, amortised O(1).
 */
export class LfuPolicy extends Links implements Policy {
  private accesses = 0;
  private agingPeriod: number;

  constructor(
    private readonly host: PolicyHost,
    entries: number,
  ) {
    super(MAX_COUNT, 3, MAX_COUNT + entries);
    this.agingPeriod = AGING_FACTOR * entries;
  }

  grow(capacity: number): void {
    this.growLinks(capacity);
    this.agingPeriod = AGING_FACTOR * (capacity - this.reserved);
  }

  miss(_key: string): void {}

  hit(slot: number, _key: string): void {
    const c = this.nodes[slot * 3 + COUNT]!;
    if (c < MAX_COUNT) {
      this.unlink(slot);
      this.nodes[slot * 3 + COUNT] = c + 1;
      this.pushFront(c, slot);
    } else {
      this.moveToFront(MAX_COUNT - 1, slot);
    }
    if (++this.accesses >= this.agingPeriod) this.age();
  }

  insert(slot: number, _key: string, _size: number): void {
    this.nodes[slot * 3 + COUNT] = 1;
    this.pushFront(0, slot);
    if (++this.accesses >= this.agingPeriod) this.age();
  }

  update(slot: number, key: string, _oldSize: number): void {
    this.hit(slot, key);
  }

  remove(slot: number, _size: number): void {
    this.unlink(slot);
  }

  private age(): void {
    this.accesses = 0;
    const nodes = this.nodes;
    for (let at = this.reserved * 3 + COUNT; at < nodes.length; at += 3) {
      const c = nodes[at]!;
      if (c > 1) nodes[at] = c >> 1;
    }
    // Count c becomes max(1, c >> 1), a lower list that is already final when lists are taken in
    // ascending order; the moved list goes to its front, as it was used more than what is there.
    for (let c = 2; c <= MAX_COUNT; c++) this.spliceToFront(c - 1, (c >> 1) - 1);
  }

  evict(keep: number): void {
    const host = this.host;
    while (host.overCapacity()) {
      let victim = -1;
      for (let list = 0; list < MAX_COUNT && victim < 0; list++) {
        let s = this.tail(list);
        if (s === keep) s = this.prevOf(s);
        if (s !== list) victim = s;
      }
      if (victim < 0) return;
      host.evict(victim);
    }
  }

  sweep(_now: number, _limit: number): number {
    return -1;
  }

  clear(capacity: number): void {
    this.resetLinks(capacity);
    this.accesses = 0;
  }
}
