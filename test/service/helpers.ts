import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { configFromEnv } from '../../src/service/config.js';
import { createLogger, type Logger } from '../../src/service/logger.js';
import { openService, type OpenedService } from '../../src/service/service.js';

export const ROOT = resolve(import.meta.dirname, '../..');

/** A response as the tests look at it; `T` is what the test expects the JSON body to be. */
export interface Reply<T> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

/** The body of every error response. */
export interface ErrorBody {
  error: { status: number; code: string; message: string; field?: string };
}

/** `GET /users/:id/forecasts/:metric`. */
export interface ForecastBody<V = Record<string, unknown>> {
  key: string;
  value: V;
  cache: { source: string; ms: number };
}

/** The balance projection as JSON. */
export interface BalanceJson {
  userId: string;
  asOf: string;
  startBalance: string;
  projectedBalance: string;
  points: { date: string; balance: string }[];
}

/** A transaction as JSON. */
export interface TransactionJson {
  id: string;
  userId: string;
  date: string;
  amount: string;
  type: string;
  category: string;
  description?: string;
}

/** A goal as JSON. */
export interface GoalJson {
  id: string;
  userId: string;
  name: string;
  target: string;
  saved: string;
  createdAt: string;
  deadline?: string;
  monthlyContribution?: string;
}

/** What a write returns. */
export interface WriteBody<R> {
  record: R;
  invalidated: number | null;
}

/** One entry of `GET /events`. */
export interface EventJson {
  reason: string;
  triggeredBy: string;
  at: string;
  kind: string;
  count?: number;
  keys?: string[];
  tags?: string[];
}

/** One request: `body` is sent as JSON unless `raw` (sent as is, with `headers`). */
export async function call<T = ErrorBody>(
  base: string,
  method: string,
  path: string,
  options: { body?: unknown; raw?: string; headers?: Record<string, string> } = {},
): Promise<Reply<T>> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | undefined;
  if (options.raw !== undefined) body = options.raw;
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(base + path, { method, headers, ...(body === undefined ? {} : { body }), signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: response.status, headers: response.headers, body: parsed as T, text };
}

/** A temporary folder, removed by `cleanup`. */
export function tempDir(tag: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `tiercache-service-${tag}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A logger keeping its lines, for assertions on what the service says. */
export function captureLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: createLogger({ level: 'debug', write: (line) => lines.push(line) }), lines };
}

/** The service, in this process, over fresh files in `dir`, listening on a free loopback port. */
export async function startInProcess(dir: string, env: Record<string, string> = {}, logger?: Logger): Promise<{ service: OpenedService; url: string }> {
  // The HTTP response cache is off unless a test turns it on: most tests look at where the ForecastCache answered.
  const config = configFromEnv({ PORT: '0', FORECAST_DB: join(dir, 'finance.db'), CACHE_DB: join(dir, 'cache.db'), FORECAST_DEMO_USERS: '3', FORECAST_HTTP_CACHE: 'off', ...env }, dir);
  const service = await openService(config, logger ?? createLogger({ level: 'silent', write: () => undefined }));
  try {
    const { url } = await service.app.listen(0, '127.0.0.1');
    return { service, url };
  } catch (error) {
    await service.close();
    throw error;
  }
}

/** A service started as its own process: `node --import tsx src/service/main.ts`, as `npm start` runs it. */
export interface ChildService {
  readonly process: ChildProcess;
  readonly pid: number;
  /** Every line of stdout and stderr so far. */
  readonly lines: string[];
  url: string;
  /** Resolves with the first line (already seen or still to come) matching `pattern`. */
  waitForLine(pattern: RegExp, ms?: number): Promise<string>;
  /** Sends SIGTERM to this PID and resolves with the exit code; SIGKILL after `ms`. */
  stop(ms?: number): Promise<number | null>;
}

const children = new Set<ChildService>();

/**
 * Starts the entry point with `env` on top of this process's environment, PORT=0, and waits for its
 * listening line (the port it prints there is the one it got).
 */
export async function startChild(env: Record<string, string>, ms = 20_000): Promise<ChildService> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/service/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'info', FORECAST_HTTP_CACHE: 'off', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error('the service process did not start');
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const collect = (stream: NodeJS.ReadableStream): void => {
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      rest += chunk;
      const parts = rest.split('\n');
      rest = parts.pop() ?? '';
      lines.push(...parts);
      for (const wake of waiters) wake();
    });
  };
  collect(child.stdout as NodeJS.ReadableStream);
  collect(child.stderr as NodeJS.ReadableStream);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const waitForLine = (pattern: RegExp, timeout = ms): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): boolean => {
        const line = lines.find((l) => pattern.test(l));
        if (line === undefined) return false;
        done();
        resolve(line);
        return true;
      };
      const onExit = (): void => {
        // Lines may still be in the pipe when 'exit' fires.
        setTimeout(() => {
          if (!check()) {
            done();
            reject(new Error(`the service exited before printing ${String(pattern)}:\n${lines.join('\n')}`));
          }
        }, 100);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeout} ms waiting for ${String(pattern)}:\n${lines.join('\n')}`));
      }, timeout);
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(wake);
        child.off('exit', onExit);
      };
      const wake = (): void => void check();
      if (check()) return;
      waiters.add(wake);
      child.once('exit', onExit);
    });

  const service: ChildService = {
    process: child,
    pid: child.pid,
    lines,
    url: '',
    waitForLine,
    async stop(limit = 8_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      process.kill(child.pid as number, 'SIGTERM');
      const timer = setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) process.kill(child.pid as number, 'SIGKILL');
      }, limit);
      const code = await exited;
      clearTimeout(timer);
      children.delete(service);
      return code;
    },
  };
  children.add(service);
  const line = await waitForLine(/listening on http:\/\/\S+/);
  service.url = /listening on (http:\/\/\S+)/.exec(line)?.[1] ?? '';
  return service;
}

/** Stops every child a test started and has not stopped itself (for afterEach/afterAll). */
export async function stopChildren(): Promise<void> {
  await Promise.all([...children].map((child) => child.stop()));
}

/** Kept here for the service tests that import it with the other helpers; the kit owns it. */
export { until } from '../kit/index.js';
