import { Buffer } from 'node:buffer';
import { DecodeError, SerializationError } from '../errors.js';
import { DECIMAL_EXTENSION_NAME, decimalExtension } from './decimal.js';
import { readFloat64LE } from './float.js';
import { jsonText, parseJsonText } from './json-form.js';
import type { Codec, CodecExtension, CodecOptions } from './types.js';

/*
 * Wire format, version 1.
 *
 *   message  := VERSION value | VERSION T_JSON json-text
 *   value    := tag payload
 *
 * Integers in headers are unsigned LEB128 varints (at most 8 bytes, at most 2^53 - 1). Multi-byte numbers
 * are little-endian. A "string body" is varint(byteLength * 2 + utf16) followed by the bytes: UTF-8 when
 * the low bit is 0, UTF-16LE when it is 1 (used only for strings holding lone surrogates, which UTF-8 cannot
 * carry). Object keys are bare string bodies; string values are T_STRING + string body.
 *
 * The encoder is deterministic: the same value (same key and entry order) always gives the same bytes.
 *
 * A value that JSON carries exactly (plain objects and arrays without holes or undefined, strings, finite numbers
 * other than -0, booleans, null; no symbol keys), when it is an object or an array and its text fits maxBytes, is
 * written as VERSION T_JSON and its JSON text in UTF-8 instead:
 * the engine's own JSON.stringify and JSON.parse build and read it several times faster than the tagged form
 * (docs/decisions.md, 48; the walk and the reading are in json-form.ts). Everything else takes the tagged
 * form; the reader reads both.
 *
 * Why one file (docs/decisions.md, 27): the writer and the reader are the two halves of this one format, case
 * by case (each tag written in `Encoder` is read back by the matching branch of `Decoder`), and the tag
 * constants they share are read in their hottest loops. Split into format, writer and reader modules, those
 * constants become imported bindings and the round trips measured a few per cent slower (`npx tsx bench/codec.ts`).
 * Sections, in order: tags and limits, helpers, the writer, the reader, createCodec.
 */

/** First byte of every encoded value. Bump it when the format changes incompatibly. */
export const FORMAT_VERSION = 1;

/** Containers (arrays, objects, maps, sets, extension values...) may nest this deep, and no deeper. */
export const MAX_DEPTH = 512;

/** Default `maxBytes`: 8 MiB. */
export const DEFAULT_MAX_BYTES = 8 * 1024 * 1024;

const T_UNDEFINED = 0x00;
const T_NULL = 0x01;
const T_FALSE = 0x02;
const T_TRUE = 0x03;
/** varint n: the integer n (0 <= n <= 2^53 - 1). */
const T_UINT = 0x04;
/** varint n: the integer -n. */
const T_NINT = 0x05;
/** 8 bytes: a float64 (never NaN, which has its own tag so that every NaN encodes the same). */
const T_FLOAT64 = 0x06;
const T_NAN = 0x07;
/** varint length, big-endian magnitude bytes without leading zeros. */
const T_BIGINT_POS = 0x08;
const T_BIGINT_NEG = 0x09;
/** string body. */
const T_STRING = 0x0a;
/** varint length, then items; a run of holes is T_HOLE varint(count) in place of items. */
const T_ARRAY = 0x0b;
const T_HOLE = 0x0c;
/** varint count, then (string body, value) pairs. */
const T_OBJECT = 0x0d;
const T_OBJECT_NULL_PROTO = 0x0e;
/** varint count, then (key value, value) pairs in insertion order. */
const T_MAP = 0x0f;
/** varint count, then values in insertion order. */
const T_SET = 0x10;
/** a number value (integer milliseconds, or NaN for an invalid Date). */
const T_DATE = 0x11;
/** source string body, flags string body, lastIndex value. */
const T_REGEXP = 0x12;
/** varint length, bytes. */
const T_ARRAY_BUFFER = 0x13;
const T_BUFFER = 0x14;
const T_DATA_VIEW = 0x15;
/** kind byte (index in TYPED_ARRAYS), varint byte length, little-endian elements. */
const T_TYPED_ARRAY = 0x16;
/** extension name string body, then the value its `encode` returned. The name gets the next table index. */
const T_EXTENSION = 0x17;
/** varint index of a name already written in this message, then the value. */
const T_EXTENSION_REF = 0x18;
/** Only right after VERSION: the rest of the message is the value's JSON text, in UTF-8. */
const T_JSON = 0x19;
/** 0x80..0xff: the integers 0..127 in one byte. */
const T_FIXINT = 0x80;

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const MAX_SAFE_BIGINT = BigInt(MAX_SAFE);
const MAX_ARRAY_LENGTH = 2 ** 32 - 1;
// Date's valid range, in milliseconds either side of the epoch.
const MAX_TIME = 8.64e15;
const INITIAL_SCRATCH_BYTES = 8 * 1024;
// A scratch buffer grown past this by one big value is dropped afterwards, so it is not held forever.
const RETAINED_SCRATCH_BYTES = 1024 * 1024;
// Strings up to this many UTF-16 units are encoded in JS; longer ones go through Buffer's native UTF-8 writer,
// whose call overhead only pays off on longer input.
const SHORT_STRING = 63;
// Decoding: UTF-8 runs up to this many bytes are tried as ASCII in JS before calling TextDecoder.
const SHORT_DECODE = 32;
// Short ASCII strings decoded recently, by hash of their bytes. Object keys repeat across values; handing
// back the same string instance spares building it and, above all, V8 interning it again on every
// property store (which otherwise dominates decoding objects). Strings are immutable, so sharing is safe.
const STRING_CACHE_SIZE = 4096;
const stringCache: (string | undefined)[] = new Array<string | undefined>(STRING_CACHE_SIZE).fill(undefined);
// Cycle detection scans the ancestor stack linearly this deep, then switches to a Set to stay O(1).
const LINEAR_ANCESTORS = 32;

const TYPED_ARRAYS = [
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
] as const;

interface TypedArrayConstructor {
  new (buffer: ArrayBuffer): ArrayBufferView;
  readonly BYTES_PER_ELEMENT: number;
}

