import { systemClock, type Clock } from '../clock.js';
import { LfuPolicy } from './policies/lfu.js';
import { LruPolicy } from './policies/lru.js';
import type { Policy, PolicyHost } from './policies/policy.js';
import { TinyLfuPolicy } from './policies/tinylfu.js';
import { TtlPolicy } from './policies/ttl.js';
import type { EvictionPolicy, MemoryTierOptions, RemovalCause } from './types.js';

const POLICIES: readonly EvictionPolicy[] = ['tinylfu', 'lru', 'lfu', 'ttl'];
/** Slots allocated up front; arrays then double as the tier fills, up to the entry bound. */
const INITIAL_SLOTS = 16;
const DEFAULT_SWEEP_INTERVAL = 30_000;
/** Slots one timer tick may examine (or heap entries it may expire), so a tick stays well under a millisecond. */
const SWEEP_BUDGET = 8192;

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/**
 * The in-process tier: a bounded map from string keys to values with a deadline, a size and opaque
 * metadata each, under a pluggable eviction policy.
 *
 * Entries live in integer slots of parallel typed arrays, so a lookup that hits allocates nothing and
 * the per-entry overhead over a plain Map is a few dozen bytes. Slots are recycled through a free list,
 * and arrays grow by doubling up to the entry bound, never beyond what is in use times two.
 */
export class MemoryTier<V> {
  private readonly map = new Map<string, number>();
  private keyList: (string | undefined)[];
  private valueList: (V | undefined)[];
  private metaList: unknown[] | undefined = undefined;
  private deadlines: Float64Array;
  /** Creation time of live slots; in free slots, the next free slot (or -1). */
  private created: Float64Array;
  /** Uint16 until a size that does not fit arrives, then Uint32, then Float64 (fractions, beyond 4 GiB). */
  private sizes: Uint16Array | Uint32Array | Float64Array;
  /** Largest size the current `sizes` array holds exactly; Infinity once it is a Float64Array. */
  private sizeMax = 0xffff;
  private capacity: number;
  /** First slot never handed out. */
  private top: number;
  private freeHead = -1;

  private liveCount = 0;
  private liveBytes = 0;
  private deadlineSum = 0;
  private deadlineCount = 0;

  private readonly policy: Policy;
  private readonly clock: Clock;
  /**
   * With the system clock, reads share one clock reading per millisecond (as lru-cache's `ttlResolution`): a
   * `Date.now()` per hit costs a heap number. An entry may then be served up to 1 ms past its deadline. An
   * injected clock is read on every call, so tests stay exact.
   */
  private readonly coarse: boolean;
  /** The shared reading; 0 when it must be taken again. */
  private readonly nowCell = new Float64Array(1);
  private readonly forgetNow = (): void => {
    this.nowCell[0] = 0;
  };
  private readonly entryBound: number;
  private readonly byteBound: number;
  private readonly slotBound: number;
  private readonly onRemove: ((key: string, cause: RemovalCause) => void) | undefined;

  /** Removal notices raised while a policy walks its lists, delivered once it is done. */
  private evicting = false;
  private pendingKeys: string[] = [];
  private pendingCauses: RemovalCause[] = [];
  /** `now` of the write that is evicting, to tell expired victims from live ones. */
  private evictNow = 0;

  private sweepCursor = 0;
  private timer: ReturnType<typeof setInterval> | undefined = undefined;

