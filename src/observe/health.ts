// Placeholder: being written (issue 12). Public shape: see Cache#getHealth.
import type { Engine } from '../engine.js';

export type HealthReport = Record<string, unknown>;

export function healthOf(engine: Engine): Promise<HealthReport> {
  void engine;
  return Promise.reject(new Error('health: not built yet'));
}
