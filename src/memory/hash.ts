/**
 * 32-bit string hash for the frequency sketch: Map keeps its own hash private, so the tier hashes keys
 * itself, once per key (the policy stores it). The result is a signed int32, which V8 keeps unboxed where a
 * uint32 above 2^31 would not be. Two UTF-16 units go in per multiply to halve the serial chain that bounds
 * the cost on long keys; the shift after each multiply carries high bits back down, which a multiply alone
 * never does.
 */
export function hashString(s: string): number {
  let h = 0x811c9dc5 ^ s.length;
  const n = s.length;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    h = Math.imul(h ^ (s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16)), 0x9e3779b1);
    h ^= h >>> 15;
  }
  if (i < n) {
    h = Math.imul(h ^ s.charCodeAt(i), 0x9e3779b1);
    h ^= h >>> 15;
  }
  // murmur3's fmix32: the sketch takes its block and its counters from different bit ranges.
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}