  constructor(options: MemoryTierOptions) {
    const { maxEntries, maxBytes, policy = 'tinylfu', clock, onRemove, sweepInterval } = options;
    if (maxBytes !== undefined && (typeof maxBytes !== 'number' || Number.isNaN(maxBytes) || maxBytes <= 0)) {
      throw new TypeError(`memory.maxBytes must be a positive finite number, got ${describe(maxBytes)}`);
    }
    const byteBound = maxBytes ?? Infinity;
    if (maxEntries !== undefined) {
      const valid =
        typeof maxEntries === 'number' && (Number.isInteger(maxEntries) ? maxEntries > 0 : maxEntries === Infinity);
      if (!valid) throw new TypeError(`memory.maxEntries must be a positive integer, got ${describe(maxEntries)}`);
    }
    const entryBound = maxEntries ?? Infinity;
    if (entryBound === Infinity && byteBound === Infinity) {
      throw new TypeError(
        'memory.maxEntries or memory.maxBytes must bound the memory tier: memory.maxEntries may be Infinity ' +
          'only when memory.maxBytes is a finite number',
      );
    }
    if (!POLICIES.includes(policy)) {
      throw new TypeError(`memory.policy must be one of ${POLICIES.join(', ')}, got ${describe(policy)}`);
    }
    if (typeof clock?.now !== 'function') throw new TypeError('memory tier needs a clock with a now() method');
    const interval = sweepInterval ?? DEFAULT_SWEEP_INTERVAL;
    if (typeof interval !== 'number' || !Number.isFinite(interval) || interval < 0) {
      throw new TypeError(`memory.sweepInterval must be a non-negative number of milliseconds, got ${describe(interval)}`);
    }

    this.clock = clock;
    this.coarse = clock === systemClock;
    this.entryBound = entryBound;
    this.byteBound = byteBound;
    this.onRemove = onRemove;

    const host: PolicyHost = {
      sizeAt: (s) => this.sizes[s]!,
      deadlineAt: (s) => this.deadlines[s]!,
      overCapacity: () => this.liveCount > this.entryBound || this.liveBytes > this.byteBound,
      evict: (s) => this.removeSlot(s, this.deadlines[s]! <= this.evictNow ? 'expired' : 'capacity'),
      expire: (s) => this.removeSlot(s, 'expired'),
    };
    // One slot beyond the bound: a new entry is stored before the policy picks what leaves.
    const initial = Math.min(INITIAL_SLOTS, entryBound + 1);
    this.policy = this.createPolicy(policy, host, initial);
    this.slotBound = this.policy.reserved + entryBound + 1;
    this.capacity = this.policy.reserved + initial;
    this.top = this.policy.reserved;
    this.sweepCursor = this.top;
    this.keyList = new Array<string | undefined>(this.capacity).fill(undefined);
    this.valueList = new Array<V | undefined>(this.capacity).fill(undefined);
    this.deadlines = new Float64Array(this.capacity);
    this.created = new Float64Array(this.capacity);
    this.sizes = new Uint16Array(this.capacity);

    if (interval > 0) this.startTimer(interval);
  }

  private createPolicy(name: EvictionPolicy, host: PolicyHost, entries: number): Policy {
    switch (name) {
      case 'lru':
        return new LruPolicy(host, entries);
      case 'lfu':
        return new LfuPolicy(host, entries);
      case 'ttl':
        return new TtlPolicy(host, entries);
      case 'tinylfu':
        return new TinyLfuPolicy(host, entries, { maxEntries: this.entryBound, maxBytes: this.byteBound });
    }
  }

  private startTimer(interval: number): void {
    // The timer holds the tier only weakly: a tier dropped without close() is still collected, and its
    // timer then stops itself.
    const ref = new WeakRef(this);
    const timer = setInterval(() => {
      const tier = ref.deref();
      if (tier === undefined) clearInterval(timer);
      else tier.sweepTick();
    }, interval);
    if (typeof timer === 'object' && typeof timer.unref === 'function') timer.unref();
    this.timer = timer;
  }

  /** Now, for reads: see {@link coarse}. */
  private readNow(): number {
    if (!this.coarse) return this.clock.now();
    const cached = this.nowCell[0]!;
    if (cached !== 0) return cached;
    const now = this.clock.now();
    this.nowCell[0] = now;
    setTimeout(this.forgetNow, 1).unref();
    return now;
  }

  /** Slot of a live entry, or -1. Records the request with the policy; allocates nothing on a hit. */
  find(key: string): number {
    const slot = this.map.get(key);
    if (slot === undefined) {
      this.policy.miss(key);
      return -1;
    }
    const deadline = this.deadlines[slot]!;
    if (deadline !== Infinity && deadline <= this.readNow()) {
      this.removeSlot(slot, 'expired');
      this.policy.miss(key);
      return -1;
    }
    this.policy.hit(slot, key);
    return slot;
  }

  /** Like {@link find} without recording a request. */
  peek(key: string): number {
    const slot = this.map.get(key);
    if (slot === undefined) return -1;
    const deadline = this.deadlines[slot]!;
    if (deadline !== Infinity && deadline <= this.readNow()) {
      this.removeSlot(slot, 'expired');
      return -1;
    }
    return slot;
  }

  valueAt(slot: number): V {
    return this.valueList[slot] as V;
  }

  expiresAtOf(slot: number): number {
    return this.deadlines[slot]!;
  }

  createdAtOf(slot: number): number {
    return this.created[slot]!;
  }

  sizeOf(slot: number): number {
    return this.sizes[slot]!;
  }

  metaOf(slot: number): unknown {
    return this.metaList?.[slot];
  }

