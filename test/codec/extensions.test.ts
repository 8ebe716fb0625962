import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { DecodeError, SerializationError } from '../../src/errors.js';
import {
  createCodec,
  decimalExtension,
  defineExtension,
  defaultCodec,
  isDecimal,
  type Codec,
  type CodecExtension,
} from '../../src/codec/index.js';
import { DecimalClass, difference, hex } from './helpers.js';

const MONEY_BRAND = Symbol.for('test.Money');

class Money {
  readonly [MONEY_BRAND] = true;
  constructor(
    readonly cents: bigint,
    readonly currency: string,
  ) {}
}

const moneyExtension: CodecExtension<Money> = {
  name: 'test.Money',
  test: (value): value is Money => typeof value === 'object' && value !== null && MONEY_BRAND in value,
  encode: (money) => ({ cents: money.cents, currency: money.currency }),
  decode: (data) => {
    const { cents, currency } = data as { cents: bigint; currency: string };
    return new Money(cents, currency);
  },
};

class Invoice {
  constructor(
    readonly lines: Money[],
    readonly issued: Date,
    readonly rate: InstanceType<typeof DecimalClass>,
  ) {}
}

const invoiceExtension: CodecExtension<Invoice> = {
  name: 'test.Invoice',
  test: (value): value is Invoice => value instanceof Invoice,
  // The payload mixes built-ins and other extension values.
  encode: (invoice) => [invoice.lines, invoice.issued, invoice.rate],
  decode: (data) => {
    const [lines, issued, rate] = data as [Money[], Date, InstanceType<typeof DecimalClass>];
    return new Invoice(lines, issued, rate);
  },
};

const codec = createCodec({ extensions: [moneyExtension, invoiceExtension] });

describe('codec extensions', () => {
  it('round-trips a user class holding a bigint and a string', () => {
    const money = new Money(-123_456_789_012_345_678_901n, 'EUR');
    const back = codec.decode(codec.encode(money)) as Money;
    expect(back).toBeInstanceOf(Money);
    expect(back.cents).toBe(money.cents);
    expect(back.currency).toBe('EUR');
  });

  it('round-trips extension values nested in built-ins and in other extensions', () => {
    const invoice = new Invoice([new Money(100n, 'USD'), new Money(250n, 'USD')], new Date(86_400_000), new DecimalClass('0.075'));
    const value = { invoices: new Map([['2024-01', [invoice, invoice]]]), total: new Money(700n, 'USD') };
    const back = codec.decode(codec.encode(value)) as typeof value;
    const [first, second] = back.invoices.get('2024-01')!;
    expect(first).toBeInstanceOf(Invoice);
    expect(first).not.toBe(second);
    expect(first!.lines[1]).toBeInstanceOf(Money);
    expect(first!.lines[1]!.cents).toBe(250n);
    expect(first!.issued).toEqual(new Date(86_400_000));
    expect(first!.rate.equals(new DecimalClass('0.075'))).toBe(true);
    expect(difference(back, value)).toBeUndefined();
  });

  it('writes each extension name once per message', () => {
    const one = codec.encode([new Money(1n, 'USD')]);
    const many = codec.encode(Array.from({ length: 50 }, () => new Money(1n, 'USD')));
    const perItem = (many.length - one.length) / 49;
    expect(perItem).toBeLessThan(one.length - 3);
    expect(Buffer.from(many).toString('latin1').split('test.Money').length - 1).toBe(1);
  });

  it('is deterministic with extensions', () => {
    const value = [new Money(5n, 'JPY'), new DecimalClass('1.1'), new Money(6n, 'JPY')];
    expect(hex(codec.encode(value))).toBe(hex(codec.encode(value)));
    expect(hex(codec.encode(codec.decode(codec.encode(value))))).toBe(hex(codec.encode(value)));
  });

  it('a codec without the extension refuses the class on encode and the name on decode', () => {
    const bytes = codec.encode({ price: new Money(1n, 'USD') });
    expect(() => defaultCodec.decode(bytes, 'price-key')).toThrow(DecodeError);
    expect(() => defaultCodec.decode(bytes)).toThrow(/unknown extension "test.Money"/);
    expect(() => defaultCodec.encode({ price: new Money(1n, 'USD') })).toThrow(/class Money/);
  });

  it('reports failures inside extension payloads with an extension path segment', () => {
    const broken = new Money(1n, 'USD');
    (broken as unknown as { currency: unknown }).currency = Symbol('bad');
    try {
      codec.encode({ wallet: [broken] }, 'w');
      expect.fail('should throw');
    } catch (error) {
      expect(error).toBeInstanceOf(SerializationError);
      expect((error as SerializationError).path).toBe('$.wallet[0]<test.Money>.currency');
    }
  });

  it('reports a throwing extension encode or test with its name', () => {
    const failing = createCodec({
      extensions: [
        {
          name: 'fails',
          test: (v): v is Money => v instanceof Money,
          encode: () => {
            throw new Error('cannot');
          },
          decode: () => null,
        },
      ],
    });
    expect(() => failing.encode({ m: new Money(1n, 'x') })).toThrow(/extension "fails" threw from encode\(\): cannot at \$\.m/);
    const badTest = createCodec({
      extensions: [
        {
          name: 'badTest',
          test: (v): v is never => {
            throw new Error(`no ${typeof v}`);
          },
          encode: () => null,
          decode: () => null,
        },
      ],
    });
    expect(() => badTest.encode([new Money(1n, 'x')])).toThrow(/badTest.*test\(\)/);
  });

  it('detects an extension that returns its own input instead of recursing forever', () => {
    const selfish = createCodec({
      extensions: [{ name: 'self', test: (v): v is Money => v instanceof Money, encode: (v) => v, decode: (v) => v }],
    });
    expect(() => selfish.encode(new Money(1n, 'x'))).toThrow(/circular reference/);
    const wrapping = createCodec({
      extensions: [
        defineExtension({
          name: 'wrap',
          test: (v): v is Money => v instanceof Money,
          encode: (v) => new Money(v.cents + 1n, v.currency),
          decode: (v) => v as Money,
        }),
      ],
    });
    expect(() => wrapping.encode(new Money(1n, 'x'))).toThrow(/deeper than 512/);
  });

  it('a user extension takes precedence for values it claims', () => {
    const seen: string[] = [];
    const custom = createCodec({
      extensions: [
        defineExtension({
          name: 'custom.Decimal',
          test: (v): v is InstanceType<typeof DecimalClass> => isDecimal(v),
          encode: (d) => {
            seen.push(d.toString());
            return d.toString();
          },
          decode: (s) => new DecimalClass(s as string),
        }),
      ],
    });
    const back = custom.decode(custom.encode(new DecimalClass('2.5'))) as InstanceType<typeof DecimalClass>;
    expect(seen).toEqual(['2.5']);
    expect(back.toString()).toBe('2.5');
  });

  it('supports an extension that calls back into the same codec', () => {
    const nested: Codec = createCodec({
      extensions: [
        defineExtension({
          name: 'packed',
          test: (v): v is Money => v instanceof Money,
          encode: (m) => nested.encode({ c: m.cents, k: m.currency }),
          decode: (bytes) => {
            const { c, k } = nested.decode(bytes as Uint8Array) as { c: bigint; k: string };
            return new Money(c, k);
          },
        }),
      ],
    });
    const value = { a: new Money(7n, 'GBP'), tail: 'x'.repeat(30) };
    const back = nested.decode(nested.encode(value)) as typeof value;
    expect(back.a).toBeInstanceOf(Money);
    expect(back.a.cents).toBe(7n);
    expect(back.tail).toBe(value.tail);
  });
});

