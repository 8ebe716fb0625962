/**
 * Limits on what a client may hold of the service: time to send headers, time to send a body, time to sit
 * idle between requests, the number of open connections, the size of a body. A client that overstays is
 * answered 408 while an answer is still possible, and its connection is closed; the other clients are served.
 *
 * Fastify's options carry most of it: `requestTimeout` (headers and body, from the request's first byte),
 * `keepAliveTimeout`, `bodyLimit` (413, refused unread when the declared length is over), `maxParamLength`,
 * `clientErrorHandler`. What is left here, because Fastify has no option for it:
 * - the headers timeout and how often Node checks it. Node enforces `headersTimeout` by a sweep that runs every
 *   `connectionsCheckingInterval`, 30 s by default: with a 10 s headers timeout, a client dribbling one header
 *   byte a second kept its socket for 30 s or more. Both are passed to Node's server through Fastify's `http`
 *   option, with the sweep at a tenth of the timeout.
 * - `maxConnections`: Node closes extra sockets as they are accepted, before any HTTP parsing (the cheapest
 *   refusal there is during a flood); Fastify does not expose it, nor the `drop` event counted here.
 * - telling a body that came too slowly from headers that did: Node reports both as one request timeout.
 *   The guard knows which requests have their headers in, counts each kind, and answers accordingly.
 * - a JSON error answer written straight to a socket that has no response object (the parser never produced
 *   a request), in the service's error shape.
 */
import { STATUS_CODES, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';
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
   * Time a client has to send a request's body, on top of the headers' time: the whole request must have
   * arrived within `headersTimeoutMs + bodyTimeoutMs` of its first byte. Past it: 408 if no response has
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
  /** Requests whose body did not arrive in time. */
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
 * How often Node's sweep looks for requests past their deadlines: a tenth of the headers timeout, so a slow
 * client is dropped at most 10 % late, and never more often than every 10 ms (the sweep walks every open
 * connection) nor less often than every second.
 */
function sweepInterval(headersTimeoutMs: number): number {
  return Math.min(1_000, Math.max(10, Math.round(headersTimeoutMs / 10)));
}

/** An error response written straight to a socket that has no `ServerResponse`. */
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

/** The Fastify options that carry {@link HttpLimits}. */
export interface GuardedServerOptions {
  http: ServerOptions;
  requestTimeout: number;
  keepAliveTimeout: number;
  bodyLimit: number;
  clientErrorHandler: (error: Error & { code?: string }, socket: Duplex) => void;
}

/**
 * Enforces {@link HttpLimits} on a Fastify server, and counts what it refused: pass {@link fastifyOptions} to
 * Fastify, then {@link attach} its server, and {@link track} each request (an `onRequest` hook).
 */
export class ConnectionGuard {
  readonly limits: HttpLimits;
  readonly #log: Logger;
  /** The request a socket is on now, and its response: a timeout with the headers in is the body's. */
  readonly #current = new WeakMap<Duplex, { req: IncomingMessage; res: ServerResponse }>();
  #open = 0;
  #refused = 0;
  #headersTimeouts = 0;
  #bodyTimeouts = 0;
  #malformed = 0;
  #lastRefusalLog = Number.NEGATIVE_INFINITY;

  constructor(limits: HttpLimits, log: Logger) {
    this.limits = limits;
    this.#log = log;
  }

  fastifyOptions(): GuardedServerOptions {
    const { headersTimeoutMs, bodyTimeoutMs, idleTimeoutMs, maxBodyBytes } = this.limits;
    return {
      http: { headersTimeout: headersTimeoutMs, connectionsCheckingInterval: sweepInterval(headersTimeoutMs) },
      requestTimeout: headersTimeoutMs + bodyTimeoutMs,
      keepAliveTimeout: idleTimeoutMs,
      bodyLimit: maxBodyBytes,
      clientErrorHandler: (error, socket) => this.#onClientError(error, socket),
    };
  }

  attach(server: Server): void {
    server.maxConnections = this.limits.maxConnections;
    server.on('connection', (socket: Duplex) => {
      this.#open++;
      socket.once('close', () => this.#open--);
    });
    server.on('drop', () => this.#onDrop());
  }

  track(req: IncomingMessage, res: ServerResponse): void {
    this.#current.set(req.socket, { req, res });
  }

  /** The counters so far. */
  stats(): ConnectionStats {
    return { open: this.#open, refused: this.#refused, headersTimeouts: this.#headersTimeouts, bodyTimeouts: this.#bodyTimeouts, malformed: this.#malformed };
  }

  #onDrop(): void {
    this.#refused++;
    const now = Date.now();
    if (now - this.#lastRefusalLog < REFUSAL_LOG_EVERY_MS) return;
    this.#lastRefusalLog = now;
    this.#log.warn(`${this.limits.maxConnections} connections open (the limit): refusing new ones; ${this.#refused} refused so far`);
  }

  #failure(code: string | undefined, socket: Duplex): { failure: HttpError; answer: boolean } {
    const current = this.#current.get(socket);
    const bodyPending = current !== undefined && !current.req.complete;
    switch (code) {
      case 'ERR_HTTP_REQUEST_TIMEOUT':
        if (bodyPending) {
          this.#bodyTimeouts++;
          const ms = this.limits.headersTimeoutMs + this.limits.bodyTimeoutMs;
          // A response already started (or sent, for a body nobody reads) cannot be followed by another.
          return { failure: new HttpError(408, 'request_timeout', `the request body did not arrive in time (${ms} ms from the request's first byte)`), answer: !current.res.headersSent };
        }
        this.#headersTimeouts++;
        return { failure: new HttpError(408, 'request_timeout', `the request headers did not arrive within ${this.limits.headersTimeoutMs} ms`), answer: true };
      case 'HPE_HEADER_OVERFLOW':
        this.#malformed++;
        return { failure: new HttpError(431, 'headers_too_large', 'the request headers are too large'), answer: true };
      case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
        this.#malformed++;
        return { failure: new HttpError(413, 'payload_too_large', 'the chunk extensions of the body are too large'), answer: !bodyPending || !current.res.headersSent };
      default:
        this.#malformed++;
        return { failure: new HttpError(400, 'bad_request', 'the request is not valid HTTP/1.1'), answer: !bodyPending || !current.res.headersSent };
    }
  }

  #onClientError(error: Error & { code?: string }, socket: Duplex): void {
    // A reset is the client leaving: nothing to count, nobody to answer.
    if (error.code === 'ECONNRESET') return void socket.destroy();
    const { failure, answer } = this.#failure(error.code, socket);
    this.#log.debug(`connection closed: ${failure.status} ${failure.message}`);
    if (!answer || !socket.writable) return void socket.destroy();
    // The client may never read or close its side: the socket goes once the answer is flushed, or soon anyway.
    const limit = setTimeout(() => socket.destroy(), FLUSH_LIMIT_MS);
    limit.unref();
    socket.end(rawResponse(failure), () => {
      clearTimeout(limit);
      socket.destroy();
    });
  }
}
