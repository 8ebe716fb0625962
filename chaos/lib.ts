// Shared pieces of the chaos scenarios: a seeded random source, latency figures, bounded waits, loopback
// ports and markdown tables. Nothing here talks to a server.
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** What every scenario hands back to the runner: its figures as a table, and the targets it checked by eye. */
export interface Section {
  title: string;
  /** What was done, in a sentence or two, with the budget that bounded it. */
  setup: string;
  table: Table;
  /** Targets with their verdict: the long run records them, the short test asserts its own. */
  targets: Target[];
  notes?: string[];
}

export interface Table {
  head: readonly string[];
  rows: readonly (readonly (string | number)[])[];
}

export interface Target {
  what: string;
  ok: boolean | undefined;
  detail: string;
}

/** The project's one seeded generator (mulberry32): the same sequence for the same seed on every machine. */
export { mulberry32 as seededRandom } from '../src/forecast/data/random.js';

export function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
}

/** Nearest-rank percentile of unsorted samples; NaN for none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

export function ms(value: number, digits = 1): string {
  return Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}

export type Outcome<T> = { kind: 'value'; value: T; ms: number } | { kind: 'error'; error: unknown; ms: number } | { kind: 'stuck'; ms: number };

/**
 * Awaits `work` for at most `limitMs`. A call still pending then is reported as stuck and left behind: the
 * scenario carries on, so one hung call cannot hang the run.
 */
export async function bounded<T>(work: () => Promise<T>, limitMs: number): Promise<Outcome<T>> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<'stuck'>((resolve) => {
    timer = setTimeout(() => resolve('stuck'), limitMs);
  });
  try {
    const settled = await Promise.race([
      Promise.resolve()
        .then(work)
        .then(
          (value) => ({ kind: 'value' as const, value }),
          (error: unknown) => ({ kind: 'error' as const, error }),
        ),
      limit,
    ]);
    const elapsed = performance.now() - started;
    if (settled === 'stuck') return { kind: 'stuck', ms: elapsed };
    return settled.kind === 'value' ? { kind: 'value', value: settled.value, ms: elapsed } : { kind: 'error', error: settled.error, ms: elapsed };
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` every `everyMs` until it holds or `limitMs` passes; resolves to whether it held. */
export async function waitFor(check: () => Promise<boolean> | boolean, limitMs: number, everyMs = 20): Promise<boolean> {
  const deadline = performance.now() + limitMs;
  while (performance.now() < deadline) {
    if (await check()) return true;
    await sleep(everyMs);
  }
  return false;
}

/** A loopback port nobody listens on right now (the OS picks it; another process could still take it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

/** A short description of an error for a table cell: its code when it has one, else its class. */
export function describeError(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const code = (error as { code?: unknown }).code;
    const name = (error as { name?: unknown }).name;
    if (typeof code === 'string') return `${typeof name === 'string' ? name : 'Error'} ${code}`;
    if (typeof name === 'string') return name;
  }
  return typeof error;
}

export function markdownTable(table: Table): string {
  const cells = (row: readonly (string | number)[]) => `| ${row.map((c) => String(c).replace(/\|/g, '\\|')).join(' | ')} |`;
  return [cells(table.head), `|${table.head.map(() => '---').join('|')}|`, ...table.rows.map(cells)].join('\n');
}

export function verdict(ok: boolean | undefined): string {
  return ok === undefined ? 'n/a' : ok ? 'met' : 'MISSED';
}
