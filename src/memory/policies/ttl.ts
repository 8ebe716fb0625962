import type { Policy, PolicyHost } from './policy.js';

/**
 * Soonest deadline first: a binary min-heap of slots keyed by (deadline, write order), so among entries
 * without a deadline the oldest write goes first. The same heap finds expired entries for the sweep
 * without scanning. Reads do not reorder anything.
 */
export class TtlPolicy implements Policy {
  readonly reserved = 0;
  private heap: Int32Array;
  /** Heap index per slot. */
  private pos: Int32Array;
  /** Write order per slot, the tie-breaker. */
  private order: Float64Array;
  private size = 0;
  private writes = 0;

  constructor(
    private readonly host: PolicyHost,
    entries: number,
  ) {
    this.heap = new Int32Array(entries);
    this.pos = new Int32Array(entries);
    this.order = new Float64Array(entries);
  }

  grow(capacity: number): void {
    const heap = new Int32Array(capacity);
    heap.set(this.heap);
    this.heap = heap;
    const pos = new Int32Array(capacity);
    pos.set(this.pos);
    this.pos = pos;
    const order = new Float64Array(capacity);
    order.set(this.order);
    this.order = order;
  }

  private before(a: number, b: number): boolean {
    const da = this.host.deadlineAt(a);
    const db = this.host.deadlineAt(b);
    return da < db || (da === db && this.order[a]! < this.order[b]!);
  }

  private place(slot: number, at: number): void {
    this.heap[at] = slot;
    this.pos[slot] = at;
  }

  private up(at: number): void {
    const slot = this.heap[at]!;
    while (at > 0) {
      const parentAt = (at - 1) >> 1;
      const parent = this.heap[parentAt]!;
      if (!this.before(slot, parent)) break;
      this.place(parent, at);
      at = parentAt;
    }
    this.place(slot, at);
  }

  private down(at: number): void {
    const slot = this.heap[at]!;
    const n = this.size;
    for (;;) {
      let child = 2 * at + 1;
      if (child >= n) break;
      const right = child + 1;
      if (right < n && this.before(this.heap[right]!, this.heap[child]!)) child = right;
      const c = this.heap[child]!;
      if (!this.before(c, slot)) break;
      this.place(c, at);
      at = child;
    }
    this.place(slot, at);
  }

  miss(_key: string): void {}

  hit(_slot: number, _key: string): void {}

  insert(slot: number, _key: string, _size: number): void {
    this.order[slot] = ++this.writes;
    const at = this.size++;
    this.place(slot, at);
    this.up(at);
  }

  update(slot: number, _key: string, _oldSize: number): void {
    this.order[slot] = ++this.writes;
    const at = this.pos[slot]!;
    this.up(at);
    this.down(this.pos[slot]!);
  }

  remove(slot: number, _size: number): void {
    const at = this.pos[slot]!;
    const last = this.heap[--this.size]!;
    if (last === slot) return;
    this.place(last, at);
    this.up(at);
    this.down(this.pos[last]!);
  }

  evict(keep: number): void {
    const host = this.host;
    while (host.overCapacity() && this.size > 0) {
      let victim = this.heap[0]!;
      if (victim === keep) {
        // The entry just written is spared: take the sooner of its children instead.
        if (this.size === 1) return;
        victim = this.heap[1]!;
        if (this.size > 2 && this.before(this.heap[2]!, victim)) victim = this.heap[2]!;
      }
      host.evict(victim);
    }
  }

  sweep(now: number, limit: number): number {
    let removed = 0;
    while (removed < limit && this.size > 0) {
      const top = this.heap[0]!;
      if (this.host.deadlineAt(top) > now) break;
      this.host.expire(top);
      removed++;
    }
    return removed;
  }

  clear(capacity: number): void {
    this.heap = new Int32Array(capacity);
    this.pos = new Int32Array(capacity);
    this.order = new Float64Array(capacity);
    this.size = 0;
    this.writes = 0;
  }
}
