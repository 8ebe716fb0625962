/**
 * A deliberately naive LRU, to check the tier's 'lru' policy against: a Map keeps insertion order, so
 * re-inserting on every hit makes its first key the least recently used.
 */
import type { HitCount } from './belady.js';

export function lruHits(keys: ArrayLike<number>, capacity: number): HitCount {
  const cache = new Map<number, true>();
  let hits = 0;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    if (cache.delete(k)) {
      hits++;
    } else if (cache.size >= capacity) {
      const oldest = cache.keys().next();
      if (oldest.done !== true) cache.delete(oldest.value);
    }
    cache.set(k, true);
  }
  return { hits, requests: keys.length, ratio: keys.length === 0 ? 0 : hits / keys.length };
}