describe('decimal extension', () => {
  it('is always present, under a stable name', () => {
    expect(decimalExtension.name).toBe('Decimal');
    expect(hex(codec.encode(new DecimalClass('1.5')))).toBe(hex(defaultCodec.encode(new DecimalClass('1.5'))));
  });

  it('recognizes decimals from another copy of decimal.js', () => {
    // The CommonJS build is a separate copy of the library from the ESM build the codec imports.
    const require = createRequire(import.meta.url);
    const Other = require('decimal.js') as typeof DecimalClass;
    expect(Other).not.toBe(DecimalClass);
    const foreign = new Other('-12.340000000000000000000000000001');
    expect(foreign instanceof DecimalClass).toBe(false);
    expect(isDecimal(foreign)).toBe(true);
    const back = defaultCodec.decode(defaultCodec.encode(foreign)) as InstanceType<typeof DecimalClass>;
    expect(back).toBeInstanceOf(DecimalClass);
    expect(back.toString()).toBe(foreign.toString());
    expect(isDecimal(new Other(-0))).toBe(true);
    expect(Object.is((defaultCodec.decode(defaultCodec.encode(new Other(-0))) as InstanceType<typeof DecimalClass>).toNumber(), -0)).toBe(true);
  });

  it('rejects look-alikes that merely carry the brand string', () => {
    expect(isDecimal({ toStringTag: '[object Decimal]' })).toBe(false);
    expect(isDecimal(null)).toBe(false);
    expect(isDecimal('1.5')).toBe(false);
  });

  it('does not round on construction: digits beyond the configured precision survive', () => {
    const digits = `3.${'14159265358979323846'.repeat(20)}`;
    const Narrow = DecimalClass.clone({ precision: 5 });
    const value = new Narrow(digits);
    expect(value.toString()).toBe(digits);
    const back = defaultCodec.decode(defaultCodec.encode(value)) as InstanceType<typeof DecimalClass>;
    expect(back.toFixed()).toBe(digits);
  });

  it.each(['0', '-0', 'NaN', 'Infinity', '-Infinity', '1e-9000000000000000', '-7.5e+9000000000000000', '0.1', '100', '-1e-7'])(
    'round-trips %s with its sign',
    (text) => {
      const value = new DecimalClass(text);
      const back = defaultCodec.decode(defaultCodec.encode(value)) as InstanceType<typeof DecimalClass>;
      expect(difference(back, value)).toBeUndefined();
      expect(Object.is(back.isNegative(), value.isNegative())).toBe(true);
    },
  );

  it('refuses to turn an out-of-range exponent into Infinity or zero', () => {
    const bytes = defaultCodec.encode(new DecimalClass('1e+5000'));
    const original = { maxE: DecimalClass.maxE };
    DecimalClass.set({ maxE: 100 });
    try {
      expect(() => defaultCodec.decode(bytes)).toThrow(/exponent range/);
    } finally {
      DecimalClass.set(original);
    }
    expect((defaultCodec.decode(bytes) as InstanceType<typeof DecimalClass>).toString()).toBe('1e+5000');
  });
});
