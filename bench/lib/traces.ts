/**
 * Readers for the cache traces under test/fixtures/traces. Every reader maps the trace's own keys to dense
 * integers 0..distinct-1 in order of first appearance, so replays and the offline optimum can index plain
 * typed arrays instead of hashing 64-bit identifiers.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';

export const TRACE_DIR = fileURLToPath(new URL('../../test/fixtures/traces/', import.meta.url));

export type TraceFormat = 'lirs' | 'arc' | 'corda';

export interface Trace {
  name: string;
  /** One dense key per request. */
  keys: Int32Array;
  distinct: number;
}

export interface TraceSpec {
  name: string;
  file: string;
  format: TraceFormat;
}

export const TRACES: readonly TraceSpec[] = [
  { name: 'gli', file: 'gli.lirs.gz', format: 'lirs' },
  { name: 'loop', file: 'loop.lirs.gz', format: 'lirs' },
  { name: 'multi2', file: 'multi2.lirs.gz', format: 'lirs' },
  { name: 'sprite', file: 'sprite.lirs.gz', format: 'lirs' },
  { name: 'ps', file: 'ps.lirs.gz', format: 'lirs' },
  { name: 'cs', file: 'cs.lirs.gz', format: 'lirs' },
  { name: '2_pools', file: '2_pools.lirs.gz', format: 'lirs' },
  { name: 'oltp', file: 'oltp.arc.br', format: 'arc' },
  { name: 'corda', file: 'corda.bin.gz', format: 'corda' },
];

/** Growable Int32Array, so the readers never hold a boxed number[] of a million requests. */
class IntSink {
  private data = new Int32Array(1 << 16);
  length = 0;

  push(value: number): void {
    if (this.length === this.data.length) {
      const grown = new Int32Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length++] = value;
  }

  finish(): Int32Array {
    return this.data.slice(0, this.length);
  }
}

class Densifier<K> {
  private readonly ids = new Map<K, number>();

  id(key: K): number {
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.ids.size;
      this.ids.set(key, id);
    }
    return id;
  }

  get size(): number {
    return this.ids.size;
  }
}

function decompress(file: string, bytes: Buffer): Buffer {
  return file.endsWith('.br') ? brotliDecompressSync(bytes) : gunzipSync(bytes);
}

/** One integer key per line; blank lines and `*` separators carry no request. */
export function parseLirs(text: string, name = 'lirs'): Trace {
  const dense = new Densifier<number>();
  const out = new IntSink();
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const line = text.slice(start, end).trim();
    start = end + 1;
    if (line === '' || line === '*') continue;
    const key = Number(line);
    if (!Number.isFinite(key)) throw new Error(`${name}: bad LIRS line ${JSON.stringify(line)}`);
    out.push(dense.id(key));
  }
  return { name, keys: out.finish(), distinct: dense.size };
}

/** `start count x y` stands for the run of keys start, start+1, …, start+count-1. */
export function parseArc(text: string, name = 'arc'): Trace {
  const dense = new Densifier<number>();
  const out = new IntSink();
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const line = text.slice(start, end).trim();
    start = end + 1;
    if (line === '') continue;
    const fields = line.split(/\s+/);
    const first = Number(fields[0]);
    const count = Number(fields[1]);
    if (!Number.isSafeInteger(first) || !Number.isSafeInteger(count) || count < 0) {
      throw new Error(`${name}: bad ARC line ${JSON.stringify(line)}`);
    }
    for (let i = 0; i < count; i++) out.push(dense.id(first + i));
  }
  return { name, keys: out.finish(), distinct: dense.size };
}

/** Big-endian signed 64-bit keys. They do not fit a double, so the bigint is the map key. */
export function parseCorda(bytes: Uint8Array, name = 'corda'): Trace {
  if (bytes.length % 8 !== 0) throw new Error(`${name}: length ${bytes.length} is not a multiple of 8`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dense = new Densifier<bigint>();
  const keys = new Int32Array(bytes.length / 8);
  for (let i = 0; i < keys.length; i++) keys[i] = dense.id(view.getBigInt64(i * 8, false));
  return { name, keys, distinct: dense.size };
}

export function loadTrace(spec: TraceSpec, dir: string = TRACE_DIR): Trace {
  const bytes = decompress(spec.file, readFileSync(dir + spec.file));
  switch (spec.format) {
    case 'lirs':
      return parseLirs(bytes.toString('latin1'), spec.name);
    case 'arc':
      return parseArc(bytes.toString('latin1'), spec.name);
    case 'corda':
      return parseCorda(bytes, spec.name);
  }
}

const cache = new Map<string, Trace>();

/** Loads a trace by name once per process; replays share the result and must not modify it. */
export function trace(name: string): Trace {
  let loaded = cache.get(name);
  if (loaded === undefined) {
    const spec = TRACES.find((t) => t.name === name);
    if (spec === undefined) throw new Error(`unknown trace ${name}`);
    loaded = loadTrace(spec);
    cache.set(name, loaded);
  }
  return loaded;
}
