import { timeSourceOf, type Clock, type TimeSource } from './clock.js';
import { createCodec } from './codec/codec.js';
import type { Codec } from './codec/types.js';
import { DEFAULT_MAX_KEY_LENGTH } from './keys/validate.js';
import type { EvictionPolicy } from './memory/types.js';
import type { Bus } from './bus/contract.js';
import type { Store } from './stores/contract.js';
import type { ResolvedTier, StoreTierOptions } from './tiers/store-tier.js';
import { deadlineOf, parseDuration, type Ttl } from './ttl.js';
import { resolveMetricsOptions, type MetricsOptions, type ResolvedMetricsOptions } from './observe/metrics.js';
import { resolveComputeDefaults, type ComputeDefaults, type LoadPlan } from './compute/plan.js';
import { resolveMaintenanceOptions, type MaintenanceOptions, type ResolvedMaintenanceOptions } from './observe/maintenance.js';
import { resolveFleetOptions, type FleetOptions, type ResolvedFleetOptions } from './fleet/options.js';
import { resolveCoherence, type CoherenceOptions, type ResolvedCoherence } from './coherence/options.js';

export interface MemoryOptions {
  /**
   * Most entries the memory tier holds.
   * @default 10000 (when neither `maxEntries` nor `maxBytes` is given)
   */
  maxEntries?: number;
  /**
   * Most bytes the memory tier holds, counted as encoded value size + key size + a fixed per-entry overhead.
   * @default 67108864 (64 MiB, when neither `maxEntries` nor `maxBytes` is given)
   */
  maxBytes?: number;
  /**
   * Which entry leaves first when the tier is full: `'tinylfu'` (adaptive W-TinyLFU), `'lru'`, `'lfu'`,
   * or `'ttl'` (soonest expiry first).
   * @default 'tinylfu'
   */
  policy?: EvictionPolicy;
  /**
   * How often expired entries are swept out, in ms or as a duration string; `0` turns the sweep off (expired
   * entries are still never returned, and are removed when next read). The timer never keeps the process alive.
   * @default '30s'
   */
  sweepInterval?: number | string;
  /**
   * Longest an entry may live in the memory tier, even when its TTL is longer (other tiers keep it longer).
   * @default none (the entry's own TTL)
   */
  maxTtl?: number | string;
}

