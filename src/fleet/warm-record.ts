import { count, oneOf, record, text } from './info.js';

/** Where a fleet warm stands, as the instance running it writes it to the shared store. */
export type FleetWarmState = 'running' | 'done' | 'rejected';

/** One task of a fleet warm that failed: its id, its key and the error's message. */
export interface FleetWarmError {
  taskId: string;
  key: string;
  message: string;
}

/**
 * A fleet warm (`cache.requestWarm`) as the instance that took it reports it: written to the shared store when
 * it starts, as tasks finish, every few seconds while it runs, and when it ends. Times are epoch ms on the
 * running instance's clock.
 */
export interface FleetWarmStatus {
  /** The request's id. */
  id: string;
  state: FleetWarmState;
  /** The served warmer's name. */
  warmer: string;
  /** The instance running it: its bus origin id and its fleet name. */
  instance: { id: string; name: string };
  /** Tasks in the run; 0 until a warmer function reports its first progress. */
  total: number;
  /** Tasks finished, whatever their outcome. */
  done: number;
  generated: number;
  skipped: number;
  failed: number;
  /** The first {@link MAX_LISTED_ERRORS} failures (`failed` counts them all). */
  errors: FleetWarmError[];
  /** True when the run stopped before every task had started (the instance closed). */
  aborted: boolean;
  /** Why the instance refused the request (state `rejected`): an unknown task id, say. */
  reason: string | undefined;
  startedAt: number;
  updatedAt: number;
  /** Bumped on every write: a reader that sees it stand still for long knows the run was lost. */
  rev: number;
}

/** Failures a status lists (each message cut to {@link MAX_MESSAGE} characters): the record stays small. */
export const MAX_LISTED_ERRORS = 100;
export const MAX_MESSAGE = 512;
/** Status records larger than this are refused on read. */
export const MAX_STATUS_BYTES = 96 * 1024;
/** The status key of a request under the cache prefix; U+0001 keeps it out of every user key and listing. */
export const STATUS_KEY_PREFIX = '\u0001warm:';

const STATES: ReadonlySet<string> = new Set<FleetWarmState>(['running', 'done', 'rejected']);

export function encodeStatus(status: FleetWarmStatus): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ v: 1, ...status }));
}

function message(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length > MAX_MESSAGE) throw new TypeError(`${what} must be a string of at most ${MAX_MESSAGE} characters`);
  return value;
}

/** Decodes and checks a status record read from the store; throws a TypeError naming the first thing wrong. */
export function decodeStatus(bytes: Uint8Array): FleetWarmStatus {
  if (bytes.length > MAX_STATUS_BYTES) throw new TypeError(`warm status of ${bytes.length} bytes is larger than ${MAX_STATUS_BYTES}`);
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    throw new TypeError(`warm status is not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  const r = record(raw, 'warm status');
  if (r.v !== 1) throw new TypeError(`warm status has unknown format version ${JSON.stringify(r.v)}`);
  const instance = record(r.instance, 'instance');
  if (!Array.isArray(r.errors) || r.errors.length > MAX_LISTED_ERRORS) throw new TypeError(`errors must be an array of at most ${MAX_LISTED_ERRORS} items`);
  if (typeof r.aborted !== 'boolean') throw new TypeError('aborted must be a boolean');
  return {
    id: text(r.id, 'id'),
    state: oneOf(r.state, STATES, 'state') as FleetWarmState,
    warmer: text(r.warmer, 'warmer'),
    instance: { id: text(instance.id, 'instance.id'), name: text(instance.name, 'instance.name') },
    total: count(r.total, 'total'),
    done: count(r.done, 'done'),
    generated: count(r.generated, 'generated'),
    skipped: count(r.skipped, 'skipped'),
    failed: count(r.failed, 'failed'),
    errors: (r.errors as unknown[]).map((item, i) => {
      const e = record(item, `errors[${i}]`);
      return { taskId: message(e.taskId, `errors[${i}].taskId`), key: message(e.key, `errors[${i}].key`), message: message(e.message, `errors[${i}].message`) };
    }),
    aborted: r.aborted,
    reason: r.reason === undefined || r.reason === null ? undefined : message(r.reason, 'reason'),
    startedAt: count(r.startedAt, 'startedAt'),
    updatedAt: count(r.updatedAt, 'updatedAt'),
    rev: count(r.rev, 'rev'),
  };
}
