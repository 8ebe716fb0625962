import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** A refusal the handler answers with `{ error: { status, code, message } }`. */
export class DashboardHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Headers the error response carries besides its body (`retry-after`, say). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'DashboardHttpError';
  }
}

/** Largest action body: actions are a few fields. */
const MAX_BODY_BYTES = 16 * 1024;

export const JSON_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
} as const;

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...JSON_HEADERS, 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, error: DashboardHttpError, headers: Record<string, string> = {}): void {
  sendJson(res, error.status, { error: { status: error.status, code: error.code, message: error.message } }, headers);
}

/** The bearer token of the request, if it sent one. */
export function bearerOf(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/**
 * True when the request carries the token. Both sides are hashed first so the comparison takes the same time
 * whatever the length or the first differing byte of what was sent.
 */
export function carriesToken(req: IncomingMessage, token: string | undefined): boolean {
  if (token === undefined) return false;
  const sent = bearerOf(req);
  if (sent === undefined) return false;
  const a = createHash('sha256').update(sent).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

/** The JSON object an action was sent with: refuses other content types (a form post cannot be forged into one), large bodies and non-objects. */
export async function readJsonObject(req: IncomingMessage): Promise<Record<string, unknown>> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) throw new DashboardHttpError(415, 'unsupported_media_type', 'actions take a JSON body: send content-type: application/json');
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) throw new DashboardHttpError(413, 'payload_too_large', `an action body is at most ${MAX_BODY_BYTES} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new DashboardHttpError(413, 'payload_too_large', `an action body is at most ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new DashboardHttpError(400, 'invalid_json', 'the body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new DashboardHttpError(400, 'invalid_body', 'the body must be a JSON object');
  return parsed as Record<string, unknown>;
}

export function stringField(body: Record<string, unknown>, name: string, required: boolean): string | undefined {
  const value = body[name];
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'string' || value.length === 0) throw new DashboardHttpError(400, 'invalid_field', `${name} must be a non-empty string`);
  return value;
}

export function stringListField(body: Record<string, unknown>, name: string): string[] | undefined {
  const value = body[name];
  if (value === undefined) return undefined;
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0 || list.length > 1_000 || !list.every((v) => typeof v === 'string' && v.length > 0)) {
    throw new DashboardHttpError(400, 'invalid_field', `${name} must be a non-empty string or a list of 1 to 1000 of them`);
  }
  return list as string[];
}
