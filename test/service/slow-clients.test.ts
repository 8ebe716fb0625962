// Slow and greedy clients against the real service over real sockets: each is dropped on its deadline and
// the others are still answered. Timeouts are a few hundred milliseconds so the file runs in seconds; the
// bounds asserted on them are loose on purpose (a loaded machine is late, never early).
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, configFromEnv } from '../../src/service/config.js';
import { resolveHttpLimits } from '../../src/service/connection-guard.js';
import type { OpenedService } from '../../src/service/service.js';
import { call, startInProcess, tempDir, until, type ErrorBody } from './helpers.js';

const HEADERS_MS = 300;
const BODY_MS = 400;
const IDLE_MS = 300;
const CAP = 8;
/** How late a deadline may be met on a busy machine before the test calls it missed. */
const LATE_MS = 2_500;

/** A socket that remembers what it received and when it closed. */
interface RawClient {
  readonly socket: Socket;
  readonly opened: number;
  received(): string;
  /** Milliseconds from the connection to its close. */
  readonly closed: Promise<number>;
}

function openRaw(port: number): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    const opened = performance.now();
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    // A refused or reset connection is a close like any other here; the test looks at what arrived.
    socket.on('error', () => undefined);
    const closed = new Promise<number>((done) => socket.once('close', () => done(performance.now() - opened)));
    socket.once('connect', () => resolve({ socket, opened, received: () => text, closed }));
    socket.once('error', reject);
  });
}

/** Writes `text` one byte every `everyMs` until it is all sent or the socket closes. */
function drip(client: RawClient, text: string, everyMs: number): void {
  let at = 0;
  const timer = setInterval(() => {
    if (client.socket.destroyed || at >= text.length) return clearInterval(timer);
    client.socket.write(text.charAt(at++));
  }, everyMs);
  void client.closed.then(() => clearInterval(timer));
}

/** Status and JSON body of the first response in `text`. */
function firstResponse(text: string): { status: number; body: ErrorBody | undefined } {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
  const start = text.indexOf('\r\n\r\n');
  const length = Number(/content-length: (\d+)/i.exec(text)?.[1] ?? 0);
  let body: ErrorBody | undefined;
  try {
    body = start < 0 ? undefined : (JSON.parse(text.slice(start + 4, start + 4 + length)) as ErrorBody);
  } catch {
    body = undefined;
  }
  return { status, body };
}

/** One full request on its own connection (`connection: close`), read to the end. */
async function rawRequest(port: number, request: string): Promise<{ status: number; body: ErrorBody | undefined; ms: number }> {
  const client = await openRaw(port);
  client.socket.write(request);
  const ms = await client.closed;
  return { ...firstResponse(client.received()), ms };
}

const SLOW_HEADERS = 'GET /health HTTP/1.1\r\nHost: localhost\r\nX-Padding: ' + 'a'.repeat(500) + '\r\n\r\n';

function portOf(url: string): number {
  return Number(new URL(url).port);
}

