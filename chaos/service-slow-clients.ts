// The forecast service under slow clients: `slowClients` connections that dribble their headers, dribble a
// body, say nothing, or keep a connection idle after one request, each reconnecting as soon as the service
// drops it, while readers (forecast GETs) and writers (transaction POSTs) use the service normally. The
// service runs as `npm start` runs it, in its own process, over a temporary data folder on a free loopback
// port. What counts: normal requests stay fast (target p99 < 200 ms) and every slow connection is dropped on
// its deadline.
//
//   npx tsx chaos/service-slow-clients.ts [durationMs=10000] [slowClients=100] [seed=1]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { percentile, seededRandom } from './lib.js';

export interface SlowClientsOptions {
  slowClients: number;
  durationMs: number;
  /** @default 1 */
  seed?: number;
  /** The service's `HTTP_HEADERS_TIMEOUT_MS`: short, so each slow client is dropped several times in a run. @default 1000 */
  headersTimeoutMs?: number;
  /** `HTTP_BODY_TIMEOUT_MS`. @default 1500 */
  bodyTimeoutMs?: number;
  /** `HTTP_IDLE_TIMEOUT_MS`. @default 1000 */
  idleTimeoutMs?: number;
  /** Concurrent readers. @default 4 */
  readers?: number;
  /** Concurrent writers. @default 1 */
  writers?: number;
}

/** Figures of one run: plain numbers and strings. Durations in ms; `...AtMs` are counted from the load's start. */
export type Report = Record<string, number | string>;

type SlowKind = 'headers' | 'body' | 'silent' | 'idle';
const KINDS: readonly SlowKind[] = ['headers', 'body', 'silent', 'idle'];

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** A normal request slower than this is counted as an error (and abandoned). */
const REQUEST_LIMIT_MS = 5_000;
const START_LIMIT_MS = 30_000;
const STOP_LIMIT_MS = 8_000;
const USERS = 5;

interface Service {
  readonly child: ChildProcess;
  readonly url: string;
  readonly port: number;
  readonly output: string[];
}

/** `node --import tsx src/service/main.ts` with `env`, resolved once it prints the port it listens on. */
async function startService(env: Record<string, string>): Promise<Service> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/service/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // If this process goes away without stopping it (a test runner abandoning a timed-out test, say), the service
  // goes with it instead of running on unattended.
  const orphan = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', orphan);
  child.once('exit', () => process.off('exit', orphan));
  const output: string[] = [];
  let listening = false;
  // Read to the end even once listening: a full pipe would stall the service's log writes.
  const onData = (chunk: Buffer): void => {
    if (!listening || output.length < 200) output.push(chunk.toString('utf8'));
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the service did not listen within ${START_LIMIT_MS} ms:\n${output.join('')}`)), START_LIMIT_MS);
      const check = (): void => {
        const found = /listening on (http:\/\/\S+)/.exec(output.join(''));
        if (found?.[1] === undefined) return;
        listening = true;
        child.stdout?.off('data', check);
        clearTimeout(timer);
        resolve(found[1]);
      };
      child.stdout?.on('data', check);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the service exited (${String(code)}) before listening:\n${output.join('')}`));
      });
    });
    return { child, url, port: Number(new URL(url).port), output };
  } catch (error) {
    await stopService({ child, url: '', port: 0, output });
    throw error;
  }
}

/** SIGTERM to the service's own PID, SIGKILL if it has not exited in time. */
async function stopService(service: Service): Promise<void> {
  const { child } = service;
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_LIMIT_MS);
  await exited;
  clearTimeout(timer);
}

interface SlowRecord {
  kind: SlowKind;
  openedAt: number;
  closedAt: number | undefined;
  /** The service answered 408 before closing. */
  got408: boolean;
}

/**
 * Keeps `count` slow connections open until `until`: each one, once the service drops it, is replaced by a
 * new one of the same kind.
 */
class SlowCrowd {
  readonly records: SlowRecord[] = [];
  readonly #sockets = new Set<Socket>();
  readonly #port: number;
  readonly #random: () => number;
  readonly #started: number;
  #stopped = false;

  constructor(port: number, random: () => number, started: number) {
    this.#port = port;
    this.#random = random;
    this.#started = started;
  }

  /** Connections open right now. */
  get open(): number {
    return this.#sockets.size;
  }

  start(count: number): void {
    for (let i = 0; i < count; i++) this.#open(KINDS[i % KINDS.length] as SlowKind);
  }