const K_DATE = 1;
const K_REGEXP = 2;
const K_MAP = 3;
const K_SET = 4;
const K_ARRAY_BUFFER = 5;
const K_BUFFER = 6;
const K_DATA_VIEW = 7;
const K_TYPED_ARRAY = 16;

/** Built-in classes are recognised by exact prototype, so a subclass is never silently flattened to its base. */
const BUILTIN_KINDS = new Map<object, number>([
  [Date.prototype, K_DATE],
  [RegExp.prototype, K_REGEXP],
  [Map.prototype, K_MAP],
  [Set.prototype, K_SET],
  [ArrayBuffer.prototype, K_ARRAY_BUFFER],
  [Buffer.prototype, K_BUFFER],
  [DataView.prototype, K_DATA_VIEW],
  ...TYPED_ARRAYS.map((ctor, index): [object, number] => [ctor.prototype, K_TYPED_ARRAY + index]),
]);

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const objectPrototype = Object.prototype;

type WellFormedCheck = (this: string) => boolean;
const nativeIsWellFormed = (String.prototype as { isWellFormed?: WellFormedCheck }).isWellFormed;

const EMPTY_BYTES = new Uint8Array(0);

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const HEX_BYTES: string[] = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));

function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function hasLoneSurrogate(s: string): boolean {
  if (nativeIsWellFormed !== undefined) return !nativeIsWellFormed.call(s);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c & 0xf800) !== 0xd800) continue;
    if (c >= 0xdc00) return true;
    const next = s.charCodeAt(i + 1);
    if ((next & 0xfc00) !== 0xdc00) return true;
    i++;
  }
  return false;
}

/** UTF-8 byte length of a short string, or -1 when it holds a lone surrogate. */
function shortUtf8Length(s: string): number {
  let length = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) length += 1;
    else if (c < 0x800) length += 2;
    else if ((c & 0xf800) !== 0xd800) length += 3;
    else {
      if (c >= 0xdc00 || (s.charCodeAt(i + 1) & 0xfc00) !== 0xdc00) return -1;
      i++;
      length += 4;
    }
  }
  return length;
}

function swapByteOrder(bytes: Uint8Array, start: number, length: number, width: number): void {
  for (let at = start; at < start + length; at += width) {
    for (let lo = at, hi = at + width - 1; lo < hi; lo++, hi--) {
      const t = bytes[lo]!;
      bytes[lo] = bytes[hi]!;
      bytes[hi] = t;
    }
  }
}

function keySegment(key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

function describeScalar(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
    case 'bigint':
      return `${value}n`;
    case 'number':
    case 'boolean':
    case 'undefined':
      return String(value);
    case 'symbol':
      return value.toString();
    default:
      return value === null ? 'null' : typeof value;
  }
}

function isScalar(value: unknown): boolean {
  return value === null || (typeof value !== 'object' && typeof value !== 'function');
}

function mapSegment(key: unknown, index: number, inKey: boolean): string {
  if (inKey) return `<key of entry ${index}>`;
  return isScalar(key) ? `<key ${describeScalar(key)}>` : `<value of entry ${index}>`;
}

function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  try {
    return String(error);
  } catch {
    return 'unknown error';
  }
}

function constructorName(proto: object): string {
  try {
    const ctor = (proto as { constructor?: unknown }).constructor;
    if (typeof ctor === 'function' && ctor.name !== '') return ctor.name;
  } catch {
    // A throwing getter on the prototype leaves the class anonymous in the message.
  }
  return '';
}

function describeUnsupported(value: object, proto: object): string {
  if (value instanceof WeakMap || value instanceof WeakSet || value instanceof WeakRef) {
    return `a ${constructorName(proto) || 'weak collection'}, whose entries cannot be read`;
  }
  if (value instanceof Promise) return 'a Promise; await it and cache the result instead';
  if (value instanceof SharedArrayBuffer) return 'a SharedArrayBuffer; copy it into an ArrayBuffer to cache it';
  if (
    proto === Number.prototype ||
    proto === String.prototype ||
    proto === Boolean.prototype ||
    proto === BigInt.prototype ||
    proto === Symbol.prototype
  ) {
    return `a boxed ${constructorName(proto)} object; cache the primitive instead`;
  }
  const name = constructorName(proto);
  const base = nearestBuiltinName(proto);
  const subclass = base !== undefined && base !== name ? ` (a subclass of ${base})` : '';
  const what = name
    ? `an instance of class ${name}${subclass}`
    : base !== undefined
      ? `an instance of an anonymous subclass of ${base}`
      : 'an object with a custom prototype';
  return `${what} with no codec extension; register a CodecExtension for it`;
}

function nearestBuiltinName(proto: object): string | undefined {
  for (let p: object | null = proto; p !== null; p = Object.getPrototypeOf(p) as object | null) {
    if (BUILTIN_KINDS.has(p) || p === Array.prototype) return constructorName(p);
  }
  return undefined;
}

/** True for `Object.prototype` of another realm (a `vm` context), whose objects are plain data too. */
function isForeignObjectPrototype(proto: object | null): boolean {
  return proto !== null && Object.getPrototypeOf(proto) === null && constructorName(proto) === 'Object';
}

/** Raised inside the encoder; collects path segments while unwinding, becomes a SerializationError. */
class EncodeFailure extends Error {
  /** Path segments, innermost first. */
  readonly segments: string[] = [];
  /** For cycles: how many segments from the root lead to the ancestor the value points back to. */
  cycleDepth: number | undefined;

  constructor(what: string, options: { cause?: unknown; segment?: string; cycleDepth?: number } = {}) {
    super(what, options.cause === undefined ? undefined : { cause: options.cause });
    if (options.segment !== undefined) this.segments.push(options.segment);
    this.cycleDepth = options.cycleDepth;
  }
}

function withSegment(error: unknown, segment: string): EncodeFailure {
  if (error instanceof EncodeFailure) {
    error.segments.push(segment);
    return error;
  }
  // Something outside the codec threw (a getter, a Proxy trap): report it at the value being read.
  return new EncodeFailure(`reading it threw: ${errorMessage(error)}`, { cause: error, segment });
}

