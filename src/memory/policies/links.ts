/**
 * Intrusive circular doubly linked lists over slot numbers, stored with the policy's other per-slot fields
 * in one interleaved Int32Array: slot s owns nodes[s * stride .. s * stride + stride - 1], prev and next
 * first. A hit then finds everything the policy keeps about the entry in one cache line instead of one
 * line per array.
 *
 * Each list has a sentinel slot: its next is the most recently used end, its prev the least recently used
 * end, and an empty list links the sentinel to itself, so no operation needs a branch for the ends.
 */
export class Links {
  protected nodes: Int32Array;

  constructor(
    readonly reserved: number,
    protected readonly stride: number,
    capacity: number,
  ) {
    this.nodes = new Int32Array(capacity * stride);
    this.resetSentinels();
  }

  private resetSentinels(): void {
    for (let s = 0; s < this.reserved; s++) {
      this.nodes[s * this.stride] = s;
      this.nodes[s * this.stride + 1] = s;
    }
  }

  growLinks(capacity: number): void {
    if (capacity * this.stride <= this.nodes.length) return;
    const nodes = new Int32Array(capacity * this.stride);
    nodes.set(this.nodes);
    this.nodes = nodes;
  }

  /** Empties every list and reallocates for `capacity` slots. */
  resetLinks(capacity: number): void {
    this.nodes = new Int32Array(capacity * this.stride);
    this.resetSentinels();
  }

  protected prevOf(slot: number): number {
    return this.nodes[slot * this.stride]!;
  }

  protected nextOf(slot: number): number {
    return this.nodes[slot * this.stride + 1]!;
  }

  protected pushFront(list: number, slot: number): void {
    const nodes = this.nodes;
    const stride = this.stride;
    const at = slot * stride;
    const head = nodes[list * stride + 1]!;
    nodes[at] = list;
    nodes[at + 1] = head;
    nodes[head * stride] = slot;
    nodes[list * stride + 1] = slot;
  }

  protected unlink(slot: number): void {
    const nodes = this.nodes;
    const stride = this.stride;
    const at = slot * stride;
    const p = nodes[at]!;
    const n = nodes[at + 1]!;
    nodes[p * stride + 1] = n;
    nodes[n * stride] = p;
  }

  protected moveToFront(list: number, slot: number): void {
    if (this.nodes[list * this.stride + 1] === slot) return;
    this.unlink(slot);
    this.pushFront(list, slot);
  }

  /** Moves the whole of list `from` to the most recent end of list `to`, keeping its order. */
  protected spliceToFront(from: number, to: number): void {
    const nodes = this.nodes;
    const stride = this.stride;
    const first = nodes[from * stride + 1]!;
    if (first === from) return;
    const last = nodes[from * stride]!;
    const head = nodes[to * stride + 1]!;
    nodes[to * stride + 1] = first;
    nodes[first * stride] = to;
    nodes[last * stride + 1] = head;
    nodes[head * stride] = last;
    nodes[from * stride] = from;
    nodes[from * stride + 1] = from;
  }

  /** Least recently used slot of the list, or the sentinel itself when empty. */
  protected tail(list: number): number {
    return this.nodes[list * this.stride]!;
  }

  protected head(list: number): number {
    return this.nodes[list * this.stride + 1]!;
  }
}
