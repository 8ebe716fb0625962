// Request dispatch: the route a method and path select, with its path parameters and checked query.
import type { IncomingMessage } from 'node:http';
import { DuplicateRecordError, RecordNotFoundError } from '../../forecast/data/errors.js';
import { HttpError, invalid, notFound, pathSegments, readJsonBody } from '../http.js';
import type { Reply, Route } from './route.js';

interface CompiledRoute extends Route {
  readonly segments: readonly string[];
}

/** The path parameters when `path` fits the route's segments, else undefined. */
function match(route: readonly string[], path: readonly string[]): Record<string, string> | undefined {
  if (route.length !== path.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < route.length; i++) {
    const expected = route[i] as string;
    const actual = path[i] as string;
    if (expected.startsWith(':')) {
      if (actual === '') return undefined;
      params[expected.slice(1)] = actual;
    } else if (expected !== actual) {
      return undefined;
    }
  }
  return params;
}

/** The query as a map, refusing parameters the route does not read and parameters given twice. */
function readQuery(search: URLSearchParams, allowed: readonly string[]): Map<string, string> {
  const query = new Map<string, string>();
  for (const [name, value] of search) {
    if (!allowed.includes(name)) {
      throw invalid(name, allowed.length === 0 ? `${name}: this endpoint takes no query parameters` : `${name} is not a parameter of this endpoint; it takes ${allowed.join(', ')}`);
    }
    if (query.has(name)) throw invalid(name, `${name} is given more than once`);
    query.set(name, value);
  }
  return query;
}

/** The response a failure becomes: what the handler threw when it is one, else 404, 409 or 500. */
export function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof RecordNotFoundError) return new HttpError(404, 'not_found', error.message, { field: error.field, cause: error });
  if (error instanceof DuplicateRecordError) return new HttpError(409, 'conflict', error.message, { field: 'id', cause: error });
  return new HttpError(500, 'internal', 'the service failed to answer this request; the log says why', { cause: error });
}

export class Router {
  readonly #routes: readonly CompiledRoute[];
  readonly #maxBody: number;

  constructor(routes: readonly Route[], maxBody: number) {
    this.#routes = routes.map((route) => ({ ...route, segments: pathSegments(route.path) }));
    this.#maxBody = maxBody;
  }

  /** Method, path and summary of each route, in table order (what `GET /` lists). */
  endpoints(): { method: string; path: string; summary: string }[] {
    return this.#routes.map(({ method, path, summary }) => ({ method, path, summary }));
  }

  async dispatch(req: IncomingMessage, label: string, bodyDeadline: AbortSignal | undefined): Promise<Reply> {
    let url: URL;
    const target = req.url ?? '/';
    try {
      // Appended rather than resolved: resolving would read `//host/path` as another host's URL.
      url = target.startsWith('/') ? new URL(`http://service.invalid${target}`) : new URL(target);
    } catch {
      throw invalid('path', `the request target ${JSON.stringify(req.url)} is not a valid path`);
    }
    const segments = pathSegments(url.pathname);
    // HEAD is GET without the body (Node leaves the body out by itself).
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    const allowed: string[] = [];
    for (const route of this.#routes) {
      const params = match(route.segments, segments);
      if (params === undefined) continue;
      if (route.method !== method) {
        allowed.push(route.method);
        continue;
      }
      const query = readQuery(url.searchParams, route.query ?? []);
      return route.handle({ params, query, label, body: () => readJsonBody(req, this.#maxBody, bodyDeadline) });
    }
    if (allowed.length > 0) {
      const allow = [...new Set(allowed.includes('GET') ? [...allowed, 'HEAD'] : allowed)].join(', ');
      throw new HttpError(405, 'method_not_allowed', `${req.method ?? '?'} is not allowed on ${url.pathname}; allowed: ${allow}`, { headers: { allow } });
    }
    throw notFound(`no endpoint ${url.pathname}; GET / lists them`, 'path');
  }
}
