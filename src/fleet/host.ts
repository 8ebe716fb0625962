import type { BusSync } from '../bus/sync.js';
import type { TimeSource } from '../clock.js';
import type { Emitter } from '../events.js';
import type { MemoryTier } from '../memory/memory-tier.js';
import type { ProbeResult } from '../observe/maintenance.js';
import type { ResolvedOptions } from '../options.js';
import type { TierStack } from '../tiers/stack.js';
import type { StoreTier } from '../tiers/store-tier.js';
import type { InstanceAlert } from './info.js';

/**
 * What the fleet room reads of the engine that builds it, named here so that the fleet depends on the rooms it
 * reads and not on the engine (the engine satisfies it as it is).
 */
export interface FleetHost {
  readonly clock: TimeSource;
  readonly closed: boolean;
  readonly counters: { readonly hits: number; readonly misses: number };
  readonly emitter: Emitter;
  readonly memory: MemoryTier<unknown>;
  readonly options: ResolvedOptions;
  readonly stack: TierStack;
  readonly sync: BusSync;
  readonly maintenance: { lastProbe(tier: StoreTier): ProbeResult | undefined };
}

/** The alerts firing now, as a running monitor reports them (a monitor registers itself, see `observe/monitor.ts`). */
export type AlertSource = () => readonly InstanceAlert[];
