import { isCacheError, WarmRequestError } from '../errors.js';
import type { FleetWarmStatus } from '../fleet/warm-record.js';
import { parseDuration } from '../ttl.js';
import { CliError, EXIT, type Connection } from './connect.js';
import { printJson, progressBar, requireStore, type Output } from './commands.js';
import { duration } from './format.js';

export interface WarmFlags {
  task?: string[];
  force?: boolean;
  warmer?: string;
}

/** What `warm --json` prints: the final status the running instance wrote, flattened for scripts. */
export interface WarmSummary {
  id: string;
  warmer: string;
  instance: { id: string; name: string };
  total: number;
  generated: number;
  skipped: number;
  failed: number;
  aborted: boolean;
  durationMs: number;
  errors: { taskId: string; key: string; message: string }[];
}

function summaryOf(status: FleetWarmStatus): WarmSummary {
  const { id, warmer, instance, total, generated, skipped, failed, aborted, errors } = status;
  return { id, warmer, instance, total, generated, skipped, failed, aborted, durationMs: Math.max(0, status.updatedAt - status.startedAt), errors };
}

/**
 * `tiercache warm`: asks the fleet over the bus to run a served warmer (`cache.serveWarmRequests`), follows the
 * status the instance that took it writes to the store (a bar on stderr when it is a terminal), and exits 0 when
 * every task warmed or was skipped, 1 when one failed (or the run was lost or cut short), 2 when the instance
 * refused the request (an unknown task id), 5 when no instance took it within `acceptTimeout`.
 */
export async function warm(conn: Connection, flags: WarmFlags, acceptTimeout: string, output: Output, progress: boolean, stop: Promise<void>): Promise<number> {
  if (!conn.bus) throw new CliError('warm asks the instances over the bus: it cannot run with --no-bus, CACHE_BUS=off or a backend without one', EXIT.usage);
  let acceptMs: number;
  try {
    acceptMs = parseDuration(acceptTimeout, '--timeout');
  } catch (error) {
    throw new CliError((error as Error).message, EXIT.usage);
  }
  if (acceptMs <= 0) throw new CliError(`--timeout must be longer than 0, got ${JSON.stringify(acceptTimeout)}`, EXIT.usage);
  await requireStore(conn);

  const bar = progress ? progressBar('warming on {instance} [{bar}] {value}/{total} tasks | {generated} warmed, {skipped} skipped, {failed} failed') : undefined;
  const onProgress = (status: FleetWarmStatus) => {
    bar?.show(status.total, status.done, { instance: status.instance.name, generated: status.generated, skipped: status.skipped, failed: status.failed });
  };
  const controller = new AbortController();
  void stop.then(() => controller.abort(new Error('interrupted')));
  let status: FleetWarmStatus;
  try {
    status = await conn.cache.requestWarm({
      acceptTimeout: acceptMs,
      force: flags.force === true,
      onProgress,
      signal: controller.signal,
      ...(flags.task === undefined ? {} : { tasks: flags.task }),
      ...(flags.warmer === undefined ? {} : { warmer: flags.warmer }),
    });
  } catch (error) {
    bar?.stop();
    if (controller.signal.aborted) {
      output.err('tiercache: stopped following the warm; it goes on where it runs');
      return EXIT.interrupted;
    }
    if (error instanceof WarmRequestError) {
      const code = error.reason === 'not_accepted' ? EXIT.notAccepted : error.reason === 'rejected' ? EXIT.usage : EXIT.failure;
      throw new CliError(error.message, code);
    }
    if (isCacheError(error) && error.code === 'E_UNSUPPORTED') throw new CliError(error.message, EXIT.usage);
    throw error;
  }
  bar?.stop();
  const summary = summaryOf(status);
  if (output.json) printJson(output, summary);
  else {
    output.out(`warmed ${summary.generated}, skipped ${summary.skipped}, failed ${summary.failed} of ${summary.total} task(s) on ${summary.instance.name} in ${duration(summary.durationMs)}${summary.aborted ? ' (stopped before every task ran: the instance closed)' : ''}`);
    for (const failure of summary.errors) output.out(`  failed: ${failure.taskId}${failure.key === '' || failure.key === failure.taskId ? '' : ` (${failure.key})`}: ${failure.message}`);
    if (summary.failed > summary.errors.length) output.out(`  … and ${summary.failed - summary.errors.length} more`);
  }
  return summary.failed > 0 || summary.aborted ? EXIT.failure : EXIT.ok;
}
