import { DuplicateRecordError, RecordNotFoundError } from '../forecast/data/errors.js';
import type { Json } from './json.js';

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

/** The response a failure becomes: what the handler threw when it is one, else 404, 409 or 500. */
export function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof RecordNotFoundError) return new HttpError(404, 'not_found', error.message, { field: error.field, cause: error });
  if (error instanceof DuplicateRecordError) return new HttpError(409, 'conflict', error.message, { field: 'id', cause: error });
  return new HttpError(500, 'internal', 'the service failed to answer this request; the log says why', { cause: error });
}

/** A 404. */
export function notFound(message: string, field?: string): HttpError {
  return new HttpError(404, 'not_found', message, field === undefined ? {} : { field });
}