  stop(): void {
    this.#stopped = true;
    for (const socket of this.#sockets) socket.destroy();
  }

  #open(kind: SlowKind): void {
    if (this.#stopped) return;
    const record: SlowRecord = { kind, openedAt: performance.now() - this.#started, closedAt: undefined, got408: false };
    this.records.push(record);
    const socket = connect(this.#port, '127.0.0.1');
    this.#sockets.add(socket);
    let received = '';
    let drip: NodeJS.Timeout | undefined;
    const everyMs = 100 + Math.floor(this.#random() * 200);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      received += chunk;
      record.got408 ||= received.startsWith('HTTP/1.1 408');
    });
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearInterval(drip);
      this.#sockets.delete(socket);
      if (this.#stopped) return;
      record.closedAt = performance.now() - this.#started;
      const pause = setTimeout(() => this.#open(kind), 20 + Math.floor(this.#random() * 80));
      pause.unref();
    });
    socket.once('connect', () => {
      const dribble = (text: string): void => {
        let at = 0;
        drip = setInterval(() => {
          if (at < text.length && !socket.destroyed) socket.write(text.charAt(at++));
        }, everyMs);
      };
      switch (kind) {
        case 'headers':
          dribble(`GET /users/user_1/forecasts/balance HTTP/1.1\r\nHost: localhost\r\nX-Padding: ${'a'.repeat(10_000)}\r\n\r\n`);
          break;
        case 'body':
          socket.write('POST /users/user_1/transactions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n');
          dribble(' '.repeat(10_000));
          break;
        case 'idle':
          // One request, then the kept-alive connection is held with nothing more to say. (A client that
          // never reads its answers looks the same to the service: these answers fit in the socket buffers.)
          socket.write('GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n');
          break;
        case 'silent':
          break;
      }
    });
  }
}

interface Timing {
  ms: number;
  ok: boolean;
  status: number;
  error?: string;
}

async function timed(url: string, init: RequestInit): Promise<Timing> {
  const started = performance.now();
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_LIMIT_MS) });
    await response.arrayBuffer();
    return { ms: performance.now() - started, ok: response.ok, status: response.status };
  } catch (error) {
    return { ms: performance.now() - started, ok: false, status: 0, error: error instanceof Error ? error.name : String(error) };
  }
}

function round(value: number): number {
  return Number.isFinite(value) ? Math.round(value * 10) / 10 : -1;
}

/**
 * Runs the scenario once and reports its figures (see {@link Report}); the service and every socket are
 * gone when it resolves.
 *
 * @example
 * const report = await run({ slowClients: 100, durationMs: 10_000, seed: 1 });
 */
