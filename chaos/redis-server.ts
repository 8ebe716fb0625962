// A redis-server of the scenario's own, on a free loopback port, that it may kill, freeze and restart. The
// shared server on 6379 is never touched: only this child, by its PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { redisAnswers as answers } from '../test/support/redis-server.js';
import { freePort, waitFor } from './lib.js';

export interface PrivateRedis {
  readonly port: number;
  readonly url: string;
  /** PID of the running server, undefined while it is down. */
  readonly pid: number | undefined;
  /** SIGKILL: connections drop at once and the data is gone (nothing is saved). */
  kill(): Promise<void>;
  /** SIGSTOP: connections stay open and nothing answers, as a hung server does. */
  freeze(): void;
  /** SIGCONT after `freeze`. */
  thaw(): void;
  /** Starts the server again on the same port after `kill`. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}


export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  let frozen = false;
  const launch = async () => {
    const started = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    child = started;
    started.once('error', () => undefined);
    // A server left behind by a run that died (or a test the runner abandoned) would outlive it: not so.
    const orphan = (): void => {
      started.kill('SIGKILL');
    };
    process.once('exit', orphan);
    started.once('exit', () => process.off('exit', orphan));
    if (!(await waitFor(() => answers(port), 5_000, 50))) throw new Error(`redis-server on port ${port} did not start`);
  };
  const kill = async () => {
    const running = child;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGKILL');
    await exited;
    child = undefined;
    frozen = false;
  };
  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return child?.pid;
    },
    kill,
    freeze() {
      if (child !== undefined && !frozen) {
        child.kill('SIGSTOP');
        frozen = true;
      }
    },
    thaw() {
      if (child !== undefined && frozen) {
        child.kill('SIGCONT');
        frozen = false;
      }
    },
    restart: launch,
    stop: kill,
  };
}
