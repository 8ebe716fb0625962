import { randomUUID } from 'node:crypto';
import type { TimeSource, TimerHandle } from '../clock.js';
import { BusTimeoutError, CacheBackendError, isCacheError } from '../errors.js';
import { Histogram } from '../observe/histogram.js';
import type { Emitter } from '../events.js';
import { compilePattern, type PatternMatcher } from '../freshness/pattern.js';
import { BUS_LIMITS, decodeEnvelope, type Bus, type BusEnvelope, type BusMessage, type WarmRequestMessage } from './contract.js';

/** What the engine does when another instance's message arrives; the engine implements it. */
export interface SyncTarget {
  /** Drops the keys from memory, fences loads of them and wakes callers waiting on them. */
  keys(keys: readonly string[]): void;
  clear(): void;
  namespace(namespace: string): void;
  tags(tags: readonly string[], stamps: readonly string[]): void;
  pattern(matcher: PatternMatcher): void;
  /**
   * Messages may have been missed: a gap in an origin's sequence numbers, a lost subscription, or this
   * instance's own publishes failing (the bus is likely broken both ways). Forget whatever they could have
   * invalidated.
   */
  recover(reason: 'gap' | 'reconnect' | 'publish', origin?: string): void;
  /** Another instance asks for a fleet warm (validated by `decodeEnvelope`); ignored when absent. */
  warm?(request: WarmRequestMessage, origin: string): void;
}

export interface BusSyncOptions {
  /** No bus: `announce` does nothing and `ready` is resolved. */
  bus: Bus | undefined;
  /** This cache's store prefix; messages carrying another are ignored. */
  prefix: string;
  clock: TimeSource;
  emitter: Emitter;
  /** How long one publish may take before it counts as failed, in ms, on `clock`'s timers. */
  publishTimeoutMs: number;
  /** How long `ready` waits for the subscription, in ms, on `clock`'s timers. */
  connectTimeoutMs: number;
  /** Consecutive publish failures or timeouts that open the breaker. */
  breakerFailures: number;
  /** How long an open breaker skips publishes before it lets one probe through, in ms. */
  breakerCooldownMs: number;
}

/** Running totals, bumped in place: reading them costs nothing. */
export interface BusSyncStats {
  /** Publishes the transport accepted (pings included). */
  readonly sent: number;
  /** Publishes the transport refused. */
  readonly failed: number;
  /** Publishes still unsettled after `publishTimeoutMs`. */
  readonly timedOut: number;
  /** Messages not published because the breaker was open (or a probe was in flight). */
  readonly skipped: number;
  /** Well-formed messages from other instances of this prefix, applied or answered with a recovery. */
  readonly received: number;
  /** Incoming messages refused by validation, never executed. */
  readonly dropped: number;
  /** Recoveries started: gaps, reconnects and breaker trips. */
  readonly recoveries: number;
}

type Counters = { -readonly [K in keyof BusSyncStats]: number };

/** Where a bus subscription stands (see `BusSync.subscription`). */
export type BusSubscription = 'pending' | 'ready' | 'failed';

const BREAKER_CLOSED = 0;
const BREAKER_OPEN = 1;
/** One publish is in flight as the probe; the rest are skipped until it settles. */
const BREAKER_PROBING = 2;

/** Origins remembered for gap detection; the least recently heard is forgotten first (instances come and go). */
const MAX_ORIGINS = 4096;
/** Chars of list items per message the sender aims for: half the receivers' bound leaves room for JSON escapes. */
const CHUNK_CHARS = BUS_LIMITS.messageChars / 2;

function positive(value: number, name: string, allowZero = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new TypeError(`${name} must be a finite number of ms ${allowZero ? '>= 0' : '> 0'}, got ${String(value)}`);
  }
  return value;
}

/**
 * Where a list splits so no message exceeds what receivers accept; undefined when it fits in one (the usual
 * case, found in one pass without allocating).
 */
