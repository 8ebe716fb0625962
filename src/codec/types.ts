/**
 * Teaches the codec one class of values. The codec writes `name` into the bytes, so it must stay stable
 * for as long as encoded values live in a shared tier.
 *
 * @example
 * const money: CodecExtension<Money> = {
 *   name: 'acme.Money',
 *   test: (v): v is Money => v instanceof Money,
 *   encode: (m) => ({ cents: m.cents, currency: m.currency }),
 *   decode: (d) => { const { cents, currency } = d as { cents: bigint; currency: string }; return new Money(cents, currency); },
 * };
 */
export interface CodecExtension<T = unknown> {
  /** Stable identifier written into the encoded bytes. */
  readonly name: string;
  /** True when this extension handles `value`. Prefer a brand check over `instanceof` across package copies. */
  test(value: unknown): value is T;
  /** Turns the value into anything the codec can encode (plain data, Date, BigInt, Map, nested extensions...). */
  encode(value: T): unknown;
  /** Rebuilds the value from what `encode` returned. */
  decode(data: unknown): T;
}

/** Turns values into bytes and back, identically for every tier. */
export interface Codec {
  /**
   * Encodes a value. Throws `SerializationError` naming `key` (when given) and the offending path for
   * functions, symbols, class instances without an extension, cycles, and values over the size limit.
   */
  encode(value: unknown, key?: string): Uint8Array;
  /** Decodes bytes written by `encode`. Throws `DecodeError` for corrupt, truncated or unknown input. */
  decode(bytes: Uint8Array, key?: string): unknown;
}

export interface CodecOptions {
  /** Extensions for classes beyond the built-in types. Decimal (decimal.js) is always included. */
  extensions?: readonly CodecExtension[];
  /**
   * Largest encoded value accepted, in bytes.
   * @default 8388608 (8 MiB)
   */
  maxBytes?: number;
}
