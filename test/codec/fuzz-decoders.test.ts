/**
 * Everything a decoder reads came from outside the process: a store's bytes, a peer's bus message. Whatever
 * arrives, a decoder answers with a value, a typed refusal (`DecodeError`, or the bus decoder's reason string),
 * or a miss, and it answers quickly: it never throws anything else and never runs away with a length it read.
 * Inputs are kept small, so a call that takes long is a decoder looping or allocating by a length field.
 * fast-check prints the seed and the shrunk counterexample of a failure; `fc.assert(..., { seed })` replays it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BUS_LIMITS, decodeEnvelope, type BusEnvelope } from '../../src/bus/contract.js';
import { Cache } from '../../src/cache.js';
import { createCodec, defaultCodec, defineExtension, FORMAT_VERSION } from '../../src/codec/index.js';
import type { Codec } from '../../src/codec/types.js';
import { decodeEntry, encodeEntry, type DecodedEntry, type EntryHeader } from '../../src/entry.js';
import { DecodeError, isCacheError } from '../../src/errors.js';
import { sqliteStore } from '../../src/stores/sqlite.js';
import { createFakeClock } from '../../src/testing/fake-clock.js';
import { valueArb } from './helpers.js';

/** Far above what a decode of a few hundred bytes takes, far below a hang. */
const MAX_CALL_MS = 250;

class Money {
  constructor(
    readonly cents: bigint,
    readonly currency: string,
  ) {}
}

// An extension whose own decode throws a plain TypeError on data it did not write: the codec must wrap that.
const moneyExtension = defineExtension<Money>({
  name: 'fuzz.Money',
  test: (v): v is Money => v instanceof Money,
  encode: (m) => [m.cents, m.currency],
  decode: (data) => {
    if (!Array.isArray(data) || typeof data[0] !== 'bigint' || typeof data[1] !== 'string') throw new TypeError('not money');
    return new Money(data[0], data[1]);
  },
});
const codec: Codec = createCodec({ extensions: [moneyExtension] });

const moneyArb = fc.tuple(fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }), fc.constantFrom('EUR', 'USD', 'JPY')).map(([c, cur]) => new Money(c, cur));
const storedValueArb = fc.oneof(valueArb, moneyArb, fc.array(moneyArb, { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 6 }), moneyArb, { maxKeys: 3 }));

function describeThrown(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return `a non-error ${typeof error}: ${String(error)}`;
}

/**
 * Runs one decode. Returns 'value' or 'refused' (a DecodeError, which is also a CacheError with code E_DECODE);
 * anything else thrown, or a slow call, fails the property.
 */
function outcome(decode: () => unknown): 'value' | 'refused' {
  const started = performance.now();
  let result: 'value' | 'refused';
  try {
    decode();
    result = 'value';
  } catch (error) {
    if (!(error instanceof DecodeError && isCacheError(error) && error.code === 'E_DECODE')) {
      throw new Error(`threw ${describeThrown(error)} instead of a DecodeError`, { cause: error });
    }
    result = 'refused';
  }
  const ms = performance.now() - started;
  if (ms > MAX_CALL_MS) throw new Error(`a decode of a small input took ${ms.toFixed(0)} ms`);
  return result;
}

/** What the read path does with stored bytes: the envelope, then (unless it is a lease marker) the value. */
function readStored(bytes: Uint8Array): unknown {
  const entry = decodeEntry(bytes, 'fuzz:key');
  checkEntry(entry, bytes);
  return entry.lease ? entry.value : codec.decode(entry.value, 'fuzz:key');
}

/** An entry the decoder accepted is one the read path can use without checking it again. */
function checkEntry(entry: DecodedEntry, bytes: Uint8Array): void {
  expect(Number.isFinite(entry.createdAt)).toBe(true);
  expect(Number.isNaN(entry.expiresAt)).toBe(false);
  if (entry.freshUntil !== undefined) expect(Number.isNaN(entry.freshUntil)).toBe(false);
  expect(entry.tags?.length).toBe(entry.stamps?.length);
  // The value is a view of the input's tail, never bytes from outside it.
  expect(entry.value.buffer).toBe(bytes.buffer);
  expect(entry.value.byteOffset + entry.value.length).toBe(bytes.byteOffset + bytes.length);
}

