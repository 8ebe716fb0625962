// The short chaos run inside `npm test`: the scenarios of chaos/ with small budgets, asserting the invariants
// that must hold on any machine. The long run (`npm run chaos`) records the figures in docs/reliability.md.
// CHAOS_SEED=N replays a failing run; the seed is printed first.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCorruptBytes } from '../../chaos/corrupt-bytes.js';
import { runHostileInput } from '../../chaos/hostile-input.js';
import { runMemoryChurn } from '../../chaos/memory-churn.js';
import { runPubsubTorture } from '../../chaos/pubsub-torture.js';
import { runServiceSlowClients } from '../../chaos/service.js';
import { runSilentPeers } from '../../chaos/silent-peers.js';
import { runStoreOutage } from '../../chaos/store-outage.js';

const seed = process.env.CHAOS_SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.CHAOS_SEED);
console.log(`chaos-short seed ${seed} (replay with CHAOS_SEED=${seed})`);
const STORE_TIMEOUT_MS = 250;

describe('chaos, short run', () => {
  it('a store outage under load surfaces no error, stays fast, recovers and replays the writes it missed', async () => {
    const r = await runStoreOutage({ seed: seed + 1, mode: 'kill', beforeMs: 1_000, outageMs: 1_500, afterMs: 500, breakerCooldownMs: 1_000, storeTimeoutMs: STORE_TIMEOUT_MS });
    expect(r.readyError).toBeUndefined();
    expect(r.calls.during).toBeGreaterThan(0);
    expect({ surfaced: r.surfacedErrors, kinds: r.surfacedKinds, stuck: r.stuck }).toStrictEqual({ surfaced: 0, kinds: [], stuck: 0 });
    expect(r.errorEvents).toBeGreaterThan(0);
    expect(r.p99.during).toBeLessThan(4 * STORE_TIMEOUT_MS);
    expect(r.transitions.map((t) => t.state)).toContain('open');
    expect(r.recoveryMs).toBeDefined();
    expect(r.outageWrites).toBeGreaterThan(0);
    expect(r.replayed).toBe(r.outageWrites);
    expect(r.deletesApplied).toBe(r.outageDeletes);
  }, 30_000);

  it('against a store and a bus that never answer, ready() rejects with BusTimeoutError and every call returns within about the store timeout', async () => {
    const r = await runSilentPeers({ seed: seed + 2, callers: 3, callsPerCaller: 8, durationMs: 1_500, callLimitMs: 3_000, storeTimeoutMs: STORE_TIMEOUT_MS });
    for (const c of r.cases) {
      expect.soft(c.stuck, `${c.name}: calls stuck`).toBe(0);
      expect.soft(c.errors, `${c.name}: errors surfaced (${c.errorKinds.join(', ')})`).toBe(0);
      expect.soft(c.p99, `${c.name}: p99`).toBeLessThan(4 * STORE_TIMEOUT_MS);
      expect.soft(c.ready, `${c.name}: ready()`).toBe(c.name.includes('bus') ? 'BusTimeoutError E_BUS_TIMEOUT' : 'resolved');
    }
  }, 30_000);

  it('with the pub/sub connection killed mid-run, 3 processes never read a stale value', async () => {
    const r = await runPubsubTorture({ seed: seed + 3, durationMs: 2_500, kills: 1 });
    expect(r.failedWorkers).toBe(0);
    expect(r.killed[0]).toBeGreaterThan(0);
    expect(r.reads).toBeGreaterThan(100);
    expect(r.invalidations).toBeGreaterThan(20);
    expect(r.examples).toStrictEqual([]);
    expect(r.staleReads).toBe(0);
    // The kill was noticed: each process that lost its subscription recovered (emptied its memory tier).
    expect(r.recoveries).toBeGreaterThan(0);
  }, 45_000);

  it('hostile patterns, keys and values either work or give a typed error, quickly, without polluting prototypes', async () => {
    const r = await runHostileInput({ seed: seed + 4, patternLimitMs: 2_000 });
    expect(r.prototypePolluted).toBe(false);
    expect(r.unhandledRejections).toBe(0);
    const failed = [...r.patterns.map((p) => ({ name: `pattern ${p.name}`, ok: p.ok, outcome: p.outcome })), ...r.inputs.map((i) => ({ name: `${i.kind} ${i.name}`, ok: i.ok, outcome: i.outcome }))].filter((c) => !c.ok);
    expect(failed).toStrictEqual([]);
    // The long run's target is 10 ms; this bound only has to catch a matcher that backtracks.
    expect(r.patterns.find((p) => p.name === 'nested-stars')?.ms).toBeLessThan(200);
  }, 45_000);

  it('corrupt bytes in every store read as a clean miss and are replaced by the next load', async () => {
    const r = await runCorruptBytes({ seed: seed + 5, rounds: 2 });
    expect(r.skipped).toStrictEqual([]);
    expect(r.rows.map((row) => row.store)).toEqual(expect.arrayContaining(['redis', 'sqlite', 'postgres', 'file', 'memcached']));
    for (const row of r.rows) {
      const where = `${row.store} / ${row.corruption}`;
      expect.soft({ where, throws: row.throwKinds, wrong: row.wrongValues, misses: row.misses, healed: row.healed }).toStrictEqual({ where, throws: [], wrong: 0, misses: row.reads, healed: row.reads });
    }
  }, 30_000);

  it('the memory tier never holds more than maxBytes under churn, whatever the policy', async () => {
    const r = await runMemoryChurn({ seed: seed + 6, sets: 20_000, otherPolicySets: 5_000, maxBytes: 16_384 });
    for (const row of r.rows) {
      expect(row.samples).toBeGreaterThan(row.sets * 2);
      expect(row.evictions).toBeGreaterThan(0);
      expect({ policy: row.policy, over: row.overBound, max: Math.min(row.maxUsedBytes, r.maxBytes + 1) }).toStrictEqual({ policy: row.policy, over: 0, max: Math.min(row.maxUsedBytes, r.maxBytes) });
    }
  }, 30_000);

  it.skipIf(!existsSync(fileURLToPath(new URL('../../chaos/service-slow-clients.ts', import.meta.url))))('the service keeps answering normal requests while slow clients are dropped', async () => {
    const r = await runServiceSlowClients({ seed: seed + 7, slowClients: 20, durationMs: 2_000 });
    expect(r.error).toBeUndefined();
    const figures = r.figures as Record<string, number | string>;
    expect(figures.errors).toBe(0);
    expect(figures.slowDropped).toBeGreaterThan(0);
    // The long run's target is 200 ms; this only has to catch a service that stalls behind slow clients.
    expect(figures.p99Ms).toBeLessThan(1_000);
  }, 45_000);
});
