/**
 * Limits on what a client may hold of the service: time to send headers, time to send a body, time to sit
 * idle between requests, the number of open connections, the size of a body. A client that overstays is
 * answered 408 while an answer is still possible, and its connection is closed; the other clients are served.
 *
 * What Node 20 does by itself, measured with real sockets, and why this module exists:
 * - `server.headersTimeout` is enforced by a sweep that runs every `connectionsCheckingInterval`, 30 s by
 *   default: with a 10 s headers timeout, a client dribbling one header byte a second kept its socket for
 *   30 s or more. The sweep itself is sound (it times each request from its first byte, covers a connection
 *   that sends nothing, and leaves idle keep-alive connections alone), so the guard keeps it and runs it
 *   often enough for the timeout to mean what it says.
 * - `server.requestTimeout` times headers and body together, from the request's first byte, on the same
 *   sweep. A body deadline that starts when the headers are complete cannot be expressed with it, so the
 *   guard turns it off and times each body itself.
 * - `server.keepAliveTimeout` closes an idle connection one second later than configured (Node adds a
 *   fixed margin so a client that reuses the connection at the advertised deadline does not race the close).
 * - `server.maxConnections` closes extra sockets as they are accepted, before any HTTP parsing: the
 *   cheapest refusal there is during a flood.
 */
