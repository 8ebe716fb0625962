import type { IncomingMessage, ServerResponse } from 'node:http';
import { toJson, type Json } from './json.js';

/** The `code` of an error response: stable, for clients to branch on. */
export type ErrorCode =
  | 'invalid_field'
  | 'invalid_json'
  | 'bad_request'
  | 'request_timeout'
  | 'headers_too_large'
  | 'not_found'
  | 'method_not_allowed'
  | 'conflict'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'unavailable'
  | 'internal';

/**
 * A request the service answers with an error status. The response body is
 * `{ "error": { "status", "code", "message", "field"? } }`, where `field` names the body field, query
 * parameter or path segment that was wrong.
 */
export class HttpError extends Error {
  readonly status: number;
  readonly code: ErrorCode;
  readonly field: string | undefined;
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, code: ErrorCode, message: string, options: { field?: string; headers?: Record<string, string>; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HttpError';
    this.status = status;
    this.code = code;
    this.field = options.field;
    this.headers = options.headers ?? {};
  }

  /** The JSON body of the response. */
  toBody(): Json {
    const error: { [key: string]: Json } = { status: this.status, code: this.code, message: this.message };
    if (this.field !== undefined) error.field = this.field;
    return { error };
  }
}

/** A 400 naming the field that was wrong. The message should start with the field, as the data layer's do. */
export function invalid(field: string, message: string): HttpError {
  return new HttpError(400, 'invalid_field', message, { field });
}

/** A 404. */
export function notFound(message: string, field?: string): HttpError {
  return new HttpError(404, 'not_found', message, field === undefined ? {} : { field });
}

/** Writes a JSON response; a HEAD request gets the headers only (Node drops the body by itself). */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  const text = JSON.stringify(toJson(body));
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    // Forecasts change with every write: an HTTP cache between client and service would defeat the triggers.
    'cache-control': 'no-store',
  });
  res.end(text);
}

/** Writes a text response with its own content type (the Prometheus exposition format, for one). */
export function sendText(res: ServerResponse, status: number, text: string, contentType: string, headers: Readonly<Record<string, string>> = {}): void {
  res.writeHead(status, { ...headers, 'content-type': contentType, 'content-length': String(Buffer.byteLength(text)), 'cache-control': 'no-store' });
  res.end(text);
}

/**
 * The request body parsed as JSON, or `undefined` when there is none. At most `limit` bytes are read: a
 * larger body is refused with 413 before it is all received (the response then closes the connection, so
 * Node does not read the rest just to discard it).
 *
 * When `signal` aborts (the body deadline passed), the read fails with the signal's reason, an HttpError.
 *
 * A body must be sent as `application/json`. Besides being honest, that makes a cross-site browser request
 * need a CORS preflight, which this service never grants: a web page the user visits cannot post
 * transactions to a service listening on their loopback interface.
 */
export function readJsonBody(req: IncomingMessage, limit: number, signal?: AbortSignal): Promise<unknown> {
  const declared = req.headers['content-length'];
  // Refused unread: the 413 closes the connection, so the rest of the body is never received.
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(tooLarge(limit));
  if (signal?.aborted === true) return Promise.reject(abortReason(signal));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (error: HttpError | undefined, value?: unknown): void => {
      if (done) return;
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
      if (error !== undefined) reject(error);
      else resolve(value);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        // Stop buffering; the caller answers 413 and the connection closes after it.
        req.pause();
        finish(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      if (size === 0) return finish(undefined, undefined);
      const type = req.headers['content-type'] ?? '';
      if (!/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(type)) {
        return finish(
          new HttpError(415, 'unsupported_media_type', `the body must be JSON sent with content-type: application/json, got ${type === '' ? 'no content-type' : JSON.stringify(type)}`),
        );
      }
      try {
        finish(undefined, JSON.parse(Buffer.concat(chunks, size).toString('utf8')));
      } catch (error) {
        finish(new HttpError(400, 'invalid_json', `the body is not valid JSON: ${error instanceof Error ? error.message : String(error)}`, { field: 'body' }));
      }
    };
    const onError = (): void => finish(signal?.aborted === true ? abortReason(signal) : new HttpError(400, 'invalid_json', 'the request body could not be read', { field: 'body' }));
    const onAbort = (): void => {
      req.pause();
      finish(abortReason(signal as AbortSignal));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

function abortReason(signal: AbortSignal): HttpError {
  const reason: unknown = signal.reason;
  return reason instanceof HttpError ? reason : new HttpError(408, 'request_timeout', 'the request body did not arrive in time', { headers: { connection: 'close' } });
}

function tooLarge(limit: number): HttpError {
  return new HttpError(413, 'payload_too_large', `the body is larger than ${limit} bytes`, { headers: { connection: 'close' } });
}

/** The path's segments, percent-decoded (`/users/a%2Fb` → `['users', 'a/b']`); a trailing slash is ignored. */
export function pathSegments(pathname: string): string[] {
  const raw = pathname.split('/').slice(1);
  if (raw.length > 0 && raw[raw.length - 1] === '') raw.pop();
  return raw.map((segment) => {
    try {
      return decodeURIComponent(segment);
    } catch {
      throw invalid('path', `the path segment ${JSON.stringify(segment)} is not valid percent-encoding`);
    }
  });
}
