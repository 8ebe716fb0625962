import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Installs (when missing) and starts the suite's memcached on 127.0.0.1:11211; does nothing when it already answers. */
export function ensureMemcached(): void {
  const result = spawnSync('bash', [path.join(root, 'scripts/memcached.sh'), 'start'], { encoding: 'utf8', timeout: 600_000 });
  if (result.status !== 0) {
    throw new Error(`scripts/memcached.sh start failed (${String(result.status)}):\n${result.stdout}\n${result.stderr}`);
  }
}

/** True when a memcached answers `version` on the port. */
export async function answers(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, host);
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('version\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('VERSION'));
    });
  });
}

/**
 * Starts a memcached of our own in the foreground (so the child's PID is memcached's), on loopback, with the
 * server's default 1 MiB item size. Resolves once it answers.
 */
export async function startMemcached(port: number): Promise<ChildProcess> {
  const asRoot = process.getuid?.() === 0;
  const user = asRoot ? ['-u', spawnSync('id', ['memcache']).status === 0 ? 'memcache' : 'root'] : [];
  const child = spawn('memcached', ['-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', '16', ...user], { stdio: 'ignore' });
  const exited = once(child, 'exit');
  for (let i = 0; i < 100; i++) {
    if (await answers(port)) return child;
    const early = await Promise.race([exited.then(() => true), sleep(50).then(() => false)]);
    if (early) throw new Error(`memcached on port ${port} exited at start (${String(child.exitCode)})`);
  }
  await stopProcess(child);
  throw new Error(`memcached on port ${port} did not answer within 5 s`);
}

/** Kills exactly this child (by its PID) and waits until it is gone. */
export async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = once(child, 'exit');
  process.kill(child.pid, signal);
  await exited;
}

/** A loopback port with nothing listening on it (free a moment ago). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  server.close();
  await once(server, 'close');
  return address.port;
}

/** A server that accepts connections and never answers: the network hangs, nothing refuses. */
export async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    async close() {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
