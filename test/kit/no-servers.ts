// Setup file of the server-free unit run (test/kit/unit.config.ts): any TCP or socket connection to something
// this test process did not open itself fails the test that tried it, naming the address, so a test that
// needs Redis, PostgreSQL or Memcached cannot slip into `npm run test:unit` and pass by luck (or hang).
// Loopback servers a test starts in-process (a silent peer, a refused port it probed) stay allowed.
import net from 'node:net';
import { afterEach } from 'vitest';

const ownPorts = new Set<number>();
const ownPaths = new Set<string>();
const attempts: string[] = [];

// Replaced in place, and called with the right receiver below.
// eslint-disable-next-line @typescript-eslint/unbound-method
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]) {
  // Prepended, so the port is known before a caller's own 'listening' callback can close the server again.
  this.prependOnceListener('listening', () => {
    const address = this.address();
    if (typeof address === 'string') ownPaths.add(address);
    else if (address !== null) ownPorts.add(address.port);
  });
  return (listen as (...a: unknown[]) => net.Server).apply(this, args);
} as typeof listen;

/** Where a `socket.connect(...)` call is going, for the forms Node accepts. */
function target(args: unknown[]): { port?: number; path?: string; host: string } {
  let [first, second] = args;
  // net.connect passes its normalized [options, callback] pair as one array.
  if (Array.isArray(first)) [first, second] = first as unknown[];
  if (typeof first === 'object' && first !== null) {
    // http passes its request options through, with `path: null` for a TCP connection.
    const options = first as { port?: number | string; path?: string | null; host?: string | null };
    if (typeof options.path === 'string' && options.path !== '') return { path: options.path, host: 'local socket' };
    return { port: Number(options.port), host: options.host ?? 'localhost' };
  }
  if (typeof first === 'string' && Number.isNaN(Number(first))) return { path: first, host: 'local socket' };
  return { port: Number(first), host: typeof second === 'string' ? second : 'localhost' };
}

// eslint-disable-next-line @typescript-eslint/unbound-method
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
  const to = target(args);
  const own = to.path !== undefined ? ownPaths.has(to.path) : to.port !== undefined && ownPorts.has(to.port);
  if (!own) {
    const where = to.path ?? `${to.host}:${String(to.port)}`;
    attempts.push(where);
    throw new Error(`unit tests reach no server, but a connection to ${where} was attempted: move this test out of the unit set (test/kit/unit.config.ts) or mark it serverIt`);
  }
  return (connect as (...a: unknown[]) => net.Socket).apply(this, args);
};

// A client library may swallow the throw and retry; the test still fails here, by name.
afterEach(() => {
  if (attempts.length === 0) return;
  const seen = [...new Set(attempts.splice(0))].join(', ');
  throw new Error(`this test tried to reach a server (${seen}); unit tests need none`);
});
