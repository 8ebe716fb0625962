/** What an eviction policy may ask of the tier that owns the entries. */
export interface PolicyHost {
  sizeAt(slot: number): number;
  deadlineAt(slot: number): number;
  /** True while the entry count or the byte total exceeds its bound. */
  overCapacity(): boolean;
  /** Removes the entry for capacity; the tier calls back `remove` on the policy before returning. */
  evict(slot: number): void;
  /** Removes an entry whose deadline has passed; the tier calls back `remove` on the policy. */
  expire(slot: number): void;
}

/**
 * The replaceable half of the tier: which entry leaves when a bound is hit. It sees slots, never values,
 * and keeps whatever per-slot bookkeeping it needs in its own typed arrays. The tier picks the policy once,
 * at construction, so a tier pays only for the policy it runs.
 */
export interface Policy {
  /** Slots 0..reserved-1 are sentinels of the policy's lists and never hold entries. */
  readonly reserved: number;
  /** Makes room for per-slot data of slots below `capacity`. */
  grow(capacity: number): void;
  /** A lookup for a key that is not (or no longer) held. */
  miss(key: string): void;
  /** A lookup that found a live entry. */
  hit(slot: number, key: string): void;
  /** A new entry, already counted by the tier. */
  insert(slot: number, key: string, size: number): void;
  /** `set` replaced the value of an entry; its size and deadline may have changed. */
  update(slot: number, key: string, oldSize: number): void;
  /** The entry is leaving for any reason; forget it. */
  remove(slot: number, size: number): void;
  /** Evicts through the host until it is within its bounds, sparing `keep` (the entry just written). */
  evict(keep: number): void;
  /**
   * For policies that order entries by deadline: expires up to `limit` entries whose deadline is at or
   * before `now` and returns how many; -1 when the policy cannot find them faster than a scan.
   */
  sweep(now: number, limit: number): number;
  /** Forgets every entry and shrinks per-slot data back to `capacity` slots. */
  clear(capacity: number): void;
}
