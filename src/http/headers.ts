// HTTP header rules the response cache applies, apart from the flow in core.ts: Cache-Control parsing, the
// headers a stored copy drops, ETags and the conditional checks that answer 304.
import { createHash } from 'node:crypto';

/** One header line: a lower-case name and its value (a repeated header is several lines). */
export type HeaderLine = readonly [name: string, value: string];

/** Cache-Control directives by lower-case name; a directive without a value maps to `''`. */
export type Directives = ReadonlyMap<string, string>;

const NONE: Directives = new Map();

/** Parses a Cache-Control value (`no-cache, max-age=0`, `s-maxage="60"`). Unknown directives are kept, unread. */
export function parseCacheControl(value: string | undefined): Directives {
  if (value === undefined || value === '') return NONE;
  const out = new Map<string, string>();
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (name === '') continue;
    const raw = eq === -1 ? '' : part.slice(eq + 1).trim();
    out.set(name, raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2 ? raw.slice(1, -1) : raw);
  }
  return out;
}

/** A delta-seconds directive (`max-age=60`) as seconds, or undefined when absent or malformed. */
export function secondsOf(directives: Directives, name: string): number | undefined {
  const raw = directives.get(name);
  if (raw === undefined || !/^\d+$/.test(raw)) return undefined;
  return Number(raw);
}

/**
 * Headers a stored copy never keeps: hop-by-hop ones (RFC 9110 §7.6.1) belong to one connection; `set-cookie`
 * belongs to one client; `date`, `age` and `content-length` are written afresh for every response served.
 */
const DROPPED = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'set-cookie',
  'date',
  'age',
  'content-length',
]);

/** The header lines worth storing: without the dropped ones, those `Connection` names, and `also`. */
export function storableHeaders(lines: readonly HeaderLine[], also: string): HeaderLine[] {
  const listed = new Set<string>();
  for (const [name, value] of lines) {
    if (name === 'connection') for (const token of value.split(',')) listed.add(token.trim().toLowerCase());
  }
  return lines.filter(([name]) => !DROPPED.has(name) && !listed.has(name) && name !== also);
}

/** The first value of `name` in `lines` (names are lower-case). */
export function headerOf(lines: readonly HeaderLine[], name: string): string | undefined {
  for (const [n, v] of lines) if (n === name) return v;
  return undefined;
}

/** The request header names a response varies on (lower-case, deduplicated), `['*']` for `Vary: *`. */
export function varyOf(lines: readonly HeaderLine[]): string[] {
  const names = new Set<string>();
  for (const [name, value] of lines) {
    if (name !== 'vary') continue;
    for (const token of value.split(',')) {
      const header = token.trim().toLowerCase();
      if (header === '*') return ['*'];
      if (header !== '') names.add(header);
    }
  }
  return [...names].sort();
}

/** An ETag computed from the body bytes: a SHA-1 of them, so equal bodies get equal tags on every instance. */
export function etagOf(body: Uint8Array, weak: boolean): string {
  const digest = createHash('sha1').update(body).digest('base64url').slice(0, 27);
  return `${weak ? 'W/' : ''}"${body.byteLength.toString(16)}-${digest}"`;
}

function opaque(tag: string): string {
  const t = tag.trim();
  return t.startsWith('W/') ? t.slice(2) : t;
}

/**
 * Whether the client's copy is still good, so `304 Not Modified` answers (RFC 9110 §13.1): `If-None-Match`
 * by weak comparison when present, else `If-Modified-Since` against `Last-Modified`.
 */
export function notModified(ifNoneMatch: string | undefined, ifModifiedSince: string | undefined, etag: string | undefined, lastModified: string | undefined): boolean {
  if (ifNoneMatch !== undefined) {
    if (ifNoneMatch.trim() === '*') return true;
    if (etag === undefined) return false;
    const ours = opaque(etag);
    return ifNoneMatch.split(',').some((candidate) => opaque(candidate) === ours);
  }
  if (ifModifiedSince === undefined || lastModified === undefined) return false;
  const since = Date.parse(ifModifiedSince);
  const modified = Date.parse(lastModified);
  return Number.isFinite(since) && Number.isFinite(modified) && modified <= since;
}

/** Headers a 304 must not carry: it has no body to describe. */
export function withoutBodyHeaders(lines: readonly HeaderLine[]): HeaderLine[] {
  return lines.filter(([name]) => name !== 'content-type' && name !== 'content-length' && name !== 'content-encoding' && name !== 'content-range');
}

/** Header lines from Node's `getHeaders()`-style record (numbers and arrays allowed). */
export function linesOf(record: Readonly<Record<string, string | number | readonly string[] | undefined>>): HeaderLine[] {
  const lines: HeaderLine[] = [];
  for (const [name, value] of Object.entries(record)) {
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (Array.isArray(value)) for (const v of value as readonly string[]) lines.push([lower, String(v)]);
    else lines.push([lower, String(value)]);
  }
  return lines;
}
