// `npx tsx bench/service-http.ts [--duration S] [--connections N]`: the forecast service's dashboard route,
// `GET /users/:id/dashboard`, under autocannon on loopback, three ways:
//   cold        every request a dashboard no cache holds yet (each (user, as-of day) is asked once): the
//               ForecastCache computes its 3 forecasts and the user's goals
//   forecast    the same dashboard again and again, the HTTP cache off: the ForecastCache answers from memory
//   http        the same, with the HTTP response cache on (FORECAST_HTTP_CACHE): the handler does not run
// Each runs against its own fresh service process (`src/service/main.ts`, as `npm start` runs it, SQLite
// tier, LOG_LEVEL=warn so log lines are not measured); autocannon runs here. Prints a table, then the
// figures as JSON on the last line.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const USERS = 5;
/** Distinct as-of days a cold run can ask for: February to December of the demo year. */
const COLD_DAYS = 330;

function flag(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  const value = at === -1 ? undefined : Number(process.argv[at + 1]);
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : fallback;
}

const DURATION_S = flag('duration', 5);
const CONNECTIONS = flag('connections', 10);

interface Figures {
  scenario: string;
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
}

/** A port nothing listens on now (the service then takes it: LOG_LEVEL=warn hides its listening line). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function startService(dir: string, env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/service/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      FORECAST_DB: join(dir, 'finance.db'),
      CACHE_DB: join(dir, 'cache.db'),
      FORECAST_DEMO_USERS: String(USERS),
      FORECAST_WARM_CRON: 'off',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; attempt < 200; attempt++) {
    if (child.exitCode !== null) throw new Error(`the service exited with ${String(child.exitCode)} before listening`);
    try {
      const reply = await fetch(`${url}/health`);
      await reply.arrayBuffer();
      if (reply.ok) return { child, url };
    } catch {
      // Not listening yet.
    }
    await sleep(100);
  }
  await stop(child);
  throw new Error('the service did not start within 20 s');
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

function day(offset: number): string {
  return new Date(Date.UTC(2025, 1, 1) + offset * 86_400_000).toISOString().slice(0, 10);
}

async function measure(scenario: 'cold' | 'forecast' | 'http'): Promise<Figures> {
  const dir = mkdtempSync(join(os.tmpdir(), 'tiercache-bench-service-'));
  const { child, url } = await startService(dir, { FORECAST_HTTP_CACHE: scenario === 'http' ? '10m' : 'off' });
  try {
    const path = '/users/user_1/dashboard';
    let result: autocannon.Result;
    if (scenario === 'cold') {
      // One request per (user, day): bounded by the keys there are, so every one of them is a miss.
      let n = 0;
      const amount = USERS * COLD_DAYS;
      result = await autocannon({
        url,
        connections: CONNECTIONS,
        amount,
        requests: [
          {
            setupRequest: (request) => {
              const i = n++;
              return { ...request, path: `/users/user_${1 + (i % USERS)}/dashboard?asOf=${day(Math.floor(i / USERS) % COLD_DAYS)}` };
            },
          },
        ],
      });
    } else {
      // Filled first; one short run warms the JIT up, not counted.
      await (await fetch(url + path)).arrayBuffer();
      await autocannon({ url: url + path, connections: CONNECTIONS, duration: 1 });
      result = await autocannon({ url: url + path, connections: CONNECTIONS, duration: DURATION_S });
    }
    return { scenario, requests: result.requests.total, rps: Math.round(result.requests.average), p50: result.latency.p50, p99: result.latency.p99, non2xx: result.non2xx + result.errors + result.timeouts };
  } finally {
    await stop(child);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const figures: Figures[] = [];
  for (const scenario of ['cold', 'forecast', 'http'] as const) {
    console.error(`service-http: ${scenario}`);
    figures.push(await measure(scenario));
  }
  console.log(`GET /users/:id/dashboard, ${CONNECTIONS} connections, Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, load ${os.loadavg()[0]?.toFixed(2)}`);
  console.log('| scenario | requests | req/s | p50 ms | p99 ms | errors |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const f of figures) console.log(`| ${f.scenario} | ${f.requests} | ${f.rps} | ${f.p50} | ${f.p99} | ${f.non2xx} |`);
  console.log(JSON.stringify(figures));
}

await main();
