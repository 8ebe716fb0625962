// Placeholder: being written (issue 12). Public shape: see Cache#monitor.
import type { Engine } from '../engine.js';

export interface MonitorOptions {
  interval?: number | string;
}

export class Monitor {
  constructor(engine: Engine, options: MonitorOptions = {}) {
    void engine;
    void options;
    throw new Error('monitor: not built yet');
  }
}
