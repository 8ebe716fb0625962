// The codec's JSON form (docs/decisions.md, 48): deciding whether JSON brings a value back exactly, and reading
// the text back. codec.ts writes and recognises the form's two header bytes; this file knows nothing of them.
import { Buffer } from 'node:buffer';

const objectPrototype = Object.prototype;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
/** `Buffer.prototype.utf8Slice`, called on a plain view: decodes any Uint8Array's bytes in [start, end), bad bytes as U+FFFD. */
const nodeUtf8Slice = (Buffer.prototype as unknown as { utf8Slice: (this: Uint8Array, start: number, end: number) => string }).utf8Slice;

/**
 * What is left of `budget` after walking `value`, or -1 when JSON would not bring the value back exactly (see
 * {@link jsonText}) or the walk ran out of budget. The budget (about the value's JSON length) bounds the walk, so a
 * value that shares one object many times costs no more steps than the bytes it would take.
 */
function jsonBudgetLeft(value: unknown, depth: number, budget: number, maxDepth: number): number {
  switch (typeof value) {
    case 'string':
      return budget - value.length - 2;
    case 'number':
      return Number.isFinite(value) && (value !== 0 || 1 / value > 0) ? budget - 1 : -1;
    case 'boolean':
      return budget - 5;
    case 'object': {
      if (value === null) return budget - 4;
      if (depth >= maxDepth) return -1;
      const proto = Object.getPrototypeOf(value) as object | null;
      if (proto === Array.prototype) {
        if (!Array.isArray(value)) return -1;
        const array = value as unknown[];
        const length = array.length;
        let left = budget - 1 - length;
        for (let i = 0; i < length && left >= 0; i++) {
          const item = array[i];
          // A hole reads as undefined too: both would come back as null.
          if (item === undefined) return -1;
          left = jsonBudgetLeft(item, depth + 1, left, maxDepth);
        }
        return left;
      }
      if (proto !== objectPrototype || Object.getOwnPropertySymbols(value).length > 0) return -1;
      const keys = Object.keys(value);
      const record = value as Record<string, unknown>;
      let left = budget - 1 - keys.length;
      for (let i = 0; i < keys.length && left >= 0; i++) {
        const key = keys[i]!;
        const item = record[key];
        if (item === undefined) return -1;
        left = jsonBudgetLeft(item, depth + 1, left - key.length - 3, maxDepth);
      }
      return left;
    }
    default:
      return -1;
  }
}

/**
 * The JSON text of `value` when JSON brings it back exactly, else undefined: an object or an array with plain
 * prototypes, holding only strings, finite numbers other than -0, booleans, null and more of the same, with no
 * holes, no undefined members and no symbol keys, nested at most `maxDepth` deep, and no `toJSON` on the
 * prototypes. Scalars are left to the tagged form: they are smaller there, and only an object's or an array's
 * text has no strict prefix that parses. A getter that throws also gives undefined, so the tagged form can
 * read it again and report it at its path.
 */
export function jsonText(value: unknown, maxBytes: number, maxDepth: number): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  // A toJSON on either prototype would change what JSON.stringify writes.
  if ((objectPrototype as { toJSON?: unknown }).toJSON !== undefined || (Array.prototype as { toJSON?: unknown }).toJSON !== undefined) return undefined;
  try {
    if (jsonBudgetLeft(value, 0, maxBytes, maxDepth) < 0) return undefined;
    return JSON.stringify(value);
  } catch {
    return undefined;
  }
}

/**
 * The value whose JSON text is `bytes[start, end)`. Throws a TypeError for bytes that are not UTF-8 and the
 * SyntaxError of `JSON.parse` for text that does not parse. Node's own UTF-8 slice does the decoding, without
 * the view and the checks of a TextDecoder call; it replaces bad bytes with U+FFFD, so a text holding one is
 * decoded again strictly, to tell a real U+FFFD from corrupt input.
 */
export function parseJsonText(bytes: Uint8Array, start: number, end: number): unknown {
  let text = nodeUtf8Slice.call(bytes, start, end);
  if (text.includes('\ufffd')) text = strictUtf8.decode(bytes.subarray(start, end));
  return JSON.parse(text) as unknown;
}
