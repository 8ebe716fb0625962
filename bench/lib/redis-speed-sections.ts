// Two tables of the `redis-speed` section (bench/redis-speed-report.ts): Redis commands per operation, and the
// invalidation hop between two processes (bus, raw pub/sub, client tracking).
import type { BusResult, HopKind } from './bus-hop.js';
import { COUNT_CONTENDERS, OPERATIONS, type CommandCounts, type OpCount } from './command-counts.js';

export const verdict = (ok: boolean) => (ok ? 'met' : '**not met**');

/** The targets of issue 15, collected while the tables are rendered and listed at the head of the section. */
export class Targets {
  readonly rows: { target: string; status: string; figure: string }[] = [];

  /** Records a target (`ok` undefined: shown, no threshold) and returns its bullet line for the table's notes. */
  add(target: string, ok: boolean | undefined, figure: string): string {
    const status = ok === undefined ? 'shown' : verdict(ok);
    this.rows.push({ target, status, figure });
    return `- Target ${target}: ${status} (${figure}).`;
  }

  /** A target whose measurement failed or did not run. */
  missing(target: string, why: string): void {
    this.rows.push({ target, status: 'not measured', figure: why });
  }

  table(): string[] {
    return ['| target (issue 15) | status | figure |', '|---|---|---|', ...this.rows.map((r) => `| ${r.target} | ${r.status} | ${r.figure} |`), ''];
  }
}

export function median(values: readonly number[]): number {
  const s = values.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[Math.floor((s.length - 1) / 2)] as number);
}

const num = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(2));

/** `SET 1, PUBLISH 1` style breakdown, commands sorted by name. */
function breakdown(by: Record<string, number>): string {
  const names = Object.keys(by).sort();
  return names.length === 0 ? '—' : names.map((n) => `${n.toUpperCase()} ${num(by[n] as number)}`).join(', ');
}

function cell(c: OpCount | undefined): string {
  if (c === undefined) return 'n/a';
  const inner = c.total - c.sent;
  return inner > 0 ? `**${num(c.sent)}** sent (${breakdown(c.sentByCommand)}); ${num(c.total)} executed (${breakdown(c.byCommand)})` : `**${num(c.sent)}** (${breakdown(c.sentByCommand)})`;
}

