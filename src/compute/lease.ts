import type { TimeSource, TimerHandle } from '../clock.js';
import { decodeEntry, encodeEntry, identityOf } from '../entry.js';
import type { Emitter } from '../events.js';
import { newToken } from '../freshness/tags.js';
import type { Store } from '../stores/contract.js';
import type { TierStack } from '../tiers/stack.js';
import type { StoreTier } from '../tiers/store-tier.js';

/** What claims need from the engine: the stores, the time source and somewhere to report failures. */
export interface ClaimHost {
  readonly stack: TierStack;
  readonly clock: TimeSource;
  readonly emitter: Emitter;
}

/**
 * Fencing and leases across processes, through the first shared store that can compare-and-set.
 *
 * Before its loader runs, a load claims the key in that store: on a key with no live value it takes a
 * lease on it (writes a lease entry, an entry flagged as a lease holding a random token, with `add`); on a key
 * holding a stale entry it remembers that entry's header. Its result is then written with `replaceIf`, which
 * succeeds only when the key still holds exactly that lease entry or entry. Whatever another process did to the key meanwhile (a delete, a
 * pattern or `clear` invalidation, a newer write) made the key hold something else, so the older result is
 * not written: the write is fenced by the token, whichever process invalidated.
 *
 * With `lease`, callers that find another process's live lease wait for its value instead of loading too:
 * one loader call per cold key across the fleet. The holder renews its lease while the loader runs; a holder
 * that dies leaves a lease that expires after its TTL, and the next caller takes over.
 *
 * The same lease entries, taken with {@link takeLease} and given up with {@link giveLease}, are what the warming
 * scheduler holds for one firing across the fleet (warming/lease.ts): one mechanism, one name.
 */

type Conditional = Required<Pick<Store, 'add' | 'replaceIf'>> & Store;

export type ClaimOutcome =
  /** The key holds what `claim` expects: our lease, another process's lease, or a stale entry. */
  | { kind: 'claimed'; claim: Claim; holder: boolean }
  /**
   * A live entry is there (another process finished meanwhile, or the stale value being refreshed): the
   * caller may answer with it, or load and write through `claim`, which expects that entry.
   */
  | { kind: 'found'; bytes: Uint8Array; claim: Claim }
  /** Another process holds a live lease (`bytes`, its lease entry). */
  | { kind: 'leased'; bytes: Uint8Array; claim: Claim }
  /** The store could not be asked: load and write without fencing (degraded). */
  | { kind: 'unavailable' };

/** What a load expects to find in the fence store when it writes its result. */
export class Claim {
  #expected: Uint8Array;
  readonly #lease: Uint8Array | undefined;
  #renewal: TimerHandle | undefined;
  /** Committed or released: nothing more to do. */
  #done = false;

  constructor(
    readonly host: ClaimHost,
    readonly tier: StoreTier,
    readonly key: string,
    expected: Uint8Array,
    lease: Uint8Array | undefined,
  ) {
    this.#expected = expected;
    this.#lease = lease;
  }

