// Capturing what a handler writes to a Node `ServerResponse` (`writeHead`, `write`, `end`), whatever calls
// them: Express's `res.send`, `res.json`, a piped stream, or plain Node code. Written by hand because it is
// the seam itself: no library offers "hold the response, then decide" over a live ServerResponse.
import { Buffer } from 'node:buffer';
import { IncomingMessage, ServerResponse, type OutgoingHttpHeaders } from 'node:http';
import { Socket } from 'node:net';
import type { Captured, Finish } from './core.js';
import { linesOf, type HeaderLine } from './headers.js';

type Callback = (error?: Error | null) => void;

function chunkOf(chunk: unknown, encoding: unknown): Buffer | undefined {
  if (chunk === undefined || chunk === null || typeof chunk === 'function') return undefined;
  if (typeof chunk === 'string') return Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError(`a response chunk must be a string or bytes, got ${typeof chunk}`);
}

function lastCallback(args: readonly unknown[]): Callback | undefined {
  const last = args[args.length - 1];
  return typeof last === 'function' ? (last as Callback) : undefined;
}

/** Applies `writeHead(status, [message], [headers])` to the response's own header list, sending nothing. */
function recordHead(res: ServerResponse, args: readonly unknown[]): void {
  const [status, second, third] = args;
  if (typeof status === 'number') res.statusCode = status;
  if (typeof second === 'string') res.statusMessage = second;
  const headers = typeof second === 'string' ? third : second;
  if (Array.isArray(headers)) {
    // The flat raw form: [name, value, name, value, …].
    for (let i = 0; i + 1 < headers.length; i += 2) res.appendHeader(String(headers[i]), String(headers[i + 1]));
  } else if (typeof headers === 'object' && headers !== null) {
    for (const [name, value] of Object.entries(headers as OutgoingHttpHeaders)) if (value !== undefined) res.setHeader(name, value);
  }
}

export function capturedHeaders(res: ServerResponse): HeaderLine[] {
  return linesOf(res.getHeaders());
}

/**
 * Holds the handler's output on `res` until `finish` has decided (a body over `limit` bytes is flushed as it
 * comes, uncached), then sends it with the headers `finish` adds, or a 304. `onError` gets a failure of
 * `finish` itself; the response is then sent as the handler made it.
 */
export function holdResponse(res: ServerResponse, limit: number, finish: (captured: Captured) => Promise<Finish>, onError: (error: unknown) => void): void {
  // Own methods taken off the instance and called back with `apply(res, …)`, so `this` stays the response.
  /* eslint-disable @typescript-eslint/unbound-method */
  const original = { writeHead: res.writeHead, write: res.write, end: res.end };
  /* eslint-enable @typescript-eslint/unbound-method */
  const chunks: Buffer[] = [];
  let size = 0;
  let state: 'buffering' | 'deciding' | 'sent' = 'buffering';
  let ended: { callback: Callback | undefined } | undefined;

  const restore = () => {
    res.writeHead = original.writeHead;
    res.write = original.write;
    res.end = original.end;
  };
  const apply = (decided: Finish | undefined) => {
    if (decided !== undefined) for (const [name, value] of decided.headers) res.setHeader(name, value);
    restore();
    state = 'sent';
    return decided?.notModified === true;
  };
  const decide = (captured: Captured, then: (decided: Finish | undefined) => void) => {
    state = 'deciding';
    finish(captured).then(then, (error: unknown) => {
      onError(error);
      then(undefined);
    });
  };
  const overflow = () => {
    decide({ status: res.statusCode, headers: capturedHeaders(res), body: undefined }, (decided) => {
      apply(decided);
      for (const chunk of chunks.splice(0)) res.write(chunk);
      if (ended !== undefined) res.end(ended.callback);
    });
  };

  res.writeHead = function writeHead(this: ServerResponse, ...args: unknown[]) {
    if (state === 'sent') return original.writeHead.apply(this, args as Parameters<ServerResponse['writeHead']>);
    recordHead(this, args);
    return this;
  };
  res.write = function write(this: ServerResponse, chunk: unknown, ...rest: unknown[]): boolean {
    const bytes = chunkOf(chunk, rest[0]);
    if (bytes !== undefined) {
      chunks.push(bytes);
      size += bytes.byteLength;
    }
    lastCallback(rest)?.();
    if (state === 'buffering' && size > limit) overflow();
    return true;
  } as ServerResponse['write'];
  res.end = function end(this: ServerResponse, ...args: unknown[]) {
    if (ended !== undefined) return this;
    const bytes = chunkOf(args[0], args[1]);
    if (bytes !== undefined) {
      chunks.push(bytes);
      size += bytes.byteLength;
    }
    ended = { callback: lastCallback(args) };
    if (state !== 'buffering') return this;
    if (size > limit) {
      overflow();
      return this;
    }
    const body = Buffer.concat(chunks);
    decide({ status: this.statusCode, headers: capturedHeaders(this), body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength) }, (decided) => {
      if (apply(decided)) {
        this.statusCode = 304;
        for (const name of ['content-type', 'content-length', 'content-encoding', 'content-range', 'transfer-encoding']) this.removeHeader(name);
        this.end(ended?.callback);
      } else {
        this.end(body, ended?.callback);
      }
    });
    return this;
  } as ServerResponse['end'];
}

/**
 * A request made inside the process, for a background refresh: a `ServerResponse` that goes nowhere, whose
 * output is collected. `run(req, res, done)` is the app's handler (`done` for "no route answered").
 */
export function dispatchInProcess(url: string, headers: Record<string, string>, run: (req: IncomingMessage, res: ServerResponse, done: (error?: unknown) => void) => void): Promise<Captured> {
  const req = new IncomingMessage(new Socket());
  req.method = 'GET';
  req.url = url;
  req.headers = headers;
  req.push(null);
  const res = new ServerResponse(req);
  return new Promise<Captured>((resolve) => {
    const chunks: Buffer[] = [];
    res.writeHead = function writeHead(this: ServerResponse, ...args: unknown[]) {
      recordHead(this, args);
      return this;
    };
    res.write = function write(chunk: unknown, ...rest: unknown[]): boolean {
      const bytes = chunkOf(chunk, rest[0]);
      if (bytes !== undefined) chunks.push(bytes);
      lastCallback(rest)?.();
      return true;
    } as ServerResponse['write'];
    res.end = function end(this: ServerResponse, ...args: unknown[]) {
      const bytes = chunkOf(args[0], args[1]);
      if (bytes !== undefined) chunks.push(bytes);
      const body = Buffer.concat(chunks);
      resolve({ status: this.statusCode, headers: capturedHeaders(this), body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength) });
      lastCallback(args)?.();
      return this;
    } as ServerResponse['end'];
    try {
      run(req, res, (error) => resolve({ status: error === undefined ? 404 : 500, headers: [], body: new Uint8Array(0) }));
    } catch {
      resolve({ status: 500, headers: [], body: new Uint8Array(0) });
    }
  });
}
