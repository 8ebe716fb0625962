// Placeholder: being written (issue 12). Public shape: see Cache#getReport.
import type { Engine } from '../engine.js';

export type CacheReport = Record<string, unknown>;

export function reportOf(engine: Engine): CacheReport {
  void engine;
  throw new Error('report: not built yet');
}