  get #store(): Conditional {
    return this.tier.store as Conditional;
  }

  /** Keeps our lease alive every third of `ttlMs` until `stop`; never keeps the process alive. */
  renewEvery(ttlMs: number): void {
    if (this.#lease === undefined) return;
    const lease = this.#lease;
    const { stack, clock, emitter } = this.host;
    const every = Math.max(1, Math.floor(ttlMs / 3));
    const renew = () => {
      if (this.#done) return;
      const deadline = clock.now() + ttlMs;
      // Deliberately not awaited: a failed renewal shows up as a refused write, which is the safe outcome.
      stack
        .attempt(this.tier, 'replaceIf', (s) => (s as Conditional).replaceIf(this.key, lease, lease, deadline), this.key)
        .catch((error: unknown) => emitter.reportError(error, `${this.tier.name}.lease`, this.key));
      this.#renewal = clock.setTimeout(renew, every);
    };
    this.#renewal = clock.setTimeout(renew, every);
  }

  /** Writes the result if the key still holds what this claim expects; false when fenced (or the store failed). */
  async commit(bytes: Uint8Array, expiresAt: number): Promise<boolean> {
    this.stop();
    this.#done = true;
    const ok = await this.host.stack.attempt(this.tier, 'replaceIf', () => this.#store.replaceIf(this.key, this.#expected, bytes, expiresAt), this.key);
    if (ok !== true) return false;
    this.tier.counters.sets++;
    this.tier.counters.bytesWritten += bytes.length;
    return true;
  }

  /** Takes over another process's lease (the holder is too slow or gone): our writes now expect our lease entry. */
  async takeOver(ttlMs: number): Promise<boolean> {
    const lease = this.#lease;
    if (lease === undefined) return false;
    const ok = await this.host.stack.attempt(this.tier, 'replaceIf', () => this.#store.replaceIf(this.key, this.#expected, lease, this.host.clock.now() + ttlMs), this.key);
    if (ok === true) this.#expected = lease;
    return ok === true;
  }

  /** Removes our lease after a failed load, so the next caller does not wait for a lease nobody holds. */
  async release(): Promise<void> {
    this.stop();
    const lease = this.#lease;
    if (this.#done || lease === undefined || this.#expected !== lease) return;
    this.#done = true;
    await this.host.stack.attempt(this.tier, 'replaceIf', () => this.#store.replaceIf(this.key, lease, undefined, 0), this.key);
  }

  stop(): void {
    if (this.#renewal !== undefined) this.host.clock.clearTimeout(this.#renewal);
    this.#renewal = undefined;
  }
}

/**
 * Claims `full` in the fence tier before a load. A store with `addOrGet` answers the claim and the read of what
 * the key holds in one round trip; elsewhere they are an `add` and, when it is refused, a `get`.
 */
export async function claim(host: ClaimHost, tier: StoreTier, full: string, ttlMs: number): Promise<ClaimOutcome> {
  const { stack, clock } = host;
  const key = stack.storeKey(full);
  const own = leaseEntry(clock.now());
  const combined = typeof tier.ops.addOrGet === 'function';
  for (let attempt = 0; attempt < 3; attempt++) {
    let bytes: Uint8Array | undefined;
    if (combined) {
      // null: our lease was stored; undefined: the store could not be asked.
      const reply = await stack.attempt(tier, 'addOrGet', (s) => s.addOrGet!(key, own, clock.now() + ttlMs).then((held) => held ?? null), full);
      if (reply === undefined) return { kind: 'unavailable' };
      if (reply === null) return { kind: 'claimed', claim: new Claim(host, tier, key, own, own), holder: true };
      bytes = reply;
    } else {
      const added = await stack.attempt(tier, 'add', (s) => (s as Conditional).add(key, own, clock.now() + ttlMs), full);
      if (added === undefined) return { kind: 'unavailable' };
      if (added) return { kind: 'claimed', claim: new Claim(host, tier, key, own, own), holder: true };
      bytes = await stack.attempt(tier, 'get', (s) => s.get(key), full);
      if (bytes === undefined) continue; // gone meanwhile (expired, deleted): try again
    }
    let lease = false;
    try {
      lease = decodeEntry(bytes, full).lease;
    } catch {
      // Unreadable bytes: claimed like a stale entry, so our write replaces them.
    }
    if (lease) return { kind: 'leased', bytes, claim: new Claim(host, tier, key, bytes, own) };
    return { kind: 'found', bytes, claim: new Claim(host, tier, key, identityOf(bytes), own) };
  }
  return { kind: 'unavailable' };
}

/** A new lease entry: an entry flagged as a lease, holding a random token (readers treat it as no value). */
export function leaseEntry(now: number): Uint8Array {
  return encodeEntry(new TextEncoder().encode(newToken()), { createdAt: now, expiresAt: 0, tags: undefined, stamps: undefined }, true);
}

/** Takes a lease on `key` for `ttlMs` with the store's atomic `add`: the lease entry held, or undefined when another holds one. */
export async function takeLease(store: Store & Required<Pick<Store, 'add'>>, key: string, ttlMs: number, now: number): Promise<Uint8Array | undefined> {
  const own = leaseEntry(now);
  return (await store.add(key, own, now + ttlMs)) ? own : undefined;
}

/**
 * Gives up a lease if `key` still holds exactly `held`: atomically where the store has `replaceIf`. Elsewhere
 * the read and the delete are two calls, so a lease that expired and was taken by another between them is
 * removed too (callers that cannot afford that name a lease after one piece of work and never reuse it).
 */
export async function giveLease(store: Store, key: string, held: Uint8Array): Promise<void> {
  if (store.replaceIf !== undefined) {
    await store.replaceIf(key, held, undefined, 0);
    return;
  }
  const current = await store.get(key);
  if (current !== undefined && sameBytes(current, held)) await store.delete(key);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
