/**
 * Belady's offline optimum: on a miss with a full cache, drop whichever of the cached keys and the incoming
 * key is next requested furthest in the future (the incoming key may be the one dropped, i.e. bypass).
 * O(n log n): a next-use array built backwards, plus a max-heap of next-use times with lazy deletion.
 */

/** Index of the next request for the same key, or keys.length + i when the key never comes back. */
export function nextUses(keys: Int32Array, distinct: number): Float64Array {
  const n = keys.length;
  const next = new Float64Array(n);
  const seen = new Float64Array(distinct).fill(-1);
  for (let i = n - 1; i >= 0; i--) {
    const k = keys[i]!;
    const later = seen[k]!;
    // Distinct sentinels beyond n keep every heap priority unique and still let us recover the key.
    next[i] = later < 0 ? n + i : later;
    seen[k] = i;
  }
  return next;
}

export interface HitCount {
  hits: number;
  requests: number;
  ratio: number;
}

export function beladyHits(keys: Int32Array, distinct: number, capacity: number): HitCount {
  const n = keys.length;
  const next = nextUses(keys, distinct);
  // The priority a cached key is currently filed under in the heap; -1 when not cached.
  const filedAt = new Float64Array(distinct).fill(-1);
  const heap = new Float64Array(n + 1);
  let heapSize = 0;
  let cached = 0;
  let hits = 0;

  const push = (p: number): void => {
    let i = heapSize++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const q = heap[parent]!;
      if (q >= p) break;
      heap[i] = q;
      i = parent;
    }
    heap[i] = p;
  };
  const pop = (): number => {
    const top = heap[0]!;
    const last = heap[--heapSize]!;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= heapSize) break;
      const right = child + 1;
      if (right < heapSize && heap[right]! > heap[child]!) child = right;
      if (heap[child]! <= last) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
    return top;
  };
  const keyOf = (p: number): number => keys[p < n ? p : p - n]!;

  for (let i = 0; i < n; i++) {
    const k = keys[i]!;
    const p = next[i]!;
    if (filedAt[k]! >= 0) {
      hits++;
      filedAt[k] = p;
      push(p);
      continue;
    }
    if (cached < capacity) {
      cached++;
      filedAt[k] = p;
      push(p);
      continue;
    }
    // Full: find the live entry with the furthest next use, skipping priorities a later access superseded.
    let victimP = -1;
    while (heapSize > 0) {
      const top = heap[0]!;
      if (filedAt[keyOf(top)] === top) {
        victimP = top;
        break;
      }
      pop();
    }
    if (victimP > p) {
      pop();
      filedAt[keyOf(victimP)] = -1;
      filedAt[k] = p;
      push(p);
    }
    // Otherwise the incoming key is needed last of all: bypass it.
  }
  return { hits, requests: n, ratio: n === 0 ? 0 : hits / n };
}
