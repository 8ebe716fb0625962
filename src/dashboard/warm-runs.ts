import type { TimeSource } from '../clock.js';
import type { WarmProgress } from '../warming/warmer.js';
import type { DashboardWarmer } from './options.js';

/** A warm started from the dashboard, as the page shows it. */
export interface WarmRun {
  id: number;
  warmer: string;
  state: 'running' | 'done' | 'failed' | 'aborted';
  startedAt: number;
  finishedAt: number | null;
  done: number;
  total: number | null;
  generated: number;
  skipped: number;
  errors: number;
  /** The failure's message, for a run that failed. */
  error: string | null;
}

const RUNS_KEPT = 20;

/** One warm at a time per warmer; the last runs kept for the page; every run aborted by `close()`. */
export class WarmRuns {
  readonly #runs: WarmRun[] = [];
  readonly #running = new Map<string, AbortController>();
  #next = 0;

  constructor(
    readonly warmers: ReadonlyMap<string, DashboardWarmer>,
    readonly clock: TimeSource,
    readonly onChange: (run: WarmRun) => void,
  ) {}

  list(): WarmRun[] {
    return this.#runs.map((run) => ({ ...run }));
  }

  isRunning(name: string): boolean {
    return this.#running.has(name);
  }

  /** Starts a warm and returns its run at once; progress and the end arrive through `onChange`. */
  start(name: string): WarmRun {
    const warmer = this.warmers.get(name);
    if (warmer === undefined) throw new RangeError(`no warmer named ${JSON.stringify(name)}`);
    const controller = new AbortController();
    this.#running.set(name, controller);
    const run: WarmRun = { id: ++this.#next, warmer: name, state: 'running', startedAt: this.clock.now(), finishedAt: null, done: 0, total: null, generated: 0, skipped: 0, errors: 0, error: null };
    this.#runs.push(run);
    if (this.#runs.length > RUNS_KEPT) this.#runs.shift();
    const onProgress = (p: WarmProgress): void => {
      run.done = p.done;
      run.total = p.total;
      run.generated = p.generated;
      run.skipped = p.skipped;
      run.errors = p.errors;
      this.onChange(run);
    };
    const context = { signal: controller.signal, onProgress };
    let running: Promise<unknown>;
    try {
      running = typeof warmer === 'function' ? warmer(context) : warmer.run(context);
    } catch (error) {
      running = Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    void Promise.resolve(running).then(
      (report) => this.#finish(name, run, controller.signal.aborted || (report as { aborted?: unknown } | undefined)?.aborted === true ? 'aborted' : 'done', null),
      (error: unknown) => this.#finish(name, run, 'failed', error instanceof Error ? error.message : String(error)),
    );
    this.onChange(run);
    return { ...run };
  }

  #finish(name: string, run: WarmRun, state: WarmRun['state'], error: string | null): void {
    run.state = state;
    run.error = error;
    run.finishedAt = this.clock.now();
    this.#running.delete(name);
    this.onChange(run);
  }

  /** Aborts every warm running (tasks already started finish; no new one starts). */
  abortAll(): void {
    for (const controller of this.#running.values()) controller.abort();
  }
}
