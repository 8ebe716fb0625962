import type { Clock } from '../clock.js';
import { prefixOption } from './contract.js';
import { StoreTime } from './store-time.js';

// The index name adds 15 characters and both names must stay usable as PostgreSQL identifiers too (63 bytes),
// so the same table option works for either SQL store.
export const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,47}$/;
export const DEFAULT_PRUNE_INTERVAL_MS = 60_000;

export interface SqlStoreOptions {
  table?: string;
  prefix?: string;
  namespace?: string;
  name?: string;
  clock?: Clock;
  pruneInterval?: number;
}

export interface ResolvedSqlOptions {
  table: string;
  /** The store's prefix: the value of the table's `namespace` column for its rows. */
  prefix: string;
  name: string;
  /** The store's clock, or the attaching cache's when none was given. */
  time: StoreTime;
  pruneInterval: number;
}

/** Validates the options the SQL stores share; `factory` names the caller in errors. */
export function resolveSqlOptions(options: SqlStoreOptions, factory: string, defaultName: string): ResolvedSqlOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError(`${factory} options must be an object`);
  const table = options.table ?? 'tiercache_entries';
  if (typeof table !== 'string' || !TABLE_NAME.test(table)) {
    throw new TypeError(`table must match ${String(TABLE_NAME)} (letters, digits, _), got ${JSON.stringify(table)}`);
  }
  const prefix = prefixOption(options, 'default', factory);
  const name = options.name ?? defaultName;
  if (typeof name !== 'string' || name === '') throw new TypeError('name must be a non-empty string');
  const clock = options.clock;
  if (clock !== undefined && (typeof clock !== 'object' || clock === null || typeof clock.now !== 'function')) {
    throw new TypeError('clock must be an object with a now() method returning epoch milliseconds');
  }
  const pruneInterval = options.pruneInterval ?? DEFAULT_PRUNE_INTERVAL_MS;
  if (typeof pruneInterval !== 'number' || !Number.isFinite(pruneInterval) || pruneInterval < 0) {
    throw new TypeError(`pruneInterval must be a finite number of milliseconds >= 0, got ${String(pruneInterval)}`);
  }
  return { table, prefix, name, time: new StoreTime(clock), pruneInterval };
}

/**
 * Runs `prune` every `intervalMs` on the store's time (none when 0), never two at once and never after
 * `closed()`. Best effort: reads already skip expired rows and the next tick tries again. The timer never
 * keeps the process alive.
 */
export function startPruneTimer(time: StoreTime, intervalMs: number, prune: () => Promise<unknown>, closed: () => boolean): { stop(): void } | undefined {
  if (intervalMs <= 0) return undefined;
  let pruning = false;
  return time.every(intervalMs, () => {
    if (pruning || closed()) return;
    pruning = true;
    prune()
      .catch(() => undefined)
      .finally(() => {
        pruning = false;
      });
  });
}
