import type { TimerHandle } from '../clock.js';
import { CacheError, DecodeError } from '../errors.js';
import { fleetCall } from './call.js';
import { FleetWarms } from './warms.js';
import type { StoreOps } from '../tiers/adapter.js';
import type { StoreTier } from '../tiers/store-tier.js';
import { decodeHeartbeat, encodeHeartbeat, HOST, MAX_LISTED, MAX_TEXT, PACKAGE_VERSION, type InstanceInfo } from './info.js';
import type { AlertSource, FleetHost } from './host.js';
import type { ResolvedFleetOptions } from './options.js';

/**
 * Where heartbeats live in the marker store: `\u0001fleet:<id>`. Keys given to a cache cannot hold control
 * characters, so no user key can be one of these (the tag markers and the event log use the same guarantee),
 * and pattern invalidation and namespace clears skip them.
 */
export const FLEET_KEY_PREFIX = '\u0001fleet:';
/**
 * For stores that cannot list keys (Memcached): a fixed set of slots `\u0001fleet#0` … `#63`, each holding one
 * instance's heartbeat. An instance claims a free slot with `add` (atomic there), keeps it while its heartbeats
 * renew it, and the fleet is read with one batched `get` of every slot. Such a store shows at most this many
 * instances per prefix.
 */
export const FLEET_SLOTS = 64;
const slotKey = (slot: number) => `\u0001fleet#${slot}`;
/**
 * On a store with a member index (Redis: a sorted set scored by deadline), the ids of the live heartbeats, so
 * that listing the fleet reads the index and the heartbeats, never a walk of every key in the database.
 */
export const FLEET_INDEX_KEY = '\u0001fleet';
/** Most members read from the index: far above any fleet, and a bound on what a corrupt index can cost. */
const MAX_INDEXED = 10_000;
/**
 * The fleet room of an engine: publishes this instance's heartbeat every `fleet.interval` to the first store
 * (while its breaker is closed, under its timeout), reads everyone's back for `listInstances()`, and deletes its
 * own on `close()`. Nothing here runs on the read or write paths; a failure is reported on `error` (operation
 * `fleet.heartbeat`, `fleet.read`, `fleet.close`) and never thrown into user code.
 */
export class Fleet {
  readonly #engine: FleetHost;
  /** Fleet warm requests: the warmers this instance serves, and the requests it makes (`fleet/warms.ts`). */
  readonly warms: FleetWarms;
  /** The firing alerts of the cache's running monitor; a monitor sets it while it runs (`observe/monitor.ts`). */
  alertSource: AlertSource | undefined;
  readonly #options: ResolvedFleetOptions | undefined;
  readonly #tier: StoreTier | undefined;
  readonly #startedAt: number;
  #timer: TimerHandle | undefined;
  #publishing: Promise<void> | undefined;
  #stopped = false;
  /** Store errors and timeouts at the last heartbeat: more since then make the instance `degraded`. */
  #lastErrors = 0;
  /** The heartbeat slot this instance holds, on a store that cannot list keys. */
  #slot: number | undefined;