describe('slow clients are dropped on their deadlines', () => {
  const temp = tempDir('slow');
  let service: OpenedService;
  let url: string;
  let port: number;

  beforeAll(async () => {
    ({ service, url } = await startInProcess(temp.dir, {
      HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_MS),
      HTTP_BODY_TIMEOUT_MS: String(BODY_MS),
      HTTP_IDLE_TIMEOUT_MS: String(IDLE_MS),
      HTTP_MAX_CONNECTIONS: String(CAP),
      FORECAST_WARM_CRON: 'off',
    }));
    port = portOf(url);
  });
  afterAll(async () => {
    await service?.close();
    temp.cleanup();
  });

  it('drops a client that sends its headers one byte at a time, with a 408, after the headers timeout', async () => {
    const client = await openRaw(port);
    drip(client, SLOW_HEADERS, 20);
    const closedAfter = await client.closed;
    // Still sending when dropped: activity does not extend the deadline.
    expect(closedAfter).toBeGreaterThanOrEqual(HEADERS_MS * 0.9);
    expect(closedAfter).toBeLessThan(HEADERS_MS + LATE_MS);
    const reply = firstResponse(client.received());
    expect(reply.status).toBe(408);
    expect(reply.body?.error.code).toBe('request_timeout');
    expect(reply.body?.error.message).toContain(`${HEADERS_MS} ms`);
  });

  it('drops a client that connects and sends nothing', async () => {
    const client = await openRaw(port);
    const closedAfter = await client.closed;
    expect(closedAfter).toBeGreaterThanOrEqual(HEADERS_MS * 0.9);
    expect(closedAfter).toBeLessThan(HEADERS_MS + LATE_MS);
    expect(firstResponse(client.received()).status).toBe(408);
  });

  it('times the headers of a second request on a kept-alive connection too', async () => {
    const client = await openRaw(port);
    client.socket.write('GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await until(() => Promise.resolve(client.received().includes('"status"')), 'the first response');
    const secondStarted = performance.now() - client.opened;
    drip(client, SLOW_HEADERS, 20);
    const closedAfter = (await client.closed) - secondStarted;
    expect(closedAfter).toBeLessThan(HEADERS_MS + LATE_MS);
    expect(client.received()).toMatch(/^HTTP\/1\.1 200 [\s\S]*HTTP\/1\.1 408 /);
  });

  it('drops a client that sends its body one byte at a time, with a 408, after the body timeout', async () => {
    const client = await openRaw(port);
    const body = JSON.stringify({ date: '2025-12-31', amount: '1.00', type: 'expense', category: 'slow', description: 'x'.repeat(200) });
    client.socket.write(
      `POST /users/user_1/transactions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`,
    );
    drip(client, body, 20);
    const closedAfter = await client.closed;
    expect(closedAfter).toBeGreaterThanOrEqual(BODY_MS * 0.9);
    expect(closedAfter).toBeLessThan(BODY_MS + LATE_MS);
    const reply = firstResponse(client.received());
    expect(reply.status).toBe(408);
    expect(reply.body?.error.code).toBe('request_timeout');
    expect(reply.body?.error.message).toContain('body');
    // Nothing half-received was written.
    const listed = await call<{ transactions: { category: string }[] }>(url, 'GET', '/users/user_1/transactions');
    expect(listed.body.transactions.some((t) => t.category === 'slow')).toBe(false);
  });

  it('closes the connection of a slow body nobody reads, after its response', async () => {
    const client = await openRaw(port);
    client.socket.write('GET /users HTTP/1.1\r\nHost: localhost\r\nContent-Length: 500\r\n\r\n');
    drip(client, 'x'.repeat(500), 20);
    await until(() => Promise.resolve(client.received().startsWith('HTTP/1.1 200')), 'the response');
    const closedAfter = await client.closed;
    expect(closedAfter).toBeGreaterThanOrEqual(BODY_MS * 0.9);
    expect(closedAfter).toBeLessThan(BODY_MS + LATE_MS);
  });

  it('closes a kept-alive connection that sits idle', async () => {
    const client = await openRaw(port);
    client.socket.write('GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await until(() => Promise.resolve(client.received().includes('"status"')), 'the response');
    const answered = performance.now() - client.opened;
    const idleFor = (await client.closed) - answered;
    // Node closes an idle connection up to a second after its keep-alive timeout.
    expect(idleFor).toBeGreaterThanOrEqual(IDLE_MS * 0.9);
    expect(idleFor).toBeLessThan(IDLE_MS + 1_000 + LATE_MS);
    expect(client.received().match(/HTTP\/1\.1/g)).toHaveLength(1);
  });

  it('answers a request that is not HTTP with a 400, not a 500', async () => {
    const reply = await rawRequest(port, 'HELLO THERE\r\n\r\n');
    expect(reply.status).toBe(400);
    expect(reply.body?.error.code).toBe('bad_request');
  });
});

describe('the connection cap', () => {
  const temp = tempDir('slow-cap');
  let service: OpenedService;
  let port: number;
  // Long enough that no held connection times out while the cap is tested.
  const CAP_HEADERS_MS = 10_000;

  beforeAll(async () => {
    let url: string;
    ({ service, url } = await startInProcess(temp.dir, { HTTP_MAX_CONNECTIONS: String(CAP), HTTP_HEADERS_TIMEOUT_MS: String(CAP_HEADERS_MS), FORECAST_WARM_CRON: 'off' }));
    port = portOf(url);
  });
  afterAll(async () => {
    await service?.close();
    temp.cleanup();
  });

  it('refuses connections beyond the cap and keeps answering the connections it holds', async () => {
    const served = await openRaw(port);
    served.socket.write('GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await until(() => Promise.resolve(served.received().includes('"status"')), 'the first response');
    // The held connections never finish their headers; the cap is what is measured, not the timeout.
    const held = await Promise.all(Array.from({ length: CAP - 1 }, () => openRaw(port)));
    for (const client of held) drip(client, SLOW_HEADERS, 50);
    const extra = await Promise.all(Array.from({ length: 3 }, () => openRaw(port)));
    for (const client of extra) client.socket.write('GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n');
    const extraClosed = await Promise.all(extra.map((client) => client.closed));
    // Refused at once: long before any timeout, with nothing said.
    for (const ms of extraClosed) expect(ms).toBeLessThan(LATE_MS);
    expect(extra.map((client) => client.received())).toEqual(['', '', '']);
    // The connection held before the cap was reached is still served.
    served.socket.write('GET /stats HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await until(() => Promise.resolve(/"refused":\d+/.test(served.received())), 'the stats response');
    expect(firstResponse(served.received()).status).toBe(200);
    expect(Number(/"refused":(\d+)/.exec(served.received())?.[1])).toBeGreaterThanOrEqual(3);
    served.socket.destroy();
    for (const client of held) client.socket.destroy();
    await Promise.all(held.map((client) => client.closed));
    // Once the slow clients are gone, new clients are served again.
    expect((await rawRequest(port, 'GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')).status).toBe(200);
  });
});

describe('normal clients while slow clients are connected', () => {
  const temp = tempDir('slow-many');
  let service: OpenedService;
  let url: string;

  beforeAll(async () => {
    ({ service, url } = await startInProcess(temp.dir, { HTTP_HEADERS_TIMEOUT_MS: '10000', FORECAST_WARM_CRON: 'off' }));
  });
  afterAll(async () => {
    await service?.close();
    temp.cleanup();
  });

  it('answers forecast reads quickly with 50 slow clients holding connections', async () => {
    const port = portOf(url);
    const slow = await Promise.all(Array.from({ length: 50 }, () => openRaw(port)));
    for (const client of slow) drip(client, SLOW_HEADERS, 100);
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      const reply = await call(url, 'GET', `/users/user_${1 + (i % 3)}/forecasts/balance?horizon=${30 + (i % 5)}d`);
      times.push(performance.now() - started);
      expect(reply.status).toBe(200);
    }
    expect(slow.every((client) => !client.socket.destroyed)).toBe(true);
    times.sort((a, b) => a - b);
    // A computed forecast takes milliseconds here; a second is the "something is blocked" line.
    expect(times[times.length - 1]).toBeLessThan(1_000);
    for (const client of slow) client.socket.destroy();
  });
});

describe('limit settings', () => {
  it('reads each limit from the environment, with defaults', () => {
    expect(configFromEnv({}).http).toEqual({ headersTimeoutMs: 10_000, bodyTimeoutMs: 30_000, idleTimeoutMs: 5_000, maxConnections: 1_024, maxBodyBytes: 65_536 });
    expect(
      configFromEnv({ HTTP_HEADERS_TIMEOUT_MS: '200', HTTP_BODY_TIMEOUT_MS: '300', HTTP_IDLE_TIMEOUT_MS: '400', HTTP_MAX_CONNECTIONS: '5', HTTP_MAX_BODY_BYTES: '100' }).http,
    ).toEqual({ headersTimeoutMs: 200, bodyTimeoutMs: 300, idleTimeoutMs: 400, maxConnections: 5, maxBodyBytes: 100 });
  });

  it.each([
    ['HTTP_HEADERS_TIMEOUT_MS', 'soon'],
    ['HTTP_BODY_TIMEOUT_MS', '0'],
    ['HTTP_IDLE_TIMEOUT_MS', '-5'],
    ['HTTP_MAX_CONNECTIONS', '1.5'],
    ['HTTP_MAX_BODY_BYTES', '999999999999'],
  ])('refuses %s=%s by name', (variable, value) => {
    expect(() => configFromEnv({ [variable]: value })).toThrow(ConfigError);
    expect(() => configFromEnv({ [variable]: value })).toThrow(new RegExp(`^${variable} must`));
  });

  it('refuses a limit option that is not a positive integer, naming it', () => {
    expect(() => resolveHttpLimits({ bodyTimeoutMs: 0 })).toThrow(new TypeError('bodyTimeoutMs must be a positive integer, got 0'));
    expect(() => resolveHttpLimits({ maxConnections: Number.NaN })).toThrow(/^maxConnections/);
  });
});
