import { hostname } from 'node:os';
import type { Cache } from '../cache.js';
import type { InstanceInfo } from '../fleet/info.js';
import type { HealthReport, HealthStatus } from '../observe/health.js';
import { bytes, count, duration, percent, table } from './format.js';

const HOST = hostname();

/** The fleet without the CLI's own entry (`listInstances` includes the caller, and the CLI is no instance). */
export async function fleetOf(cache: Cache): Promise<InstanceInfo[]> {
  return (await cache.listInstances()).filter((info) => !(info.pid === process.pid && info.host === HOST));
}

/** Totals over the fleet's heartbeats. */
export interface FleetTotals {
  instances: number;
  hits: number;
  misses: number;
  hitRate: number;
  entries: number;
  bytes: number;
}

export function totalsOf(fleet: readonly InstanceInfo[]): FleetTotals {
  const hits = fleet.reduce((sum, i) => sum + i.hits, 0);
  const misses = fleet.reduce((sum, i) => sum + i.misses, 0);
  return {
    instances: fleet.length,
    hits,
    misses,
    hitRate: hits + misses === 0 ? 0 : hits / (hits + misses),
    entries: fleet.reduce((sum, i) => sum + i.memory.entries, 0),
    bytes: fleet.reduce((sum, i) => sum + i.memory.bytes, 0),
  };
}

/** One row per instance: what `instances` and `top` print. */
export function fleetTable(fleet: readonly InstanceInfo[], now: number): string {
  if (fleet.length === 0) return 'no live instance (none publishes a heartbeat under this prefix)';
  return table(
    ['NAME', 'ID', 'HEALTH', 'HITS', 'MISSES', 'HIT RATE', 'ENTRIES', 'MEMORY', 'STORES', 'ALERTS', 'UPTIME', 'SEEN', 'VERSION'],
    fleet.map((i) => [
      i.name,
      i.id.slice(0, 8),
      i.health,
      i.hits,
      i.misses,
      percent(i.hitRate),
      count(i.memory.entries),
      `${bytes(i.memory.bytes)}/${bytes(i.memory.maxBytes)}`,
      i.stores.map((s) => `${s.name}:${s.breaker}`).join(',') || '-',
      i.alerts.length === 0 ? '-' : i.alerts.map((a) => `${a.name}(${a.severity})`).join(','),
      duration(i.uptimeMs),
      `${duration(Math.max(0, now - i.heartbeatAt))} ago`,
      `${i.version} ${i.node}`,
    ]),
  );
}

/** The fleet's verdict with what the CLI probed itself: the store and the bus, seen from here. */
export interface FleetHealth {
  status: HealthStatus;
  reasons: string[];
  store: { name: string; reachable: boolean; latencyMs: number | null; error: string | undefined };
  bus: { ready: boolean; lastPublishOk: boolean | null } | undefined;
  instances: { id: string; name: string; health: InstanceInfo['health'] }[];
}

export function fleetHealth(report: HealthReport, fleet: readonly InstanceInfo[]): FleetHealth {
  const [name, store] = Object.entries(report.stores)[0] ?? ['none', undefined];
  const reasons: string[] = [];
  const reachable = store?.reachable === true;
  if (!reachable) reasons.push(`store ${name} is unreachable${store?.lastProbe?.error === undefined ? '' : `: ${store.lastProbe.error}`}`);
  if (report.bus !== undefined && report.bus.lastPublish?.ok === false) reasons.push(`bus ${report.bus.name}: the probe publish failed`);
  for (const i of fleet) if (i.health !== 'ok') reasons.push(`instance ${i.name} (${i.id.slice(0, 8)}) reports ${i.health}`);
  const allDown = fleet.length > 0 && fleet.every((i) => i.health === 'down');
  const status: HealthStatus = !reachable || allDown ? 'down' : reasons.length > 0 ? 'degraded' : 'ok';
  return {
    status,
    reasons,
    store: { name, reachable, latencyMs: store?.lastProbe?.ms ?? null, error: store?.lastProbe?.error },
    bus: report.bus === undefined ? undefined : { ready: report.bus.lastPublish?.ok === true, lastPublishOk: report.bus.lastPublish?.ok ?? null },
    instances: fleet.map((i) => ({ id: i.id, name: i.name, health: i.health })),
  };
}
