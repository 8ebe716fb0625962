import type { BusSync } from '../bus/sync.js';
import type { TimeSource, TimerHandle } from '../clock.js';
import type { Emitter } from '../events.js';
import type { TierStack } from '../tiers/stack.js';
import type { StoreTier } from '../tiers/store-tier.js';
import { parseDuration } from '../ttl.js';
import { traceStore } from './tracing.js';

/** Background work of a cache (seed 004): health probes of each store and of the bus. */
export interface MaintenanceOptions {
  /**
   * How often each store and the bus are probed in the background, in ms or a duration; `0` turns the
   * probes off (`getHealth()` then probes when it is asked). A store probe is one `get` of a reserved key under
   * the tier's timeout and breaker; a bus probe is one `ping` message. On the cache's clock; the timer never
   * keeps the process alive, and `close()` stops it.
   * @default '30s'
   */
  probeInterval?: number | string;
}

export interface ResolvedMaintenanceOptions {
  readonly probeIntervalMs: number;
}

/** Validates `maintenance` once, at construction. */
export function resolveMaintenanceOptions(given: MaintenanceOptions | undefined): ResolvedMaintenanceOptions {
  if (given === undefined) return Object.freeze({ probeIntervalMs: DEFAULT_PROBE_INTERVAL_MS });
  if (typeof given !== 'object' || given === null) throw new TypeError('maintenance must be an object such as { probeInterval: \'30s\' }');
  const probeIntervalMs = given.probeInterval === undefined ? DEFAULT_PROBE_INTERVAL_MS : parseDuration(given.probeInterval, 'maintenance.probeInterval');
  return Object.freeze({ probeIntervalMs });
}

const DEFAULT_PROBE_INTERVAL_MS = 30_000;

/**
 * The key a store probe reads. Keys given to a cache cannot hold control characters, so no entry of the
 * user's can be this one (the tag markers use the same guarantee).
 */
export const PROBE_KEY = '\u0001probe';

/** How one probe ended. */
export interface ProbeResult {
  /** The store answered (a miss is an answer), or the bus took the ping. */
  readonly ok: boolean;
  /** When it ended, on the cache's clock (epoch ms). */
  readonly at: number;
  /** How long it took, in real milliseconds (0 when nothing was sent). */
  readonly ms: number;
  /** Nothing was sent: the breaker holds calls back. `ok` is then false. */
  readonly skipped: boolean;
  /** Why it failed, in words; absent when `ok`. */
  readonly error?: string;
}

/** What maintenance needs of the engine (the engine passes itself). */
export interface MaintenanceHost {
  readonly options: { readonly maintenance: ResolvedMaintenanceOptions; readonly name: string; readonly bus: unknown };
  readonly clock: TimeSource;
  readonly emitter: Emitter;
  readonly stack: TierStack;
  readonly sync: BusSync;
  readonly closed: boolean;
  onClose(stop: () => void): () => void;
}

/**
 * The probes of one cache: run every `probeInterval` on the cache's clock, and on demand by `getHealth()`.
 * At most one probe per store (and one for the bus) is in flight at a time: a caller that asks while one runs
 * shares it, so a load balancer polling often cannot multiply the calls.
 *
 * A probe is a real call, counted and timed like any other (`other` latency, `error` counters, the
 * `tiercache:store` trace with operation `probe`), and it goes through the breaker: while the breaker is open
 * nothing is sent; once the cooldown is over the probe may be the one trial call the breaker lets through.
 * That is why it cannot open a breaker spuriously: it uses the tier's own timeout, never runs twice at once,
 * runs at most once per interval (or per health check asked for), and counts one failure only when the store
 * really failed to answer; `failures` probes in a row must fail before it alone opens the breaker.
 */
export class Maintenance {
  readonly #host: MaintenanceHost;
  readonly #storeProbes = new Map<StoreTier, ProbeResult>();
  readonly #storeRunning = new Map<StoreTier, Promise<ProbeResult>>();
  #busProbe: ProbeResult | undefined;
  #busRunning: Promise<ProbeResult> | undefined;
  #timer: TimerHandle | undefined;
  #stopped = false;

  constructor(host: MaintenanceHost) {
    this.#host = host;
    const interval = host.options.maintenance.probeIntervalMs;
    if (interval > 0) {
      this.#arm(interval);
      host.onClose(() => this.stop());
    }
  }

  /** The last probe of `tier` that ended, if any. */
  lastProbe(tier: StoreTier): ProbeResult | undefined {
    return this.#storeProbes.get(tier);
  }

