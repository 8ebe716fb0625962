/**
 * Rough codec timing, not a test: `npx tsx bench/codec.ts`.
 * Compares one encode+decode round trip against JSON and v8 serialization of a similar value.
 */
import v8 from 'node:v8';
import { Decimal } from 'decimal.js';
import { defaultCodec } from '../src/codec/index.js';

const DecimalClass = Decimal;

const rich = { id: 123, name: 'alice', active: true, balance: new DecimalClass('1234.56'), at: new Date(), tags: ['a', 'b'] };
const plain = { id: 123, name: 'alice', active: true, balance: '1234.56', at: new Date().toISOString(), tags: ['a', 'b'] };
const larger = {
  users: Array.from({ length: 100 }, (_, i) => ({ id: i, name: `user-${i}`, email: `user${i}@example.com`, score: i * 1.5, tags: ['x', 'y'] })),
};

function time(label: string, iterations: number, run: () => unknown): void {
  for (let i = 0; i < iterations / 10; i++) run();
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) run();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / iterations);
  }
  console.log(`${label.padEnd(52)} ${(best / 1000).toFixed(2).padStart(8)} µs`);
}

const N = 200_000;
const richBytes = defaultCodec.encode(rich);
const plainBytes = defaultCodec.encode(plain);
const plainJson = JSON.stringify(plain);
const plainV8 = v8.serialize(plain);
console.log(`sizes: codec(rich) ${richBytes.length} B, codec(plain) ${plainBytes.length} B, JSON ${plainJson.length} B, v8 ${plainV8.length} B`);

time('codec encode (rich: Decimal + Date)', N, () => defaultCodec.encode(rich));
time('codec decode (rich)', N, () => defaultCodec.decode(richBytes));
time('codec encode+decode (rich)', N, () => defaultCodec.decode(defaultCodec.encode(rich)));
time('codec encode+decode (plain)', N, () => defaultCodec.decode(defaultCodec.encode(plain)));
time('JSON.stringify+JSON.parse (plain)', N, () => JSON.parse(JSON.stringify(plain)));
time('v8.serialize+deserialize (plain)', N, () => v8.deserialize(v8.serialize(plain)));

const M = 2_000;
console.log(`\n100-user array: codec ${defaultCodec.encode(larger).length} B, JSON ${JSON.stringify(larger).length} B`);
time('codec encode+decode (100 users)', M, () => defaultCodec.decode(defaultCodec.encode(larger)));
time('JSON.stringify+JSON.parse (100 users)', M, () => JSON.parse(JSON.stringify(larger)));
time('v8.serialize+deserialize (100 users)', M, () => v8.deserialize(v8.serialize(larger)));