const textArb = fc.string({ unit: 'grapheme', maxLength: 12 });
const headerArb: fc.Arbitrary<EntryHeader> = fc
  .record({
    createdAt: fc.double({ noNaN: true, noDefaultInfinity: true }),
    expiresAt: fc.oneof(fc.double({ noNaN: true }), fc.constant(Number.POSITIVE_INFINITY)),
    freshUntil: fc.option(fc.double({ noNaN: true }), { nil: undefined }),
    tags: fc.option(fc.array(fc.tuple(textArb, textArb), { maxLength: 4 }), { nil: undefined }),
  })
  .map(({ createdAt, expiresAt, freshUntil, tags }) => ({
    createdAt,
    expiresAt,
    freshUntil,
    tags: tags?.map(([tag]) => tag),
    stamps: tags?.map(([, stamp]) => stamp),
  }));

/** A real stored entry, as the core writes it: the envelope around the codec's bytes (or a lease token). */
const entryArb = fc.record({ header: headerArb, value: storedValueArb, lease: fc.boolean() }).map(({ header, value, lease }) => ({
  header,
  lease,
  bytes: encodeEntry(lease ? new TextEncoder().encode('holder-token') : codec.encode(value), header, lease),
}));

const mutationArb = fc.oneof(
  fc.record({ kind: fc.constant('bit' as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant('byte' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);
type Mutation = typeof mutationArb extends fc.Arbitrary<infer M> ? M : never;

function mutate(input: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  const bytes = Array.from(input);
  for (const m of mutations) {
    if (bytes.length === 0) break;
    const at = m.at % bytes.length;
    if (m.kind === 'bit') bytes[at] = (bytes[at] as number) ^ (1 << m.bit);
    else if (m.kind === 'byte') bytes[at] = m.byte;
    else if (m.kind === 'insert') bytes.splice(at, 0, m.byte);
    else if (m.kind === 'delete') bytes.splice(at, 1);
    else bytes.length = at;
  }
  return Uint8Array.from(bytes);
}

describe('entry envelope decoder (decodeEntry) and the codec behind it', () => {
  it('random bytes give an entry or a DecodeError', () => {
    const prefix = fc.constantFrom<'none' | 'version' | 'header'>('none', 'version', 'header');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), prefix, fc.nat(7), (bytes, kind, flags) => {
        // Also past the first checks: a known version byte, and known flags.
        if (kind !== 'none' && bytes.length > 0) bytes[0] = 1;
        if (kind === 'header' && bytes.length > 1) bytes[1] = flags;
        outcome(() => checkEntry(decodeEntry(bytes), bytes));
        outcome(() => readStored(bytes));
      }),
      { numRuns: 5000 },
    );
  });

  it('real entries read back as written (the generator makes what the core writes)', () => {
    fc.assert(
      fc.property(entryArb, ({ header, bytes, lease }) => {
        const entry = decodeEntry(bytes);
        expect(entry.lease).toBe(lease);
        expect(entry.createdAt).toBe(header.createdAt);
        expect(entry.expiresAt).toBe(header.expiresAt);
        expect(outcome(() => readStored(bytes))).toBe('value');
      }),
      { numRuns: 500 },
    );
  });

  it('no strict prefix of a real entry reads as a value', () => {
    fc.assert(
      fc.property(entryArb, ({ bytes, lease }) => {
        fc.pre(!lease);
        for (let cut = 0; cut < bytes.length; cut++) {
          const part = bytes.subarray(0, cut);
          expect(outcome(() => readStored(part)), `cut at ${cut} of ${bytes.length}`).toBe('refused');
        }
      }),
      { numRuns: 150 },
    );
  });

  it('bit flips, byte changes, insertions, deletions and truncations give a value or a DecodeError', () => {
    fc.assert(
      fc.property(entryArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), ({ bytes }, mutations) => {
        outcome(() => readStored(mutate(bytes, mutations)));
      }),
      { numRuns: 5000 },
    );
  });

  it('codec bytes after a valid version byte give a value or a DecodeError, extensions included', () => {
    // Past the version check, random bytes reach every type tag, length and extension path of the decoder.
    const extensionTag = codec.encode(new Money(1n, 'EUR'))[1] as number;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (tail, asExtension) => {
        const bytes = Uint8Array.from([FORMAT_VERSION, ...(asExtension ? [extensionTag] : []), ...tail]);
        outcome(() => codec.decode(bytes));
        outcome(() => defaultCodec.decode(bytes));
      }),
      { numRuns: 5000 },
    );
  });
});

