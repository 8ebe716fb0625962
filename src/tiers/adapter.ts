import type { TimeSource } from '../clock.js';
import { capabilitiesOf, hasMemberIndex, hasSharedLog, type MemberIndex, type ResolvedCapabilities, type SharedLog, type Store, type StoreWrite } from '../stores/contract.js';

/**
 * Every operation the core calls on one store, chosen once when the tier is built: the store's own method where
 * it has one, else the one emulation of it, so no call site decides again and a store without batch methods
 * behaves exactly like one with them.
 */
export interface StoreOps extends Store {
  /** The store's flags with `iterate` and `nativeExpiry` derived from the methods it offers. */
  readonly capabilities: ResolvedCapabilities;
  /** The store's `getMany`, or `get` per key side by side. */
  getMany(keys: readonly string[]): Promise<(Uint8Array | undefined)[]>;
  /** The store's `setMany`, or `set` per entry side by side. */
  setMany(entries: readonly StoreWrite[]): Promise<void>;
  /** The store's `deleteMany`, or `delete` per key counting the keys whose `delete` said true. */
  deleteMany(keys: readonly string[]): Promise<number>;
  /**
   * The store's `add` where it has one. Without it the key is written unconditionally and reported stored:
   * good enough for values any writer may replace (tag markers), never for a lease, which is why `add` itself
   * is never emulated (it stays absent, like `addOrGet`, `replaceIf`, `keys`, `deletePrefix` and `prune` when the store
   * lacks them).
   */
  addOrSet(key: string, value: Uint8Array, expiresAt: number): Promise<boolean>;
  /** The store's shared log, when it offers both halves. */
  readonly log?: SharedLog;
  /** The store's member index, when it offers all three methods. */
  readonly memberIndex?: MemberIndex;
}

/**
 * Builds a store's operations once, and hands it the cache's clock (`Store.attach`) so a store built without
 * one runs its deadlines and timers on the cache's time.
 */
export function adaptStore(store: Store, clock: TimeSource): StoreOps {
  store.attach?.({ clock });
  const get = store.get.bind(store);
  const set = store.set.bind(store);
  const del = store.delete.bind(store);
  const getMany = store.getMany?.bind(store) ?? ((keys: readonly string[]) => Promise.all(keys.map((key) => get(key))));
  const setMany =
    store.setMany?.bind(store) ??
    ((entries: readonly StoreWrite[]) => Promise.all(entries.map((entry) => set(entry.key, entry.value, entry.expiresAt))).then(() => undefined));
  // The one counting rule for a delete by key: a key counts when its `delete` reported removing a live entry.
  const deleteMany =
    store.deleteMany?.bind(store) ?? ((keys: readonly string[]) => Promise.all(keys.map((key) => del(key))).then((removed) => removed.filter(Boolean).length));
  const add = store.add?.bind(store);
  const addOrSet = add ?? ((key: string, value: Uint8Array, expiresAt: number) => set(key, value, expiresAt).then(() => true));
  const ops: StoreOps = {
    name: store.name,
    capabilities: capabilitiesOf(store),
    get,
    set,
    delete: del,
    clear: store.clear.bind(store),
    close: store.close.bind(store),
    getMany,
    setMany,
    deleteMany,
    addOrSet,
    ...(add === undefined ? {} : { add }),
    ...(store.addOrGet === undefined ? {} : { addOrGet: store.addOrGet.bind(store) }),
    ...(store.replaceIf === undefined ? {} : { replaceIf: store.replaceIf.bind(store) }),
    ...(store.keys === undefined ? {} : { keys: store.keys.bind(store) }),
    ...(store.deletePrefix === undefined ? {} : { deletePrefix: store.deletePrefix.bind(store) }),
    ...(store.prune === undefined ? {} : { prune: store.prune.bind(store) }),
    ...(hasSharedLog(store) ? { log: { appendLog: store.appendLog.bind(store), readLog: store.readLog.bind(store) } } : {}),
    ...(hasMemberIndex(store) ? { memberIndex: { addMember: store.addMember.bind(store), removeMember: store.removeMember.bind(store), members: store.members.bind(store) } } : {}),
  };
  return Object.freeze(ops);
}
