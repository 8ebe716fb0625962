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
/** The Uint32 deadline cell of an entry without a deadline; no stored time reaches it. */
const NO_DEADLINE = 0xffffffff;
/**
 * A rebase must leave the newest stored time at most this far (about 24.8 days) above the new base, so that
 * rebases, each a pass over the slots, come at least that much clock time apart; otherwise the times widen.
 */
const REBASE_SPAN = 2 ** 31;
/** Distinct lifetimes (deadline minus creation time) a one-byte creation cell can name. */
const MAX_SPANS = 256;

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
  /**
   * Deadlines are whole milliseconds after `timeBase` in Uint32 cells, which cover about 49 days. A time that
   * does not fit moves the base to the oldest time held, when that leaves room, or else widens the deadlines
   * and creation times for good to Float64 cells of epoch milliseconds (base 0), which fractional times need
   * too. `noDeadline` is what a cell holds for "never": NO_DEADLINE, or Infinity once wide. In free slots the
   * cell is the free list's link instead: the next free slot plus one (0 ends the list).
   */
  private deadlines: Uint32Array | Float64Array;
  /**
   * Creation times, in the cheapest form that is still exact. Entries are mostly written with one of a few
   * lifetimes (a cache's TTLs), so at first a byte per entry names the entry's lifetime in `spans`, and the
   * creation time is its deadline less that lifetime. The 257th distinct lifetime, or an entry without a
   * deadline, turns the bytes into Uint32 cells counted from `timeBase`; widening makes them Float64.
   */
  private created: Uint8Array | Uint32Array | Float64Array;
  private timeBase: number;
  private noDeadline = NO_DEADLINE;
  /** Ceiling of the reads' now, in cells: just below NO_DEADLINE, so that "never" stays unreached. */
  private nowCap = NO_DEADLINE - 1;
  /** Lifetime per code while `created` holds codes; undefined after. */
  private spans: number[] | undefined = [];
  private readonly spanCodes = new Map<number, number>();
  /** The lifetime of the last write and its code: repeated TTLs skip the map. */
  private lastSpan = Number.NaN;
  private lastCode = 0;
  /** Uint8 until a size that does not fit arrives, then Uint16, Uint32, Float64 (fractions, beyond 4 GiB). */
  private sizes: Uint8Array | Uint16Array | Uint32Array | Float64Array;
  /** Largest size the current `sizes` array holds exactly; Infinity once it is a Float64Array. */
  private sizeMax = 0xff;
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
  /** The shared reading, as {@link readNow} answers it; NaN when it must be taken again. */
  private readonly nowCell = new Float64Array([Number.NaN]);
  private readonly forgetNow = (): void => {
    this.nowCell[0] = Number.NaN;
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
      deadlineAt: (s) => this.expiresAtOf(s),
      overCapacity: () => this.liveCount > this.entryBound || this.liveBytes > this.byteBound,
      evict: (s) => this.removeSlot(s, this.expiresAtOf(s) <= this.evictNow ? 'expired' : 'capacity'),
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
    this.timeBase = this.firstBase();
    this.deadlines = new Uint32Array(this.capacity);
    this.created = new Uint8Array(this.capacity);
    this.sizes = new Uint8Array(this.capacity);

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

  /**
   * Now, for reads, on the scale of the deadline cells (see {@link coarse}): milliseconds after the base,
   * capped just below NO_DEADLINE. Every real deadline cell is at most the cap, so the cap changes no verdict
   * while no deadline still never expires, and a hit needs a single comparison.
   */
  private readNow(): number {
    if (!this.coarse) return this.cellOf(this.clock.now());
    const cached = this.nowCell[0]!;
    if (cached === cached) return cached;
    const now = this.cellOf(this.clock.now());
    this.nowCell[0] = now;
    setTimeout(this.forgetNow, 1).unref();
    return now;
  }

  private cellOf(now: number): number {
    const cell = now - this.timeBase;
    return cell < this.nowCap ? cell : this.nowCap;
  }

  /** Slot of a live entry, or -1. Records the request with the policy; allocates nothing on a hit. */
  find(key: string): number {
    const slot = this.map.get(key);
    if (slot === undefined) {
      this.policy.miss(key);
      return -1;
    }
    if (this.deadlines[slot]! <= this.readNow()) {
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
    if (this.deadlines[slot]! <= this.readNow()) {
      this.removeSlot(slot, 'expired');
      return -1;
    }
    return slot;
  }

  valueAt(slot: number): V {
    return this.valueList[slot] as V;
  }

  expiresAtOf(slot: number): number {
    const deadline = this.deadlines[slot]!;
    return deadline === this.noDeadline ? Infinity : deadline + this.timeBase;
  }

  createdAtOf(slot: number): number {
    const cell = this.created[slot]!;
    const spans = this.spans;
    return spans === undefined ? cell + this.timeBase : this.expiresAtOf(slot) - spans[cell]!;
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
    if (this.noDeadline !== Infinity && !(this.fits(now) && (expiresAt === Infinity || this.fits(expiresAt)))) {
      this.makeRoom(now, expiresAt);
    }
    let born = now - this.timeBase;
    if (this.spans !== undefined) {
      const span = expiresAt - now;
      born = span === this.lastSpan ? this.lastCode : this.spanCode(span, born);
    }
    const base = this.timeBase;
    const deadline = expiresAt === Infinity ? this.noDeadline : expiresAt - base;
    if (slot !== undefined) {
      const oldSize = this.sizes[slot]!;
      const oldDeadline = this.expiresAtOf(slot);
      if (oldDeadline !== Infinity) {
        this.deadlineSum -= oldDeadline;
        this.deadlineCount--;
      }
      this.valueList[slot] = value;
      this.sizes[slot] = size;
      this.deadlines[slot] = deadline;
      this.created[slot] = born;
      this.liveBytes += size - oldSize;
      this.policy.update(slot, key, oldSize);
    } else {
      slot = this.allocate();
      this.keyList[slot] = key;
      this.valueList[slot] = value;
      this.sizes[slot] = size;
      this.deadlines[slot] = deadline;
      this.created[slot] = born;
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
    this.timeBase = this.firstBase();
    this.noDeadline = NO_DEADLINE;
    this.nowCap = NO_DEADLINE - 1;
    this.nowCell[0] = Number.NaN;
    this.spans = [];
    this.spanCodes.clear();
    this.lastSpan = Number.NaN;
    this.deadlines = new Uint32Array(this.capacity);
    this.created = new Uint8Array(this.capacity);
    this.sizeMax = 0xff;
    this.sizes = new Uint8Array(this.capacity);
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
    for (const [key, slot] of this.map) if (this.expiresAtOf(slot) > now) live.push(key);
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
      if (key !== undefined && this.expiresAtOf(at) <= now) {
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
      this.freeHead = this.deadlines[slot]! - 1;
      return slot;
    }
    if (this.top >= this.capacity) this.grow();
    return this.top++;
  }

  private grow(): void {
    const capacity = Math.min(this.capacity * 2, this.slotBound);
    const deadlines = this.noDeadline === Infinity ? new Float64Array(capacity) : new Uint32Array(capacity);
    deadlines.set(this.deadlines);
    this.deadlines = deadlines;
    const created = this.newCreated(capacity);
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

  private newCreated(capacity: number): Uint8Array | Uint32Array | Float64Array {
    if (this.spans !== undefined) return new Uint8Array(capacity);
    return this.noDeadline === Infinity ? new Float64Array(capacity) : new Uint32Array(capacity);
  }

  /** The clock's whole millisecond now, or 0 when that is no time a Uint32 cell can count from. */
  private firstBase(): number {
    const now = Math.floor(this.clock.now());
    return Number.isFinite(now) ? now : 0;
  }

  /** Whether `time` has a Uint32 cell: whole milliseconds at or after the base, short of NO_DEADLINE. */
  private fits(time: number): boolean {
    const offset = time - this.timeBase;
    return offset >>> 0 === offset && offset !== NO_DEADLINE;
  }

  /**
   * The code of a lifetime not seen last time, made if there is room. Otherwise the creation cells become
   * Uint32, and the answer is `born`, the creation time's cell there. The times here are whole milliseconds
   * (they fit Uint32 cells), so deadline less lifetime gives the creation time back exactly.
   */
  private spanCode(span: number, born: number): number {
    const spans = this.spans!;
    let code = this.spanCodes.get(span);
    if (code === undefined && span !== Infinity && spans.length < MAX_SPANS) {
      code = spans.length;
      spans.push(span);
      this.spanCodes.set(span, code);
    }
    if (code === undefined) {
      this.dropSpans();
      return born;
    }
    this.lastSpan = span;
    this.lastCode = code;
    return code;
  }

  /** Turns span codes into Uint32 creation cells; the times fit, as they did when written. */
  private dropSpans(): void {
    const created = new Uint32Array(this.capacity);
    for (let s = this.policy.reserved; s < this.top; s++) {
      if (this.keyList[s] !== undefined) created[s] = this.createdAtOf(s) - this.timeBase;
    }
    this.created = created;
    this.spans = undefined;
    this.spanCodes.clear();
  }

  /**
   * Makes `now` and `expiresAt` storable: rebases the Uint32 cells onto the oldest time held, when every time
   * then spans at most REBASE_SPAN, or else widens them to Float64. A pass over the slots either way.
   */
  private makeRoom(now: number, expiresAt: number): void {
    const first = this.policy.reserved;
    const top = this.top;
    let low = now;
    let high = expiresAt === Infinity ? now : Math.max(now, expiresAt);
    for (let s = first; s < top; s++) {
      if (this.keyList[s] === undefined) continue;
      const at = this.createdAtOf(s);
      const until = this.expiresAtOf(s);
      if (at < low) low = at;
      if (at > high) high = at;
      if (until !== Infinity && until > high) high = until;
    }
    const deadlines = this.deadlines;
    const whole = Number.isInteger(now) && (expiresAt === Infinity || Number.isInteger(expiresAt));
    if (whole && high - low <= REBASE_SPAN) {
      const shift = low - this.timeBase;
      // Span codes do not depend on the base; Uint32 creation cells do.
      const created = this.spans === undefined ? this.created : undefined;
      for (let s = first; s < top; s++) {
        if (this.keyList[s] === undefined) continue;
        if (created !== undefined) created[s] = created[s]! - shift;
        const deadline = deadlines[s]!;
        if (deadline !== NO_DEADLINE) deadlines[s] = deadline - shift;
      }
      this.timeBase = low;
      this.nowCell[0] = Number.NaN;
      return;
    }
    const wideCreated = new Float64Array(this.capacity);
    const wideDeadlines = new Float64Array(this.capacity);
    for (let s = first; s < top; s++) {
      if (this.keyList[s] === undefined) {
        wideDeadlines[s] = deadlines[s]!;
        continue;
      }
      wideCreated[s] = this.createdAtOf(s);
      wideDeadlines[s] = this.expiresAtOf(s);
    }
    this.created = wideCreated;
    this.deadlines = wideDeadlines;
    this.timeBase = 0;
    this.noDeadline = Infinity;
    this.nowCap = Infinity;
    this.nowCell[0] = Number.NaN;
    this.spans = undefined;
    this.spanCodes.clear();
  }

  private newSizes(capacity: number): Uint8Array | Uint16Array | Uint32Array | Float64Array {
    switch (this.sizeMax) {
      case 0xff:
        return new Uint8Array(capacity);
      case 0xffff:
        return new Uint16Array(capacity);
      case 0xffffffff:
        return new Uint32Array(capacity);
      default:
        return new Float64Array(capacity);
    }
  }

  /**
   * Sizes start at one byte each (a cache of small values never needs more) and widen, once per width, to the
   * narrowest array that holds the size that did not fit.
   */
  private widenSizes(size: number): void {
    const whole = Number.isInteger(size);
    this.sizeMax = whole && size <= 0xffff ? 0xffff : whole && size <= 0xffffffff ? 0xffffffff : Infinity;
    const sizes = this.newSizes(this.capacity);
    sizes.set(this.sizes);
    this.sizes = sizes;
  }

  private removeSlot(slot: number, cause: RemovalCause | undefined): void {
    const key = this.keyList[slot]!;
    const size = this.sizes[slot]!;
    const deadline = this.expiresAtOf(slot);
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
    this.deadlines[slot] = this.freeHead + 1;
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
