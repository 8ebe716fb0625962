import type { Claim } from '../compute/lease.js';
import type { Flight } from '../compute/flights.js';
import type { SetOptions } from '../compute/types.js';
import { encodeEntry } from '../entry.js';
import type { Engine } from '../engine.js';
import { validateTags } from '../freshness/rules.js';
import { metaOf, type TagMeta } from '../freshness/stamps.js';
import type { StoreWrite } from '../stores/contract.js';
import { deadlineOf, parseDuration } from '../ttl.js';
import type { StoreTier } from './store-tier.js';

/** A write checked and encoded, before anything is written. */
export interface Prepared {
  /** When the entry is gone (its TTL plus any grace); NaN when the TTL has already passed. */
  deadline: number;
  /** When it stops being fresh, when grace keeps it longer. */
  freshUntil: number | undefined;
  createdAt: number;
  size: number;
  tags: readonly string[] | undefined;
  /** The codec's bytes. */
  encoded: Uint8Array;
}

/** A prepared write of one key. */
export interface WriteItem {
  full: string;
  value: unknown;
  prepared: Prepared;
}

/**
 * The write path: writes and deletes go to the memory tier and every store, fencing what ran before them and
 * telling the other instances. Deletions follow one sequence everywhere: drop from memory and fence, delete in
 * the stores, then drop and fence again (a read that reached a store before the delete may have copied the old
 * value up meanwhile), then announce.
 */
export class Writer {
  readonly #engine: Engine;

  constructor(engine: Engine) {
    this.#engine = engine;
  }

  /** Checks and encodes everything a write needs before anything is written. */
  /**
   * Throws what {@link prepare} would throw for `options` (a bad `ttl` or tag) when the grace is already known,
   * without encoding anything: the check every `getOrSet` caller pays, joiners included.
   */
  check(options: SetOptions): void {
    if (options.ttl !== undefined) deadlineOf(options.ttl, this.#engine.clock.now());
    validateTags(options.tags);
  }

  prepare(full: string, value: unknown, options: SetOptions, graceMs?: number): Prepared {
    const engine = this.#engine;
    const resolved = engine.options;
    const now = engine.clock.now();
    const deadline = options.ttl === undefined ? now + resolved.defaultTtlMs : deadlineOf(options.ttl, now);
    const grace = graceMs ?? (options.grace === undefined ? resolved.compute.graceMs : parseDuration(options.grace, 'grace'));
    const tags = validateTags(options.tags);
    const encoded = engine.codec.encode(value, full);
    const expired = deadline <= now;
    if (grace > 0) engine.graceUsed = true;
    return {
      deadline: expired ? Number.NaN : deadline + grace,
      freshUntil: expired || grace === 0 ? undefined : deadline,
      createdAt: now,
      size: engine.memorySize(full, encoded.length),
      tags,
      encoded,
    };
  }

  /** The memory-tier meta and the stores' envelope of a prepared write. */
  seal(prepared: Prepared, stamps: Map<string, string> | undefined): { meta: TagMeta | undefined; bytes: Uint8Array | undefined } {
    const tags = stamps === undefined ? undefined : prepared.tags;
    const meta = metaOf({ tags, stamps: tags?.map((t) => stamps?.get(t) as string), freshUntil: prepared.freshUntil });
    const bytes =
      this.#engine.stack.length === 0 || Number.isNaN(prepared.deadline)
        ? undefined
        : encodeEntry(prepared.encoded, {
            createdAt: prepared.createdAt,
            expiresAt: prepared.deadline,
            freshUntil: prepared.freshUntil,
            tags: meta === undefined || meta.tags.length === 0 ? undefined : meta.tags,
            stamps: meta === undefined || meta.tags.length === 0 ? undefined : meta.stamps,
          });
    return { meta, bytes };
  }

  /**
   * Writes a prepared entry to every tier; `writer` is the load doing it (it does not fence itself), whose
   * `claimed` must still hold in the fence store for anything to be written. Resolves when the stores have it;
   * the bus message goes out beside it.
   */
  async store(full: string, value: unknown, prepared: Prepared, stamps: Map<string, string> | undefined, writer?: Flight, claimed?: Claim): Promise<boolean> {
    const engine = this.#engine;
    const { meta, bytes: sealed } = this.seal(prepared, stamps);
    if (claimed !== undefined && sealed !== undefined) {
      const committed = await claimed.commit(sealed, claimed.tier.deadlineFor(prepared.deadline));
      // Another process wrote or invalidated the key since this load began, or this instance heard of it meanwhile.
      if (!committed || writer?.fenced === true) return false;
    }
    if (Number.isNaN(prepared.deadline)) {
      // Out of date the moment it was written: whatever the key held before goes.
      await this.#remove(full, prepared.createdAt);
      return false;
    }
    engine.fences.key(full, writer);
    let stored = engine.memory.set(full, value, prepared.size, engine.memoryDeadline(prepared.deadline, prepared.createdAt), meta);
    if (sealed !== undefined) {
      const results = await engine.stack.writeAll(full, sealed, prepared.deadline, prepared.createdAt, claimed?.tier);
      stored = stored || results.includes(true);
    }
    engine.sync.announce({ type: 'keys', keys: [full] });
    if (stored) this.#stored(full);
    return stored;
  }

  #stored(full: string): void {
    const engine = this.#engine;
    engine.counters.sets++;
    if (engine.emitter.listeners.set !== undefined) engine.emitter.emit('set', { key: full, tier: 'memory' });
  }

