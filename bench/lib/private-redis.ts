// A private redis-server for a benchmark that must read the server's own counters (INFO commandstats) without
// other clients' traffic: started on a free loopback port, without persistence, stopped by its PID. The tests'
// throwaway server restarts on a fixed port; this one only starts and stops, with the same readiness probe.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { redisAnswers } from '../../test/support/redis-server.js';

export interface PrivateRedis {
  readonly port: number;
  readonly url: string;
  readonly pid: number;
  /** SIGKILLs the server by its PID and waits for it to exit. */
  stop(): Promise<void>;
}

/** A TCP port on 127.0.0.1 that nothing listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port assigned'))));
    });
  });
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const pid = child.pid;
  if (pid === undefined) throw new Error('redis-server did not start (is it on PATH?)');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    process.kill(pid, 'SIGKILL');
    await exited;
  };
  const deadline = Date.now() + 5_000;
  while (!(await redisAnswers(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`redis-server on port ${port} did not answer within 5 s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { port, url: `redis://127.0.0.1:${port}`, pid, stop };
}
