// `npm run chaos`: every chaos scenario in turn, bounded in time and count, on loopback servers only. The full
// run writes docs/reliability.md; `npm run chaos -- --short` runs the small budgets and prints only.
// `--seed N` replays a run (the seed is printed first); `--only 1,4` runs some scenarios.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { corruptBytesSection, runCorruptBytes } from './corrupt-bytes.js';
import { hostileInputSection, runHostileInput } from './hostile-input.js';
import { markdownTable, verdict, type Section } from './lib.js';
import { memoryChurnSection, runMemoryChurn } from './memory-churn.js';
import { pubsubTortureSection, runPubsubTorture } from './pubsub-torture.js';
import { redisVersion } from '../bench/lib/redis-admin.js';
import { runServiceSlowClients, serviceSection } from './service.js';
import { runSilentPeers, silentPeersSection } from './silent-peers.js';
import { runStoreOutage, storeOutageSection } from './store-outage.js';

export interface Budget {
  short: boolean;
  seed: number;
}

/** Every scenario with the budgets of the full run and of the short one. */
export const SCENARIOS: readonly { id: number; name: string; run: (budget: Budget) => Promise<Section> }[] = [
  {
    id: 1,
    name: 'store outage',
    run: async ({ short, seed }) => {
      const phases = short ? { beforeMs: 1_000, outageMs: 1_500, afterMs: 1_000, breakerCooldownMs: 1_000 } : { beforeMs: 3_000, outageMs: 3_000, afterMs: 3_000 };
      const modes = short ? (['kill'] as const) : (['kill', 'hang'] as const);
      const results = [];
      for (const mode of modes) results.push(await runStoreOutage({ seed, mode, ...phases }));
      return storeOutageSection(results);
    },
  },
  {
    id: 2,
    name: 'silent store and bus',
    run: async ({ short, seed }) =>
      silentPeersSection(await runSilentPeers(short ? { seed, callers: 4, callsPerCaller: 10, durationMs: 2_000, callLimitMs: 3_000 } : { seed })),
  },
  {
    id: 3,
    name: 'pub/sub killed under the freshness torture',
    run: async ({ short, seed }) => pubsubTortureSection(await runPubsubTorture(short ? { seed, durationMs: 2_500, kills: 1 } : { seed })),
  },
  {
    id: 4,
    name: 'hostile input',
    run: async ({ short, seed }) => hostileInputSection(await runHostileInput(short ? { seed, patternLimitMs: 2_000 } : { seed })),
  },
  {
    id: 5,
    name: 'corrupt bytes',
    run: async ({ short, seed }) => corruptBytesSection(await runCorruptBytes({ seed, rounds: short ? 2 : 5 })),
  },
  {
    id: 6,
    name: 'memory bound under churn',
    run: async ({ short, seed }) => memoryChurnSection(await runMemoryChurn(short ? { seed, sets: 20_000, otherPolicySets: 5_000 } : { seed })),
  },
  {
    id: 7,
    name: 'service with slow clients',
    run: async ({ short, seed }) => serviceSection(await runServiceSlowClients(short ? { seed, slowClients: 20, durationMs: 2_000 } : { seed })),
  },
];

export function renderSection(section: Section): string {
  return [
    `## ${section.title}`,
    '',
    section.setup,
    '',
    markdownTable(section.table),
    '',
    ...(section.notes === undefined || section.notes.length === 0 ? [] : [...section.notes, '']),
    '| target | verdict | measured |',
    '|---|---|---|',
    ...section.targets.map((t) => `| ${t.what.replace(/\|/g, '\\|')} | ${verdict(t.ok)} | ${t.detail.replace(/\|/g, '\\|')} |`),
    '',
  ].join('\n');
}

function redisServerVersion(): string {
  try {
    return /v=(\S+)/.exec(execFileSync('redis-server', ['--version'], { encoding: 'utf8' }))?.[1] ?? 'unknown';
  } catch {
    return 'not installed';
  }
}

function parseArgs(argv: readonly string[]): { short: boolean; seed: number; only: Set<number> | undefined } {
  let short = false;
  let seed = Math.floor(Math.random() * 2 ** 31);
  let only: Set<number> | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--short') short = true;
    else if (arg === '--seed') {
      const value = Number(argv[++i]);
      if (!Number.isSafeInteger(value) || value < 0) throw new TypeError('--seed needs a non-negative integer');
      seed = value;
    } else if (arg === '--only') {
      only = new Set((argv[++i] ?? '').split(',').map(Number));
    } else {
      throw new TypeError(`unknown argument ${String(arg)}: use --short, --seed N, --only 1,2`);
    }
  }
  return { short, seed, only };
}

async function main(): Promise<void> {
  const { short, seed, only } = parseArgs(process.argv.slice(2));
  console.log(`chaos seed ${seed}${short ? ' (short)' : ''}`);
  const started = new Date();
  const sections: string[] = [];
  for (const scenario of SCENARIOS) {
    if (only !== undefined && !only.has(scenario.id)) continue;
    const t0 = performance.now();
    console.log(`\n# ${scenario.id}. ${scenario.name}`);
    let text: string;
    try {
      text = renderSection(await scenario.run({ short, seed: seed + scenario.id }));
    } catch (error) {
      // A scenario that cannot run is a figure too: it is written down, and the others still run.
      text = `## ${scenario.id}. ${scenario.name}\n\nThe scenario failed to run: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}\n`;
    }
    console.log(text);
    console.log(`(${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    sections.push(text);
  }
  if (short || only !== undefined) return;
  const cpus = os.cpus();
  const sharedRedis = await redisVersion();
  const header = [
    '# Reliability',
    '',
    'Generated by `npm run chaos`: do not edit by hand. Each scenario is bounded in time and count and uses loopback servers only;',
    'the targets are checked by eye here (the short version inside `npm test` asserts the invariants with generous bounds).',
    '',
    `- Date: ${started.toISOString().slice(0, 10)}`,
    `- Machine: ${cpus.length} x ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}`,
    `- Node ${process.version}; redis-server ${redisServerVersion()} (private servers), shared Redis ${sharedRedis}`,
    `- Command: \`npm run chaos -- --seed ${seed}\` (scenario n runs with seed ${seed} + n)`,
    '',
  ].join('\n');
  const out = fileURLToPath(new URL('../docs/reliability.md', import.meta.url));
  writeFileSync(out, `${header}\n${sections.join('\n')}`);
  console.log(`\nwrote ${out}`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then(
    // Scenarios leave abandoned (stuck) calls behind on purpose; they must not keep the run alive.
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