  /** The last bus probe that ended, if any. */
  get lastBusProbe(): ProbeResult | undefined {
    return this.#busProbe;
  }

  /** Probes `tier` now, or joins the probe already running. Never rejects; settles within the tier's timeout. */
  probeStore(tier: StoreTier): Promise<ProbeResult> {
    let running = this.#storeRunning.get(tier);
    if (running === undefined) {
      running = this.#runStoreProbe(tier).finally(() => this.#storeRunning.delete(tier));
      this.#storeRunning.set(tier, running);
    }
    return running;
  }

  /**
   * Sends a `ping` on the bus now, or joins the one running; undefined without a bus. Never rejects; settles
   * within the bus's publish timeout (on the cache's clock).
   */
  probeBus(): Promise<ProbeResult> | undefined {
    if (this.#host.options.bus === undefined) return undefined;
    this.#busRunning ??= this.#runBusProbe().finally(() => (this.#busRunning = undefined));
    return this.#busRunning;
  }

  /** Probes every store and the bus at once. */
  async probeAll(): Promise<void> {
    await Promise.all([...this.#host.stack.tiers.map((tier) => this.probeStore(tier)), this.probeBus()]);
  }

  /** Stops the periodic probes (probes asked for still run). */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#host.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(interval: number): void {
    this.#timer = this.#host.clock.setTimeout(() => {
      this.#timer = undefined;
      if (this.#stopped || this.#host.closed) return;
      // Armed again before the probes run, so the cadence stays even; a slow probe is joined, not doubled.
      this.#arm(interval);
      // Deliberately not awaited: probes never reject, and their results are kept for getHealth().
      void this.probeAll();
    }, interval);
  }

  async #runStoreProbe(tier: StoreTier): Promise<ProbeResult> {
    const { clock, emitter, stack } = this.#host;
    const state = tier.state;
    // Open: the breaker holds every call back until its cooldown is over. Half-open: the probe may be the one
    // trial call it lets through, unless another one is already out (`available()` counts that as skipped).
    if (this.#host.closed || state === 'open' || (state === 'half-open' && !tier.available())) {
      return this.#keep(tier, { ok: false, at: clock.now(), ms: 0, skipped: true, error: this.#host.closed ? 'the cache is closed' : 'circuit breaker open' });
    }
    const key = stack.storeKey(PROBE_KEY);
    const started = performance.now();
    try {
      await traceStore(this.#host.options.name, tier.name, 'probe', PROBE_KEY, () => tier.run('probe', (store) => store.get(key), PROBE_KEY));
      // The store answers again: what it missed meanwhile goes now, as after any call that got through.
      if (tier.hasPending) stack.scheduleReplay(tier, 0);
      return this.#keep(tier, { ok: true, at: clock.now(), ms: performance.now() - started, skipped: false });
    } catch (error) {
      emitter.reportError(error, `${tier.name}.probe`);
      return this.#keep(tier, { ok: false, at: clock.now(), ms: performance.now() - started, skipped: false, error: messageOf(error) });
    }
  }

  #keep(tier: StoreTier, result: ProbeResult): ProbeResult {
    this.#storeProbes.set(tier, result);
    return result;
  }

  async #runBusProbe(): Promise<ProbeResult> {
    const { clock, sync } = this.#host;
    const started = performance.now();
    const skip = (error: string): ProbeResult => (this.#busProbe = { ok: false, at: clock.now(), ms: 0, skipped: true, error });
    if (this.#host.closed) return skip('the cache is closed');
    // A ping while the breaker is open would only be counted as skipped and leave a gap to ping about later.
    if (sync.breaker === 'open') return skip('circuit breaker open');
    const before = sync.lastPublish;
    // A ping is what the bus protocol sends after a lost publish: it carries only a sequence number, so the
    // other instances just note it. It is bounded by the publish timeout and counted by the bus breaker like
    // any publish; when it fails the breaker may open and this instance recovers (drops its memory tier), as
    // it would on its next write.
    sync.announce({ type: 'ping' });
    await sync.flush();
    const after = sync.lastPublish;
    if (after === undefined || after === before) return skip('circuit breaker half-open: a probe is already out');
    const ms = performance.now() - started;
    this.#busProbe = after.ok ? { ok: true, at: after.at, ms, skipped: false } : { ok: false, at: after.at, ms, skipped: false, error: 'publish failed or timed out' };
    return this.#busProbe;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
