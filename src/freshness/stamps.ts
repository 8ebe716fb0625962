import type { TimeSource } from '../clock.js';
import type { Flights } from '../compute/flights.js';
import type { BusMessage } from '../bus/contract.js';
import type { StoreTier } from '../tiers/store-tier.js';
import type { TierStack } from '../tiers/stack.js';
import { compareStamp, FRESH, INVALID, newStamp, softened, STALE, TagRegistry, UNKNOWN } from './tags.js';

/** What the memory tier keeps beside a tagged entry or one kept for grace (untagged: empty lists). */
export interface TagMeta {
  readonly tags: readonly string[];
  readonly stamps: readonly string[];
  /** Set when the entry outlives its freshness for grace. */
  readonly freshUntil: number | undefined;
  /** The registry version at which the tags were last found fresh: until it moves, no need to look again. */
  verified: number;
}

const NO_TAGS: readonly string[] = Object.freeze([]);

/** Tag markers live this long in the stores: longer than any entry they cover, in practice forever. */
const MARKER_TTL_MS = 10 * 365 * 86_400_000;
// The key of a tag's marker in the stores. User keys cannot hold control characters, so none can collide.
const MARKER = '\u0001tag:';

/** The memory tier's per-entry data for a decoded entry: its tags and stamps and grace, or nothing. */
export function metaOf(entry: { tags: readonly string[] | undefined; stamps: readonly string[] | undefined; freshUntil?: number | undefined }): TagMeta | undefined {
  const tagged = entry.tags !== undefined && entry.stamps !== undefined && entry.tags.length > 0;
  if (!tagged && entry.freshUntil === undefined) return undefined;
  return {
    tags: tagged ? (entry.tags as readonly string[]) : NO_TAGS,
    stamps: tagged ? (entry.stamps as readonly string[]) : NO_TAGS,
    freshUntil: entry.freshUntil,
    verified: -1,
  };
}

interface TagBatch {
  hard: Set<string>;
  soft: Set<string>;
  done: Promise<void>;
}

/**
 * Tag stamps: what each tag's current stamp is (the registry here, the markers in the first store), the
 * verdict on an entry's recorded stamps (FRESH, STALE or INVALID), and hard and soft tag invalidation, one
 * write per tag whatever the number of tagged entries.
 */
export class TagStamps {
  readonly registry: TagRegistry;
  /**
   * Whether the registry's stamps can be trusted without asking the store: with no store (the registry is the
   * truth) or with a bus (other instances announce their tag invalidations).
   */
  readonly trustRegistry: boolean;
  readonly #stack: TierStack;
  readonly #clock: TimeSource;
  readonly #flights: Flights;
  readonly #announce: (message: BusMessage) => void;
  readonly #window: number;
  #batch: TagBatch | undefined;

  constructor(options: { maxTags: number; hasBus: boolean; stack: TierStack; clock: TimeSource; flights: Flights; announce: (message: BusMessage) => void; invalidationWindow: number }) {
    this.registry = new TagRegistry(options.maxTags);
    this.#stack = options.stack;
    this.trustRegistry = options.stack.length === 0 || options.hasBus;
    this.#clock = options.clock;
    this.#flights = options.flights;
    this.#announce = options.announce;
    this.#window = options.invalidationWindow;
  }

