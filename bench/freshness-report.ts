// The `freshness` section of `npm run bench`: runs bench/freshness.ts scenarios in child processes and renders them.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { InvalidateResult, PatternResult, PingStats, TaggedGetResult } from './freshness.js';
import { attemptChild } from './lib/child.js';
import { sweepPrefixes } from './lib/redis-admin.js';

const SCRIPT = 'freshness.ts';
/** Every configuration of scenarios 1 and 2 runs once per round, in a rotated order; medians across rounds are shown. */
const ROUNDS = 3;
const SIZES = [1_000, 10_000, 100_000] as const;
const TAG_COUNTS = [0, 1, 3, 10] as const;
const CONTENDERS = ['tiercache', 'bentocache'] as const;
const TIERS = ['memory', 'redis'] as const;
const PATTERNS = [100, 11_100, 10_000] as const;

const fmt = (x: number, digits = 0) => x.toLocaleString('en', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const signed = (x: number, digits = 0) => (x >= 0 ? '+' : '−') + fmt(Math.abs(x), digits);

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[Math.floor((s.length - 1) / 2)] as number);
}

function newPrefix(): string {
  return `tcbench:fresh:${randomBytes(4).toString('hex')}:`;
}

/** Runs `configs` ROUNDS times, rotating the order each round; returns each configuration's results. */
function rounds<C, T>(configs: readonly C[], run: (config: C) => T | string): (T | string)[][] {
  const out: (T | string)[][] = configs.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    for (let k = 0; k < configs.length; k++) {
      const index = (k + r * Math.max(1, Math.floor(configs.length / ROUNDS))) % configs.length;
      (out[index] as (T | string)[]).push(run(configs[index] as C));
    }
  }
  return out;
}

function successes<T>(results: readonly (T | string)[]): T[] {
  return results.filter((r): r is T => typeof r !== 'string');
}

function firstFailure(results: readonly unknown[]): string | undefined {
  return results.find((r): r is string => typeof r === 'string');
}

// ---------------------------------------------------------------------------------------------------------

interface InvalidateConfig {
  contender: (typeof CONTENDERS)[number];
  tiers: (typeof TIERS)[number];
  entries: number;
}

