// One function per card: each rebuilds its card's body from a snapshot.
import { bytes, count, duration, fill, h, ms, percent, table, time } from './dom.js';
import type { EventView, Snapshot, WarmRun } from './types.js';

export function renderOverview(body: HTMLElement, s: Snapshot): void {
  const memoryTier = s.tiers[0];
  fill(body, 
    h(
      'div',
      { class: 'figures' },
      h('div', { class: 'figure' }, h('span', { class: 'big', 'data-testid': 'hit-rate' }, percent(s.totals.hitRate)), h('span', { class: 'muted' }, 'hit rate since start')),
      h('div', { class: 'figure' }, h('span', { class: 'big', 'data-testid': 'hits' }, count(s.totals.hits)), h('span', { class: 'muted' }, 'hits')),
      h('div', { class: 'figure' }, h('span', { class: 'big', 'data-testid': 'misses' }, count(s.totals.misses)), h('span', { class: 'muted' }, 'misses')),
      h('div', { class: 'figure' }, h('span', { class: 'big', 'data-testid': 'memory-hits' }, count(memoryTier?.hits ?? 0)), h('span', { class: 'muted' }, 'memory-tier hits')),
      h('div', { class: 'figure' }, h('span', { class: 'big' }, count(s.totals.invalidations)), h('span', { class: 'muted' }, 'invalidations')),
    ),
  );
}

export function renderTiers(body: HTMLElement, s: Snapshot): void {
  fill(body, 
    table(
      ['tier', 'hits', 'misses', 'hit rate', 'p50', 'p95', 'p99', 'errors', 'breaker'],
      s.tiers.map((t) => [
        t.tier,
        count(t.hits),
        count(t.misses),
        percent(t.hitRate),
        ms(t.latency.p50),
        ms(t.latency.p95),
        ms(t.latency.p99),
        count(t.errors),
        t.breaker === null ? '–' : h('span', { class: `pill breaker-${t.breaker}`, 'data-testid': `breaker-${t.tier}` }, t.breaker),
      ]),
      { 'data-testid': 'tiers-table' },
    ),
    s.tiers[0]?.latency.count === 0 ? h('p', { class: 'muted small' }, 'Memory-tier reads are timed with the cache option metrics: true.') : null,
  );
}

function bar(label: string, used: number, max: number | null, format: (n: number | null) => string): HTMLElement {
  const fraction = max === null || max === 0 ? 0 : Math.min(1, used / max);
  const meter = h('meter', { min: '0', max: '1', value: String(fraction), high: '0.85', optimum: '0.5' });
  return h('div', { class: 'bar' }, h('div', { class: 'bar-label' }, h('span', {}, label), h('span', {}, `${format(used)} / ${format(max)}`)), meter);
}

export function renderMemory(body: HTMLElement, s: Snapshot): void {
  const m = s.memory;
  fill(body, 
    bar('entries', m.entries, m.maxEntries, count),
    bar('bytes', m.usedBytes, m.maxBytes, bytes),
    h('dl', { class: 'pairs' }, h('dt', {}, 'evictions'), h('dd', { 'data-testid': 'evictions' }, count(m.evictions)), h('dt', {}, 'expirations'), h('dd', {}, count(m.expirations))),
  );
}

export function renderGroups(body: HTMLElement, s: Snapshot): void {
  const g = s.keyGroups;
  if (g.top.length === 0) return void fill(body, h('p', { class: 'muted' }, g.note ?? 'No key group traffic yet.'));
  fill(body, 
    table(
      ['group', 'reads', 'hit rate', 'load time'],
      g.top.map((row) => [row.group, count(row.reads), percent(row.hitRate), ms(row.loadMs)]),
    ),
    s.access.showKeys ? null : h('p', { class: 'muted small' }, 'Group names are shown with the admin token.'),
  );
}

function selection(e: EventView): string {
  if (e.redacted) return 'hidden without the token';
  const parts: string[] = [];
  if (e.tags !== null) parts.push(`tags ${e.tags.join(', ')}`);
  if (e.pattern !== null) parts.push(`pattern ${e.pattern}`);
  if (e.keys !== null) parts.push(`keys ${e.keys.slice(0, 5).join(', ')}${e.keys.length > 5 ? ` +${e.keys.length - 5}` : ''}`);
  return parts.join('; ') || '–';
}

export function renderEvents(body: HTMLElement, events: readonly EventView[]): void {
  if (events.length === 0) return void fill(body, h('p', { class: 'muted' }, 'No invalidation yet.'));
  const newest = [...events].reverse();
  fill(body, 
    table(
      ['time', 'kind', 'reason', 'origin', 'removed', 'what'],
      newest.map((e) => [time(e.at), e.kind, h('span', { class: 'reason' }, e.reason ?? '–'), e.triggeredBy ?? '–', e.count === null ? '–' : count(e.count), selection(e)]),
      { 'data-testid': 'events-table' },
    ),
  );
}

export function renderAlerts(body: HTMLElement, s: Snapshot): void {
  const items = [
    ...s.alerts.map((a) => h('li', { class: `sev-${a.severity}` }, h('strong', {}, a.severity), ' ', a.message, h('span', { class: 'muted' }, ` since ${time(a.since)}`))),
    ...s.recommendations.map((r) => h('li', { class: `sev-${r.severity} advice` }, h('strong', {}, r.code), ' ', r.message)),
  ];
  fill(body, items.length === 0 ? h('p', { class: 'muted', 'data-testid': 'no-alerts' }, 'No alert, no advice: nothing looks wrong.') : h('ul', { class: 'alerts' }, ...items));
}

export function renderRuns(host: HTMLElement, runs: readonly WarmRun[]): void {
  if (runs.length === 0) return void fill(host, h('p', { class: 'muted' }, 'No warm started from here yet.'));
  fill(host, 
    ...[...runs].reverse().map((run) => {
      const total = run.total ?? 0;
      return h(
        'div',
        { class: 'run', 'data-testid': `warm-run-${run.id}` },
        h('div', { class: 'bar-label' }, h('span', {}, `${run.warmer} #${run.id}`), h('span', { class: `pill run-${run.state}` }, run.state)),
        h('progress', total > 0 ? { max: String(total), value: String(run.done) } : {}),
        h('span', { class: 'muted small' }, `${run.done}/${run.total ?? '?'} · ${run.generated} computed · ${run.skipped} skipped · ${run.errors} errors${run.error === null ? '' : ` · ${run.error}`}`),
      );
    }),
  );
}

export function renderFleet(body: HTMLElement, s: Snapshot): void {
  const f = s.fleet;
  if (f.error !== null) return void fill(body, h('p', { class: 'sev-warning' }, `The fleet could not be read: ${f.error}`));
  fill(body, 
    table(
      ['instance', 'host', 'version', 'up', 'hit rate', 'memory', 'health', 'breakers', 'alerts'],
      f.instances.map((i) => [
        i.name || i.id,
        i.host,
        i.version,
        duration(i.uptimeMs),
        percent(i.hitRate),
        `${count(i.memory.entries)} / ${count(i.memory.maxEntries)}`,
        h('span', { class: `pill health-${i.health}` }, i.health),
        i.breakers.map((b) => `${b.name}: ${b.state}`).join(', ') || '–',
        count(i.alerts),
      ]),
      { 'data-testid': 'fleet-table' },
    ),
  );
}
