import { randomUUID } from 'node:crypto';
import type { WarmRequestMessage } from '../bus/contract.js';
import { WARM_LIMITS } from '../bus/contract.js';
import type { TimerHandle } from '../clock.js';
import type { FleetHost } from './host.js';
import type { InstanceInfo } from './info.js';
import { CacheError, DecodeError, WarmRequestError } from '../errors.js';
import type { StoreTier } from '../tiers/store-tier.js';
import { parseDuration } from '../ttl.js';
import { storeLease, type Lease } from '../warming/lease.js';
import { Warmer, type WarmProgress, type WarmReport } from '../warming/warmer.js';
import { fleetCall } from './call.js';
import { decodeStatus, encodeStatus, MAX_LISTED_ERRORS, MAX_MESSAGE, STATUS_KEY_PREFIX, type FleetWarmError, type FleetWarmStatus } from './warm-record.js';

/** What a warmer function served to the fleet is given. `tasks` is never set: a function runs as a whole. */
export interface RemoteWarmRun {
  /** Recompute keys that are fresh. */
  readonly force: boolean;
  /** Aborted when the cache closes. */
  readonly signal: AbortSignal;
  readonly onProgress: (progress: WarmProgress) => void;
}

/**
 * Something a cache can run when the fleet asks: a {@link Warmer} (a request may then name task ids), or a
 * function that runs a warm and resolves with its report: a `WarmReport`, or any object with `errors`
 * (items with `taskId` or `key` and `message` or `error`) and the counts `generated`/`skipped` or
 * `forecastsGenerated`/`cacheHitsSkipped` (a `ForecastCache#warm` report).
 */
export type ServableWarmer = Warmer | ((run: RemoteWarmRun) => Promise<unknown>);

export interface ServeWarmOptions {
  /**
   * The name a request asks for (`tiercache warm --warmer <name>`). A request naming no warmer runs the
   * instance's only served warmer, or the one named `default`. 1 to 256 characters.
   * @default 'default'
   */
  name?: string;
}

export interface RequestWarmOptions {
  /** Task ids to run (a served `Warmer`'s); the instance refuses ids it does not know. @default every task */
  tasks?: readonly string[];
  /** Recompute keys that hold a fresh value. @default false */
  force?: boolean;
  /** The served warmer to run. @default the instance's only one, or the one named `default` */
  warmer?: string;
  /**
   * How long to wait for an instance to take the request, in ms or a duration; past it the call rejects with
   * `WarmRequestError` (reason `not_accepted`).
   * @default '10s'
   */
  acceptTimeout?: number | string;
  /** Called with each new status the running instance writes. An exception it throws is ignored. */
  onProgress?: (status: FleetWarmStatus) => void;
  /** Stops following (the call rejects with the signal's reason); the run itself goes on where it runs. */
  signal?: AbortSignal;
}

/** How long the lease a request is taken under lasts: every instance hears a request at about the same time. */
const LEASE_MS = 10 * 60_000;
/** How long a status stays readable after its last write. */
const STATUS_TTL_MS = 60 * 60_000;
/** A running warm rewrites its status this often even without progress, so followers know it is alive. */
export const REFRESH_MS = 2_000;
/** A follower gives a run up as lost when its status has not changed for this long. */
export const LOST_MS = 5 * REFRESH_MS;
/** How often a follower reads the status. */
const POLL_MS = 200;
const DEFAULT_NAME = 'default';

interface Served {
  readonly name: string;
  readonly warmer: ServableWarmer;
}

interface Running {
  readonly controller: AbortController;
  /** Writes the status with the figures now; at most one write in flight, the last one wins. */
  readonly write: (final?: boolean) => Promise<void>;
  readonly status: FleetWarmStatus;
  finished: boolean;
}

function errorMessage(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, MAX_MESSAGE);
}

function checkName(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > WARM_LIMITS.nameChars) {
    throw new TypeError(`${what} must be a string of 1 to ${WARM_LIMITS.nameChars} characters, got ${String(value)}`);
  }
  return value;
}