  get #markerTier(): StoreTier | undefined {
    return this.#stack.markerTier;
  }

  /** The verdict the registry and the clock can give without asking a store (UNKNOWN when a stamp is not known). */
  registryVerdict(meta: TagMeta): number {
    const registry = this.registry;
    if (meta.verified !== registry.version && meta.tags.length !== 0) {
      const tags = registry.verdict(meta.tags, meta.stamps);
      if (tags !== FRESH) return tags;
      meta.verified = registry.version;
    }
    return meta.freshUntil !== undefined && meta.freshUntil <= this.#clock.now() ? STALE : FRESH;
  }

  /** FRESH, STALE or INVALID for an entry's recorded stamps, asking the marker store when needed. */
  async verdict(meta: TagMeta): Promise<number> {
    if (this.trustRegistry || meta.tags.length === 0) {
      const known = this.registryVerdict(meta);
      if (known !== UNKNOWN) return known;
    }
    const current = await this.current(meta.tags, false);
    let worst = meta.freshUntil !== undefined && meta.freshUntil <= this.#clock.now() ? STALE : FRESH;
    for (let i = 0; i < current.length; i++) {
      const stamp = current[i];
      if (stamp === undefined) return INVALID;
      worst = Math.max(worst, compareStamp(meta.stamps[i] as string, stamp));
    }
    return worst;
  }

  /**
   * The verdict on an entry read from a store: settled at once (no promise) for an entry without tags or grace,
   * which needs no marker read.
   */
  storedVerdict(entry: { tags: readonly string[] | undefined; stamps: readonly string[] | undefined; freshUntil?: number | undefined }): number | Promise<number> {
    const meta = metaOf(entry);
    return meta === undefined ? FRESH : this.verdict(meta);
  }

  /** Current stamps of tags for a write; a tag whose marker cannot be had gets a stamp that validates nothing. */
  async forWrite(tags: readonly string[]): Promise<Map<string, string>> {
    const current = await this.current(tags, true);
    return new Map(tags.map((tag, i) => [tag, current[i] ?? newStamp()]));
  }

  /**
   * Current stamps of `tags`, read from the marker store (or the registry, when it can be trusted).
   * `create` writes a marker for tags that have none, so the entry about to be written has something to match.
   */
  async current(tags: readonly string[], create: boolean): Promise<(string | undefined)[]> {
    const out: (string | undefined)[] = tags.map((tag) => (this.trustRegistry ? this.registry.get(tag) : undefined));
    const missing = tags.map((_, i) => i).filter((i) => out[i] === undefined);
    if (missing.length === 0) return out;
    const tier = this.#markerTier;
    if (tier === undefined) {
      // No store: the registry is the only truth, and a forgotten tag starts afresh.
      for (const i of missing) {
        if (!create) continue;
        const stamp = newStamp();
        this.registry.set(tags[i] as string, stamp);
        out[i] = stamp;
      }
      return out;
    }
    const stack = this.#stack;
    const keys = missing.map((i) => stack.storeKey(MARKER + (tags[i] as string)));
    const epoch = this.registry.epoch;
    const found = await stack.getMany(tier, keys);
    if (found === undefined) return out;
    const decoder = new TextDecoder();
    // Markers missing for several tags are created side by side: one round trip, not one per tag.
    await Promise.all(
      missing.map(async (i, j) => {
        const tag = tags[i] as string;
        let stamp = found[j] === undefined ? undefined : decoder.decode(found[j]);
        if (stamp === undefined && create) {
          const fresh = newStamp();
          const key = keys[j] as string;
          const added = await stack.add(tier, key, new TextEncoder().encode(fresh), this.#clock.now() + MARKER_TTL_MS);
          if (added === true) stamp = fresh;
          else if (added === false) {
            const now = await stack.attempt(tier, 'get', (s) => s.get(key));
            stamp = now === undefined ? undefined : decoder.decode(now);
          }
        }
        if (stamp !== undefined) {
          if (this.registry.epoch === epoch) this.registry.set(tag, stamp);
          out[i] = stamp;
        }
      }),
    );
    return out;
  }

  /**
   * Replaces the stamps of `tags` (both tokens, or only the soft one) in the marker store, the registry and,
   * through the bus, every other instance. Calls made within the same turn of the event loop (or
   * `invalidationWindow`) are coalesced: one batched store write and one bus message for all of them; each
   * caller's promise settles with the batch.
   */
  invalidate(tags: readonly string[], soft: boolean): Promise<void> {
    let batch = this.#batch;
    if (batch === undefined) {
      const created: TagBatch = { hard: new Set(), soft: new Set(), done: undefined as unknown as Promise<void> };
      created.done = new Promise<void>((resolve, reject) => {
        const flush = () => {
          if (this.#batch === created) this.#batch = undefined;
          this.#flush(created).then(resolve, reject);
        };
        // Not unref'ed: an unref'ed immediate lets the event loop block in its poll phase, delaying the flush
        // until something else wakes it. Both keep the process alive for one short window at most.
        if (this.#window > 0) this.#clock.setTimeout(flush, this.#window);
        else setImmediate(flush);
      });
      this.#batch = batch = created;
    }
    for (const tag of tags) (soft ? batch.soft : batch.hard).add(tag);
    return batch.done;
  }

  /** Sends a pending tag batch now (close() calls it so nothing is lost). */
  async flush(): Promise<void> {
    const batch = this.#batch;
    if (batch !== undefined) await batch.done;
  }

  async #flush(batch: TagBatch): Promise<void> {
    const hard = [...batch.hard];
    const soft = [...batch.soft].filter((tag) => !batch.hard.has(tag));
    const current = soft.length === 0 ? [] : await this.current(soft, false);
    const changed: string[] = [];
    const stamps: string[] = [];
    for (const tag of hard) {
      changed.push(tag);
      stamps.push(newStamp());
    }
    soft.forEach((tag, i) => {
      const before = current[i];
      if (before === undefined) return; // no marker: no entry of this tag can still validate
      changed.push(tag);
      stamps.push(softened(before));
    });
    changed.forEach((tag, i) => this.registry.set(tag, stamps[i] as string));
    // A load in progress for a tagged key would hand its waiters a value from before this invalidation.
    this.#flights.fenceTags(new Set([...batch.hard, ...batch.soft]));
    const tier = this.#markerTier;
    if (tier !== undefined && changed.length > 0) {
      const stack = this.#stack;
      const now = this.#clock.now();
      const encoder = new TextEncoder();
      const writes = changed.map((tag, i) => ({ key: stack.storeKey(MARKER + tag), value: encoder.encode(stamps[i]), expiresAt: now + MARKER_TTL_MS }));
      const ok = await stack.setMany(tier, writes);
      if (ok === undefined) {
        writes.forEach((w, i) => stack.remember(tier, MARKER + (changed[i] as string), { kind: 'set', bytes: w.value, expiresAt: w.expiresAt, createdAt: now }));
      } else {
        // Another instance's invalidation of the same tags may have landed just before or after this one; what
        // this instance read meanwhile may be either. The store now holds the winner: read it again.
        this.registry.forget(changed);
      }
    }
    if (changed.length > 0) this.#announce({ type: 'tags', tags: changed, stamps });
  }

  /** Another instance changed these tags. */
  remote(tags: readonly string[], stamps: readonly string[]): void {
    // With a marker store, the store orders concurrent invalidations of one tag (its last write wins), and the
    // message may be older than a stamp set here since: read the store again instead.
    if (this.#markerTier === undefined) tags.forEach((tag, i) => this.registry.set(tag, stamps[i] as string));
    else this.registry.forget(tags);
    this.#flights.fenceTags(new Set(tags));
  }
}
