import { describe, expect, it } from 'vitest';
import { isCacheError, SerializationError } from '../../src/errors.js';
import { createCodec, defaultCodec, MAX_DEPTH } from '../../src/codec/index.js';

function refusal(value: unknown, key?: string, codec = defaultCodec): SerializationError {
  try {
    codec.encode(value, key);
  } catch (error) {
    expect(error).toBeInstanceOf(SerializationError);
    expect(isCacheError(error)).toBe(true);
    return error as SerializationError;
  }
  throw new Error('expected encode to throw');
}

class Widget {
  constructor(readonly size: number) {}
}

describe('codec refusals', () => {
  it('names the key, the path and the function', () => {
    const error = refusal({ items: [1, 2, 3, { handler: function onClick() {} }] }, 'user:42');
    expect(error.code).toBe('E_SERIALIZATION');
    expect(error.key).toBe('user:42');
    expect(error.path).toBe('$.items[3].handler');
    expect(error.message).toContain('"user:42"');
    expect(error.message).toContain('$.items[3].handler');
    expect(error.message).toContain('function (onClick)');
  });

  it('refuses a top-level function and a class', () => {
    expect(refusal(() => 1).path).toBe('$');
    expect(refusal({ cls: Widget }).message).toContain('a class (Widget)');
  });

  it('refuses symbols as values', () => {
    const error = refusal({ tags: new Set(['a', Symbol('secret')]) }, 'k');
    expect(error.path).toBe('$.tags<item 1>');
    expect(error.message).toContain('Symbol(secret)');
  });

  it('refuses symbols as property keys', () => {
    const error = refusal({ nested: { [Symbol('id')]: 1, ok: true } }, 'k');
    expect(error.path).toBe('$.nested[Symbol(id)]');
    expect(error.message).toMatch(/symbol-keyed property/);
  });

  it('names map entries by their key', () => {
    const error = refusal({ map: new Map<unknown, unknown>([[1, 'ok'], [2, { value: () => 0 }]]) }, 'k');
    expect(error.path).toBe('$.map<key 2>.value');
    const stringKey = refusal(new Map([['alice', Symbol.iterator]]));
    expect(stringKey.path).toBe('$<key "alice">');
    const objectKey = refusal(new Map([[{ id: 1 }, { fn: Math.max }]]));
    expect(objectKey.path).toBe('$<value of entry 0>.fn');
    const badKey = refusal(new Map<unknown, number>([['x', 1], [{ f: parseInt }, 1]]));
    expect(badKey.path).toBe('$<key of entry 1>.f');
  });

  it('quotes keys that are not identifiers', () => {
    expect(refusal({ 'a b': { 'x-y': [() => 0] } }).path).toBe('$["a b"]["x-y"][0]');
  });

  it('names the class of an instance without an extension', () => {
    const error = refusal({ w: new Widget(3) }, 'widgets');
    expect(error.path).toBe('$.w');
    expect(error.message).toContain('class Widget');
    expect(error.message).toContain('CodecExtension');
  });

  it('refuses subclasses of built-ins rather than flattening them', () => {
    class TaggedMap extends Map<string, number> {}
    expect(refusal(new TaggedMap()).message).toContain('class TaggedMap (a subclass of Map)');
    class List extends Array<number> {}
    expect(refusal(List.from([1])).message).toContain('class List (a subclass of Array)');
    expect(refusal(new (class extends Date {})()).message).toContain('subclass of Date');
  });

  it.each([
    ['WeakMap', new WeakMap(), /WeakMap/],
    ['WeakSet', new WeakSet(), /WeakSet/],
    ['WeakRef', new WeakRef({}), /WeakRef/],
    ['Promise', Promise.resolve(1), /Promise/],
    ['boxed string', new String('x'), /boxed String/],
    ['Error', new Error('boom'), /class Error/],
    ['SharedArrayBuffer', new SharedArrayBuffer(4), /SharedArrayBuffer/],
  ])('refuses a %s', (_, value, pattern) => {
    expect(refusal({ v: value }, 'k').message).toMatch(pattern);
  });

  it('refuses cycles and says where they point back to', () => {
    const root: { list: unknown[]; self?: unknown } = { list: [] };
    root.list.push({ back: root });
    const error = refusal(root, 'loop');
    expect(error.path).toBe('$.list[0].back');
    expect(error.message).toContain('circular reference (back to $)');
    const map = new Map<string, unknown>();
    map.set('me', map);
    expect(refusal(map).path).toBe('$<key "me">');
  });

  it('finds cycles deeper than the linear ancestor scan', () => {
    const root: Record<string, unknown> = {};
    let node = root;
    for (let i = 0; i < 100; i++) {
      const next: Record<string, unknown> = {};
      node.n = next;
      node = next;
    }
    node.loop = root.n;
    const error = refusal(root);
    expect(error.message).toContain('circular reference (back to $.n)');
    node.loop = (root.n as Record<string, unknown>).n;
    expect(refusal(root).message).toContain('back to $.n.n)');
    // A shared (non-circular) object deep down is fine.
    node.loop = root.shared = { leaf: true };
    expect(() => defaultCodec.encode(root)).not.toThrow();
  });

  it('refuses nesting deeper than the limit', () => {
    let value: unknown = 1;
    for (let i = 0; i <= MAX_DEPTH; i++) value = [value];
    const error = refusal(value, 'deep');
    expect(error.message).toContain(`deeper than ${MAX_DEPTH}`);
    expect(error.path).toBe(`$${'[0]'.repeat(MAX_DEPTH)}`);
  });

  it('refuses output over maxBytes, giving size and limit', () => {
    const small = createCodec({ maxBytes: 100 });
    const error = refusal({ blob: 'x'.repeat(200) }, 'big', small);
    expect(error.message).toMatch(/maxBytes/);
    expect(error.message).toContain('the limit is 100 bytes');
    expect(error.message).toMatch(/needs at least \d+ bytes/);
    expect(error.message).toContain('"big"');
    expect(() => defaultCodec.encode('x'.repeat(9 * 1024 * 1024))).toThrow(/8388608 bytes/);
  });

  it('accepts a value of exactly maxBytes', () => {
    // A Date keeps it in the tagged form, the most compact one the codec has.
    const value = { a: [1, 2, 3], s: 'hello', at: new Date(0) };
    const exact = defaultCodec.encode(value);
    const codec = createCodec({ maxBytes: exact.length });
    expect(codec.encode(value)).toEqual(exact);
    expect(() => createCodec({ maxBytes: exact.length - 1 }).encode(value)).toThrow(SerializationError);
  });

  it('stops early on exponential blow-up from shared references', () => {
    let value: unknown = 'x'.repeat(100);
    for (let i = 0; i < 60; i++) value = [value, value];
    const started = Date.now();
    expect(() => defaultCodec.encode(value)).toThrow(/maxBytes/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('reports a throwing getter at its path', () => {
    const value = {
      ok: 1,
      get broken(): number {
        throw new Error('nope');
      },
    };
    const error = refusal(value, 'k');
    expect(error.path).toBe('$.broken');
    expect(error.message).toContain('nope');
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('omits the key from the message when none is given', () => {
    const error = refusal([() => 0]);
    expect(error.key).toBeUndefined();
    expect(error.message).toMatch(/^Cannot encode value: /);
  });

  it('returns nothing partial and leaves the codec usable after a refusal', () => {
    expect(() => defaultCodec.encode({ a: 'x'.repeat(50), b: Symbol('s') })).toThrow(SerializationError);
    expect(defaultCodec.decode(defaultCodec.encode({ a: 1 }))).toEqual({ a: 1 });
    // Depth bookkeeping is reset: a legal deep value still encodes after a deep failure.
    let deep: unknown = 1;
    for (let i = 0; i < MAX_DEPTH; i++) deep = [deep];
    expect(() => defaultCodec.encode(deep)).not.toThrow();
  });
});