/** Counts and failures of whatever a served warmer resolved with (see {@link ServableWarmer}). */
function reportOf(result: unknown): { generated?: number; skipped?: number; errors: FleetWarmError[]; failed: number; aborted: boolean } {
  if (typeof result !== 'object' || result === null) return { errors: [], failed: 0, aborted: false };
  const r = result as Partial<WarmReport> & { forecastsGenerated?: unknown; cacheHitsSkipped?: unknown; errors?: unknown };
  const number = (value: unknown) => (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined);
  const list = Array.isArray(r.errors) ? (r.errors as unknown[]) : [];
  const errors = list.slice(0, MAX_LISTED_ERRORS).map((item): FleetWarmError => {
    const e = (typeof item === 'object' && item !== null ? item : {}) as { taskId?: unknown; key?: unknown; message?: unknown; error?: unknown };
    const key = typeof e.key === 'string' ? e.key.slice(0, MAX_MESSAGE) : '';
    return { taskId: (typeof e.taskId === 'string' ? e.taskId : key).slice(0, MAX_MESSAGE), key, message: typeof e.message === 'string' ? e.message.slice(0, MAX_MESSAGE) : errorMessage(e.error) };
  });
  const generated = number(r.generated) ?? number(r.forecastsGenerated);
  const skipped = number(r.skipped) ?? number(r.cacheHitsSkipped);
  return { ...(generated === undefined ? {} : { generated }), ...(skipped === undefined ? {} : { skipped }), errors, failed: list.length, aborted: r.aborted === true };
}

/**
 * Fleet warm requests (`fleet/warms.ts`): the warmers this instance serves to the fleet, the requests it takes
 * (one `warm` bus message reaches every instance; the one that takes the store lease named after the request
 * runs it) and the status it writes for the requester to follow, and the requests this instance makes.
 */
export class FleetWarms {
  readonly #engine: FleetHost;
  readonly #fleet: { self(): InstanceInfo };
  readonly #served = new Map<string, Served>();
  readonly #running = new Map<string, Running>();
  #lease: Lease | undefined;
  #closed = false;

  constructor(engine: FleetHost, fleet: { self(): InstanceInfo }) {
    this.#engine = engine;
    this.#fleet = fleet;
  }