class Encoder {
  busy = false;
  private bytes: Uint8Array;
  private buffer: Buffer;
  private view: DataView;
  private pos = 0;
  private depth = 0;
  private readonly ancestors: object[] = [];
  private readonly deepAncestors = new Set<object>();
  // Extensions named so far in this message, in order; entries past `extensionsUsedCount` are stale.
  // A counter instead of truncating the array: setting `length` is a runtime call on every encode.
  private readonly extensionsUsed: CodecExtension[] = [];
  private extensionsUsedCount = 0;
  private readonly maxBytes: number;
  private readonly extensions: readonly CodecExtension[];

  constructor(maxBytes: number, extensions: readonly CodecExtension[]) {
    this.maxBytes = maxBytes;
    this.extensions = extensions;
    this.bytes = new Uint8Array(0);
    this.buffer = Buffer.from(this.bytes.buffer);
    this.view = new DataView(this.bytes.buffer);
    this.allocate(Math.min(INITIAL_SCRATCH_BYTES, Math.floor(maxBytes)));
  }

  encode(value: unknown): Uint8Array {
    this.pos = 0;
    this.depth = 0;
    this.extensionsUsedCount = 0;
    try {
      const json = this.json(value);
      if (json !== undefined) return json;
      this.ensure(1);
      this.bytes[this.pos++] = FORMAT_VERSION;
      this.value(value);
      return this.bytes.slice(0, this.pos);
    } catch (error) {
      // A failed encode leaves ancestors behind; they would keep the caller's objects alive.
      this.ancestors.fill(EMPTY_BYTES);
      this.deepAncestors.clear();
      throw error;
    } finally {
      if (this.bytes.length > RETAINED_SCRATCH_BYTES) {
        this.pos = 0;
        this.allocate(INITIAL_SCRATCH_BYTES);
      }
    }
  }

  /** The JSON form of `value` (VERSION T_JSON text), or undefined when the value needs the tagged form or would not fit. */
  private json(value: unknown): Uint8Array | undefined {
    const text = jsonText(value, this.maxBytes, MAX_DEPTH);
    if (text === undefined) return undefined;
    // UTF-8 takes at most 3 bytes per UTF-16 unit; count exactly only when that bound does not fit the scratch.
    let length = text.length * 3;
    if (2 + length > this.bytes.length) {
      length = Buffer.byteLength(text, 'utf8');
      if (2 + length > this.maxBytes) return undefined;
      this.ensure(2 + length);
    }
    this.bytes[0] = FORMAT_VERSION;
    this.bytes[1] = T_JSON;
    const written = this.buffer.write(text, 2, 'utf8');
    return this.bytes.slice(0, 2 + written);
  }

  private allocate(capacity: number): void {
    const next = new Uint8Array(capacity);
    next.set(this.bytes.subarray(0, Math.min(this.pos, capacity)));
    this.bytes = next;
    this.buffer = Buffer.from(next.buffer, next.byteOffset, next.byteLength);
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  private ensure(extra: number): void {
    if (this.pos + extra > this.bytes.length) this.grow(this.pos + extra);
  }

  private grow(needed: number): void {
    if (needed > this.maxBytes) {
      throw new EncodeFailure(
        `the encoded value exceeds maxBytes: it needs at least ${needed} bytes and the limit is ${this.maxBytes} bytes`,
      );
    }
    this.allocate(Math.min(Math.max(needed, this.bytes.length * 2), Math.floor(this.maxBytes)));
  }

  /** Caller must have reserved the bytes. */
  private varint(n: number): void {
    const bytes = this.bytes;
    let pos = this.pos;
    if (n < 0x80000000) {
      while (n >= 0x80) {
        bytes[pos++] = (n & 0x7f) | 0x80;
        n >>>= 7;
      }
    } else {
      while (n >= 0x80) {
        bytes[pos++] = (n % 0x80) | 0x80;
        n = Math.floor(n / 0x80);
      }
    }
    bytes[pos++] = n;
    this.pos = pos;
  }

  private tagged(tag: number, n: number): void {
    // Reserve exactly: over-reserving could trip maxBytes for a value that fits.
    this.ensure(n < 0x80 ? 2 : 1 + varintSize(n));
    this.bytes[this.pos++] = tag;
    this.varint(n);
  }

  private byte(b: number): void {
    this.ensure(1);
    this.bytes[this.pos++] = b;
  }

  private value(value: unknown): void {
    switch (typeof value) {
      case 'string':
        this.byte(T_STRING);
        this.string(value);
        return;
      case 'number':
        this.number(value);
        return;
      case 'boolean':
        this.byte(value ? T_TRUE : T_FALSE);
        return;
      case 'undefined':
        this.byte(T_UNDEFINED);
        return;
      case 'object':
        if (value === null) this.byte(T_NULL);
        else this.object(value);
        return;
      case 'bigint':
        this.bigint(value);
        return;
      case 'function': {
        const source = Function.prototype.toString.call(value);
        const kind = source.startsWith('class') ? 'a class' : 'a function';
        const name = (value as { name?: unknown }).name;
        throw new EncodeFailure(`${kind}${typeof name === 'string' && name !== '' ? ` (${name})` : ''}`);
      }
      case 'symbol':
        throw new EncodeFailure(`a symbol (${value.toString()})`);
    }
  }

  private number(n: number): void {
    if (Number.isInteger(n)) {
      if (n >= 0) {
        if (n < 128 && (n !== 0 || 1 / n > 0)) {
          this.byte(T_FIXINT | n);
          return;
        }
        if (n <= MAX_SAFE && n !== 0) {
          this.tagged(T_UINT, n);
          return;
        }
      } else if (n >= -MAX_SAFE) {
        this.tagged(T_NINT, -n);
        return;
      }
    } else if (n !== n) {
      this.byte(T_NAN);
      return;
    }
    this.ensure(9);
    this.bytes[this.pos++] = T_FLOAT64;
    this.view.setFloat64(this.pos, n, true);
    this.pos += 8;
  }

  private bigint(n: bigint): void {
    const negative = n < 0n;
    const magnitude = negative ? -n : n;
    const tag = negative ? T_BIGINT_NEG : T_BIGINT_POS;
    if (magnitude <= MAX_SAFE_BIGINT) {
      let m = Number(magnitude);
      let length = 0;
      for (let rest = m; rest > 0; rest = Math.floor(rest / 256)) length++;
      this.tagged(tag, length);
      this.ensure(length);
      for (let at = this.pos + length - 1; at >= this.pos; at--) {
        this.bytes[at] = m % 256;
        m = Math.floor(m / 256);
      }
      this.pos += length;
      return;
    }
    let hex = magnitude.toString(16);
    if (hex.length % 2 === 1) hex = `0${hex}`;
    const length = hex.length / 2;
    this.tagged(tag, length);
    this.ensure(length);
    const bytes = this.bytes;
    let pos = this.pos;
    for (let i = 0; i < hex.length; i += 2) bytes[pos++] = parseInt(hex.slice(i, i + 2), 16);
    this.pos = pos;
  }

  /** Writes a string body (no tag). */
  private string(s: string): void {
    const length = s.length;
    if (length <= SHORT_STRING) {
      // Optimistically ASCII: the header (2 * length < 128) is one byte and the body is `length` bytes.
      this.ensure(1 + length);
      const bytes = this.bytes;
      const start = this.pos;
      let pos = start + 1;
      for (let i = 0; i < length; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) {
          this.shortUnicodeString(s);
          return;
        }
        bytes[pos++] = c;
      }
      bytes[start] = length * 2;
      this.pos = pos;
      return;
    }
    if (hasLoneSurrogate(s)) {
      this.utf16String(s);
      return;
    }
    const byteLength = Buffer.byteLength(s, 'utf8');
    this.tagless(byteLength * 2, byteLength);
    this.pos += this.buffer.write(s, this.pos, byteLength, 'utf8');
  }

