// Child process of the hostile-input scenario: a pattern that makes a backtracking matcher take exponential
// time would freeze the process it runs in, so each pattern runs here, where the parent can kill it.
// argv: seed, key count, key length, case name. Per round, sends { ready } once the keys are in, then the outcome.
import { Cache, isCacheError } from '../src/index.js';
import { seededRandom } from './lib.js';

const [seedText = '1', countText = '10000', lengthText = '60', which = 'nested-stars'] = process.argv.slice(2);
const random = seededRandom(Number(seedText));
const count = Number(countText);
const length = Number(lengthText);

/** Glob match by dynamic programming, O(key × pattern): the reference the cache's count is checked against. */
function globMatches(pattern: string, key: string): boolean {
  let row = new Array<boolean>(key.length + 1).fill(false);
  row[0] = true;
  for (const ch of pattern) {
    const next = new Array<boolean>(key.length + 1).fill(false);
    if (ch === '*') {
      let any = false;
      for (let j = 0; j <= key.length; j++) {
        any = any || (row[j] as boolean);
        next[j] = any;
      }
    } else {
      for (let j = 1; j <= key.length; j++) next[j] = (row[j - 1] as boolean) && (ch === '?' || key[j - 1] === ch);
    }
    row = next;
  }
  return row[key.length] as boolean;
}

// Mostly 'a': every `*a` of the pattern finds many places to stand, the worst case for backtracking. One key
// in ten ends in 'b' so that some keys do match.
const keys = new Set<string>();
while (keys.size < count) {
  let key = '';
  for (let i = 0; i < length - 1; i++) key += random() < 0.8 ? 'a' : String.fromCharCode(99 + Math.floor(random() * 24));
  keys.add(key + (random() < 0.1 ? 'b' : 'a'));
}
const pattern = which === 'long' ? '*a'.repeat(50_000) : '*a*a*a*a*a*a*a*a*a*a*a*a*b';
const expected = which === 'long' ? undefined : [...keys].filter((k) => globMatches(pattern, k)).length;
// Several rounds, the keys put back before each: the first shows the cold cost, the median the usual one.
const rounds = which === 'long' ? 1 : 5;
const cache = new Cache({ memory: { maxEntries: count * 2 } });
for (let round = 0; round < rounds; round++) {
  for (const key of keys) await cache.set(key, 1);
  process.send?.({ ready: true });
  const started = performance.now();
  let outcome: { kind: 'value'; removed: number } | { kind: 'error'; code: string | undefined; name: string };
  try {
    outcome = { kind: 'value', removed: await cache.invalidatePattern(pattern) };
  } catch (error) {
    outcome = { kind: 'error', code: isCacheError(error) ? error.code : undefined, name: error instanceof Error ? error.name : typeof error };
  }
  const elapsed = performance.now() - started;
  await new Promise<void>((resolve) => process.send?.({ ms: elapsed, outcome, expected, patternLength: pattern.length, last: round === rounds - 1 }, () => resolve()));
}
process.exit(0);