function invalidationSection(prefixes: string[], loads: number[]): string[] {
  const configs: InvalidateConfig[] = [];
  for (const contender of CONTENDERS) for (const tiers of TIERS) for (const entries of SIZES) configs.push({ contender, tiers, entries });
  const results = rounds(configs, (c) => {
    const prefix = newPrefix();
    prefixes.push(prefix);
    return attemptChild<InvalidateResult>('freshness', SCRIPT, `invalidate ${c.contender} ${c.tiers} ${c.entries}`, ['invalidate', c.contender, c.tiers, String(c.entries), `--prefix=${prefix}`], loads);
  });

  const lines = [
    '### Tag invalidation: latency against the number of tagged entries',
    '',
    'N entries `{ id, name, active, score }` carry the tag `catalog` (tiercache writes them with `setMany`, 1,000 per',
    'call; BentoCache with 1,000 concurrent `set` calls), in a memory tier sized to hold them all, and with Redis also',
    'in Redis (tiercache: `redisStore` + `redisBus`; BentoCache: `memoryDriver` L1 + `redisDriver` L2 + `redisBusDriver`).',
    '1,000 untimed invalidations come first (they also fill tiercache\'s 1,000-event invalidation log, so the timed',
    'calls see its steady state); then 500 rounds of: write a tagged probe, time one `await cache.invalidateTags([tag])`',
    '(BentoCache: `await bento.deleteByTag({ tags: [tag] })`), read the probe and one of the N entries (both must be',
    'gone), write a new tagged entry and read it back (it must be found). No entry is re-tagged between calls: both',
    `libraries invalidate lazily. Each configuration runs in its own process, ${ROUNDS} rounds in a rotated order; every`,
    'figure is the median across rounds. The checks count failures over all rounds.',
    '',
    '| contender | tiers | tagged entries | load (s) | p50 (µs) | p99 (µs) | p50 / p50 at 1k | stale probe / bulk reads | new writes lost |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const commands = new Map<string, number>();
  const bases = new Map<string, number>();
  let pausedLost = 0;
  let pausedRuns = 0;
  let bentoLost = 0;
  let tierLost = 0;
  configs.forEach((c, k) => {
    const all = results[k] as (InvalidateResult | string)[];
    const ok = successes(all);
    const name = c.contender === 'tiercache' ? '**tiercache**' : 'bentocache';
    const tiers = c.tiers === 'memory' ? 'memory' : 'memory + Redis + bus';
    if (ok.length === 0) {
      lines.push(`| ${name} | ${tiers} | ${fmt(c.entries)} | _${firstFailure(all) ?? 'no result'}_ | | | | | |`);
      return;
    }
    const p50 = median(ok.map((r) => r.latency.p50));
    const p99 = median(ok.map((r) => r.latency.p99));
    const key = `${c.contender}/${c.tiers}`;
    if (c.entries === SIZES[0]) bases.set(key, p50);
    const base = bases.get(key);
    const runs = ok.reduce((sum, r) => sum + r.runs, 0);
    const stale = ok.reduce((sum, r) => sum + r.probeSurvived, 0);
    const bulk = ok.reduce((sum, r) => sum + r.bulkSurvived, 0);
    const lost = ok.reduce((sum, r) => sum + r.freshLost, 0);
    pausedLost += ok.reduce((sum, r) => sum + r.freshLostAfterPause, 0);
    pausedRuns += ok.reduce((sum, r) => sum + r.pausedRuns, 0);
    if (c.contender === 'bentocache') bentoLost += lost;
    if (c.contender === 'tiercache') tierLost += lost;
    for (const r of ok) for (const [cmd, n] of Object.entries(r.commandsPerCall ?? {})) commands.set(`${key} ${cmd}`, n);
    const failed = all.length - ok.length;
    lines.push(
      `| ${name} | ${tiers} | ${fmt(c.entries)} | ${fmt(median(ok.map((r) => r.loadSeconds)), 1)} | ${fmt(p50, 1)} | ${fmt(p99, 0)} | ${base === undefined ? 'n/a' : `${(p50 / base).toFixed(2)}x`} | ${stale} / ${bulk} of ${fmt(runs)} | ${lost} of ${fmt(runs)}${lost > 0 ? ` (${((100 * lost) / runs).toFixed(0)}%)` : ''} |` +
        (failed > 0 ? ` ${failed} round(s) failed: ${firstFailure(all) ?? ''}` : ''),
    );
  });
  const perCall = [...commands].filter(([k]) => k.startsWith('tiercache/redis ')).map(([k, n]) => `${k.split(' ')[1] ?? ''} ×${fmt(n, n % 1 === 0 ? 0 : 2)}`);
  lines.push(
    '',
    'What each call does. **tiercache** `invalidateTags` replaces the tag\'s stamp (two random tokens) in its registry;',
    'with a store it writes the tag\'s marker to Redis and then announces the new stamp on the bus — Redis commands',
    `per call, counted on the store's and the bus's connections: ${perCall.length > 0 ? perCall.join(', ') : 'n/a'} (the XADD is the shared`,
    'invalidation log, sent after the call resolves). Calls made in the same event-loop turn are coalesced, so even',
    'the memory-only call waits one `setImmediate`. Entries keep the stamps they were written with and are checked',
    'on read. **BentoCache** `deleteByTag` writes `___bc:t:<tag>` = `Date.now()` through its whole stack (L1 `set`;',
    'with Redis, a `SET` and a bus message); a read of a tagged entry fetches every tag\'s timestamp through its',
    '`getOrSet` machinery and treats the entry as invalid when `createdAt <= timestamp`. Both costs are one write per',
    'tag, whatever the number of tagged entries. tiercache\'s memory-only call also draws a random stamp',
    '(`crypto.randomBytes`) and records an invalidation-log event; BentoCache\'s is one synchronous L1 `set`.',
    'The p99 column (5th slowest of 500 per round) mostly shows this shared 2-core machine: a call is the more',
    'likely to be preempted the longer it runs.',
    '',
    `New writes lost: tiercache ${tierLost}, BentoCache ${bentoLost} in all. BentoCache's millisecond comparison makes an entry written in`,
    'the same millisecond as the `deleteByTag` before it read back as invalidated; with a 2 ms pause between the call',
    `and the write (${fmt(pausedRuns)} more calls over all configurations, both libraries), ${pausedLost} ${pausedLost === 1 ? 'was' : 'were'} lost. tiercache compares stamps`,
    'for equality, so a write made after the call is valid at once.',
    '',
  );
  return lines;
}

// ---------------------------------------------------------------------------------------------------------

interface TaggedConfig {
  contender: (typeof CONTENDERS)[number];
  tags: number;
}

function taggedSection(loads: number[]): string[] {
  const configs: TaggedConfig[] = [];
  for (const contender of CONTENDERS) for (const tags of TAG_COUNTS) configs.push({ contender, tags });
  const results = rounds(configs, (c) => attemptChild<TaggedGetResult>('freshness', SCRIPT, `tagged-get ${c.contender} ${c.tags}`, ['tagged-get', c.contender, String(c.tags)], loads));
  const first = successes(results.flat())[0];
  const lines = [
    '### Memory-tier hit on tagged entries',
    '',
    '`await get(key)` on 10,000 entries that each carry 0, 1, 3 or 10 tags (tag j of entry i is `t<j>:<i % 100>`, so',
    'entries share tags), memory tier only, every read a hit. The `bench/latency.ts` method: every read timed on its',
    `own, the cost of an empty \`performance.now()\` pair subtracted (${first === undefined ? 'n/a' : fmt(first.timerNs)} ns here), a measured round after a warm-up round`,
    `(tiercache: 200,000 reads each; BentoCache: 50,000), then an untimed loop (1,000,000 / 200,000 reads) for ns/read`,
    `without the timer. One process per contender and tag count, ${ROUNDS} rounds in a rotated order, medians across`,
    'rounds. "per tag" is the difference from the untagged entries divided by the number of tags.',
    '',
    '| contender | tags / entry | p50 (ns) | p99 (ns) | untimed (ns/read) | p50 vs untagged | per tag, p50 (ns) | per tag, untimed (ns) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const untagged = new Map<string, { p50: number; loop: number }>();
  configs.forEach((c, k) => {
    const all = results[k] as (TaggedGetResult | string)[];
    const ok = successes(all);
    const name = c.contender === 'tiercache' ? '**tiercache**' : 'bentocache';
    if (ok.length === 0) {
      lines.push(`| ${name} | ${c.tags} | _${firstFailure(all) ?? 'no result'}_ | | | | | |`);
      return;
    }
    const p50 = median(ok.map((r) => r.p50));
    const p99 = median(ok.map((r) => r.p99));
    const loop = median(ok.map((r) => r.loopNs));
    if (c.tags === 0) untagged.set(c.contender, { p50, loop });
    const base = untagged.get(c.contender);
    const perTag = (x: number, b: number) => (c.tags === 0 ? '—' : signed((x - b) / c.tags));
    lines.push(
      `| ${name} | ${c.tags} | ${fmt(p50)} | ${fmt(p99)} | ${fmt(loop)} | ${base === undefined || c.tags === 0 ? '—' : signed(p50 - base.p50)} | ${base === undefined ? 'n/a' : perTag(p50, base.p50)} | ${base === undefined ? 'n/a' : perTag(loop, base.loop)} |`,
    );
  });
  lines.push(
    '',
    'tiercache checks a tagged entry against its stamp registry (one `Map` lookup and one string comparison per tag)',
    'only when a stamp changed since the entry was last found fresh: the registry has a version, bumped by every change,',
    'and the entry remembers the version it was last checked at, so a hit on an unchanged registry compares one number',
    'whatever the number of tags. BentoCache runs a full `getOrSet` of each tag\'s `___bc:t:<tag>` key per read.',
    'Differences of a few tens of ns are within run-to-run noise on this shared machine; the 10-tag rows resolve the',
    'per-tag slope best.',
    '',
  );
  return lines;
}

// ---------------------------------------------------------------------------------------------------------

function pingCell(p: PingStats): string {
  return `${fmt(p.p50, 3)} / ${fmt(p.p99, 2)} / ${fmt(p.max, 1)} (${fmt(p.count)})`;
}

function patternSection(prefixes: string[], loads: number[]): string[] {
  const perPattern = rounds([...PATTERNS], (n) => {
    const prefix = newPrefix();
    prefixes.push(prefix);
    return attemptChild<PatternResult>('freshness', SCRIPT, `pattern ${n}`, ['pattern', String(n), `--prefix=${prefix}`], loads);
  });
  const lines = [
    '### Pattern invalidation over 100,000 Redis keys',
    '',
    '100,000 entries `forecast:u<0..999>:d<0..99>` written through tiercache (`setMany`, 100 per call) into a cache',
    'with `memory: { maxEntries: 10,000 }` and `redisStore`, whose prefix index is then built (`buildIndex()`, as a',
    "service's first prefix deletion does in the background); then one `invalidatePattern`: the plain prefixes",
    '`forecast:u42:*` (100 keys) and `forecast:u9*` (11,100 keys), which the core sends to the store as `deletePrefix`',
    '(a range of the sorted index, then UNLINK, 500 keys per script), or the glob `forecast:u9??:*` (10,000 keys),',
    `which only listing can answer. Each run in a fresh process and keyspace, ${ROUNDS} runs per pattern. A glob lists`,
    'keys with `SCAN MATCH <prefix><pattern> COUNT 1000`: MATCH filters only what each step returns, so SCAN walks the',
    "**whole** database whatever the pattern, about one call per 1,000 keys in it (other clients' keys included), then",
    "removes the matches with `UNLINK`, 1,000 keys per command, pipelined. SCAN calls are counted on the store's own",
    'connection and, as Redis sees them, from `INFO commandstats` before and after; "slowest ≤" is the upper bound of',
    'the slowest `LATENCY HISTOGRAM` bucket (powers of two) that gained a call meanwhile. The server is shared: other',
    "clients' commands count in the server-side figures too. Each row is the run with the median wall time; the",
    'checks (matching keys left, stale reads of matched keys, unmatched keys lost) cover every run.',
    '',
  ];
  const shown: PatternResult[] = [];
  const table = [
    '| pattern | keys in the database | matched / removed | wall (ms), all runs | SCAN calls (connection / server) | server µs per SCAN: mean / slowest ≤ | UNLINK calls; server µs: mean / slowest ≤ | scripts; server µs mean | SLOWLOG entries | checks |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  PATTERNS.forEach((n, k) => {
    const all = perPattern[k] as (PatternResult | string)[];
    const ok = successes(all).sort((a, b) => a.wallMs - b.wallMs);
    const r = ok[Math.floor((ok.length - 1) / 2)];
    if (r === undefined) {
      table.push(`| ${fmt(n)} keys | _${firstFailure(all) ?? 'no result'}_ | | | | | | | | |`);
      return;
    }
    shown.push(r);
    const bad = ok.filter((x) => x.leftMatching !== 0 || x.readAfter !== 0 || x.unmatchedLost !== 0 || x.removed !== x.expected).length;
    const failed = all.length - ok.length;
    const checks = `${bad === 0 ? 'ok' : `${bad} run(s) wrong`} in ${ok.length} run(s)${failed > 0 ? `; ${failed} failed: ${firstFailure(all) ?? ''}` : ''}`;
    table.push(
      `| \`${r.pattern}\` | ${fmt(r.dbsize)} | ${fmt(r.expected)} / ${fmt(r.removed)} | **${fmt(r.wallMs)}** (${ok.map((x) => fmt(x.wallMs)).join(', ')}) | ${fmt(r.clientScans)} / ${fmt(r.serverScans)} | ${fmt(r.serverScanUsec / Math.max(1, r.serverScans))} / ${fmt(r.slowestScanUs)} | ${fmt(r.serverUnlinks)}; ${fmt(r.serverUnlinkUsec / Math.max(1, r.serverUnlinks))} / ${fmt(r.slowestUnlinkUs)} | ${fmt(r.serverScripts)}; ${fmt(r.serverScriptUsec / Math.max(1, r.serverScripts))} | ${r.slowlogEntries} (≥ ${fmt(r.slowlogThresholdUs / 1000)} ms) | ${checks} |`,
    );
  });
  lines.push(...table);
  if (shown.length === 0) return [...lines, ''];
  const slowest = Math.max(...shown.map((r) => Math.max(r.slowestScanUs, r.slowestUnlinkUs)));
  lines.push(
    '',
    'Was the server blocked? A second process PINGs Redis back to back on its own connection, first for 1 s with',
    'nothing else running (baseline), then during the call. PING latency in ms, p50 / p99 / max (PINGs answered),',
    'same runs as above:',
    '',
    '| pattern | baseline | during `invalidatePattern` |',
    '|---|---:|---:|',
    ...shown.map((r) => `| \`${r.pattern}\` | ${pingCell(r.pingBaseline)} | ${pingCell(r.pingDuring)} |`),
    '',
    `Each SCAN step and each 1,000-key UNLINK is one command of its own (the slowest at most ${fmt(slowest / 1000, 1)} ms on the server in`,
    `these runs; SLOWLOG, threshold ${fmt((shown[0]?.slowlogThresholdUs ?? 0) / 1000)} ms, recorded ${shown.reduce((sum, r) => sum + r.slowlogEntries, 0)} entries during them), and other clients are served between`,
    'them: a PING waits at most for the command in progress. The PING figures also carry CPU scheduling: during the',
    'call the invalidating process, Redis and the PING process compete for 2 cores, which alone slows the PINGs. What',
    'grows with the database is the walk: for a glob, wall time follows the size of the whole keyspace, not the number',
    'of matches; for a plain prefix it follows the matches (one index range and one script per 500 of them).',
    '',
  );
  return lines;
}

// ---------------------------------------------------------------------------------------------------------

export async function runFreshnessBenchmarks(): Promise<string> {
  const prefixes: string[] = [];
  const loads: number[] = [];
  const sections: string[] = [];
  try {
    sections.push(...invalidationSection(prefixes, loads));
    sections.push(...taggedSection(loads));
    sections.push(...patternSection(prefixes, loads));
  } finally {
    const leftover = await sweepPrefixes(prefixes).catch((error: unknown) => {
      console.error(`freshness: sweep failed: ${String(error)}`);
      return 0;
    });
    if (leftover > 0) console.error(`freshness: swept ${leftover} leftover keys`);
  }
  const header = [
    '## Freshness',
    '',
    `Tag and pattern invalidation, with Redis on 127.0.0.1. One-minute load average while the scenarios ran:`,
    `${fmt(Math.min(...loads), 2)}–${fmt(Math.max(...loads), 2)} on ${os.cpus().length} cores (the machine is shared; tail latencies move with it).`,
    '',
  ];
  return [...header, ...sections].join('\n');
}