  /** The first store: where leases and statuses live. */
  #tier(): StoreTier {
    const tier = this.#engine.stack.markerTier;
    if (tier === undefined) throw new CacheError('E_UNSUPPORTED', 'fleet warms need a shared store (the first store keeps their leases and progress)');
    return tier;
  }

  #statusKey(id: string): string {
    return this.#engine.stack.storeKey(STATUS_KEY_PREFIX + id);
  }

  /** See `Cache.serveWarmRequests`. */
  serve(warmer: ServableWarmer, options: ServeWarmOptions = {}): () => void {
    if (this.#engine.closed) throw new CacheError('E_CLOSED', 'the cache is closed');
    if (typeof options !== 'object' || options === null) throw new TypeError('serveWarmRequests options must be an object');
    if (!(warmer instanceof Warmer) && typeof warmer !== 'function') throw new TypeError('serveWarmRequests needs a Warmer or a function that runs a warm');
    const name = checkName(options.name ?? DEFAULT_NAME, 'name');
    if (this.#served.has(name)) throw new TypeError(`a warmer named ${JSON.stringify(name)} is already served by this cache`);
    const tier = this.#tier();
    if (tier.ops.add === undefined || tier.ops.capabilities.atomicAdd !== true || !tier.ops.capabilities.shared) {
      throw new TypeError(`serveWarmRequests: store ${JSON.stringify(tier.name)} is not shared with an atomic add(), so it cannot make sure one instance runs a request`);
    }
    this.#lease ??= storeLease(tier.ops, { prefix: this.#engine.stack.storeKey('\u0001lease:warm:'), clock: this.#engine.clock });
    const entry: Served = { name, warmer };
    this.#served.set(name, entry);
    return () => {
      if (this.#served.get(name) === entry) this.#served.delete(name);
    };
  }

  /** A request heard on the bus (or made here): competes for it when this instance serves the warmer asked for. */
  receive(request: WarmRequestMessage): void {
    if (this.#closed || this.#engine.closed) return;
    const served = request.warmer !== undefined ? this.#served.get(request.warmer) : this.#served.size === 1 ? this.#served.values().next().value : this.#served.get(DEFAULT_NAME);
    if (served === undefined) return;
    // Deliberately not awaited: failures are reported on `error` (operation `fleet.warm`).
    void this.#take(served, request).catch((error: unknown) => this.#engine.emitter.reportError(error, 'fleet.warm'));
  }

  async #take(served: Served, request: WarmRequestMessage): Promise<void> {
    const tier = this.#tier();
    const lease = this.#lease as Lease;
    if (tier.state !== 'closed') return;
    const token = await fleetCall(tier, () => lease.acquire(request.id, LEASE_MS));
    if (token === undefined || this.#closed) return;
    const fleet = this.#fleet.self();
    const now = Math.floor(this.#engine.clock.now());
    const status: FleetWarmStatus = {
      id: request.id,
      state: 'running',
      warmer: served.name,
      instance: { id: fleet.id, name: fleet.name },
      total: 0,
      done: 0,
      generated: 0,
      skipped: 0,
      failed: 0,
      errors: [],
      aborted: false,
      reason: undefined,
      startedAt: now,
      updatedAt: now,
      rev: 0,
    };
    const running = this.#track(tier, status);
    const problem = this.#refusal(served, request);
    if (problem !== undefined) {
      status.state = 'rejected';
      status.reason = problem.slice(0, MAX_MESSAGE);
      await running.write(true);
      return;
    }
    // Known before the first task ends for a Warmer; a function says so in its first progress report.
    if (served.warmer instanceof Warmer) status.total = request.tasks?.length ?? served.warmer.size;
    await running.write();
    const onProgress = (progress: WarmProgress) => {
      status.total = progress.total;
      status.done = progress.done;
      status.generated = progress.generated;
      status.skipped = progress.skipped;
      status.failed = progress.errors;
      void running.write();
    };
    const signal = running.controller.signal;
    try {
      const warmer = served.warmer;
      const result =
        warmer instanceof Warmer
          ? await warmer.run({ force: request.force, signal, onProgress, ...(request.tasks === undefined ? {} : { ids: request.tasks }) })
          : await warmer({ force: request.force, signal, onProgress });
      const report = reportOf(result);
      if (report.generated !== undefined) status.generated = report.generated;
      if (report.skipped !== undefined) status.skipped = report.skipped;
      status.errors = report.errors;
      status.failed = Math.max(report.failed, status.failed);
      status.aborted = report.aborted;
      if (warmer instanceof Warmer) status.total = Math.max(status.total, status.generated + status.skipped + status.failed);
    } catch (error) {
      // A warmer function that threw: the whole run failed.
      status.failed = Math.max(1, status.failed);
      status.errors = [{ taskId: served.name, key: '', message: errorMessage(error) }];
    }
    if (running.finished) return;
    status.state = 'done';
    await running.write(true);
  }

  /** Why the instance that took a request cannot run it, or undefined when it can. */
  #refusal(served: Served, request: WarmRequestMessage): string | undefined {
    const tasks = request.tasks;
    if (tasks === undefined) return undefined;
    const warmer = served.warmer;
    if (!(warmer instanceof Warmer)) return `warmer ${JSON.stringify(served.name)} runs as a whole: it cannot select tasks`;
    const known = new Set(warmer.tasks().map((task) => task.id));
    const unknown = tasks.filter((id) => !known.has(id));
    return unknown.length === 0 ? undefined : `unknown warming task ids: ${unknown.map((id) => JSON.stringify(id)).join(', ')}`;
  }

  /** Keeps the status of a run this instance took: written on demand, refreshed every REFRESH_MS until final. */
  #track(tier: StoreTier, status: FleetWarmStatus): Running {
    const engine = this.#engine;
    const key = this.#statusKey(status.id);
    let writing: Promise<void> | undefined;
    let again = false;
    let timer: TimerHandle | undefined;
    const once = async (): Promise<void> => {
      status.rev++;
      status.updatedAt = Math.max(status.updatedAt, Math.floor(engine.clock.now()));
      const bytes = encodeStatus(status);
      try {
        await fleetCall(tier, (store) => store.set(key, bytes, tier.deadlineFor(status.updatedAt + STATUS_TTL_MS)));
      } catch (error) {
        engine.emitter.reportError(error, 'fleet.warm');
      }
    };
    const drain = async (): Promise<void> => {
      do {
        again = false;
        await once();
      } while (again);
      writing = undefined;
    };
    const arm = () => {
      if (timer !== undefined) engine.clock.clearTimeout(timer);
      timer = engine.clock.setTimeout(() => {
        timer = undefined;
        if (running.finished) return;
        void running.write();
      }, REFRESH_MS);
    };
    const running: Running = {
      controller: new AbortController(),
      status,
      finished: false,
      write: (final = false) => {
        if (running.finished) return writing ?? Promise.resolve();
        if (final) {
          running.finished = true;
          if (timer !== undefined) engine.clock.clearTimeout(timer);
          this.#running.delete(status.id);
        } else arm();
        if (writing !== undefined) {
          again = true;
          return writing;
        }
        writing = drain();
        return writing;
      },
    };
    this.#running.set(status.id, running);
    arm();
    return running;
  }

  /** See `Cache.requestWarm`. */
  async request(options: RequestWarmOptions = {}): Promise<FleetWarmStatus> {
    const engine = this.#engine;
    if (engine.closed) throw new CacheError('E_CLOSED', 'the cache is closed');
    if (typeof options !== 'object' || options === null) throw new TypeError('requestWarm options must be an object');
    const { tasks, force = false, warmer, onProgress, signal } = options;
    if (typeof force !== 'boolean') throw new TypeError(`force must be a boolean, got ${String(force)}`);
    if (warmer !== undefined) checkName(warmer, 'warmer');
    if (tasks !== undefined) {
      if (!Array.isArray(tasks) || tasks.length === 0 || tasks.length > WARM_LIMITS.tasks) throw new TypeError(`tasks must be an array of 1 to ${WARM_LIMITS.tasks} task ids`);
      tasks.forEach((id, i) => checkName(id, `tasks[${i}]`));
    }
    const acceptMs = parseDuration(options.acceptTimeout ?? '10s', 'acceptTimeout');
    if (onProgress !== undefined && typeof onProgress !== 'function') throw new TypeError('onProgress must be a function');
    const tier = this.#tier();
    const local = this.#served.size > 0;
    if (engine.options.bus === undefined && !local) throw new CacheError('E_UNSUPPORTED', 'requestWarm needs a bus to reach the other instances (or a warmer served by this cache)');
    signal?.throwIfAborted();

    const id = randomUUID();
    const request: WarmRequestMessage = { type: 'warm', id, force, ...(warmer === undefined ? {} : { warmer }), ...(tasks === undefined ? {} : { tasks: Array.from<string>(tasks) }) };
    const before = engine.sync.stats;
    const lostBefore = before.failed + before.timedOut + before.skipped;
    engine.sync.announce(request);
    // Instances ignore their own messages: this one competes directly.
    this.receive(request);
    return this.#follow(tier, id, acceptMs, lostBefore, onProgress, signal);
  }

  async #follow(tier: StoreTier, id: string, acceptMs: number, lostBefore: number, onProgress: RequestWarmOptions['onProgress'], signal: AbortSignal | undefined): Promise<FleetWarmStatus> {
    const engine = this.#engine;
    const clock = engine.clock;
    const started = clock.now();
    const key = this.#statusKey(id);
    let rev = -1;
    let changedAt = started;
    let busChecked = engine.options.bus === undefined;
    for (;;) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          clock.clearTimeout(timer);
          resolve();
        };
        const timer = clock.setTimeout(() => {
          signal?.removeEventListener('abort', wake);
          resolve();
        }, POLL_MS);
        signal?.addEventListener('abort', wake, { once: true });
      });
      signal?.throwIfAborted();
      if (engine.closed) throw new CacheError('E_CLOSED', 'the cache closed while it followed a warm request');
      const now = clock.now();
      if (!busChecked && rev < 0) {
        await engine.sync.flush();
        busChecked = true;
        const stats = engine.sync.stats;
        if (stats.failed + stats.timedOut + stats.skipped > lostBefore && this.#served.size === 0) {
          throw new WarmRequestError(`the bus did not take warm request ${id} (see the error event): no instance heard it`, { reason: 'not_accepted', requestId: id });
        }
      }
      const bytes = await fleetCall(tier, (store) => store.get(key));
      let status: FleetWarmStatus | undefined;
      if (bytes !== undefined) {
        try {
          status = decodeStatus(bytes);
        } catch (error) {
          engine.emitter.reportError(new DecodeError(`fleet: unreadable warm status: ${(error as Error).message}`, { key, cause: error }), 'fleet.warm', key);
        }
      }
      if (status === undefined) {
        if (now - started >= acceptMs) {
          throw new WarmRequestError(`no instance took warm request ${id} within ${acceptMs} ms: is one serving warm requests (serveWarmRequests) on this prefix and bus?`, { reason: 'not_accepted', requestId: id });
        }
        continue;
      }
      if (status.rev !== rev) {
        rev = status.rev;
        changedAt = now;
        if (onProgress !== undefined) {
          try {
            onProgress(status);
          } catch {
            // Deliberately ignored: a broken progress display must not stop following.
          }
        }
      }
      if (status.state === 'done') return status;
      if (status.state === 'rejected') {
        throw new WarmRequestError(`instance ${status.instance.name} refused warm request ${id}: ${status.reason ?? 'no reason given'}`, { reason: 'rejected', requestId: id });
      }
      if (now - changedAt >= LOST_MS) {
        throw new WarmRequestError(`instance ${status.instance.name} stopped reporting warm request ${id} (${status.done}/${status.total} tasks done): it may have died`, { reason: 'lost', requestId: id });
      }
    }
  }

  /** Stops serving; runs in progress are aborted (no new task starts) and their status written as final. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#served.clear();
    const runs = [...this.#running.values()];
    for (const run of runs) {
      run.controller.abort(new CacheError('E_CLOSED', 'the cache closed while a fleet warm ran'));
      run.status.state = 'done';
      run.status.aborted = true;
    }
    await Promise.all(runs.map((run) => run.write(true)));
  }
}
