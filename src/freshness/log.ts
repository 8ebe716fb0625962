import type { TimeSource } from '../clock.js';
import type { TierStack } from '../tiers/stack.js';
import type { InvalidationEvent } from './invalidation-event.js';

export type { InvalidationEvent } from './invalidation-event.js';

const EVENT_LOG = '\u0001events';
export const EVENTS_KEPT = 1_000;

/**
 * The invalidation log: the last 1,000 events of this instance in a ring, and, when the first store offers a
 * shared log (Redis: a capped stream), every instance's events there.
 */
export class InvalidationLog {
  readonly #ring = new Array<InvalidationEvent | undefined>(EVENTS_KEPT).fill(undefined);
  #next = 0;
  #count = 0;
  #id = 0;
  #writes: Promise<void> = Promise.resolve();
  readonly #origin: string;
  readonly #clock: TimeSource;
  readonly #stack: TierStack;

  constructor(origin: string, clock: TimeSource, stack: TierStack) {
    this.#origin = origin;
    this.#clock = clock;
    this.#stack = stack;
  }

  record(event: Omit<InvalidationEvent, 'id' | 'at'>): InvalidationEvent {
    const full: InvalidationEvent = { ...event, id: `${this.#origin}-${++this.#id}`, at: new Date(this.#clock.now()) };
    this.#ring[this.#next] = full;
    this.#next = (this.#next + 1) % EVENTS_KEPT;
    this.#count = Math.min(this.#count + 1, EVENTS_KEPT);
    const tier = this.#stack.markerTier;
    const log = tier?.ops.log;
    if (tier === undefined || log === undefined) return full;
    const record = new TextEncoder().encode(JSON.stringify({ ...full, at: full.at.getTime() }));
    // Chained, so a reader can wait for every append made before it asked.
    this.#writes = this.#writes.then(() =>
      this.#stack.attempt(tier, 'appendLog', () => log.appendLog(EVENT_LOG, record, EVENTS_KEPT)).then(() => undefined),
    );
    return full;
  }

  /** This instance's events, oldest first. */
  *#local(): Generator<InvalidationEvent> {
    const start = (this.#next - this.#count + EVENTS_KEPT) % EVENTS_KEPT;
    for (let i = 0; i < this.#count; i++) yield this.#ring[(start + i) % EVENTS_KEPT] as InvalidationEvent;
  }

  /** The newest `limit` events at or after `sinceMs`, oldest first: the shared log when there is one. */
  async read(sinceMs: number, limit: number): Promise<InvalidationEvent[]> {
    const tier = this.#stack.markerTier;
    const log = tier?.ops.log;
    if (tier !== undefined && log !== undefined) {
      await this.#writes;
      const records = await this.#stack.attempt(tier, 'readLog', () => log.readLog(EVENT_LOG, sinceMs, limit));
      if (records !== undefined) {
        const decoder = new TextDecoder();
        return records.flatMap((bytes) => {
          try {
            const raw = JSON.parse(decoder.decode(bytes)) as Omit<InvalidationEvent, 'at'> & { at: number };
            return [{ ...raw, at: new Date(raw.at) }];
          } catch {
            return [];
          }
        });
      }
    }
    const events: InvalidationEvent[] = [];
    for (const event of this.#local()) if (event.at.getTime() >= sinceMs) events.push(event);
    return events.slice(Math.max(0, events.length - limit));
  }

  /** Settles once every append made so far has. */
  flush(): Promise<void> {
    return this.#writes;
  }
}