  /** Writes prepared entries: one batched write per store, one bus message. */
  async many(items: readonly WriteItem[], stamps: Map<string, string> | undefined, writers?: ReadonlyMap<string, Flight>): Promise<boolean[]> {
    const engine = this.#engine;
    const stack = engine.stack;
    const sealed = items.map((item) => this.seal(item.prepared, stamps));
    const stored = items.map(({ full, value, prepared }, i) => {
      engine.fences.key(full, writers?.get(full));
      if (Number.isNaN(prepared.deadline)) {
        engine.memory.delete(full);
        return false;
      }
      return engine.memory.set(full, value, prepared.size, engine.memoryDeadline(prepared.deadline, prepared.createdAt), sealed[i]?.meta);
    });
    await Promise.all(
      stack.tiers.map(async (tier) => {
        const writes: StoreWrite[] = items.map(({ full, prepared }, i) => ({
          key: stack.storeKey(full),
          value: sealed[i]?.bytes ?? new Uint8Array(0),
          expiresAt: Number.isNaN(prepared.deadline) ? 0 : tier.deadlineFor(prepared.deadline),
        }));
        const ok = await stack.setMany(tier, writes);
        items.forEach(({ full, prepared }, i) => {
          const bytes = sealed[i]?.bytes;
          if (ok === true) {
            if (!Number.isNaN(prepared.deadline)) stored[i] = true;
            tier.counters.sets++;
          } else {
            stack.remember(tier, full, bytes === undefined ? { kind: 'delete', at: prepared.createdAt } : { kind: 'set', bytes, expiresAt: prepared.deadline, createdAt: prepared.createdAt });
          }
        });
      }),
    );
    engine.sync.announce({ type: 'keys', keys: items.map((item) => item.full) });
    stored.forEach((ok, i) => {
      if (ok) this.#stored((items[i] as WriteItem).full);
    });
    return stored;
  }

  /** Removes a key from every tier. True when a tier held a live value. */
  async deleteOne(full: string): Promise<boolean> {
    const live = await this.#remove(full, this.#engine.clock.now());
    if (live) this.#deleted(full, 1);
    return live;
  }

  async #remove(full: string, at: number): Promise<boolean> {
    const engine = this.#engine;
    const live = engine.memory.peek(full) >= 0;
    this.#drop(full);
    const removed = await engine.stack.deleteAll(full, at);
    this.#drop(full);
    engine.sync.announce({ type: 'keys', keys: [full] });
    return live || removed.includes(true);
  }

  #drop(full: string): void {
    this.#engine.memory.delete(full);
    this.#engine.fences.key(full);
  }

  #deleted(full: string | readonly string[], count: number): void {
    const engine = this.#engine;
    engine.counters.deletes += count;
    if (engine.emitter.listeners.delete === undefined) return;
    for (const key of typeof full === 'string' ? [full] : full) engine.emitter.emit('delete', { key });
  }

  /** Removes full keys from every tier: one batched call per store, one bus message. Returns how many were live. */
  async deleteMany(fulls: readonly string[]): Promise<number> {
    const engine = this.#engine;
    const stack = engine.stack;
    const now = engine.clock.now();
    const live = fulls.map((full) => {
      const was = engine.memory.peek(full) >= 0;
      this.#drop(full);
      return was;
    });
    let storeRemoved = 0;
    await Promise.all(
      stack.tiers.map(async (tier) => {
        const removed = await stack.deleteMany(tier, fulls.map((full) => stack.storeKey(full)));
        if (removed === undefined) {
          for (const full of fulls) stack.remember(tier, full, { kind: 'delete', at: now });
        } else {
          tier.counters.deletes += fulls.length;
          storeRemoved = Math.max(storeRemoved, removed);
        }
      }),
    );
    for (const full of fulls) this.#drop(full);
    engine.sync.announce({ type: 'keys', keys: fulls });
    const count = Math.max(live.filter(Boolean).length, storeRemoved);
    this.#deleted(fulls, count);
    return count;
  }

  /** Removes every entry from every tier; returns how many the memory tier held. */
  async clearAll(): Promise<number> {
    const engine = this.#engine;
    const stack = engine.stack;
    const count = engine.memory.count;
    engine.clear();
    await Promise.all(
      stack.tiers.map(async (tier) => {
        const ok = await stack.attempt(tier, 'clear', (s) => s.clear().then(() => true));
        if (ok === undefined) stack.rememberClear(tier);
      }),
    );
    if (stack.length > 0) engine.clear();
    engine.sync.announce({ type: 'clear' });
    return count;
  }

  /** Removes every entry of a namespace (full-key prefix) from every tier; returns how many the memory tier held. */
  async clearNamespace(ns: string): Promise<number> {
    const engine = this.#engine;
    const stack = engine.stack;
    const inside = (key: string) => key.startsWith(ns);
    const dropped = engine.dropWhere(inside);
    const head = stack.storeKey(ns);
    // Every `*`/`?` of the namespace is widened to `?`; the exact prefix check removes the excess.
    const pattern = head.replace(/[*?]/g, '?') + '*';
    await Promise.all(
      stack.tiers.map(async (tier: StoreTier) => {
        const keys = await stack.listKeys(tier, pattern, (key) => key.startsWith(head));
        if (keys !== undefined && keys.length > 0) await stack.deleteMany(tier, keys);
      }),
    );
    engine.dropWhere(inside);
    engine.sync.announce({ type: 'namespace', namespace: ns });
    return dropped.length;
  }
}