function cuts(count: number, cost: (i: number) => number): number[] | undefined {
  let total = 0;
  for (let i = 0; i < count && total <= CHUNK_CHARS; i++) total += cost(i);
  if (count <= BUS_LIMITS.items && total <= CHUNK_CHARS) return undefined;
  const ends: number[] = [];
  let size = 0;
  let start = 0;
  for (let i = 0; i < count; i++) {
    const c = cost(i);
    if (i > start && (i - start >= BUS_LIMITS.items || size + c > CHUNK_CHARS)) {
      ends.push(i);
      start = i;
      size = 0;
    }
    size += c;
  }
  ends.push(count);
  return ends;
}

/**
 * The bus protocol of one cache: numbers what this instance announces, publishes it off the write path (each
 * publish bounded by a timeout and a circuit breaker), and validates, orders and applies what other
 * instances announce.
 *
 * Nothing here throws at or waits for a caller. A publish that fails, times out or is skipped still uses up
 * its sequence number, so every receiver sees the gap on the next message it gets and recovers; after a loss a
 * `ping` is sent as soon as the breaker allows, so they need not wait for this instance's next write.
 */
export class BusSync {
  /** Identifies this instance on the bus. */
  readonly origin: string = randomUUID();
  /**
   * Settles within `connectTimeoutMs`: resolves once subscribed, rejects with `BusTimeoutError` when the
   * transport does not answer, or with the transport's `CacheError` (a `CacheBackendError` for anything else)
   * when it refuses. Rejections are also reported on the `error` event, so leaving it unawaited is safe.
   */
  readonly ready: Promise<void>;

  readonly #bus: Bus | undefined;
  readonly #name: string;
  readonly #prefix: string;
  readonly #clock: TimeSource;
  readonly #emitter: Emitter;
  readonly #target: SyncTarget;
  readonly #publishTimeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #breakerFailures: number;
  readonly #breakerCooldownMs: number;
  /** From a message's `sentAt` to its arrival here (ms; the instances' clocks must agree). */
  readonly lag = new Histogram();
  readonly #stats: Counters = { sent: 0, failed: 0, timedOut: 0, skipped: 0, received: 0, dropped: 0, recoveries: 0 };

  #seq = 0;
  /** Highest own sequence number that may not have reached the other instances. */
  #lostSeq = 0;
  /** Highest own sequence number the transport accepted: once it passes `#lostSeq`, receivers have seen the gap. */
  #ackedSeq = 0;
  #breaker = BREAKER_CLOSED;
  #failures = 0;
  #openUntil = 0;
  #pingTimer: TimerHandle | undefined;
  readonly #inflight = new Set<Promise<void>>();
  /** Last sequence number applied per origin, in least-recently-heard order. */
  readonly #lastSeq = new Map<string, number>();
  #closed = false;
  #closing: Promise<void> | undefined;
  #subscription: BusSubscription = 'pending';
  #lastPublish: { readonly ok: boolean; readonly at: number } | undefined;

