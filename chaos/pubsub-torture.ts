// Scenario 3: multi-process freshness on a private Redis whose pub/sub connections are killed mid-run with
// CLIENT KILL TYPE pubsub. One process invalidates a hot key by key, tag and pattern in turn; all of them read
// it through getOrSet (see torture-worker.ts). A read is stale when it returns a version older than one
// invalidated before it started: by its own process, or by another more than the bus delivery allowance earlier.
// Unlike the torture test, only one process invalidates: a process that also invalidated would refresh its own
// memory tier every few milliseconds and hide a lost message.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { bounded, ms, type Section } from './lib.js';
import { startPrivateRedis } from './redis-server.js';

const WORKER = fileURLToPath(new URL('./torture-worker.ts', import.meta.url));
/** As in the torture test: how late another process may still serve a value after an invalidation resolved. */
export const DELIVERY_MS = 1_000;

export interface TortureOptions {
  seed: number;
  /** How long the workers read and invalidate, ms. @default 6000 */
  durationMs?: number;
  /** Pub/sub connection kills, spread evenly over the run. @default 3 */
  kills?: number;
  /** @default 3 */
  processes?: number;
}

export interface TortureResult {
  seed: number;
  durationMs: number;
  processes: number;
  reads: number;
  invalidations: number;
  staleReads: number;
  /** Longest a reader kept returning a version after a newer one was invalidated, ms (stale or within the allowance). */
  maxLagMs: number;
  /** `recover` events (gap or reconnect) seen by the processes: the bus noticing what it lost. */
  recoveries: number;
  examples: string[];
  /** Connections each CLIENT KILL closed. */
  killed: number[];
  /** Workers that failed to report (crashed, hung past the limit). */
  failedWorkers: number;
}

interface Log {
  reads: [number, number][];
  invalidations: [number, number][];
  recoveries: number;
}

function startWorker(prefix: string, index: number, durationMs: number, startAt: number, url: string, seed: number): { ready: Promise<void>; log: Promise<Log>; kill: () => void } {
  const child = fork(WORKER, [prefix, String(index), String(durationMs), String(startAt), url, String(seed)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const log = new Promise<Log>((resolve, reject) => {
    child.on('message', (message: { ready?: boolean } & Partial<Log>) => {
      if (message.ready === true) markReady();
      else resolve(message as Log);
    });
    child.on('exit', (code) => (code === 0 ? undefined : reject(new Error(`worker ${index} exited with ${code}`))));
  });
  return { ready, log, kill: () => void child.kill('SIGKILL') };
}

export async function runPubsubTorture(options: TortureOptions): Promise<TortureResult> {
  const durationMs = options.durationMs ?? 6_000;
  const kills = options.kills ?? 3;
  const processes = options.processes ?? 3;
  const server = await startPrivateRedis();
  const admin = new Redis(server.url, { maxRetriesPerRequest: 1 });
  admin.on('error', () => undefined);
  const prefix = `chaos-torture-${options.seed}:`;
  const killed: number[] = [];
  let failedWorkers = 0;
  const logs: Log[] = [];
  // Startup of three tsx processes on two busy cores takes a few seconds; they begin together at startAt.
  const startAt = Date.now() + 4_000;
  const workers = Array.from({ length: processes }, (_, i) => startWorker(prefix, i, durationMs, startAt, server.url, options.seed));
  try {
    const ready = await bounded(() => Promise.all(workers.map((w) => w.ready)), 30_000);
    if (ready.kind !== 'value') throw new Error('the torture workers did not start');
    await sleep(Math.max(0, startAt - Date.now()));
    for (let k = 1; k <= kills; k++) {
      await sleep(durationMs / (kills + 1));
      killed.push(Number(await admin.client('KILL', 'TYPE', 'pubsub')));
    }
    for (const w of workers) {
      const outcome = await bounded(() => w.log, durationMs + 20_000);
      if (outcome.kind === 'value') logs.push(outcome.value);
      else failedWorkers++;
    }
  } finally {
    for (const w of workers) w.kill();
    admin.disconnect();
    await server.stop();
  }

  const resolved = logs.flatMap((log, by) => log.invalidations.map(([version, at]) => ({ version, at, by }))).sort((a, b) => a.at - b.at);
  let staleReads = 0;
  let reads = 0;
  let maxLagMs = 0;
  const examples: string[] = [];
  logs.forEach((log, instance) => {
    for (const [startedAt, value] of log.reads) {
      reads++;
      let floor = 0;
      let lagCounted = false;
      for (const r of resolved) {
        if (r.at > startedAt) break;
        if (r.by === instance || r.at <= startedAt - DELIVERY_MS) floor = Math.max(floor, r.version);
        // The first invalidation that made this value old: how long before the read it had resolved.
        if (!lagCounted && r.version > value) {
          maxLagMs = Math.max(maxLagMs, startedAt - r.at);
          lagCounted = true;
        }
      }
      if (value < floor) {
        staleReads++;
        if (examples.length < 5) examples.push(`process ${instance} read version ${value} at ${ms(startedAt - startAt, 0)} ms; ${floor} was invalidated before`);
      }
    }
  });
  return { seed: options.seed, durationMs, processes, reads, invalidations: resolved.length, staleReads, maxLagMs, recoveries: logs.reduce((n, l) => n + l.recoveries, 0), examples, killed, failedWorkers };
}

export function pubsubTortureSection(result: TortureResult): Section {
  return {
    title: '3. Freshness across processes with the pub/sub connection killed',
    setup:
      `${result.processes} processes share a private redis-server as store and bus; for ${result.durationMs} ms each reads a hot key through getOrSet (4 readers each) while process 0 invalidates it every 5-20 ms by key, tag and pattern in turn. ` +
      `CLIENT KILL TYPE pubsub runs ${result.killed.length} times, evenly spaced. Another process's invalidation counts only from ${DELIVERY_MS} ms after it resolved (the bus delivery allowance of the torture test); the invalidating process's own counts at once.`,
    table: {
      head: ['reads', 'invalidations', 'stale reads', 'longest lag ms', 'pub/sub connections killed', 'recover events', 'workers lost'],
      rows: [[result.reads, result.invalidations, result.staleReads, ms(result.maxLagMs), result.killed.join(' + '), result.recoveries, result.failedWorkers]],
    },
    targets: [
      { what: 'no stale read; the longest lag is under the allowance', ok: result.staleReads === 0 && result.failedWorkers === 0 && result.reads > 0, detail: result.examples.join('; ') || `${result.staleReads} stale` },
    ],
  };
}