  /** Reserves a varint header plus `body` bytes and writes the header. */
  private tagless(header: number, body: number): void {
    this.ensure(varintSize(header) + body);
    this.varint(header);
  }

  private shortUnicodeString(s: string): void {
    const byteLength = shortUtf8Length(s);
    if (byteLength < 0) {
      this.utf16String(s);
      return;
    }
    this.tagless(byteLength * 2, byteLength);
    const bytes = this.bytes;
    let pos = this.pos;
    for (let i = 0; i < s.length; i++) {
      let c = s.charCodeAt(i);
      if (c < 0x80) {
        bytes[pos++] = c;
      } else if (c < 0x800) {
        bytes[pos++] = 0xc0 | (c >> 6);
        bytes[pos++] = 0x80 | (c & 0x3f);
      } else if ((c & 0xf800) !== 0xd800) {
        bytes[pos++] = 0xe0 | (c >> 12);
        bytes[pos++] = 0x80 | ((c >> 6) & 0x3f);
        bytes[pos++] = 0x80 | (c & 0x3f);
      } else {
        // shortUtf8Length already proved this high surrogate has its low half.
        c = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00);
        bytes[pos++] = 0xf0 | (c >> 18);
        bytes[pos++] = 0x80 | ((c >> 12) & 0x3f);
        bytes[pos++] = 0x80 | ((c >> 6) & 0x3f);
        bytes[pos++] = 0x80 | (c & 0x3f);
      }
    }
    this.pos = pos;
  }

  private utf16String(s: string): void {
    const byteLength = s.length * 2;
    this.tagless(byteLength * 2 + 1, byteLength);
    const bytes = this.bytes;
    let pos = this.pos;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      bytes[pos++] = c & 0xff;
      bytes[pos++] = c >> 8;
    }
    this.pos = pos;
  }

  private rawBytes(tag: number, source: Uint8Array): void {
    const length = source.byteLength;
    this.tagged(tag, length);
    this.ensure(length);
    this.bytes.set(source, this.pos);
    this.pos += length;
  }

  private object(value: object): void {
    const depth = this.depth;
    if (depth >= MAX_DEPTH) throw new EncodeFailure(`nesting deeper than ${MAX_DEPTH} levels`);
    const ancestors = this.ancestors;
    const scanned = depth < LINEAR_ANCESTORS ? depth : LINEAR_ANCESTORS;
    for (let i = 0; i < scanned; i++) {
      if (ancestors[i] === value) throw new EncodeFailure('a circular reference', { cycleDepth: i });
    }
    if (depth > LINEAR_ANCESTORS && this.deepAncestors.has(value)) {
      throw new EncodeFailure('a circular reference', { cycleDepth: ancestors.indexOf(value) });
    }
    ancestors[depth] = value;
    if (depth >= LINEAR_ANCESTORS) this.deepAncestors.add(value);
    this.depth = depth + 1;
    this.dispatch(value);
    this.depth = depth;
    ancestors[depth] = EMPTY_BYTES;
    if (depth >= LINEAR_ANCESTORS) this.deepAncestors.delete(value);
  }

  private dispatch(value: object): void {
    const proto = Object.getPrototypeOf(value) as object | null;
    if (proto === objectPrototype) {
      this.plainObject(value, T_OBJECT);
      return;
    }
    if (proto === Array.prototype && Array.isArray(value)) {
      this.array(value as unknown[]);
      return;
    }
    if (proto === null) {
      this.plainObject(value, T_OBJECT_NULL_PROTO);
      return;
    }
    const kind = BUILTIN_KINDS.get(proto);
    switch (kind) {
      case undefined:
        this.other(value, proto);
        return;
      case K_DATE:
        this.byte(T_DATE);
        this.number((value as Date).getTime());
        return;
      case K_REGEXP:
        this.regexp(value as RegExp);
        return;
      case K_MAP:
        this.map(value as Map<unknown, unknown>);
        return;
      case K_SET:
        this.set(value as Set<unknown>);
        return;
      case K_ARRAY_BUFFER:
        this.rawBytes(T_ARRAY_BUFFER, new Uint8Array(value as ArrayBuffer));
        return;
      case K_BUFFER:
        this.rawBytes(T_BUFFER, value as Buffer);
        return;
      case K_DATA_VIEW: {
        const view = value as DataView;
        this.rawBytes(T_DATA_VIEW, new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
        return;
      }
      default:
        this.typedArray(value as ArrayBufferView, kind - K_TYPED_ARRAY);
    }
  }

  private plainObject(value: object, tag: number): void {
    const symbols = Object.getOwnPropertySymbols(value);
    for (const symbol of symbols) {
      if (Object.prototype.propertyIsEnumerable.call(value, symbol)) {
        throw new EncodeFailure(`a symbol-keyed property (${symbol.toString()}); only string keys can be encoded`, {
          segment: `[${symbol.toString()}]`,
        });
      }
    }
    const keys = Object.keys(value);
    const count = keys.length;
    this.tagged(tag, count);
    const record = value as Record<string, unknown>;
    let i = 0;
    try {
      for (; i < count; i++) {
        const key = keys[i]!;
        this.string(key);
        this.value(record[key]);
      }
    } catch (error) {
      throw withSegment(error, keySegment(keys[i]!));
    }
  }

  private array(value: unknown[]): void {
    const length = value.length;
    this.tagged(T_ARRAY, length);
    let i = 0;
    try {
      for (; i < length; i++) {
        const item = value[i];
        // Reading a hole gives undefined; `in` tells the two apart, and is only paid for undefined items.
        if (item === undefined && !(i in value)) break;
        this.value(item);
      }
      if (i < length) {
        // Sparse from here on: walk the present indices instead of every index, so a huge mostly-empty
        // array costs its element count, not its length.
        for (const index of presentIndices(value, i, length)) {
          if (index > i) this.tagged(T_HOLE, index - i);
          i = index;
          this.value(value[index]);
          i = index + 1;
        }
        if (i < length) this.tagged(T_HOLE, length - i);
      }
    } catch (error) {
      throw withSegment(error, `[${i}]`);
    }
  }

  private map(value: Map<unknown, unknown>): void {
    const size = value.size;
    this.tagged(T_MAP, size);
    let index = 0;
    let key: unknown;
    let inKey = true;
    try {
      for (const entry of value) {
        key = entry[0];
        inKey = true;
        this.value(key);
        inKey = false;
        this.value(entry[1]);
        index++;
      }
    } catch (error) {
      throw withSegment(error, mapSegment(key, index, inKey));
    }
    if (index !== size) throw new EncodeFailure('a Map that changed size while it was being encoded');
  }

  private set(value: Set<unknown>): void {
    const size = value.size;
    this.tagged(T_SET, size);
    let index = 0;
    try {
      for (const item of value) {
        this.value(item);
        index++;
      }
    } catch (error) {
      throw withSegment(error, `<item ${index}>`);
    }
    if (index !== size) throw new EncodeFailure('a Set that changed size while it was being encoded');
  }

  private regexp(value: RegExp): void {
    this.byte(T_REGEXP);
    this.string(value.source);
    this.string(value.flags);
    try {
      this.value(value.lastIndex);
    } catch (error) {
      throw withSegment(error, '.lastIndex');
    }
  }

  private typedArray(value: ArrayBufferView, kind: number): void {
    const length = value.byteLength;
    this.ensure(2 + varintSize(length) + length);
    this.bytes[this.pos++] = T_TYPED_ARRAY;
    this.bytes[this.pos++] = kind;
    this.varint(length);
    this.bytes.set(new Uint8Array(value.buffer, value.byteOffset, length), this.pos);
    if (!LITTLE_ENDIAN_HOST) swapByteOrder(this.bytes, this.pos, length, TYPED_ARRAYS[kind]!.BYTES_PER_ELEMENT);
    this.pos += length;
  }

  private other(value: object, proto: object): void {
    const extensions = this.extensions;
    for (let i = 0; i < extensions.length; i++) {
      const extension = extensions[i]!;
      let handles: boolean;
      try {
        handles = extension.test(value);
      } catch (error) {
        throw new EncodeFailure(`extension "${extension.name}" threw from test(): ${errorMessage(error)}`, {
          cause: error,
        });
      }
      if (handles) {
        this.extension(value, extension);
        return;
      }
    }
    if (
      Array.isArray(value) &&
      constructorName(proto) === 'Array' &&
      isForeignObjectPrototype(Object.getPrototypeOf(proto) as object | null)
    ) {
      this.array(value as unknown[]);
      return;
    }
    if (isForeignObjectPrototype(proto)) {
      this.plainObject(value, T_OBJECT);
      return;
    }
    throw new EncodeFailure(describeUnsupported(value, proto));
  }

  private extension(value: object, extension: CodecExtension): void {
    let data: unknown;
    try {
      data = extension.encode(value);
    } catch (error) {
      throw new EncodeFailure(`extension "${extension.name}" threw from encode(): ${errorMessage(error)}`, {
        cause: error,
      });
    }
    let index = this.extensionsUsedCount - 1;
    while (index >= 0 && this.extensionsUsed[index] !== extension) index--;
    if (index < 0) {
      this.extensionsUsed[this.extensionsUsedCount++] = extension;
      this.byte(T_EXTENSION);
      this.string(extension.name);
    } else {
      this.tagged(T_EXTENSION_REF, index);
    }
    try {
      this.value(data);
    } catch (error) {
      throw withSegment(error, `<${extension.name}>`);
    }
  }
}

