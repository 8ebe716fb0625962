// `npx tsx bench/http.ts [--rounds N] [--duration S]`: HTTP response caching under autocannon on loopback.
// A 20 ms handler answering ~1 KB of JSON, uncached and cached through each adapter (Fastify, Express, Hono),
// beside @fastify/caching. Each server runs in its own fresh child process; autocannon runs here, in the
// parent; the cases run in interleaved rounds, each figure is the median of its rounds.
import { spawn, type ChildProcess } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const SELF = fileURLToPath(import.meta.url);
const CONNECTIONS = 50;
const HANDLER_MS = 20;

type Contender = 'fastify' | 'fastify + tiercache' | 'fastify + @fastify/caching' | 'express' | 'express + tiercache' | 'hono' | 'hono + tiercache';
const CONTENDERS: readonly Contender[] = ['fastify', 'fastify + tiercache', 'fastify + @fastify/caching', 'express', 'express + tiercache', 'hono', 'hono + tiercache'];
/** Contenders that can answer a conditional request without running the handler. */
const CONDITIONAL: readonly Contender[] = ['fastify + tiercache', 'fastify + @fastify/caching', 'express + tiercache', 'hono + tiercache'];

interface Case {
  contender: Contender;
  conditional: boolean;
}

interface Figures {
  rps: number;
  p50: number;
  p99: number;
  ok: number;
  notModified: number;
  other: number;
}

const payload = { userId: 42, currency: 'EUR', points: Array.from({ length: 30 }, (_, day) => ({ day, balance: 1000 + day * 12.5, low: 900 + day * 11, high: 1100 + day * 14 })) };

async function slow(): Promise<typeof payload> {
  await sleep(HANDLER_MS);
  return payload;
}

/** Child side: one server, its port printed on stdout, until the parent ends it. */
async function serve(contender: Contender): Promise<void> {
  const { Cache } = await import('../src/cache.js');
  const cache = new Cache({ defaultTtl: '10m' });
  let address: AddressInfo;
  if (contender.startsWith('fastify')) {
    const { default: Fastify } = await import('fastify');
    const app = Fastify();
    if (contender === 'fastify + tiercache') {
      const { fastifyHttpCache } = await import('../src/http/fastify.js');
      await app.register(fastifyHttpCache, { cache });
    }
    if (contender === 'fastify + @fastify/caching') {
      // Its most favourable documented use: a public Cache-Control, and an ETag it remembers, so a request
      // carrying that ETag gets 304 from its onRequest hook without the handler.
      const { default: caching } = await import('@fastify/caching');
      await app.register(caching, { privacy: 'public', expiresIn: 300 });
    }
    app.get('/forecast', { config: { httpCache: contender === 'fastify + tiercache' } }, async (_req, reply) => {
      const body = await slow();
      if (contender === 'fastify + @fastify/caching') reply.etag('"forecast-42-v1"');
      return body;
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    address = app.server.address() as AddressInfo;
  } else if (contender.startsWith('express')) {
    const { default: express } = await import('express');
    const app = express();
    const handler = (_req: unknown, res: { json(body: unknown): void }, next: (error: unknown) => void) => void slow().then((body) => res.json(body), next);
    if (contender === 'express + tiercache') {
      const { expressCache } = await import('../src/http/express.js');
      app.get('/forecast', expressCache({ cache }).cache(), handler);
    } else app.get('/forecast', handler);
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    address = server.address() as AddressInfo;
  } else {
    const { Hono } = await import('hono');
    const { serve: listen } = await import('@hono/node-server');
    const app = new Hono();
    if (contender === 'hono + tiercache') {
      const { honoCache } = await import('../src/http/hono.js');
      app.get('/forecast', honoCache({ cache, app }).cache(), async (c) => c.json(await slow()));
    } else app.get('/forecast', async (c) => c.json(await slow()));
    address = await new Promise<AddressInfo>((resolve) => {
      const server = listen({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => resolve(info));
      server.on('error', (error) => {
        throw error;
      });
    });
  }
  process.stdout.write(JSON.stringify({ port: address.port }) + '\n');
}

/** Starts a contender's server in a fresh process; resolves with it and its port. */
function start(contender: Contender): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', SELF, 'serve', contender], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (data: Buffer) => {
      out += data.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line !== undefined) resolve({ child, port: (JSON.parse(line) as { port: number }).port });
    });
    child.once('exit', (code) => reject(new Error(`${contender} exited with ${String(code)} before listening`)));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

