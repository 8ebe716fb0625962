import cliProgress from 'cli-progress';
import type { PatternProgress } from '../api-types.js';
import type { InvalidationEvent } from '../freshness/log.js';
import { parseDuration } from '../ttl.js';
import { CLI_ORIGIN, CliError, EXIT, redact, type Connection } from './connect.js';
import { fleetHealth, fleetOf, fleetTable, totalsOf } from './fleet-view.js';
import { bytes, count, duration, pairs, percent, readable } from './format.js';

/** Where a command writes, and whether it writes JSON. */
export interface Output {
  readonly json: boolean;
  out(text: string): void;
  err(text: string): void;
}

export function printJson(output: Output, value: unknown): void {
  output.out(JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2));
}

/** Fails with exit code 1 when the shared store does not answer: every command but `health` needs it. */
export async function requireStore(conn: Connection): Promise<void> {
  const report = await conn.cache.getHealth({ maxProbeAge: 0 });
  const store = Object.values(report.stores)[0];
  if (store?.reachable !== true) {
    throw new CliError(`cannot reach ${conn.backend} at ${redact(conn.location)}: ${store?.lastProbe?.error ?? 'no answer'}`, EXIT.failure);
  }
}

export async function stats(conn: Connection, output: Output): Promise<number> {
  const report = await conn.cache.getHealth({ maxProbeAge: 0 });
  const fleet = await fleetOf(conn.cache);
  const totals = totalsOf(fleet);
  const health = fleetHealth(report, fleet);
  if (health.status === 'down' && !health.store.reachable) throw new CliError(health.reasons.join('; '), EXIT.failure);
  if (output.json) {
    printJson(output, { totals, health: health.status, store: health.store, bus: health.bus, instances: fleet });
    return EXIT.ok;
  }
  output.out(
    pairs([
      ['instances', totals.instances],
      ['hits', count(totals.hits)],
      ['misses', count(totals.misses)],
      ['hit rate', percent(totals.hitRate)],
      ['memory entries', count(totals.entries)],
      ['memory used', bytes(totals.bytes)],
      ['store', `${health.store.name} ${health.store.reachable ? 'reachable' : 'UNREACHABLE'}${health.store.latencyMs === null ? '' : ` (${health.store.latencyMs.toFixed(1)} ms)`}`],
      ['bus', health.bus === undefined ? 'none' : health.bus.ready ? 'ok' : 'NOT OK'],
    ]),
  );
  output.out('');
  output.out(fleetTable(fleet, Date.now()));
  return EXIT.ok;
}

export async function health(conn: Connection, output: Output): Promise<number> {
  const report = await conn.cache.getHealth({ maxProbeAge: 0 });
  // A store that does not answer is the verdict itself (down): the fleet is then just unknown.
  const fleet = await fleetOf(conn.cache).catch(() => []);
  const verdict = fleetHealth(report, fleet);
  if (output.json) printJson(output, verdict);
  else {
    output.out(`status: ${verdict.status}${verdict.status === 'degraded' ? ' (serving, but something needs a look)' : ''}`);
    for (const reason of verdict.reasons) output.out(`  - ${reason}`);
    output.out(`store: ${verdict.store.name} ${verdict.store.reachable ? 'reachable' : 'unreachable'}; bus: ${verdict.bus === undefined ? 'none' : verdict.bus.ready ? 'ok' : 'not ok'}; instances: ${fleet.length}`);
  }
  return verdict.status === 'down' ? EXIT.down : EXIT.ok;
}

export async function instances(conn: Connection, output: Output): Promise<number> {
  await requireStore(conn);
  const fleet = await fleetOf(conn.cache);
  if (output.json) printJson(output, fleet);
  else output.out(fleetTable(fleet, Date.now()));
  return EXIT.ok;
}

