import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Emitter } from '../../src/events.js';
import type { SyncTarget } from '../../src/bus/sync.js';

/** A TCP server on a free loopback port that accepts connections and never writes a byte. */
export interface SilentServer {
  readonly port: number;
  readonly url: string;
  /** Connections accepted so far. */
  readonly accepted: number;
  close(): Promise<void>;
}

export async function startSilentServer(): Promise<SilentServer> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get accepted() {
      return accepted;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A loopback port nobody listens on (it was free a moment ago): connections to it are refused. */
export async function refusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A stand-in for the engine that writes down what the bus asked it to do, in order. */
export function recordingTarget(): { calls: string[]; target: SyncTarget } {
  const calls: string[] = [];
  const target: SyncTarget = {
    keys: (keys) => calls.push(`keys:${keys.join(',')}`),
    clear: () => calls.push('clear'),
    namespace: (namespace) => calls.push(`namespace:${namespace}`),
    tags: (tags, stamps) => calls.push(`tags:${tags.join(',')}=${stamps.join(',')}`),
    pattern: (matcher) => calls.push(`pattern:${matcher.pattern}`),
    recover: (reason, origin) => calls.push(origin === undefined ? `recover:${reason}` : `recover:${reason}:${origin}`),
  };
  return { calls, target };
}

/** Everything the emitter reports, by event. */
export function recordingEmitter(): { emitter: Emitter; errors: { error: unknown; operation: string }[]; dropped: { reason: string; origin?: string }[] } {
  const emitter = new Emitter();
  const errors: { error: unknown; operation: string }[] = [];
  const dropped: { reason: string; origin?: string }[] = [];
  emitter.on('error', (e) => errors.push(e));
  emitter.on('dropped', (e) => dropped.push(e));
  return { emitter, errors, dropped };
}