/** Indices of the elements actually present at or after `from`, ascending. */
function presentIndices(array: unknown[], from: number, length: number): number[] {
  const indices: number[] = [];
  let sorted = true;
  for (const key of Object.keys(array)) {
    const index = Number(key);
    // Only canonical array indices; other own keys on an array are not part of its elements.
    if (!(index >= from && index < length) || String(index) !== key) continue;
    if (indices.length > 0 && index < indices[indices.length - 1]!) sorted = false;
    indices.push(index);
  }
  // Ordinary arrays list indices ascending; a Proxy may not.
  if (!sorted) indices.sort((a, b) => a - b);
  return indices;
}

/** Raised inside the decoder; becomes a DecodeError carrying the key. */
class DecodeFailure extends Error {}

class Decoder {
  busy = false;
  private bytes: Uint8Array = EMPTY_BYTES;
  private pos = 0;
  private end = 0;
  private depth = 0;
  // Same scheme as Encoder.extensionsUsed.
  private readonly extensionTable: CodecExtension[] = [];
  private extensionTableCount = 0;
  private readonly extensionsByName: ReadonlyMap<string, CodecExtension>;

  constructor(extensionsByName: ReadonlyMap<string, CodecExtension>) {
    this.extensionsByName = extensionsByName;
  }