export interface CacheOptions {
  /**
   * TTL of entries set without one.
   * @default '24h'
   */
  defaultTtl?: Ttl;
  /** The memory tier's bounds and policy. It is always bounded. */
  memory?: MemoryOptions;
  /**
   * Put in front of every key this cache stores (`'app'` makes `user:1` live at `app:user:1`). Views made with
   * `cache.namespace(name)` nest under it.
   * @default '' (none)
   */
  prefix?: string;
  /**
   * The time source of every deadline and every timer of the cache (replays, lease renewals, timeouts, the
   * bus): `now()` and, optionally, `setTimeout`/`clearTimeout`. Inject `createFakeClock()` in tests.
   * @default wall-clock time and unref'ed Node timers
   */
  clock?: Clock;
  /**
   * Serializer for every tier; build one with `createCodec({ extensions })` to teach it your classes.
   * @default the built-in codec, bounded by `maxValueBytes`
   */
  codec?: Codec;
  /**
   * Largest encoded value accepted, in bytes; larger values raise `SerializationError`. Ignored when `codec` is given.
   * @default 8388608 (8 MiB)
   */
  maxValueBytes?: number;
  /**
   * Longest key accepted, in characters.
   * @default 1024
   */
  maxKeyLength?: number;
  /**
   * Shared tiers behind the memory tier, in the order reads go down them: a store (`redisStore(...)`,
   * `sqliteStore(...)`...) or `{ store, maxTtl, timeout, breaker, maxPendingWrites }`.
   * @default [] (memory only)
   */
  stores?: readonly (Store | StoreTierOptions)[];
  /**
   * When a store fails, throw `CacheBackendError` instead of carrying on with the other tiers.
   * @default false
   */
  strict?: boolean;
  /**
   * Keeps the memory tiers of several instances coherent: writes and invalidations are announced on it,
   * and announcements from other instances drop the affected memory-tier entries (`redisBus(...)`), or
   * `{ bus, publishTimeout, connectTimeout, breaker }`. Announcing never delays a write: a publish that
   * fails or times out is reported on `error`, and the other instances recover from the gap it leaves.
   */
  bus?: Bus | BusTierOptions;
  /**
   * Server-assisted invalidation (Redis 6+ client tracking): the memory tier drops a key when anyone writes
   * or deletes it in the Redis store, tiercache or not (`'tracking'`, or `{ mode: 'tracking', store,
   * prefixes, connectTimeout }`). Keys only: tags, patterns and `clear` between instances still need `bus`.
   * See docs/coherence.md.
   * @default undefined (off)
   */
  coherence?: 'tracking' | CoherenceOptions;
  /**
   * Most tag stamps this instance remembers (least recently used forgotten first; a forgotten stamp is read
   * again from the store, or, without a store, invalidates the entries holding that tag).
   * @default 100000
   */
  maxTags?: number;
  /**
   * How long tag invalidations wait to be sent together (one store write, one bus message), in ms or a
   * duration. `0` coalesces the calls made in the same turn of the event loop.
   * @default 0
   */
  invalidationWindow?: number | string;
  /**
   * Defaults of every `getOrSet` call: `grace`, `softTimeout`, `hardTimeout`, `refreshAhead`, `failSafeBackoff`,
   * `negativeTtl`, `lease` (see `GetOrSetOptions`). `grace` also applies to `set`.
   * @default {} (no grace, no timeouts, no lease)
   */
  compute?: ComputeDefaults;
  /**
   * The cache's name in metrics, health and reports (the `cache` label of the exporters).
   * @default 'default'
   */
  name?: string;
  /**
   * Detailed metrics on top of the counters and store latencies that are always kept: memory-tier reads
   * sampled for latency, and traffic and miss cost by key group (`true`, or `{ keyGroup, maxKeyGroups,
   * sampleEvery }`). Costs a few nanoseconds per memory-tier hit; `false` leaves the hit path as it is.
   * @default false
   */
  metrics?: boolean | MetricsOptions;
  /**
   * Background work (seed 004): periodic health probes of each store and of the bus (`{ probeInterval }`).
   * Expired rows of the SQLite, PostgreSQL and file stores are pruned by those stores' own timers, which run
   * on this cache's clock and stop at `close()`.
   * @default { probeInterval: '30s' }
   */
  maintenance?: MaintenanceOptions;
  /**
   * The fleet heartbeat: with at least one store, this instance publishes a small record of its stats and
   * health to the first store every `interval`, so `listInstances()`, the dashboard and the CLI see every live
   * instance sharing the store prefix (`{ interval, ttl, name }`); `false` publishes nothing. Memory-only caches
   * publish nothing either way.
   * @default {} (on, with every `FleetOptions` default)
   */
  fleet?: false | FleetOptions;
}

/** A bus with its own timeouts and breaker. */
export interface BusTierOptions {
  bus: Bus;
  /**
   * Longest a publish may take before it counts as failed (ms or a duration).
   * @default '500ms'
   */
  publishTimeout?: number | string;
  /**
   * Longest `ready()` waits for the bus to subscribe before rejecting with `BusTimeoutError` (the bus keeps trying).
   * @default '2s'
   */
  connectTimeout?: number | string;
  /**
   * After `failures` publishes in a row fail, publishing pauses for `cooldown`, then one probe goes out.
   * @default { failures: 3, cooldown: '5s' }
   */
  breaker?: { failures?: number; cooldown?: number | string };
}

export interface ResolvedOptions {
  /** The default TTL in ms, parsed once. */
  readonly defaultTtlMs: number;
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly policy: EvictionPolicy;
  readonly sweepInterval: number;
  readonly prefix: string;
  readonly clock: TimeSource;
  readonly codec: Codec;
  readonly maxKeyLength: number;
  readonly memoryMaxTtl: number;
  readonly tiers: readonly ResolvedTier[];
  readonly strict: boolean;
  readonly bus: Bus | undefined;
  readonly busTimeouts: { readonly publishMs: number; readonly connectMs: number; readonly breakerFailures: number; readonly breakerCooldownMs: number };
  readonly coherence: ResolvedCoherence | undefined;
  readonly maxTags: number;
  readonly invalidationWindow: number;
  readonly compute: LoadPlan;
  readonly name: string;
  readonly metrics: ResolvedMetricsOptions | undefined;
  readonly maintenance: ResolvedMaintenanceOptions;
  /** Undefined when `fleet: false`. */
  readonly fleet: ResolvedFleetOptions | undefined;
}

