import type { TimeSource } from '../clock.js';
import type { Flight } from './flights.js';
import { LoaderTimeoutError } from '../errors.js';

/** Filled in by a load for `getOrSetResult`. */
export interface LoadReport {
  source: string | undefined;
  stale: boolean;
  /** The call waited for a load it did not start. */
  joined: boolean;
}

/**
 * Runs a loader under its hard timeout. On timeout the loader's signal is aborted, the flight is fenced (a
 * result that still arrives is not cached) and the load rejects with `LoaderTimeoutError`. A loader that
 * throws synchronously rejects like an async one.
 */
export function runLoader<C, T>(loader: (context: C) => T | Promise<T>, context: C, hardTimeoutMs: number, flight: Flight, key: string, clock: TimeSource): Promise<T> {
  const run = (async () => loader(context))();
  if (hardTimeoutMs === Number.POSITIVE_INFINITY) return run;
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimeout(() => {
      const error = new LoaderTimeoutError(`the loader of ${JSON.stringify(key)} ran past its hardTimeout of ${hardTimeoutMs} ms`, { key, timeoutMs: hardTimeoutMs });
      flight.fenced = true;
      flight.controller.abort(error);
      reject(error);
    }, hardTimeoutMs);
    run.then(
      (value) => {
        clock.clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clock.clearTimeout(timer);
        // The loader's own rejection, passed on as it is: whatever it threw is what the callers get.
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
        reject(error);
      },
    );
  });
}

export type Settled = { done: false } | { done: true; ok: true; value: unknown } | { done: true; ok: false; error: unknown };

/** How `promise` settled within `ms`, without throwing; `{ done: false }` when it had not. */
export function settleWithin(promise: Promise<unknown>, ms: number, clock: TimeSource): Promise<Settled> {
  return new Promise<Settled>((resolve) => {
    const timer = clock.setTimeout(() => resolve({ done: false }), ms);
    promise.then(
      (value) => {
        clock.clearTimeout(timer);
        resolve({ done: true, ok: true, value });
      },
      (error: unknown) => {
        clock.clearTimeout(timer);
        resolve({ done: true, ok: false, error });
      },
    );
  });
}

/** A batch loader's answer as a map by key; an array must hold one value per key, in order. */
export function batchValues<T>(raw: readonly T[] | ReadonlyMap<string, T>, keys: readonly string[]): Map<string, T> {
  if (raw instanceof Map) return new Map(raw as ReadonlyMap<string, T>);
  if (!Array.isArray(raw)) throw new TypeError(`the batch loader must return an array or a Map, got ${typeof raw}`);
  const list = raw as readonly T[];
  if (list.length !== keys.length) throw new TypeError(`the batch loader returned ${list.length} values for ${keys.length} keys`);
  return new Map(keys.map((key, i) => [key, list[i] as T]));
}