  decode(bytes: Uint8Array): unknown {
    this.bytes = bytes;
    this.pos = 0;
    this.end = bytes.length;
    this.depth = 0;
    this.extensionTableCount = 0;
    try {
      if (this.end === 0) throw new DecodeFailure('the input is empty');
      const version = bytes[0]!;
      if (version !== FORMAT_VERSION) {
        throw new DecodeFailure(`unsupported format version ${version} (this codec reads version ${FORMAT_VERSION})`);
      }
      if (this.end > 1 && bytes[1] === T_JSON) return this.readJson();
      this.pos = 1;
      const value = this.readValue();
      if (this.pos !== this.end) {
        throw new DecodeFailure(`${this.end - this.pos} unexpected trailing bytes after the value at byte ${this.pos}`);
      }
      return value;
    } finally {
      // Do not keep the caller's bytes alive until the next decode.
      this.bytes = EMPTY_BYTES;
    }
  }

  private readJson(): unknown {
    try {
      return parseJsonText(this.bytes, 2, this.end);
    } catch (error) {
      const problem = error instanceof SyntaxError ? `does not parse: ${errorMessage(error)}` : 'is not valid UTF-8';
      throw new DecodeFailure(`the JSON text after byte 2 ${problem}`, { cause: error });
    }
  }

  private truncated(): DecodeFailure {
    return new DecodeFailure(`the input is truncated at byte ${this.pos}`);
  }