export function commandsSection(r: CommandCounts | string, targets: Targets): string[] {
  const known = typeof r === 'string' ? undefined : r;
  const head = [
    '### Redis commands per operation',
    '',
    'A private `redis-server` on a free loopback port (nobody else talks to it), stopped by its PID at the end. Per',
    `contender, after one untimed operation of each kind: ${known?.opsPerKind ?? 'N'} operations of each kind in turn, figures per operation.`,
    'Two sources: `INFO commandstats` deltas around each kind (every command the server executed, those a Lua script',
    'ran included; `INFO` itself left out), and a `MONITOR` connection tallying what clients sent (script-run lines',
    'left out). A cell gives what was sent, by command, and what the server executed where that differs. Each kind',
    'waits 100 ms before its second reading, so messages sent after a call resolved are counted.',
    '"get hit (Redis)": a second instance, its memory tier empty, reads values the first wrote; "get hit (memory)": the',
    `same reads again. getOrSet miss: one caller, a cold key. Tagged set: ${known?.tags.length ?? 'two'} tags. getMany: ${known?.batchesPerGetMany ?? 'a few'} batches of 100 keys`,
    'held in Redis only.',
    '',
  ];
  if (typeof r === 'string') {
    targets.missing('a plain `set` with Redis is a single `SET … PX`', r);
    return [...head, r, ''];
  }
  const lines = [...head, `Redis ${r.redisVersion}.`, '', `| operation | ${COUNT_CONTENDERS.join(' | ')} |`, `|---|${COUNT_CONTENDERS.map(() => '---').join('|')}|`];
  for (const op of OPERATIONS) {
    lines.push(`| ${op} | ${COUNT_CONTENDERS.map((name) => cell(r.contenders.find((c) => c.name === name)?.ops[op])).join(' | ')} |`);
  }
  lines.push('', 'Setups:', '', ...r.contenders.map((c) => `- ${c.name}: ${c.setup}`), '');
  const cmRepeat = r.contenders.find((c) => c.name === 'cache-manager')?.ops['get hit (memory)'];
  if (cmRepeat !== undefined && cmRepeat.sent > 0) {
    lines.push("cache-manager's repeat read still goes to Redis: its `get` does not copy a value found in Redis into its memory store.", '');
  }
  const ours = r.contenders.find((c) => c.name === 'tiercache');
  const tracked = r.contenders.find((c) => c.name === 'tiercache + tracking');
  const set = ours?.ops.set;
  if (set !== undefined) {
    const one = set.sent === 1 && set.total === 1 && set.sentByCommand.set === 1;
    lines.push(targets.add('a plain `set` with Redis is a single `SET … PX`', one, `${breakdown(set.byCommand)} per set`));
  }
  const tagged = ours?.ops['tagged set'];
  if (tagged !== undefined) lines.push(targets.add(`commands per tagged set (${r.tags.length} tags), no bus`, undefined, `${num(tagged.sent)}: ${breakdown(tagged.sentByCommand)}`));
  const miss = ours?.ops['getOrSet miss'];
  if (miss !== undefined) {
    const peers = r.contenders
      .filter((c) => c.name === 'bentocache' || c.name === 'cache-manager')
      .map((c) => `${c.name} ${num(c.ops['getOrSet miss']?.sent ?? Number.NaN)}`)
      .join(', ');
    lines.push(targets.add('commands per `getOrSet` miss (one caller)', undefined, `${num(miss.sent)} sent (${breakdown(miss.sentByCommand)}), ${num(miss.total)} executed; ${peers}`));
  }
  if (ours !== undefined && tracked !== undefined) {
    const same = OPERATIONS.every((op) => (ours.ops[op]?.total ?? -1) === (tracked.ops[op]?.total ?? -1));
    lines.push(targets.add("`coherence: 'tracking'` (BCAST) adds no command per operation", same, same ? 'every operation sends what it sends without tracking' : 'see the table'));
  }
  lines.push('');
  return lines;
}

export interface HopRow {
  kind: HopKind;
  rounds: number;
  received: number;
  messages: number;
  fromResolveP50: number;
  fromResolveP99: number;
  fromCallP50: number;
  fromCallP99: number;
  writeP50: number;
  negative: number;
  recovers: number;
  offsetUs: number;
}

export function hopRow(kind: HopKind, results: readonly BusResult[]): HopRow {
  return {
    kind,
    rounds: results.length,
    received: results.reduce((sum, r) => sum + r.received, 0),
    messages: results.reduce((sum, r) => sum + r.messages, 0),
    fromResolveP50: median(results.map((r) => r.fromResolve.p50)),
    fromResolveP99: median(results.map((r) => r.fromResolve.p99)),
    fromCallP50: median(results.map((r) => r.fromCall.p50)),
    fromCallP99: median(results.map((r) => r.fromCall.p99)),
    writeP50: median(results.map((r) => r.setLatency.p50)),
    negative: results.reduce((sum, r) => sum + r.fromResolve.negative, 0),
    recovers: results.reduce((sum, r) => sum + r.recovers, 0),
    offsetUs: median(results.map((r) => r.clockOffsetMs * 1000)),
  };
}

const HOP_WHAT: Record<HopKind, { write: string; landed: string }> = {
  'tiercache bus': { write: '`cache.set` (redisStore + redisBus)', landed: "B's `remote` event (its memory tier has dropped the key)" },
  'raw pub/sub': { write: 'ioredis `PUBLISH`', landed: "B's ioredis `message` event" },
  'tiercache tracking': { write: 'ioredis `SET` from outside tiercache', landed: "B's memory tier has dropped the key (`coherence: 'tracking'`)" },
};

