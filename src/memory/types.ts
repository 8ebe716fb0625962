import type { Clock } from '../clock.js';

export type EvictionPolicy = 'tinylfu' | 'lru' | 'lfu' | 'ttl';

/** Why an entry left the memory tier on its own. */
export type RemovalCause = 'capacity' | 'expired';

export interface MemoryTierOptions {
  /** Most entries held. At least one of `maxEntries` / `maxBytes` is always in force. */
  maxEntries?: number;
  /** Most bytes held, as counted by the `size` passed to `set`. */
  maxBytes?: number;
  /** @default 'tinylfu' */
  policy?: EvictionPolicy;
  clock: Clock;
  /**
   * Called when an entry is evicted for capacity or found/swept expired. Not called for `delete`,
   * `clear`, or when `set` replaces a key.
   */
  onRemove?: (key: string, cause: RemovalCause) => void;
  /**
   * Milliseconds between background sweeps of expired entries; 0 turns the timer off (expired entries are
   * then still removed when looked up, evicted, or swept by an explicit `sweep()`). The timer never keeps
   * the process alive.
   * @default 30000
   */
  sweepInterval?: number;
}
