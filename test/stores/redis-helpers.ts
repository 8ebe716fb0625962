import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Cluster, Redis, type Command } from 'ioredis';
import { until } from '../kit/index.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const CLUSTER_NODES = [7001, 7002, 7003].map((port) => ({ host: '127.0.0.1', port }));

const clusterScript = fileURLToPath(new URL('../../scripts/redis-cluster.sh', import.meta.url));

/** Starts the local Redis Cluster when it is down (scripts/redis-cluster.sh) and connects to it; give it 120 s. */
export async function startLocalCluster(): Promise<Cluster> {
  await promisify(execFile)('bash', [clusterScript, 'start'], { timeout: 110_000 });
  const cluster = new Cluster(CLUSTER_NODES);
  await cluster.ping();
  return cluster;
}

/** A connection whose commands are recorded by name, in the order sent. */
export function countedClient(url: string): { client: Redis; sent: string[] } {
  const client = new Redis(url);
  const sent: string[] = [];
  const send = client.sendCommand.bind(client) as (command: Command, ...rest: unknown[]) => unknown;
  client.sendCommand = (command: Command, ...rest: unknown[]) => {
    sent.push(command.name.toLowerCase());
    return send(command, ...rest);
  };
  return { client, sent };
}

let sequence = 0;
/** A prefix no other test (or concurrent run) uses. */
export function uniquePrefix(tag: string): string {
  sequence++;
  return `tc-test:${tag}:${process.pid}:${Date.now().toString(36)}:${sequence}:`;
}

/** A loopback port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** True when a Redis answers PING on the port; a raw socket so the probe depends on nothing under test. */
export async function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
    socket.connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
  });
}

/** A redis-server this test started itself, on its own port, that it may kill and start again. */
export class ThrowawayRedis {
  private child: ChildProcess | undefined;

  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    if (await answersPing(this.port)) throw new Error(`port ${this.port} already has a Redis this test did not start`);
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmpdir()],
      { stdio: 'ignore' },
    );
    this.child = child;
    await until(() => answersPing(this.port), `redis-server on port ${this.port}`, 5000, 50);
  }

  /** Kills exactly the process this object started (SIGKILL: the crash a cache must survive). */
  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    process.kill(child.pid, 'SIGKILL');
    await exited;
    this.child = undefined;
  }
}

/** The rejection of a promise that must reject, and how long it took. */
export async function rejection(promise: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = performance.now();
  try {
    await promise;
  } catch (error) {
    return { error, ms: performance.now() - started };
  }
  throw new Error('expected a rejection');
}