  keyAt(slot: number): string {
    return this.keyList[slot]!;
  }

  /**
   * Stores `value` under `key`, replacing any entry there. Returns false, storing nothing and dropping any
   * old entry, when `size` exceeds maxBytes or `expiresAt` is not in the future. Other entries may be
   * evicted to make room; the one written is never the one evicted.
   */
  set(key: string, value: V, size: number, expiresAt: number, meta?: unknown): boolean {
    if (typeof size !== 'number' || !(size >= 0) || size === Infinity) {
      throw new TypeError(`memory tier: size must be a non-negative finite number, got ${describe(size)}`);
    }
    if (typeof expiresAt !== 'number' || Number.isNaN(expiresAt)) {
      throw new TypeError(`memory tier: expiresAt must be a number of epoch milliseconds, got ${describe(expiresAt)}`);
    }
    const now = this.clock.now();
    let slot = this.map.get(key);
    if (size > this.byteBound || expiresAt <= now) {
      if (slot !== undefined) this.removeSlot(slot, undefined);
      return false;
    }
    if (size > this.sizeMax || (this.sizeMax !== Infinity && !Number.isInteger(size))) this.widenSizes(size);
    if (slot !== undefined) {
      const oldSize = this.sizes[slot]!;
      const oldDeadline = this.deadlines[slot]!;
      if (oldDeadline !== Infinity) {
        this.deadlineSum -= oldDeadline;
        this.deadlineCount--;
      }
      this.valueList[slot] = value;
      this.sizes[slot] = size;
      this.deadlines[slot] = expiresAt;
      this.created[slot] = now;
      this.liveBytes += size - oldSize;
      this.policy.update(slot, key, oldSize);
    } else {
      slot = this.allocate();
      this.keyList[slot] = key;
      this.valueList[slot] = value;
      this.sizes[slot] = size;
      this.deadlines[slot] = expiresAt;
      this.created[slot] = now;
      this.map.set(key, slot);
      this.liveCount++;
      this.liveBytes += size;
      this.policy.insert(slot, key, size);
    }
    if (expiresAt !== Infinity) {
      this.deadlineSum += expiresAt;
      this.deadlineCount++;
    }
    if (meta !== undefined) {
      (this.metaList ??= new Array<unknown>(this.capacity).fill(undefined))[slot] = meta;
    } else if (this.metaList !== undefined) {
      this.metaList[slot] = undefined;
    }
    if (this.liveCount > this.entryBound || this.liveBytes > this.byteBound) this.evict(slot, now);
    return true;
  }

  private evict(keep: number, now: number): void {
    this.evicting = true;
    this.evictNow = now;
    try {
      this.policy.evict(keep);
    } finally {
      this.evicting = false;
    }
    if (this.pendingKeys.length > 0) this.deliverPending();
  }

