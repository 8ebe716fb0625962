import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Decimal } from 'decimal.js';
import { afterAll } from 'vitest';
import { MemoryFinanceStore } from '../../../src/forecast/data/memory-store.js';
import { SqliteFinanceStore } from '../../../src/forecast/data/sqlite-store.js';
import type { FinanceStore } from '../../../src/forecast/data/store.js';

/** Shorthand for money in tests: always from a string, as an application should. */
export const d = (value: string | number): Decimal => new Decimal(value);

let dir: string | undefined;
let files = 0;
afterAll(() => {
  if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh database file under the OS temp dir, removed after the test file. */
export function tempDbFile(): string {
  dir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'tiercache-finance-'));
  return path.join(dir, `finance-${++files}.db`);
}

/**
 * Every FinanceStore implementation. Suites run once per entry, so each behaviour is checked against all of
 * them and a difference between stores fails a test instead of slipping through.
 */
export const storeKinds: readonly { name: string; create: () => FinanceStore }[] = [
  { name: 'MemoryFinanceStore', create: () => new MemoryFinanceStore() },
  { name: 'SqliteFinanceStore (:memory:)', create: () => new SqliteFinanceStore(':memory:') },
  { name: 'SqliteFinanceStore (file)', create: () => new SqliteFinanceStore({ path: tempDbFile() }) },
];

/**
 * A JSON-safe picture of a value with Decimals as their exact text and Dates as ISO text, for comparing
 * results across stores: `toEqual` on two Decimals compares decimal.js internals, not values.
 */
export function plain(value: unknown): unknown {
  if (Decimal.isDecimal(value)) return `Decimal(${value.toFixed()})`;
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}
