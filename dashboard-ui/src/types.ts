// The server's JSON, as the page reads it: the types come from the handler itself, so the two cannot drift.
export type { EventView, HistoryPoint, InstanceView, Snapshot, TierView, WarmRun } from '../../src/dashboard/index.js';