export async function inspect(conn: Connection, key: string, output: Output): Promise<number> {
  const info = await conn.cache.inspect(key);
  if (info === undefined) {
    output.err(`not found: ${JSON.stringify(key)}`);
    return EXIT.notFound;
  }
  if (output.json) printJson(output, info);
  else {
    output.out(
      pairs([
        ['key', info.key],
        ['tier', info.tier],
        ['size', bytes(info.sizeBytes)],
        ['created', info.createdAt.toISOString()],
        ['expires', `${info.expiresAt.toISOString()} (in ${duration(info.ttlRemaining)})`],
        ['stale until', info.staleUntil.toISOString()],
        ['tags', info.tags.length === 0 ? '-' : info.tags.join(', ')],
        ['stale', info.stale ? 'yes' : 'no'],
      ]),
    );
  }
  return EXIT.ok;
}

export async function get(conn: Connection, key: string, output: Output): Promise<number> {
  const result = await conn.cache.getResult(key);
  if (result.error !== undefined) throw result.error;
  if (!result.ok) {
    output.err(`not found: ${JSON.stringify(key)}`);
    return EXIT.notFound;
  }
  const shown = readable(result.value);
  if (output.json) printJson(output, { key, source: result.source, value: shown });
  else output.out(JSON.stringify(shown, null, 2));
  return EXIT.ok;
}

export interface InvalidateFlags {
  tag?: string[];
  pattern?: string;
  key?: string[];
  reason?: string;
  yes?: boolean;
}

export async function invalidate(conn: Connection, flags: InvalidateFlags, output: Output, progress: boolean): Promise<number> {
  const { tag, pattern, key } = flags;
  if (tag === undefined && pattern === undefined && key === undefined) throw new CliError('invalidate needs --tag, --pattern or --key', EXIT.usage);
  if (pattern !== undefined && /^\**$/.test(pattern) && flags.yes !== true) throw new CliError(`--pattern ${JSON.stringify(pattern)} removes every key: add --yes to do it`, EXIT.usage);
  await requireStore(conn);
  const options = { triggeredBy: CLI_ORIGIN, confirm: flags.yes === true, ...(flags.reason === undefined ? {} : { reason: flags.reason }) };
  const bar = pattern !== undefined && progress ? removalBar(pattern) : undefined;
  let removed: number;
  try {
    removed = await conn.cache.invalidate({ ...(tag === undefined ? {} : { tags: tag }), ...(pattern === undefined ? {} : { pattern }), ...(key === undefined ? {} : { keys: key }) }, { ...options, ...(bar === undefined ? {} : { onProgress: bar.update }) });
  } finally {
    bar?.stop();
  }
  const summary = { removed, tags: tag ?? [], pattern: pattern ?? null, keys: key ?? [], reason: flags.reason ?? null, triggeredBy: CLI_ORIGIN };
  if (output.json) printJson(output, summary);
  else output.out(`invalidated${tag === undefined ? '' : ` tags ${tag.join(', ')}`}${pattern === undefined ? '' : ` pattern ${pattern}`}${key === undefined ? '' : ` keys ${key.join(', ')}`}: ${removed} key(s) removed${tag === undefined ? '' : ' (tagged entries are dropped lazily, not counted)'}`);
  return EXIT.ok;
}