  private readVarint(): number {
    const bytes = this.bytes;
    if (this.pos >= this.end) throw this.truncated();
    let b = bytes[this.pos++]!;
    if (b < 0x80) return b;
    let result = b & 0x7f;
    let scale = 0x80;
    for (let i = 1; i < 8; i++) {
      if (this.pos >= this.end) throw this.truncated();
      b = bytes[this.pos++]!;
      result += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (result > MAX_SAFE) break;
        return result;
      }
      scale *= 0x80;
    }
    throw new DecodeFailure(`a length or integer at byte ${this.pos} is larger than 2^53 - 1`);
  }

  /** Validates a byte length against what is left, so nothing is allocated for an absurd length. */
  private readLength(what: string): number {
    const at = this.pos;
    const length = this.readVarint();
    if (length > this.end - this.pos) {
      throw new DecodeFailure(
        `${what} at byte ${at} claims ${length} bytes but only ${this.end - this.pos} remain`,
      );
    }
    return length;
  }

  /** Validates an item count: each item takes at least `minBytes` bytes. */
  private readCount(what: string, minBytes: number): number {
    const at = this.pos;
    const count = this.readVarint();
    if (count * minBytes > this.end - this.pos) {
      throw new DecodeFailure(`${what} at byte ${at} claims ${count} entries, more than the remaining bytes can hold`);
    }
    return count;
  }

  private enter(): void {
    if (++this.depth > MAX_DEPTH) {
      throw new DecodeFailure(`nesting deeper than ${MAX_DEPTH} levels at byte ${this.pos}`);
    }
  }

  private readValue(): unknown {
    if (this.pos >= this.end) throw this.truncated();
    const at = this.pos;
    const tag = this.bytes[this.pos++]!;
    if (tag >= T_FIXINT) return tag - T_FIXINT;
    switch (tag) {
      case T_UNDEFINED:
        return undefined;
      case T_NULL:
        return null;
      case T_FALSE:
        return false;
      case T_TRUE:
        return true;
      case T_UINT:
        return this.readVarint();
      case T_NINT:
        return -this.readVarint();
      case T_FLOAT64:
        return this.readFloat64();
      case T_NAN:
        return NaN;
      case T_BIGINT_POS:
        return this.readBigint();
      case T_BIGINT_NEG:
        return -this.readBigint();
      case T_STRING:
        return this.readString();
      case T_ARRAY:
        return this.readArray();
      case T_OBJECT:
        return this.readObject({});
      case T_OBJECT_NULL_PROTO:
        return this.readObject(Object.create(null) as object);
      case T_MAP:
        return this.readMap();
      case T_SET:
        return this.readSet();
      case T_DATE:
        return this.readDate();
      case T_REGEXP:
        return this.readRegexp();
      case T_ARRAY_BUFFER:
        return this.readCopyBytes('an ArrayBuffer').buffer;
      case T_BUFFER:
        return Buffer.from(this.readCopyBytes('a Buffer').buffer);
      case T_DATA_VIEW:
        return new DataView(this.readCopyBytes('a DataView').buffer);
      case T_TYPED_ARRAY:
        return this.readTypedArray();
      case T_EXTENSION:
      case T_EXTENSION_REF:
        return this.readExtension(tag === T_EXTENSION);
      default:
        throw new DecodeFailure(`unknown type tag 0x${tag.toString(16).padStart(2, '0')} at byte ${at}`);
    }
  }

  private readFloat64(): number {
    if (this.end - this.pos < 8) throw this.truncated();
    const n = readFloat64LE(this.bytes, this.pos);
    this.pos += 8;
    return n;
  }

  private readBigint(): bigint {
    const length = this.readLength('a BigInt');
    const bytes = this.bytes;
    const start = this.pos;
    this.pos += length;
    if (length <= 6) {
      let n = 0;
      for (let i = start; i < start + length; i++) n = n * 256 + bytes[i]!;
      return BigInt(n);
    }
    let hex = '0x';
    for (let i = start; i < start + length; i++) hex += HEX_BYTES[bytes[i]!]!;
    return BigInt(hex);
  }

  /** A string; short ASCII ones go through the cache of recent strings (keys and enum-like values repeat). */
  private readString(): string {
    const at = this.pos;
    const header = this.readVarint();
    const length = Math.floor(header / 2);
    const remaining = this.end - this.pos;
    if (length > remaining) {
      throw new DecodeFailure(`a string at byte ${at} claims ${length} bytes but only ${remaining} remain`);
    }
    const bytes = this.bytes;
    const start = this.pos;
    const stop = start + length;
    this.pos = stop;
    if (header % 2 === 1) {
      if (length % 2 === 1) throw new DecodeFailure(`a UTF-16 string at byte ${at} has an odd byte length`);
      return Buffer.from(bytes.buffer, bytes.byteOffset + start, length).toString('utf16le');
    }
    if (length > SHORT_DECODE) return this.readUtf8(start, stop, at);
    if (length === 0) return '';
    // A hash of the length and three bytes picks the slot; the full comparison below decides. One pass over the
    // bytes either way: comparing on a hit, building (and checking they are ASCII) on a miss.
    const slot = (length * 31 + bytes[start]! * 7 + bytes[stop - 1]! * 131 + bytes[start + (length >> 1)]! * 17) & (STRING_CACHE_SIZE - 1);
    const cached = stringCache[slot];
    if (cached !== undefined && cached.length === length) {
      let i = 0;
      while (i < length && cached.charCodeAt(i) === bytes[start + i]) i++;
      if (i === length) return cached;
    }
    let s = '';
    for (let i = start; i < stop; i++) {
      const c = bytes[i]!;
      if (c >= 0x80) return this.readUtf8(start, stop, at);
      s += String.fromCharCode(c);
    }
    stringCache[slot] = s;
    return s;
  }

  private readUtf8(start: number, stop: number, at: number): string {
    try {
      return utf8Decoder.decode(this.bytes.subarray(start, stop));
    } catch (error) {
      throw new DecodeFailure(`a string at byte ${at} is not valid UTF-8`, { cause: error });
    }
  }

  private readArray(): unknown[] {
    const at = this.pos;
    const length = this.readVarint();
    if (length > MAX_ARRAY_LENGTH) throw new DecodeFailure(`an array at byte ${at} is longer than 2^32 - 1`);
    this.enter();
    // Grown by push and by setting length over holes: never preallocated from the untrusted length,
    // and every iteration consumes input, so the loop is bounded by the input size.
    const result: unknown[] = [];
    const bytes = this.bytes;
    let i = 0;
    while (i < length) {
      if (this.pos >= this.end) throw this.truncated();
      if (bytes[this.pos] === T_HOLE) {
        const holeAt = this.pos++;
        const holes = this.readVarint();
        if (holes === 0 || holes > length - i) {
          throw new DecodeFailure(`a run of ${holes} holes at byte ${holeAt} does not fit its array`);
        }
        i += holes;
        result.length = i;
      } else {
        result.push(this.readValue());
        i++;
      }
    }
    this.depth--;
    return result;
  }

  private readObject(target: object): object {
    const count = this.readCount('an object', 2);
    this.enter();
    const record = target as Record<string, unknown>;
    for (let i = 0; i < count; i++) {
      const key = this.readString();
      const value = this.readValue();
      // Assignment would run the __proto__ setter (prototype pollution) or any accessor or read-only
      // property inherited from Object.prototype; defining keeps every key plain own data.
      if (key in objectPrototype) {
        Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
      } else {
        record[key] = value;
      }
    }
    this.depth--;
    return target;
  }

  private readMap(): Map<unknown, unknown> {
    const count = this.readCount('a Map', 2);
    this.enter();
    const result = new Map<unknown, unknown>();
    for (let i = 0; i < count; i++) {
      const key = this.readValue();
      result.set(key, this.readValue());
    }
    this.depth--;
    return result;
  }

  private readSet(): Set<unknown> {
    const count = this.readCount('a Set', 1);
    this.enter();
    const result = new Set<unknown>();
    for (let i = 0; i < count; i++) result.add(this.readValue());
    this.depth--;
    return result;
  }

  private readDate(): Date {
    const at = this.pos;
    const time = this.readValue();
    if (typeof time !== 'number' || !(Number.isNaN(time) || (Number.isInteger(time) && Math.abs(time) <= MAX_TIME))) {
      throw new DecodeFailure(`a Date at byte ${at} does not hold a valid time`);
    }
    return new Date(time);
  }

  private readRegexp(): RegExp {
    const at = this.pos;
    this.enter();
    const source = this.readString();
    const flags = this.readString();
    const lastIndex = this.readValue();
    this.depth--;
    let result: RegExp;
    try {
      result = new RegExp(source, flags);
    } catch (error) {
      throw new DecodeFailure(`a RegExp at byte ${at} is invalid: ${errorMessage(error)}`, { cause: error });
    }
    result.lastIndex = lastIndex as number;
    return result;
  }

  /** Copies rather than views, so the result never aliases (or pins) the caller's input buffer. */
  private readCopyBytes(what: string): Uint8Array<ArrayBuffer> {
    const length = this.readLength(what);
    const copy = new Uint8Array(length);
    copy.set(this.bytes.subarray(this.pos, this.pos + length));
    this.pos += length;
    return copy;
  }

  private readTypedArray(): ArrayBufferView {
    const at = this.pos;
    if (this.pos >= this.end) throw this.truncated();
    const kind = this.bytes[this.pos++]!;
    const ctor = TYPED_ARRAYS[kind] as TypedArrayConstructor | undefined;
    if (ctor === undefined) throw new DecodeFailure(`unknown typed array kind ${kind} at byte ${at}`);
    const copy = this.readCopyBytes(`a ${ctor.name}`);
    const width = ctor.BYTES_PER_ELEMENT;
    if (copy.length % width !== 0) {
      throw new DecodeFailure(`a ${ctor.name} at byte ${at} has ${copy.length} bytes, not a multiple of ${width}`);
    }
    if (!LITTLE_ENDIAN_HOST) swapByteOrder(copy, 0, copy.length, width);
    return new ctor(copy.buffer);
  }

  private readExtension(named: boolean): unknown {
    const at = this.pos;
    let extension: CodecExtension | undefined;
    if (named) {
      const name = this.readString();
      extension = this.extensionsByName.get(name);
      if (extension === undefined) {
        throw new DecodeFailure(`unknown extension ${JSON.stringify(name)} at byte ${at}; register it with createCodec`);
      }
      this.extensionTable[this.extensionTableCount++] = extension;
    } else {
      const index = this.readVarint();
      extension = index < this.extensionTableCount ? this.extensionTable[index] : undefined;
      if (extension === undefined) throw new DecodeFailure(`unknown extension reference ${index} at byte ${at}`);
    }
    this.enter();
    const data = this.readValue();
    this.depth--;
    try {
      return extension.decode(data);
    } catch (error) {
      throw new DecodeFailure(
        `extension "${extension.name}" could not decode its data at byte ${at}: ${errorMessage(error)}`,
        { cause: error },
      );
    }
  }
}