import { STATUS_CODES, createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { HttpError } from './http.js';
import type { Logger } from './logger.js';

/** What the service lets one client hold. Durations are milliseconds. */
export interface HttpLimits {
  /**
   * Time a client has to send a request's headers, counted from the request's first byte (or, for the first
   * request, from the connection). Past it: 408, connection closed.
   * @default 10_000
   */
  headersTimeoutMs: number;
  /**
   * Time a client has to send a request's body once its headers are in. Past it: 408 if no response has
   * started, connection closed either way. The time the service takes to answer is not counted.
   * @default 30_000
   */
  bodyTimeoutMs: number;
  /**
   * Time a keep-alive connection may sit with no request before the service closes it. Node closes it up to
   * one second later than this.
   * @default 5_000
   */
  idleTimeoutMs: number;
  /** Open connections at most; the next ones are closed as soon as they are accepted. @default 1024 */
  maxConnections: number;
  /** Largest request body, in bytes; a larger one is answered 413 before it is all received. @default 65_536 */
  maxBodyBytes: number;
}

/** The limits the service runs with when none are given. */
export const DEFAULT_HTTP_LIMITS: Readonly<HttpLimits> = Object.freeze({
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 30_000,
  idleTimeoutMs: 5_000,
  maxConnections: 1_024,
  maxBodyBytes: 64 * 1024,
});

/** What the guard has seen since the server started, for `GET /stats`. */
export interface ConnectionStats {
  /** Connections open now. */
  open: number;
  /** Connections closed on accept because `maxConnections` were open. */
  refused: number;
  /** Connections closed because their headers did not arrive within `headersTimeoutMs`. */
  headersTimeouts: number;
  /** Requests whose body did not arrive within `bodyTimeoutMs`. */
  bodyTimeouts: number;
  /** Connections closed because what the client sent was not HTTP the parser accepts (400, 413, 431). */
  malformed: number;
}

/**
 * The limits with defaults filled in. Throws a `TypeError` naming the option that is not a positive integer.
 *
 * @example
 * resolveHttpLimits({ headersTimeoutMs: 2_000 }); // the other limits at their defaults
 */
export function resolveHttpLimits(options: Partial<HttpLimits> = {}): HttpLimits {
  const {
    headersTimeoutMs = DEFAULT_HTTP_LIMITS.headersTimeoutMs,
    bodyTimeoutMs = DEFAULT_HTTP_LIMITS.bodyTimeoutMs,
    idleTimeoutMs = DEFAULT_HTTP_LIMITS.idleTimeoutMs,
    maxConnections = DEFAULT_HTTP_LIMITS.maxConnections,
    maxBodyBytes = DEFAULT_HTTP_LIMITS.maxBodyBytes,
  } = options;
  const limits: HttpLimits = { headersTimeoutMs, bodyTimeoutMs, idleTimeoutMs, maxConnections, maxBodyBytes };
  for (const [name, value] of Object.entries(limits)) {
    // Zero would mean "no limit" to Node for the timeouts, the opposite of what a caller writing 0 might expect.
    if (!Number.isSafeInteger(value) || value <= 0) throw new TypeError(`${name} must be a positive integer, got ${String(value)}`);
  }
  return limits;
}

/**
 * How often Node's sweep looks for requests past their headers deadline: a tenth of the timeout, so a slow
 * client is dropped at most 10 % late, and never more often than every 10 ms (the sweep walks every open
 * connection) nor less often than every second.
 */
function sweepInterval(headersTimeoutMs: number): number {
  return Math.min(1_000, Math.max(10, Math.round(headersTimeoutMs / 10)));
}

/** The response to a client whose request cannot be parsed or did not arrive in time, by Node's error code. */
function clientFailure(code: string | undefined, limits: HttpLimits): HttpError {
  switch (code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new HttpError(408, 'request_timeout', `the request headers did not arrive within ${limits.headersTimeoutMs} ms`);
    case 'HPE_HEADER_OVERFLOW':
      return new HttpError(431, 'headers_too_large', 'the request headers are too large');
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return new HttpError(413, 'payload_too_large', 'the chunk extensions of the body are too large');
    default:
      return new HttpError(400, 'bad_request', 'the request is not valid HTTP/1.1');
  }
}

/** An error response written straight to a socket that has no `ServerResponse` (the parser never produced a request). */
function rawResponse(failure: HttpError): string {
  const body = JSON.stringify(failure.toBody());
  return (
    `HTTP/1.1 ${failure.status} ${STATUS_CODES[failure.status] ?? ''}\r\n` +
    'content-type: application/json; charset=utf-8\r\n' +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    'cache-control: no-store\r\n' +
    'connection: close\r\n\r\n' +
    body
  );
}

/** How long a closing socket may take to flush its last response before it is destroyed regardless. */
const FLUSH_LIMIT_MS = 1_000;
/** Refusals are logged at most this often: a flood must not become a flood of log lines. */
const REFUSAL_LOG_EVERY_MS = 10_000;

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * A `node:http` server that enforces {@link HttpLimits}, and counts what it refused. The request listener
 * must call {@link ConnectionGuard.watch} for each request and read bodies with the signal it returns.
 */
export class ConnectionGuard {
  readonly server: Server;
  readonly limits: HttpLimits;
  readonly #log: Logger;
  /** Responses started and not yet closed, by socket: an error must not be written into the middle of one. */
  readonly #responding = new WeakMap<Duplex, number>();
  #open = 0;
  #refused = 0;
  #headersTimeouts = 0;
  #bodyTimeouts = 0;
  #malformed = 0;
  #lastRefusalLog = Number.NEGATIVE_INFINITY;

  constructor(listener: RequestListener, limits: HttpLimits, log: Logger) {
    this.limits = limits;
    this.#log = log;
    this.server = createServer(
      {
        headersTimeout: limits.headersTimeoutMs,
        requestTimeout: 0,
        keepAliveTimeout: limits.idleTimeoutMs,
        connectionsCheckingInterval: sweepInterval(limits.headersTimeoutMs),
      },
      listener,
    );
    this.server.maxConnections = limits.maxConnections;
    this.server.on('connection', (socket: Duplex) => {
      this.#open++;
      socket.once('close', () => this.#open--);
    });
    this.server.on('drop', () => this.#onDrop());
    this.server.on('clientError', (error: Error & { code?: string }, socket: Duplex) => this.#onClientError(error, socket));
  }

  /** The counters so far. */
  stats(): ConnectionStats {
    return { open: this.#open, refused: this.#refused, headersTimeouts: this.#headersTimeouts, bodyTimeouts: this.#bodyTimeouts, malformed: this.#malformed };
  }

  /**
   * Starts the body deadline of a request that has one. The signal it returns aborts, with a 408
   * {@link HttpError} as its reason, when the body has not all arrived in time; undefined for a request
   * without a body. Whether or not the handler reads the body, the connection is closed after the deadline
   * (once the response, if one is being written, has gone).
   */
  watch(req: IncomingMessage, res: ServerResponse): AbortSignal | undefined {
    const socket = req.socket;
    this.#responding.set(socket, (this.#responding.get(socket) ?? 0) + 1);
    res.once('close', () => this.#responding.set(socket, (this.#responding.get(socket) ?? 1) - 1));
    if (!hasBody(req)) return undefined;
    const controller = new AbortController();
    const ms = this.limits.bodyTimeoutMs;
    const timer = setTimeout(() => {
      if (req.complete || socket.destroyed) return;
      this.#bodyTimeouts++;
      this.#log.debug(`${req.method ?? '?'} ${req.url ?? ''}: the body did not arrive within ${ms} ms; closing the connection`);
      controller.abort(new HttpError(408, 'request_timeout', `the request body did not arrive within ${ms} ms`, { headers: { connection: 'close' } }));
      if (res.headersSent) socket.destroy();
      else res.once('finish', () => socket.destroy());
    }, ms);
    timer.unref();
    const stop = (): void => clearTimeout(timer);
    req.once('end', stop);
    req.once('close', stop);
    return controller.signal;
  }

  #onDrop(): void {
    this.#refused++;
    const now = Date.now();
    if (now - this.#lastRefusalLog < REFUSAL_LOG_EVERY_MS) return;
    this.#lastRefusalLog = now;
    this.#log.warn(`${this.limits.maxConnections} connections open (the limit): refusing new ones; ${this.#refused} refused so far`);
  }

  #onClientError(error: Error & { code?: string }, socket: Duplex): void {
    const code = error.code;
    // A reset is the client leaving: nothing to count, nobody to answer.
    if (code === 'ECONNRESET') return void socket.destroy();
    if (code === 'ERR_HTTP_REQUEST_TIMEOUT') this.#headersTimeouts++;
    else this.#malformed++;
    const failure = clientFailure(code, this.limits);
    this.#log.debug(`connection closed: ${failure.status} ${failure.message}`);
    if (!socket.writable || (this.#responding.get(socket) ?? 0) > 0) return void socket.destroy();
    // The client may never read or close its side: the socket goes once the answer is flushed, or soon anyway.
    const limit = setTimeout(() => socket.destroy(), FLUSH_LIMIT_MS);
    limit.unref();
    socket.end(rawResponse(failure), () => {
      clearTimeout(limit);
      socket.destroy();
    });
  }
}