/** A cli-progress bar on stderr, started by its first `show` (so it never draws before there is a total). */
export function progressBar(format: string): { show: (total: number, value: number, payload: object) => void; stop: () => void } {
  const bar = new cliProgress.SingleBar({ stream: process.stderr, format, hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic);
  let started = false;
  return {
    show: (total, value, payload) => {
      if (!started) {
        bar.start(total, value, payload);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(value, payload);
      }
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}

/**
 * A bar that follows a pattern invalidation (`PatternOptions.onProgress`): a counter while the store lists the keys
 * that match (on a large keyspace the long part), then removed against matched as the batches go.
 */
function removalBar(pattern: string): { update: (progress: PatternProgress) => void; stop: () => void } {
  const bar = progressBar('{phase} {pattern} [{bar}] {value}/{total} keys ({duration}s)');
  return {
    update: (progress) => {
      const listing = !progress.done && progress.removed === 0;
      bar.show(progress.matched, progress.removed, { pattern, phase: listing ? 'listing keys matching' : 'removing keys matching' });
    },
    stop: bar.stop,
  };
}

export async function expire(conn: Connection, tags: string[], reason: string | undefined, output: Output): Promise<number> {
  await requireStore(conn);
  const n = await conn.cache.expireTags(tags, { triggeredBy: CLI_ORIGIN, ...(reason === undefined ? {} : { reason }) });
  if (output.json) printJson(output, { expired: tags, count: n, reason: reason ?? null, triggeredBy: CLI_ORIGIN });
  else output.out(`expired ${n} tag(s): ${tags.join(', ')} (their entries are now stale)`);
  return EXIT.ok;
}

export async function clear(conn: Connection, yes: boolean, reason: string | undefined, output: Output): Promise<number> {
  if (!yes) throw new CliError('clear removes every entry of the cache under this prefix from the shared store and every instance: add --yes to do it', EXIT.usage);
  await requireStore(conn);
  await conn.cache.clear({ confirm: true, triggeredBy: CLI_ORIGIN, ...(reason === undefined ? {} : { reason }) });
  if (output.json) printJson(output, { cleared: true, triggeredBy: CLI_ORIGIN });
  else output.out('cleared');
  return EXIT.ok;
}

/** `--since`: a duration back from now (`10m`) or a date (`2026-05-01T10:00:00Z`). */
export function sinceOf(text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  if (/^\d+(\.\d+)?(ms|s|m|h|d|w)/.test(text.trim())) {
    try {
      return new Date(Date.now() - parseDuration(text.trim(), '--since'));
    } catch (error) {
      throw new CliError((error as Error).message, EXIT.usage);
    }
  }
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) throw new CliError(`--since must be a duration such as 10m or a date, got ${JSON.stringify(text)}`, EXIT.usage);
  return date;
}

function eventLine(event: InvalidationEvent): string {
  const what = event.tags !== undefined ? `tags=${event.tags.join(',')}` : event.pattern !== undefined ? `pattern=${event.pattern}` : event.keys !== undefined ? `keys=${event.keys.join(',')}` : '';
  return [event.at.toISOString(), event.kind.padEnd(11), what, event.count === undefined ? '' : `count=${event.count}`, event.reason === undefined ? '' : `reason=${event.reason}`, event.triggeredBy === undefined ? '' : `by=${event.triggeredBy}`]
    .filter(Boolean)
    .join('  ');
}

export async function events(conn: Connection, flags: { follow?: boolean; since?: string; limit?: string }, output: Output, stop: Promise<void>): Promise<number> {
  await requireStore(conn);
  const limit = flags.limit === undefined ? 100 : Number(flags.limit);
  if (!Number.isInteger(limit) || limit <= 0 || limit > 10_000) throw new CliError(`--limit must be a whole number from 1 to 10000, got ${JSON.stringify(flags.limit)}`, EXIT.usage);
  const since = sinceOf(flags.since);
  const seen = new Set<string>();
  const print = (list: readonly InvalidationEvent[]) => {
    for (const event of list) {
      if (seen.has(event.id)) continue;
      seen.add(event.id);
      if (output.json) output.out(JSON.stringify(event));
      else output.out(eventLine(event));
    }
  };
  const first = await conn.cache.getInvalidationEvents({ limit, ...(since === undefined ? {} : { since }) });
  if (!flags.follow) {
    if (output.json) printJson(output, first);
    else if (first.length === 0) output.out('no invalidation recorded');
    else print(first);
    return EXIT.ok;
  }
  // Follow: one JSON object per line with --json, so a script can read them as they come.
  print(first);
  let last = first.at(-1)?.at ?? since ?? new Date();
  let stopped = false;
  void stop.then(() => (stopped = true));
  while (!stopped) {
    await Promise.race([stop, new Promise((resolve) => setTimeout(resolve, 1_000).unref())]);
    if (stopped) break;
    const next = await conn.cache.getInvalidationEvents({ since: last, limit: 1_000 });
    print(next);
    last = next.at(-1)?.at ?? last;
    if (seen.size > 10_000) for (const id of [...seen].slice(0, 5_000)) seen.delete(id);
  }
  return EXIT.ok;
}

