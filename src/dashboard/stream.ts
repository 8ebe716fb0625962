/**
 * The Server-Sent Events side: a bounded set of open streams, a snapshot pushed to each every interval,
 * invalidations pushed as this instance records them (and a fresh look at the shared log when another
 * instance's arrive over the bus), warm progress, and a heartbeat comment so proxies keep idle streams open.
 * Timers run only while a stream is open; `close()` ends every stream and leaves no timer behind.
 */
import type { ServerResponse } from 'node:http';
import type { TimerHandle } from '../clock.js';
import type { InvalidationEvent } from '../freshness/log.js';
import { eventView } from './data.js';
import type { ResolvedDashboardOptions } from './options.js';

interface Client {
  readonly res: ServerResponse;
  /** Carries the admin token. */
  readonly authorized: boolean;
}

/** A stream whose client stopped reading is dropped once this much waits in its buffer. */
const MAX_BUFFERED_BYTES = 1024 * 1024;
/** Invalidations arriving from the bus in a burst make one look at the shared log. */
const REMOTE_DEBOUNCE_MS = 200;

/** Builds what one kind of viewer (with or without the token) is sent. */
export type Audience = (authorized: boolean) => Promise<unknown>;

export class StreamHub {
  readonly #clients = new Set<Client>();
  readonly #options: ResolvedDashboardOptions;
  readonly #snapshot: Audience;
  readonly #events: Audience;
  readonly #onSample: () => void;
  #tick: TimerHandle | undefined;
  #beat: TimerHandle | undefined;
  #remote: TimerHandle | undefined;
  #busy = false;
  #closed = false;
  readonly #onInvalidate = (event: InvalidationEvent): void => this.#broadcast('invalidation', (authorized) => eventView(event, authorized || this.#options.showValues));
  readonly #onRemote = (): void => {
    if (this.#remote !== undefined || this.#closed) return;
    this.#remote = this.#options.clock.setTimeout(() => {
      this.#remote = undefined;
      void this.#push('events', this.#events);
    }, REMOTE_DEBOUNCE_MS);
  };

  constructor(options: ResolvedDashboardOptions, snapshot: Audience, events: Audience, onSample: () => void) {
    this.#options = options;
    this.#snapshot = snapshot;
    this.#events = events;
    this.#onSample = onSample;
  }

  get size(): number {
    return this.#clients.size;
  }

  /** False (and nothing written) when the limit is reached or the dashboard is closed. */
  open(res: ServerResponse, authorized: boolean): boolean {
    if (this.#closed || this.#clients.size >= this.#options.maxClients) return false;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      // Tells nginx-like proxies not to buffer the stream.
      'x-accel-buffering': 'no',
    });
    res.flushHeaders();
    const client: Client = { res, authorized };
    this.#clients.add(client);
    res.once('close', () => this.#drop(client));
    res.write(`retry: ${Math.max(1_000, this.#options.intervalMs)}\n\n`);
    if (this.#clients.size === 1) this.#start();
    void this.#sendTo(client);
    return true;
  }

  /** Progress of a warm: sent to every stream at once (warm runs hold no key names). */
  warm(run: unknown): void {
    this.#broadcast('warm', () => run);
  }

  async #sendTo(client: Client): Promise<void> {
    try {
      this.#write(client, 'snapshot', JSON.stringify(await this.#snapshot(client.authorized)));
    } catch (error) {
      this.#report(error);
    }
  }

  #start(): void {
    const cache = this.#options.cache;
    cache.on('invalidate', this.#onInvalidate);
    cache.on('remote', this.#onRemote);
    this.#armTick();
    this.#armBeat();
  }

  #stop(): void {
    const { cache, clock } = this.#options;
    cache.off('invalidate', this.#onInvalidate);
    cache.off('remote', this.#onRemote);
    for (const timer of [this.#tick, this.#beat, this.#remote]) if (timer !== undefined) clock.clearTimeout(timer);
    this.#tick = this.#beat = this.#remote = undefined;
  }

  #armTick(): void {
    this.#tick = this.#options.clock.setTimeout(() => {
      this.#tick = undefined;
      void this.#onTick();
    }, this.#options.intervalMs);
  }

  #armBeat(): void {
    this.#beat = this.#options.clock.setTimeout(() => {
      for (const client of this.#clients) this.#writeRaw(client, ': heartbeat\n\n');
      if (this.#clients.size > 0) this.#armBeat();
      else this.#beat = undefined;
    }, this.#options.heartbeatMs);
  }

  async #onTick(): Promise<void> {
    // A tick that takes longer than the interval (a slow shared log) is not overlapped by the next one.
    if (!this.#busy) {
      this.#busy = true;
      try {
        this.#onSample();
        await this.#push('snapshot', this.#snapshot);
      } finally {
        this.#busy = false;
      }
    }
    if (this.#clients.size > 0 && !this.#closed) this.#armTick();
  }

  async #push(event: string, build: Audience): Promise<void> {
    const built = new Map<boolean, string>();
    try {
      for (const client of [...this.#clients]) {
        let data = built.get(client.authorized);
        if (data === undefined) {
          data = JSON.stringify(await build(client.authorized));
          built.set(client.authorized, data);
        }
        this.#write(client, event, data);
      }
    } catch (error) {
      this.#report(error);
    }
  }

  #broadcast(event: string, build: (authorized: boolean) => unknown): void {
    const built = new Map<boolean, string>();
    for (const client of [...this.#clients]) {
      let data = built.get(client.authorized);
      if (data === undefined) {
        data = JSON.stringify(build(client.authorized));
        built.set(client.authorized, data);
      }
      this.#write(client, event, data);
    }
  }

  #write(client: Client, event: string, data: string): void {
    this.#writeRaw(client, `event: ${event}\ndata: ${data}\n\n`);
  }

  #writeRaw(client: Client, text: string): void {
    const res = client.res;
    if (res.destroyed || res.writableEnded) return this.#drop(client);
    if (res.writableLength > MAX_BUFFERED_BYTES) {
      res.destroy();
      return this.#drop(client);
    }
    res.write(text);
  }

  #drop(client: Client): void {
    if (!this.#clients.delete(client)) return;
    if (this.#clients.size === 0) this.#stop();
  }

  #report(error: unknown): void {
    // The page keeps its last figures and shows the next snapshot that works; the operator hears why once per failure.
    process.emitWarning(`tiercache dashboard: a snapshot failed: ${error instanceof Error ? error.message : String(error)}`);
  }

  /** Ends every stream and stops every timer; later `open` calls are refused. */
  close(): void {
    this.#closed = true;
    for (const client of [...this.#clients]) {
      client.res.end();
      this.#drop(client);
    }
    this.#stop();
  }
}