describe('a cache reading corrupt entries from a store', () => {
  it('gets a value or a miss, never a rejection, and reports only DecodeErrors', async () => {
    const clock = createFakeClock();
    const store = sqliteStore({ path: ':memory:', pruneInterval: 0, clock });
    const cache = new Cache({ clock, stores: [store], codec });
    const reported: unknown[] = [];
    cache.on('error', ({ error }) => reported.push(error));
    let n = 0;
    try {
      await fc.assert(
        fc.asyncProperty(entryArb, fc.array(mutationArb, { minLength: 1, maxLength: 3 }), async ({ bytes }, mutations) => {
          const key = `fuzz:${++n}`;
          await store.set(key, mutate(bytes, mutations), clock.now() + 60_000);
          reported.length = 0;
          await cache.get(key);
          for (const error of reported) expect(isCacheError(error) && error.code === 'E_DECODE', describeThrown(error)).toBe(true);
        }),
        { numRuns: 300 },
      );
    } finally {
      await cache.close();
    }
  });
});

// --- bus messages ---------------------------------------------------------------------------------------------

const TYPES = new Set(['keys', 'clear', 'namespace', 'pattern', 'tags', 'ping']);

const boundedItem = (value: unknown): boolean => typeof value === 'string' && value.length > 0 && value.length <= BUS_LIMITS.itemChars;
const boundedList = (value: unknown): boolean => Array.isArray(value) && value.length <= BUS_LIMITS.items && value.every(boundedItem);

/**
 * What the receiver relies on in a decoded message: a refusal is a reason; an accepted header is well-formed;
 * a body without a problem is one the receiver can act on without checking it again.
 */
function checkDecoded(text: unknown): 'accepted' | 'refused' {
  const started = performance.now();
  const decoded = decodeEnvelope(text);
  const ms = performance.now() - started;
  if (ms > MAX_CALL_MS) throw new Error(`decoding a small message took ${ms.toFixed(0)} ms`);
  if (typeof decoded === 'string') {
    expect(decoded.length).toBeGreaterThan(0);
    return 'refused';
  }
  expect(typeof decoded.origin === 'string' && decoded.origin.length > 0 && decoded.origin.length <= BUS_LIMITS.originChars).toBe(true);
  expect(Number.isSafeInteger(decoded.seq) && decoded.seq >= 1).toBe(true);
  expect(typeof decoded.prefix === 'string' && decoded.prefix.length <= BUS_LIMITS.itemChars).toBe(true);
  expect(TYPES.has(decoded.type)).toBe(true);
  if (decoded.problem !== undefined) {
    expect(typeof decoded.problem).toBe('string');
    return 'refused';
  }
  const f = decoded.fields;
  if (decoded.type === 'keys') expect(boundedList(f.keys)).toBe(true);
  if (decoded.type === 'namespace') expect(boundedItem(f.namespace)).toBe(true);
  if (decoded.type === 'pattern') expect(typeof f.pattern).toBe('string');
  if (decoded.type === 'tags') {
    expect(boundedList(f.tags) && boundedList(f.stamps)).toBe(true);
    expect((f.tags as unknown[]).length).toBe((f.stamps as unknown[]).length);
  }
  return 'accepted';
}

const itemArb = fc.string({ minLength: 1, maxLength: 24 });
const messageArb = fc.oneof(
  fc.record({ type: fc.constant('keys' as const), keys: fc.array(itemArb, { maxLength: 5 }) }),
  fc.record({ type: fc.constant('clear' as const) }),
  fc.record({ type: fc.constant('namespace' as const), namespace: itemArb }),
  fc.record({ type: fc.constant('pattern' as const), pattern: fc.string({ maxLength: 24 }) }),
  fc.array(fc.tuple(itemArb, itemArb), { maxLength: 4 }).map((pairs) => ({ type: 'tags' as const, tags: pairs.map(([t]) => t), stamps: pairs.map(([, s]) => s) })),
  fc.record({ type: fc.constant('ping' as const) }),
);
const envelopeArb: fc.Arbitrary<BusEnvelope> = fc
  .tuple(fc.record({ origin: fc.uuid(), seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), prefix: fc.string({ maxLength: 12 }) }), messageArb)
  .map(([header, message]) => ({ ...message, ...header }));

