// Scenario 7: the HTTP service under concurrent writers and readers with slow clients. The scenario itself
// lives in service-slow-clients.ts, written with the service's slow-client handling; until that file exists
// this one reports the scenario as not available.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Section, Table } from './lib.js';

const SCENARIO = fileURLToPath(new URL('./service-slow-clients.ts', import.meta.url));

export interface ServiceOptions {
  seed: number;
  /** @default 100 */
  slowClients?: number;
  /** @default 10000 */
  durationMs?: number;
}

export interface ServiceResult {
  available: boolean;
  /** Whatever the scenario returned: shown as it is. */
  figures: unknown;
  error: string | undefined;
}

type SlowClientsModule = { run?: (options: { slowClients: number; durationMs: number; seed: number }) => Promise<unknown> };

export async function runServiceSlowClients(options: ServiceOptions): Promise<ServiceResult> {
  if (!existsSync(SCENARIO)) return { available: false, figures: undefined, error: undefined };
  try {
    const module = (await import(pathToFileURL(SCENARIO).href)) as SlowClientsModule;
    if (typeof module.run !== 'function') return { available: false, figures: undefined, error: 'service-slow-clients.ts exports no run()' };
    const figures = await module.run({ slowClients: options.slowClients ?? 100, durationMs: options.durationMs ?? 10_000, seed: options.seed });
    return { available: true, figures, error: undefined };
  } catch (error) {
    return { available: true, figures: undefined, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
}

function isSection(value: unknown): value is Section {
  const table = (value as { table?: Partial<Table> } | null)?.table;
  return typeof value === 'object' && value !== null && typeof (value as { title?: unknown }).title === 'string' && Array.isArray(table?.head) && Array.isArray(table?.rows);
}

export function serviceSection(result: ServiceResult): Section {
  const title = '7. The service with 100 slow clients';
  if (!result.available) {
    return {
      title,
      setup: 'Concurrent writers and readers against the HTTP service while 100 slow clients (slow headers, slow bodies, silent, idle) stay connected.',
      table: { head: ['status'], rows: [[result.error ?? 'not available: chaos/service-slow-clients.ts does not exist yet']] },
      targets: [{ what: 'scenario available', ok: undefined, detail: 'not available' }],
    };
  }
  if (isSection(result.figures)) return { ...result.figures, title };
  const figures = typeof result.figures === 'object' && result.figures !== null ? (result.figures as Record<string, unknown>) : {};
  const number = (name: string): number | undefined => (typeof figures[name] === 'number' ? figures[name] : undefined);
  const p99 = number('p99Ms');
  const errors = number('errors');
  const dropped = number('slowDropped');
  return {
    title,
    setup:
      'The service runs in its own process over a temporary data folder; readers (forecast GETs) and a writer (transaction POSTs) use it normally while 100 slow connections dribble headers or a body, say nothing, or never read the answer, reconnecting whenever they are dropped (figures as chaos/service-slow-clients.ts reports them).',
    table: {
      head: ['figure', 'value'],
      rows: result.error === undefined ? Object.entries(figures).map(([k, v]) => [k, typeof v === 'number' || typeof v === 'string' ? v : JSON.stringify(v)]) : [['error', result.error]],
    },
    targets:
      result.error === undefined
        ? [
            { what: 'normal requests p99 < 200 ms', ok: p99 !== undefined && p99 >= 0 && p99 < 200, detail: `${p99 ?? 'n/a'} ms` },
            { what: 'no normal request failed', ok: errors === 0, detail: `${errors ?? 'n/a'} (${typeof figures.errorKinds === 'string' ? figures.errorKinds : 'n/a'})` },
            { what: 'slow connections dropped on their deadlines', ok: dropped !== undefined && dropped > 0, detail: `${dropped ?? 'n/a'} dropped` },
          ]
        : [{ what: 'scenario ran', ok: false, detail: result.error }],
  };
}
