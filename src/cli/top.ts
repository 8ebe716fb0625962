import { parseDuration } from '../ttl.js';
import type { Output } from './commands.js';
import { CliError, EXIT, type Connection } from './connect.js';
import { fleetOf, fleetTable, totalsOf } from './fleet-view.js';
import { percent } from './format.js';

export const TOP_MIN_INTERVAL_MS = 500;
export const TOP_MAX_INTERVAL_MS = 60_000;

/**
 * The live fleet table. On a terminal it redraws in place every `interval` and quits on `q` or Ctrl-C;
 * elsewhere (a pipe, a test) it prints one frame per refresh, `--iterations` times (default: until stopped).
 */
export async function top(conn: Connection, flags: { interval?: string; iterations?: string }, output: Output, stop: Promise<void>): Promise<number> {
  let intervalMs: number;
  try {
    intervalMs = parseDuration(flags.interval ?? '2s', '--interval');
  } catch (error) {
    throw new CliError((error as Error).message, EXIT.usage);
  }
  if (intervalMs < TOP_MIN_INTERVAL_MS || intervalMs > TOP_MAX_INTERVAL_MS) {
    throw new CliError(`--interval must be from ${TOP_MIN_INTERVAL_MS} ms to ${TOP_MAX_INTERVAL_MS / 1000} s, got ${flags.interval ?? ''}`, EXIT.usage);
  }
  const iterations = flags.iterations === undefined ? Number.POSITIVE_INFINITY : Number(flags.iterations);
  if (!(iterations === Number.POSITIVE_INFINITY || (Number.isInteger(iterations) && iterations > 0))) {
    throw new CliError(`--iterations must be a positive whole number, got ${JSON.stringify(flags.iterations)}`, EXIT.usage);
  }
  const live = process.stdout.isTTY && !output.json;
  let stopped = false;
  let quit: () => void = () => undefined;
  const quitting = new Promise<void>((resolve) => (quit = resolve));
  void stop.then(() => {
    stopped = true;
    quit();
  });
  const stdin = process.stdin;
  const onKey = (data: Buffer) => {
    const key = data.toString();
    if (key === 'q' || key === 'Q' || key === '\u0003') {
      stopped = true;
      quit();
    }
  };
  if (live && stdin.isTTY) {
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onKey);
  }
  if (live) process.stdout.write('\u001b[?25l');
  try {
    for (let frame = 0; frame < iterations && !stopped; frame++) {
      const fleet = await fleetOf(conn.cache);
      if (output.json) {
        output.out(JSON.stringify({ at: Date.now(), totals: totalsOf(fleet), instances: fleet }));
      } else {
        const totals = totalsOf(fleet);
        const head = `tiercache top: ${totals.instances} instance(s), hit rate ${percent(totals.hitRate)}, ${totals.hits} hits / ${totals.misses} misses · every ${intervalMs / 1000}s${live ? ' · q to quit' : ''}`;
        const body = `${head}\n\n${fleetTable(fleet, Date.now())}`;
        if (live) process.stdout.write(`\u001b[H\u001b[2J${body}\n`);
        else output.out(`${body}\n`);
      }
      if (frame + 1 >= iterations) break;
      await Promise.race([quitting, new Promise((resolve) => setTimeout(resolve, intervalMs).unref())]);
    }
  } finally {
    if (live) process.stdout.write('\u001b[?25h');
    if (live && stdin.isTTY) {
      stdin.off('data', onKey);
      stdin.setRawMode(false);
      stdin.pause();
    }
  }
  return EXIT.ok;
}
