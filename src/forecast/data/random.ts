/**
 * mulberry32: a 32-bit seeded generator, small and fast, with a period of 2^32 — plenty for demo data,
 * and the same sequence on every platform because it uses only 32-bit integer arithmetic.
 *
 * @returns a function yielding floats in [0, 1).
 * @example
 * const next = mulberry32(1);
 * next(); // 0.6270739405881613, every time
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