function run(url: string, seconds: number, headers: Record<string, string>): Promise<autocannon.Result> {
  return autocannon({ url, connections: CONNECTIONS, duration: seconds, headers });
}

async function measure(item: Case, seconds: number): Promise<Figures> {
  const { child, port } = await start(item.contender);
  try {
    const url = `http://127.0.0.1:${port}/forecast`;
    // One request fills the cache (and gives the ETag a conditional client sends back).
    const first = await fetch(url);
    await first.arrayBuffer();
    const etag = first.headers.get('etag');
    if (item.conditional && etag === null) throw new Error(`${item.contender} sent no ETag`);
    const headers: Record<string, string> = item.conditional ? { 'if-none-match': etag as string } : {};
    await run(url, 1, headers); // warm-up, not counted
    const result = await run(url, seconds, headers);
    const notModified = result.statusCodeStats?.['304']?.count ?? 0;
    return {
      rps: result.requests.average,
      p50: result.latency.p50,
      p99: result.latency.p99,
      ok: result['2xx'],
      notModified,
      other: result.non2xx - notModified + result.errors + result.timeouts,
    };
  } finally {
    await stop(child);
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

function flag(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  const value = at === -1 ? fallback : Number(process.argv[at + 1]);
  if (!Number.isFinite(value) || value <= 0) throw new TypeError(`${name} must be a positive number`);
  return value;
}

/** The section: every case in `rounds` interleaved rounds of `seconds` each, as Markdown. */
export async function runHttpBenchmarks(rounds = 1, seconds = 5): Promise<string> {
  const cases: Case[] = [...CONTENDERS.map((contender) => ({ contender, conditional: false })), ...CONDITIONAL.map((contender) => ({ contender, conditional: true }))];
  const results = new Map<Case, Figures[]>(cases.map((item) => [item, []]));
  for (let round = 0; round < rounds; round++) {
    for (const item of cases) {
      console.error(`http: ${item.contender}${item.conditional ? ' (If-None-Match)' : ''} (round ${round + 1} of ${rounds})`);
      results.get(item)?.push(await measure(item, seconds));
    }
  }
  const rows = cases.map((item) => {
    const runs = results.get(item) ?? [];
    const rps = median(runs.map((r) => r.rps));
    const p50 = median(runs.map((r) => r.p50));
    const p99 = median(runs.map((r) => r.p99));
    const last = runs[runs.length - 1] as Figures;
    const statuses = `${last.ok.toLocaleString('en')} 200${last.notModified > 0 ? `, ${last.notModified.toLocaleString('en')} 304` : ''}${last.other > 0 ? `, ${last.other} other` : ''}`;
    const name = item.contender.includes('tiercache') ? `**${item.contender}**` : item.contender;
    return `| ${name} | ${item.conditional ? 'GET + If-None-Match' : 'GET'} | ${Math.round(rps).toLocaleString('en')} | ${p50.toFixed(1)} | ${p99.toFixed(1)} | ${statuses} |`;
  });
  return [
    '## HTTP response caching: a 20 ms handler through each framework',
    '',
    `autocannon on loopback, ${CONNECTIONS} connections, ${seconds} s per case after a 1 s warm-up, ${rounds} interleaved round(s) (median);`,
    'each server in its own fresh process. The handler sleeps 20 ms and answers ~1 KB of JSON. tiercache rows use a',
    'memory-only Cache (the first request fills it). `@fastify/caching` does not store bodies: it sets',
    'Cache-Control and answers 304 to a request whose ETag it remembers, so its plain GET runs the handler every time;',
    'its conditional row is its most favourable case (an ETag set by `reply.etag()`, sent back by the client).',
    '',
    '| contender | request | req/s | p50 (ms) | p99 (ms) | statuses (last round) |',
    '|---|---|---:|---:|---:|---|',
    ...rows,
    '',
  ].join('\n');
}

if (process.argv[1] === SELF) {
  if (process.argv[2] === 'serve') {
    await serve(process.argv[3] as Contender);
  } else {
    const section = await runHttpBenchmarks(flag('--rounds', 1), flag('--duration', 5));
    const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
    console.log(`Measured ${new Date().toISOString()} on ${os.cpus().length} x ${cpu}, Node ${process.version}. Command: \`npx tsx bench/http.ts\`.\n`);
    console.log(section);
  }
}
