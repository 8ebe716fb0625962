/** A load in progress for one key (single-flight). */
export interface Flight {
  promise: Promise<unknown>;
  /** The tags the result will carry: invalidating one of them fences the flight too. */
  tags: readonly string[] | undefined;
  /** Set when the key was invalidated or written while the loader ran: its result must not be cached. */
  fenced: boolean;
  /** Aborts the loader's signal (hard timeout, close). */
  readonly controller: AbortController;
  /** The tier that answered, when the flight began with a store read that found the value (no load ran). */
  foundIn: string | undefined;
  /** True while the flight's store read runs (a `getOrSet` with nothing stale to serve begins with one). */
  reading: boolean;
  /** Callers that joined during that read: counted once it tells a hit from a miss. */
  readers: number;
}

/** A loader failure remembered for a key: fail-safe back-off (a stale value is served) or negative caching. */
export interface Failure {
  readonly until: number;
  /** Set for negative caching: the error every caller gets until `until`. */
  readonly error: unknown;
  readonly negative: boolean;
}

/**
 * The loads running in this process and the loader failures remembered, by full key. The only owner of that
 * state: everything else starts, joins, fences or forgets loads through these methods.
 */
export class Flights {
  readonly #running = new Map<string, Flight>();
  readonly #failures = new Map<string, Failure>();
  readonly #maxFailures: number;

  constructor(maxFailures: number) {
    this.#maxFailures = maxFailures;
  }

  get(full: string): Flight | undefined {
    return this.#running.get(full);
  }

  get size(): number {
    return this.#running.size;
  }

  /** A new load of `full` with these tags; a load still registered for the key is fenced (superseded). */
  begin(full: string, tags: readonly string[] | undefined, controller = new AbortController()): Flight {
    const running = this.#running.get(full);
    if (running !== undefined) running.fenced = true;
    const flight: Flight = { promise: Promise.resolve(), fenced: false, tags, controller, foundIn: undefined, reading: false, readers: 0 };
    this.#running.set(full, flight);
    return flight;
  }

  /**
   * Forgets `flight` once its promise settles (unless another load replaced it meanwhile). Also marks a rejection
   * handled: a background refresh's failure is remembered, not thrown at nobody.
   */
  untrackWhenSettled(full: string, flight: Flight): void {
    const settle = () => {
      if (this.#running.get(full) === flight) this.#running.delete(full);
    };
    flight.promise.then(settle, settle);
  }

  /** `full` was written or invalidated: a load running for it (other than `writer`) must not cache its result. */
  fenceKey(full: string, writer?: Flight): void {
    const flight = this.#running.get(full);
    if (flight !== undefined && flight !== writer) flight.fenced = true;
    if (this.#failures.size > 0) this.#failures.delete(full);
  }

  fenceWhere(test: (full: string) => boolean): void {
    for (const [key, flight] of this.#running) if (test(key)) flight.fenced = true;
    for (const key of this.#failures.keys()) if (test(key)) this.#failures.delete(key);
  }

  /** Loads whose result will carry one of `tags`: the tags changed while they ran. */
  fenceTags(tags: ReadonlySet<string>): void {
    for (const flight of this.#running.values()) if (flight.tags?.some((tag) => tags.has(tag)) === true) flight.fenced = true;
  }

  /** Remembers a loader failure (bounded: the oldest are forgotten first). */
  rememberFailure(full: string, failure: Failure): void {
    this.#failures.delete(full);
    this.#failures.set(full, failure);
    if (this.#failures.size > this.#maxFailures) this.#failures.delete(this.#failures.keys().next().value as string);
  }

  /** The failure still in force for `full` at `now`, if any. */
  failureOf(full: string, now: number): Failure | undefined {
    const failure = this.#failures.get(full);
    if (failure === undefined) return undefined;
    if (failure.until > now) return failure;
    this.#failures.delete(full);
    return undefined;
  }

  /** Aborts every running loader's signal (close). */
  abortAll(reason: unknown): void {
    for (const flight of this.#running.values()) flight.controller.abort(reason);
  }
}