export const DEFAULT_MAX_ENTRIES = 10_000;
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
const POLICIES: readonly EvictionPolicy[] = ['tinylfu', 'lru', 'lfu', 'ttl'];

function positiveInteger(value: unknown, option: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new TypeError(`${option} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/** Validates once at construction; every later call reads the frozen result. */
export function resolveOptions(options: CacheOptions = {}): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('Cache options must be an object');
  const memory = options.memory ?? {};
  if (typeof memory !== 'object' || memory === null) throw new TypeError('memory must be an object');

  let maxEntries = Number.POSITIVE_INFINITY;
  let maxBytes = Number.POSITIVE_INFINITY;
  if (memory.maxEntries === undefined && memory.maxBytes === undefined) {
    maxEntries = DEFAULT_MAX_ENTRIES;
    maxBytes = DEFAULT_MAX_BYTES;
  } else {
    if (memory.maxEntries !== undefined && memory.maxEntries !== Number.POSITIVE_INFINITY) {
      maxEntries = positiveInteger(memory.maxEntries, 'memory.maxEntries');
    }
    if (memory.maxBytes !== undefined && memory.maxBytes !== Number.POSITIVE_INFINITY) {
      maxBytes = positiveInteger(memory.maxBytes, 'memory.maxBytes');
    }
    if (maxEntries === Number.POSITIVE_INFINITY && maxBytes === Number.POSITIVE_INFINITY) {
      throw new TypeError('memory must be bounded: give memory.maxEntries or memory.maxBytes a finite value');
    }
  }

  const policy = memory.policy ?? 'tinylfu';
  if (!POLICIES.includes(policy)) {
    throw new TypeError(`memory.policy must be one of ${POLICIES.join(', ')}, got ${JSON.stringify(policy)}`);
  }

  const clock = timeSourceOf(options.clock);

  const defaultTtl = options.defaultTtl ?? '24h';
  if (defaultTtl instanceof Date) throw new TypeError('defaultTtl must be a duration, not a Date');
  const defaultTtlMs = parseDuration(defaultTtl, 'defaultTtl');
  if (defaultTtlMs === 0) throw new TypeError('defaultTtl must be greater than 0');
  // A default so long that every write's deadline would pass the latest Date is refused here, by its name.
  deadlineOf(defaultTtlMs, clock.now(), 'defaultTtl');

  const prefix = options.prefix ?? '';
  if (typeof prefix !== 'string') throw new TypeError(`prefix must be a string, got ${typeof prefix}`);

  if (options.codec !== undefined && (typeof options.codec.encode !== 'function' || typeof options.codec.decode !== 'function')) {
    throw new TypeError('codec must have encode(value) and decode(bytes) methods');
  }
  const codec =
    options.codec ??
    createCodec(options.maxValueBytes === undefined ? {} : { maxBytes: positiveInteger(options.maxValueBytes, 'maxValueBytes') });

  if (options.strict !== undefined && typeof options.strict !== 'boolean') throw new TypeError(`strict must be a boolean, got ${typeof options.strict}`);
  const name = options.name ?? 'default';
  if (typeof name !== 'string' || name.length === 0 || name.length > 128) throw new TypeError(`name must be a string of 1 to 128 characters, got ${String(name)}`);

  const tiers = Object.freeze(resolveTiers(options.stores));
  return Object.freeze({
    memoryMaxTtl: optionalDuration(memory.maxTtl, 'memory.maxTtl'),
    tiers,
    coherence: resolveCoherence(options.coherence, tiers),
    strict: options.strict ?? false,
    ...resolveBus(options.bus),
    maxTags: options.maxTags === undefined ? 100_000 : positiveInteger(options.maxTags, 'maxTags'),
    invalidationWindow: parseDuration(options.invalidationWindow ?? 0, 'invalidationWindow'),
    compute: resolveComputeDefaults(options.compute),
    name,
    metrics: resolveMetricsOptions(options.metrics),
    maintenance: resolveMaintenanceOptions(options.maintenance),
    fleet: resolveFleetOptions(options.fleet),
    defaultTtlMs,
    maxEntries,
    maxBytes,
    policy,
    sweepInterval: parseDuration(memory.sweepInterval ?? '30s', 'memory.sweepInterval'),
    prefix,
    clock,
    codec,
    maxKeyLength: options.maxKeyLength === undefined ? DEFAULT_MAX_KEY_LENGTH : positiveInteger(options.maxKeyLength, 'maxKeyLength'),
  });
}

function optionalDuration(value: number | string | undefined, option: string): number {
  if (value === undefined) return Number.POSITIVE_INFINITY;
  const ms = parseDuration(value, option);
  if (ms === 0) throw new TypeError(`${option} must be greater than 0`);
  return ms;
}

function isStore(value: unknown): value is Store {
  const candidate = value as Partial<Store> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.get === 'function' &&
    typeof candidate.set === 'function' &&
    typeof candidate.delete === 'function' &&
    typeof candidate.clear === 'function' &&
    typeof candidate.close === 'function'
  );
}

function resolveTiers(stores: CacheOptions['stores']): ResolvedTier[] {
  if (stores === undefined) return [];
  if (!Array.isArray(stores)) throw new TypeError('stores must be an array of stores or { store, ... } objects');
  const names = new Set<string>();
  return stores.map((item: Store | StoreTierOptions, i) => {
    const tier: StoreTierOptions = isStore(item) ? { store: item } : item;
    const at = `stores[${i}]`;
    if (typeof tier !== 'object' || tier === null || !isStore(tier.store)) {
      throw new TypeError(`${at} must be a store (get, set, delete, clear, close) or { store, ... }`);
    }
    const name = tier.store.name;
    if (typeof name !== 'string' || name.length === 0) throw new TypeError(`${at}.store.name must be a non-empty string`);
    if (name === 'memory') throw new TypeError(`${at}: the name "memory" belongs to the memory tier; give the store another name`);
    if (names.has(name)) throw new TypeError(`${at}: two stores are named ${JSON.stringify(name)}; give each a distinct name`);
    names.add(name);
    const timeoutMs = parseDuration(tier.timeout ?? '1s', `${at}.timeout`);
    if (timeoutMs === 0) throw new TypeError(`${at}.timeout must be greater than 0`);
    return {
      store: tier.store,
      name,
      timeoutMs,
      maxTtlMs: optionalDuration(tier.maxTtl, `${at}.maxTtl`),
      breakerFailures: tier.breaker?.failures === undefined ? 5 : positiveInteger(tier.breaker.failures, `${at}.breaker.failures`),
      breakerCooldownMs: parseDuration(tier.breaker?.cooldown ?? '5s', `${at}.breaker.cooldown`),
      maxPendingWrites: tier.maxPendingWrites === undefined ? 10_000 : positiveInteger(tier.maxPendingWrites, `${at}.maxPendingWrites`),
    };
  });
}

function isBus(value: unknown): value is Bus {
  const methods = value as Partial<Record<'start' | 'publish' | 'close', unknown>> | null;
  return typeof methods === 'object' && methods !== null && [methods.start, methods.publish, methods.close].every((m) => typeof m === 'function');
}

function resolveBus(given: Bus | BusTierOptions | undefined): Pick<ResolvedOptions, 'bus' | 'busTimeouts'> {
  const tier: BusTierOptions | undefined = given === undefined || isBus(given) ? (given === undefined ? undefined : { bus: given }) : given;
  if (tier !== undefined && (typeof tier !== 'object' || tier === null || !isBus(tier.bus))) {
    throw new TypeError('bus must have start(handlers), publish(envelope) and close() methods, or be { bus, publishTimeout?, connectTimeout?, breaker? }');
  }
  const publishMs = parseDuration(tier?.publishTimeout ?? '500ms', 'bus.publishTimeout');
  const connectMs = parseDuration(tier?.connectTimeout ?? '2s', 'bus.connectTimeout');
  if (publishMs === 0) throw new TypeError('bus.publishTimeout must be greater than 0');
  if (connectMs === 0) throw new TypeError('bus.connectTimeout must be greater than 0');
  return {
    bus: tier?.bus,
    busTimeouts: Object.freeze({
      publishMs,
      connectMs,
      breakerFailures: tier?.breaker?.failures === undefined ? 3 : positiveInteger(tier.breaker.failures, 'bus.breaker.failures'),
      breakerCooldownMs: parseDuration(tier?.breaker?.cooldown ?? '5s', 'bus.breaker.cooldown'),
    }),
  };
}
