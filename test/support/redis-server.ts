import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { until } from '../kit/index.js';

/** A throwaway redis-server on a loopback port, that a fault test may stop and start again. */
export interface ThrowawayRedis {
  readonly port: number;
  readonly url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** True when a Redis answers PING on this loopback port. */
export async function redisAnswers(port: number): Promise<boolean> {
  const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 300 });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

export async function startThrowawayRedis(port: number): Promise<ThrowawayRedis> {
  let child: ChildProcess | undefined;
  const start = async () => {
    if (await redisAnswers(port)) throw new Error(`port ${port} is already taken by another Redis`);
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    await until(() => redisAnswers(port), `redis-server on ${port} to start`, 5_000, 50);
  };
  const stop = async () => {
    const running = child;
    if (running === undefined || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGKILL');
    await exited;
    child = undefined;
  };
  await start();
  return { port, url: `redis://127.0.0.1:${port}`, stop, start };
}