const charEditArb = fc.oneof(
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), text: fc.string({ unit: 'binary', minLength: 1, maxLength: 3 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.constantFrom('"', '{', '}', '[', ']', ',', ':', '\\', '0', '-1', 'null', '1e999', '\u0000', '\ud800') }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), text: fc.constant('') }),
);

describe('bus message decoder (decodeEnvelope)', () => {
  it('random text gives a reason or a well-formed envelope, never a throw', () => {
    const textArb = fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.json({ maxDepth: 4 }), fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)));
    fc.assert(
      fc.property(textArb, (text) => {
        checkDecoded(text);
      }),
      { numRuns: 5000 },
    );
  });

  it('real envelopes are accepted, and every strict prefix of one is refused', () => {
    fc.assert(
      fc.property(envelopeArb, (envelope) => {
        const text = JSON.stringify(envelope);
        expect(checkDecoded(text)).toBe('accepted');
        for (let cut = 0; cut < text.length; cut++) expect(checkDecoded(text.slice(0, cut)), `cut at ${cut}`).toBe('refused');
      }),
      { numRuns: 150 },
    );
  });

  it('edited envelopes give a reason or a well-formed envelope', () => {
    fc.assert(
      fc.property(envelopeArb, fc.array(charEditArb, { minLength: 1, maxLength: 4 }), (envelope, edits) => {
        let text = JSON.stringify(envelope);
        for (const edit of edits) {
          const at = edit.at % (text.length + 1);
          const drop = edit.kind === 'insert' ? 0 : 1;
          text = text.slice(0, at) + edit.text + text.slice(at + drop);
        }
        checkDecoded(text);
      }),
      { numRuns: 5000 },
    );
  });

  it('envelope fields of any type, as text or as an already-parsed object, are checked', () => {
    const field = <T>(valid: fc.Arbitrary<T>) => fc.oneof(valid, fc.anything({ maxDepth: 2 }));
    const objectArb = fc.record(
      {
        origin: field(fc.uuid()),
        seq: field(fc.oneof(fc.integer(), fc.double(), fc.constant(2 ** 53))),
        prefix: field(fc.string({ maxLength: 8 })),
        type: field(fc.constantFrom('keys', 'clear', 'namespace', 'pattern', 'tags', 'ping', 'values', '__proto__')),
        keys: field(fc.array(itemArb, { maxLength: 3 })),
        namespace: field(itemArb),
        pattern: field(fc.string({ maxLength: 8 })),
        tags: field(fc.array(itemArb, { maxLength: 3 })),
        stamps: field(fc.array(itemArb, { maxLength: 3 })),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(objectArb, (object) => {
        checkDecoded(object);
        let text: string | undefined;
        try {
          text = JSON.stringify(object);
        } catch {
          // BigInt and other values JSON cannot carry: only the parsed form can arrive.
        }
        if (text !== undefined) checkDecoded(text);
      }),
      { numRuns: 3000 },
    );
  });

  it('refuses oversized messages and lists without reading them through', () => {
    const huge = `{"origin":"o","seq":1,"prefix":"","type":"keys","keys":["${'k'.repeat(BUS_LIMITS.messageChars)}"]}`;
    expect(checkDecoded(huge)).toBe('refused');
    const many = { origin: 'o', seq: 1, prefix: '', type: 'keys', keys: new Array<string>(BUS_LIMITS.items + 1).fill('k') };
    expect(checkDecoded(many)).toBe('refused');
    // A parsed object can claim any length without holding the items.
    const sparse = { origin: 'o', seq: 1, prefix: '', type: 'tags', tags: new Array<string>(2 ** 32 - 1), stamps: [] };
    expect(checkDecoded(sparse)).toBe('refused');
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    expect(checkDecoded(deep)).toBe('refused');
  });
});