  private deliverPending(): void {
    const keys = this.pendingKeys;
    const causes = this.pendingCauses;
    this.pendingKeys = [];
    this.pendingCauses = [];
    let failure: { error: unknown } | undefined;
    for (let i = 0; i < keys.length; i++) {
      try {
        this.onRemove?.(keys[i]!, causes[i]!);
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure !== undefined) throw failure.error;
  }

  delete(key: string): boolean {
    const slot = this.map.get(key);
    if (slot === undefined) return false;
    this.removeSlot(slot, undefined);
    return true;
  }

  /** Drops every entry without notifications and gives back the memory. */
  clear(): void {
    this.map.clear();
    this.capacity = Math.min(INITIAL_SLOTS + this.policy.reserved, this.slotBound);
    this.policy.clear(this.capacity);
    this.keyList = new Array<string | undefined>(this.capacity).fill(undefined);
    this.valueList = new Array<V | undefined>(this.capacity).fill(undefined);
    this.metaList = undefined;
    this.deadlines = new Float64Array(this.capacity);
    this.created = new Float64Array(this.capacity);
    this.sizeMax = 0xffff;
    this.sizes = new Uint16Array(this.capacity);
    this.top = this.policy.reserved;
    this.sweepCursor = this.top;
    this.freeHead = -1;
    this.liveCount = 0;
    this.liveBytes = 0;
    this.deadlineSum = 0;
    this.deadlineCount = 0;
  }

  /** Live keys, collected up front so the caller may delete while iterating. */
  keys(): IterableIterator<string> {
    const now = this.clock.now();
    const live: string[] = [];
    for (const [key, slot] of this.map) if (this.deadlines[slot]! > now) live.push(key);
    return live.values();
  }

  get count(): number {
    return this.liveCount;
  }

  get bytes(): number {
    return this.liveBytes;
  }

  get maxEntries(): number {
    return this.entryBound;
  }

  get maxBytes(): number {
    return this.byteBound;
  }

  get expirySum(): number {
    return this.deadlineSum;
  }

  get expiringCount(): number {
    return this.deadlineCount;
  }

  /** Removes up to `limit` expired entries and returns how many; a full pass over the tier at most. */
  sweep(limit = Infinity): number {
    return this.sweepExpired(limit, Infinity);
  }

  private sweepTick(): void {
    this.sweepExpired(SWEEP_BUDGET, SWEEP_BUDGET);
  }

  private sweepExpired(limit: number, scanBudget: number): number {
    if (this.deadlineCount === 0 || limit <= 0) return 0;
    const now = this.clock.now();
    const viaPolicy = this.policy.sweep(now, Math.min(limit, scanBudget));
    if (viaPolicy >= 0) return viaPolicy;
    // Round-robin over the slots, resuming where the last sweep stopped.
    const first = this.policy.reserved;
    const span = this.top - first;
    let scan = Math.min(span, scanBudget);
    let removed = 0;
    let at = this.sweepCursor;
    while (scan-- > 0 && removed < limit) {
      if (at >= this.top || at < first) at = first;
      const key = this.keyList[at];
      const deadline = this.deadlines[at]!;
      if (key !== undefined && deadline !== Infinity && deadline <= now) {
        this.removeSlot(at, 'expired');
        removed++;
      }
      at++;
    }
    this.sweepCursor = at;
    return removed;
  }

  /** Stops the background sweep; the tier stays usable. Idempotent. */
  close(): void {
    if (this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private allocate(): number {
    const slot = this.freeHead;
    if (slot >= 0) {
      this.freeHead = this.created[slot]!;
      return slot;
    }
    if (this.top >= this.capacity) this.grow();
    return this.top++;
  }

  private grow(): void {
    const capacity = Math.min(this.capacity * 2, this.slotBound);
    const deadlines = new Float64Array(capacity);
    deadlines.set(this.deadlines);
    this.deadlines = deadlines;
    const created = new Float64Array(capacity);
    created.set(this.created);
    this.created = created;
    const sizes = this.newSizes(capacity);
    sizes.set(this.sizes);
    this.sizes = sizes;
    this.keyList = this.regrow(this.keyList, capacity);
    this.valueList = this.regrow(this.valueList, capacity);
    if (this.metaList !== undefined) this.metaList = this.regrow(this.metaList, capacity);
    this.capacity = capacity;
    this.policy.grow(capacity);
  }

  /** Copies into an array allocated at exactly `capacity`, which pushing would overshoot by up to half. */
  private regrow<T>(list: T[], capacity: number): T[] {
    const grown = new Array<T>(capacity);
    for (let i = 0; i < list.length; i++) grown[i] = list[i]!;
    return grown.fill(undefined as T, list.length);
  }

  private newSizes(capacity: number): Uint16Array | Uint32Array | Float64Array {
    if (this.sizeMax === 0xffff) return new Uint16Array(capacity);
    return this.sizeMax === 0xffffffff ? new Uint32Array(capacity) : new Float64Array(capacity);
  }

  /** Typical entries are well under 64 KiB, so sizes start at two bytes each and widen only when needed. */
  private widenSizes(size: number): void {
    this.sizeMax = Number.isInteger(size) && size <= 0xffffffff ? 0xffffffff : Infinity;
    const sizes = this.newSizes(this.capacity);
    sizes.set(this.sizes);
    this.sizes = sizes;
  }

  private removeSlot(slot: number, cause: RemovalCause | undefined): void {
    const key = this.keyList[slot]!;
    const size = this.sizes[slot]!;
    const deadline = this.deadlines[slot]!;
    this.map.delete(key);
    this.policy.remove(slot, size);
    this.liveCount--;
    this.liveBytes -= size;
    if (deadline !== Infinity) {
      this.deadlineSum -= deadline;
      this.deadlineCount--;
    }
    this.keyList[slot] = undefined;
    this.valueList[slot] = undefined;
    if (this.metaList !== undefined) this.metaList[slot] = undefined;
    this.created[slot] = this.freeHead;
    this.freeHead = slot;
    if (cause === undefined || this.onRemove === undefined) return;
    if (this.evicting) {
      this.pendingKeys.push(key);
      this.pendingCauses.push(cause);
    } else {
      this.onRemove(key, cause);
    }
  }
}