export async function run(options: SlowClientsOptions): Promise<Report> {
  const { slowClients, durationMs, seed = 1, headersTimeoutMs = 1_000, bodyTimeoutMs = 1_500, idleTimeoutMs = 1_000, readers = 4, writers = 1 } = options;
  for (const [name, value] of Object.entries({ slowClients, durationMs, seed, headersTimeoutMs, bodyTimeoutMs, idleTimeoutMs, readers, writers })) {
    if (!Number.isSafeInteger(value) || value < 0) throw new TypeError(`${name} must be a non-negative integer, got ${String(value)}`);
  }
  const random = seededRandom(seed);
  const dir = mkdtempSync(join(tmpdir(), 'tiercache-chaos-slow-'));
  let service: Service | undefined;
  let crowd: SlowCrowd | undefined;
  try {
    service = await startService({
      FORECAST_DB: join(dir, 'finance.db'),
      CACHE_DB: join(dir, 'cache.db'),
      FORECAST_DEMO_USERS: String(USERS),
      FORECAST_WARM_CRON: 'off',
      // The service's own default: its log lines are part of the cost of a request. The listening line is info.
      LOG_LEVEL: 'info',
      HTTP_HEADERS_TIMEOUT_MS: String(headersTimeoutMs),
      HTTP_BODY_TIMEOUT_MS: String(bodyTimeoutMs),
      HTTP_IDLE_TIMEOUT_MS: String(idleTimeoutMs),
      // The crowd and the normal clients together stay under the cap: this run measures timeouts, not refusals.
      HTTP_MAX_CONNECTIONS: String(Math.max(1_024, slowClients * 2 + 64)),
    });
    const { url } = service;
    const started = performance.now();
    crowd = new SlowCrowd(service.port, random, started);
    crowd.start(slowClients);
    // Let the crowd connect before the first measured request.
    await sleep(Math.min(500, durationMs / 10));
    const loadStarted = performance.now();
    const deadline = loadStarted + durationMs;

    const reads: Timing[] = [];
    const writes: Timing[] = [];
    const openSamples: number[] = [];
    const metrics = ['balance', 'burn_rate', 'runway'] as const;
    const horizons = ['30d', '90d', '1y'] as const;
    const think = (): Promise<void> => sleep(5 + Math.floor(random() * 15));
    const reader = async (): Promise<void> => {
      while (performance.now() < deadline) {
        const user = `user_${1 + Math.floor(random() * USERS)}`;
        const metric = metrics[Math.floor(random() * metrics.length)] as string;
        const horizon = horizons[Math.floor(random() * horizons.length)] as string;
        reads.push(await timed(`${url}/users/${user}/forecasts/${metric}?horizon=${horizon}`, { method: 'GET' }));
        await think();
      }
    };
    const writer = async (): Promise<void> => {
      while (performance.now() < deadline) {
        const user = `user_${1 + Math.floor(random() * USERS)}`;
        const amount = (1 + Math.floor(random() * 50_000) / 100).toFixed(2);
        const body = JSON.stringify({ date: '2025-12-31', amount, type: random() < 0.7 ? 'expense' : 'income', category: 'chaos' });
        writes.push(await timed(`${url}/users/${user}/transactions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }));
        await sleep(50 + Math.floor(random() * 100));
      }
    };
    const sampler = async (): Promise<void> => {
      while (performance.now() < deadline) {
        openSamples.push(crowd?.open ?? 0);
        await sleep(100);
      }
    };
    await Promise.all([...Array.from({ length: readers }, reader), ...Array.from({ length: writers }, writer), sampler()]);

    const server = await serverConnections(url);
    const openAtEnd = crowd.open;
    crowd.stop();

    const all = [...reads, ...writes];
    const failures = all.filter((t) => !t.ok);
    const errorKinds = [...new Set(failures.map((t) => (t.status === 0 ? (t.error ?? 'error') : String(t.status))))].sort().join(' ');
    const dropped = crowd.records.filter((r) => r.closedAt !== undefined);
    const lifetimes = (kind?: SlowKind): number[] => dropped.filter((r) => kind === undefined || r.kind === kind).map((r) => (r.closedAt as number) - r.openedAt);
    const toLoad = started - loadStarted;
    const p99 = percentile(all.map((t) => t.ms), 99);
    const report: Report = {
      seed,
      slowClients,
      durationMs,
      headersTimeoutMs,
      bodyTimeoutMs,
      idleTimeoutMs,
      requests: all.length,
      reads: reads.length,
      writes: writes.length,
      p50Ms: round(percentile(all.map((t) => t.ms), 50)),
      p99Ms: round(p99),
      maxMs: round(Math.max(...all.map((t) => t.ms))),
      readP50Ms: round(percentile(reads.map((t) => t.ms), 50)),
      readP99Ms: round(percentile(reads.map((t) => t.ms), 99)),
      writeP50Ms: round(percentile(writes.map((t) => t.ms), 50)),
      writeP99Ms: round(percentile(writes.map((t) => t.ms), 99)),
      errors: failures.length,
      errors5xx: failures.filter((t) => t.status >= 500).length,
      errorKinds: errorKinds === '' ? 'none' : errorKinds,
      slowConnectionsOpened: crowd.records.length,
      slowOpenMin: openSamples.length === 0 ? 0 : Math.min(...openSamples),
      slowOpenAtEnd: openAtEnd,
      slowDropped: dropped.length,
      slowDroppedWith408: dropped.filter((r) => r.got408).length,
      firstDropAtMs: dropped.length === 0 ? -1 : round(Math.min(...dropped.map((r) => r.closedAt as number)) + toLoad),
      lastDropAtMs: dropped.length === 0 ? -1 : round(Math.max(...dropped.map((r) => r.closedAt as number)) + toLoad),
      headersDropAfterP50Ms: round(percentile(lifetimes('headers'), 50)),
      headersDropAfterMaxMs: round(Math.max(-1, ...lifetimes('headers'))),
      silentDropAfterP50Ms: round(percentile(lifetimes('silent'), 50)),
      bodyDropAfterP50Ms: round(percentile(lifetimes('body'), 50)),
      bodyDropAfterMaxMs: round(Math.max(-1, ...lifetimes('body'))),
      idleDropAfterP50Ms: round(percentile(lifetimes('idle'), 50)),
      serverHeadersTimeouts: server?.headersTimeouts ?? -1,
      serverBodyTimeouts: server?.bodyTimeouts ?? -1,
      serverRefused: server?.refused ?? -1,
      p99Target: slowClients === 0 ? 'n/a (baseline)' : Number.isFinite(p99) && p99 < 200 ? 'met (p99 < 200 ms)' : 'MISSED (p99 >= 200 ms)',
    };
    return report;
  } finally {
    crowd?.stop();
    if (service !== undefined) await stopService(service);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function serverConnections(url: string): Promise<{ headersTimeouts: number; bodyTimeouts: number; refused: number } | undefined> {
  try {
    const response = await fetch(`${url}/stats`, { signal: AbortSignal.timeout(REQUEST_LIMIT_MS) });
    const body = (await response.json()) as { service?: { connections?: { headersTimeouts: number; bodyTimeouts: number; refused: number } } };
    return body.service?.connections;
  } catch {
    return undefined;
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [durationText = '10000', slowText = '100', seedText = '1'] = process.argv.slice(2);
  const durationMs = Number(durationText);
  const slowClients = Number(slowText);
  const seed = Number(seedText);
  const main = async (): Promise<void> => {
    const baseline = await run({ slowClients: 0, durationMs, seed });
    process.stdout.write(`baseline, no slow clients:\n${JSON.stringify(baseline, null, 2)}\n`);
    const report = await run({ slowClients, durationMs, seed });
    process.stdout.write(`${slowClients} slow clients:\n${JSON.stringify(report, null, 2)}\n`);
    if (report.errors5xx !== 0 || String(report.p99Target).startsWith('MISSED')) process.exitCode = 1;
  };
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  });
}