  constructor(options: BusSyncOptions, target: SyncTarget) {
    this.#bus = options.bus;
    this.#name = options.bus?.name ?? 'bus';
    if (typeof options.prefix !== 'string') throw new TypeError('prefix must be a string');
    this.#prefix = options.prefix;
    this.#clock = options.clock;
    this.#emitter = options.emitter;
    this.#target = target;
    this.#publishTimeoutMs = positive(options.publishTimeoutMs, 'publishTimeoutMs');
    this.#connectTimeoutMs = positive(options.connectTimeoutMs, 'connectTimeoutMs');
    this.#breakerCooldownMs = positive(options.breakerCooldownMs, 'breakerCooldownMs', true);
    if (!Number.isSafeInteger(options.breakerFailures) || options.breakerFailures < 1) {
      throw new TypeError(`breakerFailures must be an integer >= 1, got ${String(options.breakerFailures)}`);
    }
    this.#breakerFailures = options.breakerFailures;
    const bus = this.#bus;
    this.ready = bus === undefined ? Promise.resolve() : this.#start(bus);
    // Surfaced through ready and the error event; never an unhandled rejection.
    this.ready.then(
      () => (this.#subscription = 'ready'),
      (error: unknown) => {
        if (this.#subscription === 'pending') this.#subscription = 'failed';
        this.#emitter.reportError(error, `${this.#name}.start`);
      },
    );
  }

  get stats(): BusSyncStats {
    return this.#stats;
  }

  /** The publish breaker as health reports it: `half-open` once the cooldown is over or while its probe is out. */
  get breaker(): 'closed' | 'open' | 'half-open' {
    if (this.#breaker === BREAKER_CLOSED) return 'closed';
    return this.#breaker === BREAKER_OPEN && this.#clock.now() < this.#openUntil ? 'open' : 'half-open';
  }

  /** Whether the subscription came up: `pending` until `ready` settles, `failed` if it gave up and never came up since. */
  get subscription(): BusSubscription {
    return this.#subscription;
  }

  /** How the last publish that settled ended (ping included), on the cache's clock; undefined before the first. */
  get lastPublish(): { readonly ok: boolean; readonly at: number } | undefined {
    return this.#lastPublish;
  }

  /**
   * Publishes `message` to the other instances, in the background: returns at once, never throws. Failures go
   * to the `error` event and to the stats; receivers recover from the gap they leave.
   */
  announce(message: BusMessage): void {
    if (this.#bus === undefined || this.#closed) return;
    try {
      if (message.type === 'keys') {
        const { keys } = message;
        const ends = cuts(keys.length, (i) => (keys[i] as string).length + 8);
        if (ends !== undefined) return this.#sendChunks(ends, (from, to) => ({ type: 'keys', keys: keys.slice(from, to) }));
      } else if (message.type === 'tags') {
        const { tags, stamps } = message;
        const ends = cuts(tags.length, (i) => (tags[i] as string).length + (stamps[i]?.length ?? 0) + 16);
        if (ends !== undefined) return this.#sendChunks(ends, (from, to) => ({ type: 'tags', tags: tags.slice(from, to), stamps: stamps.slice(from, to) }));
      }
      this.#send(message);
    } catch (error) {
      this.#emitter.reportError(error, `${this.#name}.publish`);
    }
  }

  /** Settles once every publish started so far has settled (each within `publishTimeoutMs`). Never rejects. */
  flush(): Promise<void> {
    if (this.#inflight.size === 0) return Promise.resolve();
    return Promise.all([...this.#inflight]).then(() => undefined);
  }

  /** Stops announcing and receiving, waits for publishes in flight (bounded by their timeout), closes the bus. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.#closed = true;
    if (this.#pingTimer !== undefined) this.#clock.clearTimeout(this.#pingTimer);
    this.#pingTimer = undefined;
    await this.flush();
    await this.#bus?.close();
  }

  #start(bus: Bus): Promise<void> {
    const ms = this.#connectTimeoutMs;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const timer = this.#clock.setTimeout(() => {
        if (settled) return;
        settled = true;
        reject(new BusTimeoutError(`${bus.name}: not subscribed within ${ms} ms`, { bus: bus.name, timeoutMs: ms }));
      }, ms);
      const subscribed = () => {
        if (!settled) {
          settled = true;
          this.#clock.clearTimeout(timer);
          resolve();
        } else if (!this.#closed) {
          // It came up after ready gave up: whatever was announced until now went unheard here.
          this.#subscription = 'ready';
          this.#recover('reconnect');
        }
      };
      const refused = (error: unknown) => {
        if (settled) return;
        settled = true;
        this.#clock.clearTimeout(timer);
        reject(isCacheError(error) ? error : new CacheBackendError(`${bus.name}: cannot subscribe: ${String(error)}`, { store: bus.name, cause: error }));
      };
      try {
        bus
          .start({
            message: (data) => this.#receive(data),
            reconnected: () => this.#recover('reconnect'),
            error: (error) => this.#emitter.reportError(error, `${bus.name}.subscribe`),
          })
          .then(subscribed, refused);
      } catch (error) {
        refused(error);
      }
    });
  }

  #sendChunks(ends: readonly number[], slice: (from: number, to: number) => BusMessage): void {
    let from = 0;
    for (const to of ends) {
      this.#send(slice(from, to));
      from = to;
    }
  }

  #send(message: BusMessage): void {
    const bus = this.#bus as Bus;
    const seq = ++this.#seq;
    if (!this.#allow()) {
      this.#stats.skipped++;
      this.#lose(seq);
      return;
    }
    const envelope: BusEnvelope = { ...message, origin: this.origin, seq, prefix: this.#prefix, sentAt: this.#clock.now() };
    const key = message.type === 'keys' && message.keys.length === 1 ? message.keys[0] : undefined;
    let settled = false;
    let done: () => void = () => undefined;
    const tracked = new Promise<void>((resolve) => {
      done = resolve;
    });
    this.#inflight.add(tracked);
    const finish = (ok: boolean, error: unknown, timedOut: boolean): void => {
      if (settled) return;
      settled = true;
      this.#clock.clearTimeout(timer);
      this.#inflight.delete(tracked);
      this.#lastPublish = { ok, at: this.#clock.now() };
      if (ok) this.#succeeded(seq);
      else this.#failed(seq, error, timedOut, key);
      done();
    };
    const timer = this.#clock.setTimeout(() => {
      const ms = this.#publishTimeoutMs;
      finish(false, new BusTimeoutError(`${bus.name}: publish did not settle within ${ms} ms`, { bus: bus.name, timeoutMs: ms, ...(key === undefined ? {} : { key }) }), true);
    }, this.#publishTimeoutMs);
    let publishing: Promise<void>;
    try {
      publishing = bus.publish(envelope);
    } catch (error) {
      finish(false, error, false);
      return;
    }
    publishing.then(
      () => finish(true, undefined, false),
      (error: unknown) => finish(false, error, false),
    );
  }

  /** Whether the breaker lets a publish through now; after the cooldown the first one through is the probe. */
  #allow(): boolean {
    if (this.#breaker === BREAKER_CLOSED) return true;
    if (this.#breaker === BREAKER_PROBING || this.#clock.now() < this.#openUntil) return false;
    this.#breaker = BREAKER_PROBING;
    return true;
  }

  #succeeded(seq: number): void {
    this.#stats.sent++;
    this.#failures = 0;
    this.#breaker = BREAKER_CLOSED;
    if (seq > this.#ackedSeq) this.#ackedSeq = seq;
    if (this.#lostSeq <= this.#ackedSeq) {
      if (this.#pingTimer !== undefined) this.#clock.clearTimeout(this.#pingTimer);
      this.#pingTimer = undefined;
    } else {
      // Skipped while this probe was in flight: the gap they leave is above what just got through.
      this.#schedulePing();
    }
  }

  #failed(seq: number, error: unknown, timedOut: boolean, key: string | undefined): void {
    if (timedOut) this.#stats.timedOut++;
    else this.#stats.failed++;
    const typed = isCacheError(error) ? error : new CacheBackendError(`${this.#name}: publish failed: ${String(error)}`, { store: this.#name, cause: error });
    this.#emitter.reportError(typed, `${this.#name}.publish`, key);
    this.#failures++;
    const wasClosed = this.#breaker === BREAKER_CLOSED;
    if (this.#breaker === BREAKER_PROBING || this.#failures >= this.#breakerFailures) {
      this.#breaker = BREAKER_OPEN;
      this.#openUntil = this.#clock.now() + this.#breakerCooldownMs;
      // A bus that takes no publishes is likely delivering nothing either, and a hung server never tells the
      // subscriber it is gone: what others invalidated meanwhile may be sitting in memory.
      if (wasClosed && !this.#closed) this.#recover('publish');
    }
    this.#lose(seq);
  }

  #lose(seq: number): void {
    if (seq > this.#lostSeq) this.#lostSeq = seq;
    this.#schedulePing();
  }

  #schedulePing(): void {
    if (this.#pingTimer !== undefined || this.#closed) return;
    const wait = this.#breaker === BREAKER_OPEN ? Math.max(0, this.#openUntil - this.#clock.now()) : 0;
    this.#pingTimer = this.#clock.setTimeout(() => {
      this.#pingTimer = undefined;
      this.#ping();
    }, wait);
  }

  #ping(): void {
    if (this.#closed || this.#lostSeq <= this.#ackedSeq) return;
    // The probe in flight settles the question: its success shows the gap (or re-arms this), its failure re-arms.
    if (this.#breaker === BREAKER_PROBING) return;
    if (this.#breaker === BREAKER_OPEN && this.#clock.now() < this.#openUntil) return this.#schedulePing();
    this.#send({ type: 'ping' });
  }

  #receive(data: unknown): void {
    if (this.#closed) return;
    const decoded = decodeEnvelope(data);
    if (typeof decoded === 'string') return this.#drop(decoded, undefined);
    const { origin, seq } = decoded;
    if (origin === this.origin || decoded.prefix !== this.#prefix) return;
    const last = this.#lastSeq.get(origin);
    if (last !== undefined && seq <= last) return;
    let problem = decoded.problem;
    let matcher: PatternMatcher | undefined;
    if (problem === undefined && decoded.type === 'pattern') {
      try {
        matcher = compilePattern(decoded.fields.pattern);
      } catch (error) {
        problem = error instanceof Error ? error.message : String(error);
      }
    }
    if (problem !== undefined) {
      // Counted as lost, not as delivered: its number stays unacknowledged, so the sender's next message shows
      // a gap here and the receiver recovers from whatever this one was meant to invalidate.
      if (last === undefined) this.#remember(origin, seq - 1);
      return this.#drop(problem, origin);
    }
    this.#remember(origin, seq);
    this.#stats.received++;
    const sentAt: unknown = decoded.fields.sentAt;
    if (typeof sentAt === 'number' && Number.isFinite(sentAt)) this.lag.record(Math.max(0, this.#clock.now() - sentAt));
    if (last !== undefined && seq !== last + 1) {
      // Something between last and this one never arrived: whatever it invalidated may still be here.
      this.#recover('gap', origin);
      // The recovery covers what this message invalidates too, but not a warm request: that one still goes on.
      if (decoded.type !== 'warm') return;
    }
    const fields = decoded.fields;
    try {
      switch (decoded.type) {
        case 'ping':
          return;
        case 'keys':
          this.#target.keys(fields.keys as readonly string[]);
          break;
        case 'clear':
          this.#target.clear();
          break;
        case 'namespace':
          this.#target.namespace(fields.namespace as string);
          break;
        case 'tags':
          this.#target.tags(fields.tags as readonly string[], fields.stamps as readonly string[]);
          break;
        case 'pattern':
          this.#target.pattern(matcher as PatternMatcher);
          break;
        case 'warm': {
          // Rebuilt from the checked fields only: nothing else of the wire object travels further.
          const { id, warmer, tasks, force } = fields as unknown as WarmRequestMessage;
          this.#target.warm?.({ type: 'warm', id, force, ...(warmer === undefined ? {} : { warmer }), ...(tasks === undefined ? {} : { tasks: [...tasks] }) }, origin);
          // A request, not an invalidation: no `remote` event.
          return;
        }
      }
    } catch (error) {
      this.#emitter.reportError(error, `${this.#name}.receive`);
      return;
    }
    if (this.#emitter.listeners.remote !== undefined) {
      this.#emitter.emit('remote', decoded.type === 'keys' ? { origin, type: 'keys', keys: fields.keys as readonly string[] } : { origin, type: decoded.type });
    }
  }

  #remember(origin: string, seq: number): void {
    const map = this.#lastSeq;
    map.delete(origin);
    map.set(origin, seq);
    if (map.size > MAX_ORIGINS) {
      const oldest = map.keys().next();
      if (oldest.done !== true) map.delete(oldest.value);
    }
  }

  #drop(reason: string, origin: string | undefined): void {
    this.#stats.dropped++;
    if (this.#emitter.listeners.dropped !== undefined) this.#emitter.emit('dropped', origin === undefined ? { reason } : { reason, origin });
  }

  #recover(reason: 'gap' | 'reconnect' | 'publish', origin?: string): void {
    this.#stats.recoveries++;
    // After a lost subscription every origin's next number may jump; the memory tier is empty now anyway.
    if (reason === 'reconnect') this.#lastSeq.clear();
    try {
      this.#target.recover(reason, origin);
    } catch (error) {
      this.#emitter.reportError(error, `${this.#name}.recover`);
    }
  }
}