  constructor(engine: FleetHost, options: ResolvedFleetOptions | undefined) {
    this.#engine = engine;
    this.warms = new FleetWarms(engine, this);
    this.#startedAt = Math.floor(engine.clock.now());
    // Read even with `fleet: false`: such a cache (the CLI's) lists the fleet without joining it.
    this.#tier = engine.stack.markerTier;
    this.#options = this.#tier === undefined ? undefined : options;
    if (this.#options === undefined) return;
    // Deliberately not awaited: a heartbeat never rejects (failures go to `error`).
    queueMicrotask(() => void this.#beat());
  }

  /** True when this instance publishes heartbeats (a store, and `fleet` not false). */
  get publishing(): boolean {
    return this.#options !== undefined;
  }

  /** This instance as a heartbeat shows it, now. */
  self(): InstanceInfo {
    const engine = this.#engine;
    const now = Math.floor(engine.clock.now());
    const { hits, misses } = engine.counters;
    let errors = 0;
    const stores = engine.stack.tiers.slice(0, MAX_LISTED).map((tier) => {
      errors += tier.counters.errors + tier.counters.timeouts;
      return { name: tier.name.slice(0, MAX_TEXT), breaker: tier.state, hits: tier.counters.hits, misses: tier.counters.misses, errors: tier.counters.errors + tier.counters.timeouts };
    });
    const alerts = (this.alertSource?.() ?? []).slice(0, MAX_LISTED).map((alert) => ({ name: alert.name.slice(0, MAX_TEXT), severity: alert.severity, since: Math.floor(alert.since) }));
    const health = this.#health(errors > this.#lastErrors);
    return {
      id: engine.sync.origin,
      name: this.#options?.name ?? `${HOST}:${process.pid}`,
      host: HOST.slice(0, MAX_TEXT) || 'unknown',
      pid: process.pid,
      version: PACKAGE_VERSION,
      node: process.version,
      startedAt: this.#startedAt,
      heartbeatAt: now,
      uptimeMs: Math.max(0, now - this.#startedAt),
      hits,
      misses,
      hitRate: hits + misses === 0 ? 0 : hits / (hits + misses),
      memory: { entries: engine.memory.count, bytes: engine.memory.bytes, maxEntries: engine.options.maxEntries, maxBytes: engine.options.maxBytes },
      stores,
      health,
      alerts,
    };
  }

  /** The verdict from what is known without asking anything. */
  #health(newErrors: boolean): InstanceInfo['health'] {
    const engine = this.#engine;
    const tiers = engine.stack.tiers;
    if (engine.closed) return 'down';
    if (engine.options.strict && tiers.length > 0 && tiers.every((tier) => tier.state === 'open')) return 'down';
    if (newErrors) return 'degraded';
    for (const tier of tiers) {
      if (tier.state !== 'closed' || tier.hasPending || engine.maintenance.lastProbe(tier)?.ok === false) return 'degraded';
    }
    if (engine.options.bus !== undefined && (engine.sync.breaker !== 'closed' || engine.sync.subscription === 'failed')) return 'degraded';
    return 'ok';
  }

  /** Every live instance sharing the first store's prefix, this one included (with its figures now), by id. */
  async list(): Promise<InstanceInfo[]> {
    if (this.#engine.closed) throw new CacheError('E_CLOSED', 'the cache is closed');
    const own = this.self();
    const tier = this.#tier;
    // While the breaker holds calls back, the fleet cannot be read: this instance alone is known.
    if (tier === undefined || !tier.available()) return [own];
    const byId = new Map<string, InstanceInfo>();
    try {
      const keys = await this.#memberKeys(tier);
      const now = this.#engine.clock.now();
      const values = keys.length === 0 ? [] : await this.#call(tier, (store) => store.getMany(keys));
      values.forEach((bytes, i) => {
        if (bytes === undefined) return;
        const key = keys[i] as string;
        try {
          const { info, expiresAt } = decodeHeartbeat(bytes);
          if (expiresAt <= now) return;
          if (tier.ops.keys !== undefined && `${FLEET_KEY_PREFIX}${info.id}` !== this.#engine.stack.fullKeyOf(key)) throw new TypeError(`heartbeat id ${JSON.stringify(info.id)} does not match its key`);
          byId.set(info.id, info);
        } catch (error) {
          this.#engine.emitter.reportError(new DecodeError(`fleet: skipped a malformed heartbeat: ${(error as Error).message}`, { key, cause: error }), 'fleet.read', key);
        }
      });
    } catch (error) {
      this.#engine.emitter.reportError(error, 'fleet.read');
    }
    byId.set(own.id, own);
    return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /**
   * Store keys of the heartbeats: the members of the fleet index where the store keeps one (Redis: one sorted
   * set, so the cost follows the fleet, not the database), else one listing of `\u0001fleet:*` where the store
   * can list keys, else every slot.
   */
  async #memberKeys(tier: StoreTier): Promise<string[]> {
    const stack = this.#engine.stack;
    const index = tier.ops.memberIndex;
    if (index !== undefined) {
      const ids = await this.#call(tier, () => index.members(stack.storeKey(FLEET_INDEX_KEY), MAX_INDEXED));
      return ids.map((id) => stack.storeKey(FLEET_KEY_PREFIX + id));
    }
    if (tier.ops.keys !== undefined) {
      return this.#call(tier, async (store) => {
        const out: string[] = [];
        if (store.keys === undefined) return out;
        for await (const key of store.keys(stack.storeKey(`${FLEET_KEY_PREFIX}*`))) {
          if (stack.fullKeyOf(key)?.startsWith(FLEET_KEY_PREFIX) === true) out.push(key);
        }
        return out;
      });
    }
    return Array.from({ length: FLEET_SLOTS }, (_, slot) => stack.storeKey(slotKey(slot)));
  }

  /** Whether the slot's heartbeat is this instance's (or the slot holds nothing readable). */
  async #ownsSlot(tier: StoreTier, slot: number): Promise<boolean> {
    const bytes = await this.#call(tier, (store) => store.get(this.#engine.stack.storeKey(slotKey(slot))));
    if (bytes === undefined) return true;
    try {
      return decodeHeartbeat(bytes).info.id === this.#engine.sync.origin;
    } catch {
      return true;
    }
  }

  /**
   * Writes the heartbeat to this instance's slot, claiming a free one first when it has none (or lost it: its
   * heartbeat lapsed and another instance took the slot).
   */
  async #publishToSlot(tier: StoreTier, bytes: Uint8Array, deadline: number): Promise<void> {
    const stack = this.#engine.stack;
    if (this.#slot !== undefined && (await this.#ownsSlot(tier, this.#slot))) {
      const key = stack.storeKey(slotKey(this.#slot));
      await this.#call(tier, (store) => store.set(key, bytes, deadline));
      return;
    }
    this.#slot = undefined;
    const keys = await this.#memberKeys(tier);
    const taken = await this.#call(tier, (store) => store.getMany(keys));
    for (let slot = 0; slot < FLEET_SLOTS; slot++) {
      if (taken[slot] !== undefined) continue;
      // `add` where the store has it: two instances racing for one slot cannot both win it.
      if (await this.#call(tier, (store) => store.addOrSet(keys[slot] as string, bytes, deadline))) {
        this.#slot = slot;
        return;
      }
    }
    throw new CacheError('E_UNSUPPORTED', `fleet: all ${FLEET_SLOTS} heartbeat slots of ${tier.name} are taken; this instance is not listed`);
  }

  #call<T>(tier: StoreTier, call: (store: StoreOps) => Promise<T>): Promise<T> {
    return fleetCall(tier, call);
  }

  /** Publishes one heartbeat (or joins the one in flight) and arms the next. Never rejects. */
  #beat(): Promise<void> {
    const options = this.#options;
    const tier = this.#tier;
    if (options === undefined || tier === undefined || this.#stopped || this.#engine.closed) return Promise.resolve();
    this.#arm(options.intervalMs);
    // A heartbeat would only be held back (or be the one trial call) while the breaker is not closed.
    if (this.#publishing !== undefined || tier.state !== 'closed') return this.#publishing ?? Promise.resolve();
    this.#publishing = this.#publish(tier, options).finally(() => (this.#publishing = undefined));
    return this.#publishing;
  }

  async #publish(tier: StoreTier, options: ResolvedFleetOptions): Promise<void> {
    try {
      const info = this.self();
      this.#lastErrors = info.stores.reduce((sum, store) => sum + store.errors, 0);
      const expiresAt = info.heartbeatAt + options.ttlMs;
      const bytes = encodeHeartbeat(info, expiresAt);
      if (tier.ops.keys === undefined) return await this.#publishToSlot(tier, bytes, tier.deadlineFor(expiresAt));
      const key = this.#engine.stack.storeKey(FLEET_KEY_PREFIX + info.id);
      const deadline = tier.deadlineFor(expiresAt);
      const index = tier.ops.memberIndex;
      // Side by side: one round trip. The member lapses with the heartbeat it points to.
      await Promise.all([
        this.#call(tier, (store) => store.set(key, bytes, deadline)),
        index === undefined ? undefined : this.#call(tier, () => index.addMember(this.#engine.stack.storeKey(FLEET_INDEX_KEY), info.id, deadline)),
      ]);
    } catch (error) {
      this.#engine.emitter.reportError(error, 'fleet.heartbeat');
    }
  }

  #arm(interval: number): void {
    if (this.#timer !== undefined) this.#engine.clock.clearTimeout(this.#timer);
    this.#timer = this.#engine.clock.setTimeout(() => {
      this.#timer = undefined;
      // Deliberately not awaited: a heartbeat never rejects.
      void this.#beat();
    }, interval);
  }

  /** Stops the heartbeat and removes this instance's entry, so it leaves the fleet at once. Never rejects. */
  async close(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.warms.close();
    if (this.#timer !== undefined) this.#engine.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    const tier = this.#tier;
    if (this.#options === undefined || tier === undefined) return;
    await this.#publishing;
    if (tier.state === 'open') return;
    const id = this.#engine.sync.origin;
    try {
      const slot = this.#slot;
      const own = tier.ops.keys !== undefined ? FLEET_KEY_PREFIX + id : slot !== undefined && (await this.#ownsSlot(tier, slot)) ? slotKey(slot) : undefined;
      const index = tier.ops.memberIndex;
      await Promise.all([
        own === undefined ? undefined : this.#call(tier, (store) => store.delete(this.#engine.stack.storeKey(own))),
        index === undefined ? undefined : this.#call(tier, () => index.removeMember(this.#engine.stack.storeKey(FLEET_INDEX_KEY), id)),
      ]);
    } catch (error) {
      this.#engine.emitter.reportError(error, 'fleet.close');
    }
  }
}