function forKey(key: string | undefined): string {
  if (key === undefined) return '';
  return ` for key ${JSON.stringify(key.length > 200 ? `${key.slice(0, 200)}…` : key)}`;
}

function toSerializationError(error: unknown, key: string | undefined): SerializationError {
  const failure =
    error instanceof EncodeFailure ? error : new EncodeFailure(`encoding threw: ${errorMessage(error)}`, { cause: error });
  const segments = failure.segments.slice().reverse();
  const path = `$${segments.join('')}`;
  let what = failure.message;
  if (failure.cycleDepth !== undefined) {
    what = `${what} (back to ${`$${segments.slice(0, failure.cycleDepth).join('')}`})`;
  }
  const options: { path: string; key?: string; cause?: unknown } = { path };
  if (key !== undefined) options.key = key;
  if (failure.cause !== undefined) options.cause = failure.cause;
  return new SerializationError(`Cannot encode value${forKey(key)}: ${what} at ${path}`, options);
}

function toDecodeError(error: unknown, key: string | undefined): DecodeError {
  const message = error instanceof DecodeFailure ? error.message : `decoding failed: ${errorMessage(error)}`;
  const cause = error instanceof DecodeFailure ? error.cause : error;
  const options: { key?: string; cause?: unknown } = {};
  if (key !== undefined) options.key = key;
  if (cause !== undefined) options.cause = cause;
  return new DecodeError(`Cannot decode value${forKey(key)}: ${message}`, options);
}

function validateExtensions(value: unknown): CodecExtension[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new TypeError('createCodec: options.extensions must be an array of CodecExtension');
  const names = new Set<string>([DECIMAL_EXTENSION_NAME]);
  return value.map((candidate: unknown, index): CodecExtension => {
    const where = `createCodec: options.extensions[${index}]`;
    if (typeof candidate !== 'object' || candidate === null) throw new TypeError(`${where} must be an object`);
    const extension = candidate as Partial<Record<keyof CodecExtension, unknown>>;
    const { name } = extension;
    if (typeof name !== 'string' || name === '') throw new TypeError(`${where}.name must be a non-empty string`);
    for (const method of ['test', 'encode', 'decode'] as const) {
      if (typeof extension[method] !== 'function') {
        throw new TypeError(`${where}.${method} must be a function (extension ${JSON.stringify(name)})`);
      }
    }
    if (names.has(name)) {
      throw new TypeError(
        name === DECIMAL_EXTENSION_NAME
          ? `${where}.name ${JSON.stringify(name)} is reserved by the built-in decimal.js extension`
          : `${where}.name ${JSON.stringify(name)} is used by more than one extension`,
      );
    }
    names.add(name);
    return candidate as CodecExtension;
  });
}

function validateMaxBytes(value: unknown): number {
  if (value === undefined) return DEFAULT_MAX_BYTES;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`createCodec: options.maxBytes must be a positive finite number of bytes, got ${describeScalar(value)}`);
  }
  return value;
}

/**
 * Identity helper so an extension written inline infers its class from the `test` type guard, which
 * types the `encode` parameter and the `decode` result.
 */
export function defineExtension<T>(extension: CodecExtension<T>): CodecExtension<T> {
  return extension;
}

/**
 * Creates a codec. Each codec owns a scratch buffer reused across `encode` calls; the returned bytes are
 * always a right-sized copy with their own ArrayBuffer (never a pooled slice, which would pin a shared slab
 * for as long as the cache holds the entry).
 *
 * What comes back, and what does not:
 * - Array holes come back as holes (not as `undefined`); a huge sparse array costs its elements, not its length.
 * - Objects with a null prototype come back with a null prototype. Keys such as `__proto__` or `constructor`
 *   are own data properties; decoding defines them, so it never touches a prototype.
 * - Only own enumerable string keys are stored, as plain data properties (getters are read, not kept);
 *   non-index properties on arrays and extra properties on Dates, Maps, typed arrays... are not stored.
 * - Shared references are stored once per occurrence and come back as separate copies.
 * - Built-ins are recognised by exact prototype: subclasses (of Map, Array, Error...) and any other class
 *   need a CodecExtension. Extensions are only consulted for such objects, user extensions before Decimal.
 * - Limits: nesting deeper than {@link MAX_DEPTH} containers and output over `maxBytes` are refused.
 */
export function createCodec(options: CodecOptions = {}): Codec {
  if (typeof options !== 'object' || options === null) throw new TypeError('createCodec: options must be an object');
  const maxBytes = validateMaxBytes(options.maxBytes);
  const extensions = [...validateExtensions(options.extensions), decimalExtension as CodecExtension];
  const byName = new Map(extensions.map((extension) => [extension.name, extension]));
  const encoder = new Encoder(maxBytes, extensions);
  const decoder = new Decoder(byName);

  return {
    encode(value: unknown, key?: string): Uint8Array {
      // An extension may call back into this codec; the shared scratch is then in use.
      const active = encoder.busy ? new Encoder(maxBytes, extensions) : encoder;
      active.busy = true;
      try {
        return active.encode(value);
      } catch (error) {
        throw toSerializationError(error, key);
      } finally {
        active.busy = false;
      }
    },
    decode(bytes: Uint8Array, key?: string): unknown {
      if (!(bytes instanceof Uint8Array)) {
        throw toDecodeError(new DecodeFailure(`expected a Uint8Array, got ${describeScalar(bytes)}`), key);
      }
      const active = decoder.busy ? new Decoder(byName) : decoder;
      active.busy = true;
      try {
        return active.decode(bytes);
      } catch (error) {
        throw toDecodeError(error, key);
      } finally {
        active.busy = false;
      }
    },
  };
}

/** The codec with default options (8 MiB limit, Decimal support). */
export const defaultCodec: Codec = createCodec();