export function busSection(rows: readonly HopRow[], messages: number, failures: readonly string[], targets: Targets): string[] {
  const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : 'n/a');
  const lines = [
    '### Invalidation hop between two processes',
    '',
    'Process A writes one key every 2 ms (awaited; 100 untimed first, then ' + String(messages) + ' timed); process B, forked by A and',
    "told apart over IPC, stamps `performance.timeOrigin + performance.now()` the moment the hop has landed; A stamps the",
    'same clock before its write and when it resolves. The same harness for every kind (bench/lib/bus-hop.ts, also',
    'used by the `redis` section). Each kind in fresh process pairs, rounds interleaved; each figure the median over',
    "rounds of that round's p50 or p99. For tracking, B hooks the tracking subscriber's message and stamps once",
    '`getStats().tracking.invalidated` shows the drop (tracking has no event of its own).',
    '',
    '| kind | A writes | B stamps when | resolve → landed p50 (ms) | p99 (ms) | call → landed p50 (ms) | p99 (ms) | write p50 (ms) | landed before A resolved | received |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.kind} | ${HOP_WHAT[r.kind].write} | ${HOP_WHAT[r.kind].landed} | ${ms(r.fromResolveP50)} | ${ms(r.fromResolveP99)} | ${ms(r.fromCallP50)} | ${ms(r.fromCallP99)} | ${ms(r.writeP50)} | ${r.negative} | ${r.received} of ${r.messages} |`,
    ),
    '',
  ];
  const ours = rows.find((r) => r.kind === 'tiercache bus');
  const raw = rows.find((r) => r.kind === 'raw pub/sub');
  const tracking = rows.find((r) => r.kind === 'tiercache tracking');
  if (ours !== undefined && raw !== undefined && ours.rounds > 0 && raw.rounds > 0) {
    // The hop is what follows the write: tiercache publishes once the store has the value (announcing earlier would
    // let a peer read the old value back into its memory tier), so its hop starts as `set` resolves. A raw PUBLISH
    // is the write, so its hop starts at the call: Redis hands the message to subscribers before it answers the
    // publisher, which makes "from resolving" near zero (or negative) for it.
    const x = ours.fromResolveP50 / raw.fromCallP50;
    const fromCall = ours.fromCallP50 / raw.fromCallP50;
    lines.push(
      targets.add(
        'bus p50 ≤ 1.3x a raw pub/sub hop',
        x <= 1.3,
        `${x.toFixed(2)}x: ${ms(ours.fromResolveP50)} ms from \`set\` resolving (the store has the value, the publish goes out) against ${ms(raw.fromCallP50)} ms from a raw \`PUBLISH\` call; from the \`set\` call, store write included, ${fromCall.toFixed(2)}x`,
      ),
      '  (both hops are a fraction of a millisecond, so this ratio moves a lot between runs).',
      targets.add('bus p99 < 2 ms on loopback', ours.fromResolveP99 < 2, `${ms(ours.fromResolveP99)} ms from the write resolving, ${ms(ours.fromCallP99)} ms from the call`),
    );
  } else {
    targets.missing('bus p50 ≤ 1.3x a raw pub/sub hop; p99 < 2 ms', failures[0] ?? 'no hop measured');
  }
  if (tracking !== undefined && tracking.rounds > 0) {
    lines.push(
      targets.add(
        'tracking: the memory tier drops a key written outside tiercache',
        undefined,
        `${ms(tracking.fromResolveP50)} ms p50, ${ms(tracking.fromResolveP99)} ms p99 after the outside \`SET\` resolves`,
      ),
      '  (Redis sends the invalidation as it executes the write, so it often lands before the writer has its reply).',
    );
  }
  const recovers = rows.reduce((sum, r) => sum + r.recovers, 0);
  lines.push(`- \`recover\` events in B: ${recovers}; clock offset B − A by IPC ping-pong: ${rows.map((r) => `${r.kind} ${r.offsetUs.toFixed(0)} µs`).join(', ')} (not applied).`, '');
  if (failures.length > 0) lines.push(...failures.map((f) => `_${f}_`), '');
  return lines;
}
