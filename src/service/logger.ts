import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';

/** How much the service says, from nothing to every request. */
export type LogLevel = 'silent' | 'error' | 'warn' | 'info' | 'debug';

/** Every {@link LogLevel}, least verbose first. */
export const LOG_LEVELS: readonly LogLevel[] = Object.freeze(['silent', 'error', 'warn', 'info', 'debug']);

/** How log lines are written: `text` (`time level message`, for a terminal) or pino's JSON lines (for a log shipper). */
export type LogFormat = 'text' | 'json';

/** Every {@link LogFormat}. */
export const LOG_FORMATS: readonly LogFormat[] = Object.freeze(['text', 'json']);

/**
 * A line-oriented logger: one call, one line. Backed by pino, which Fastify logs through too, so the
 * service's own lines and the framework's share one stream and one level.
 */
export interface Logger {
  readonly level: LogLevel;
  error(message: string, error?: unknown): void;
  warn(message: string): void;
  /** `fields` go into the JSON line as they are; the text line shows the message only. */
  info(message: string, fields?: Readonly<Record<string, unknown>>): void;
  debug(message: string): void;
  /** True when `level` lines are written, so a caller can skip building a costly message. */
  enabled(level: Exclude<LogLevel, 'silent'>): boolean;
  /** The pino logger underneath, for Fastify's `loggerInstance`. */
  readonly pino: PinoLogger;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** @default 'info' */
  level?: LogLevel;
  /** @default 'text' */
  format?: LogFormat;
  /**
   * Receives each finished line (without a newline). Tests pass one to capture or drop lines.
   * @default text: error and warn lines to stderr, the others to stdout; json: every line to stdout
   */
  write?: (line: string, level: Exclude<LogLevel, 'silent'>) => void;
  /** Text lines start with the time. @default true when `write` is not given: a terminal reader wants the time, a test does not */
  timestamps?: boolean;
}

/**
 * `text` with control characters escaped. Messages quote what clients sent (a decoded query parameter name
 * may hold a newline): a message stays one line, and nobody can forge a log line after it.
 */
function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** True when `value` is a {@link LogLevel}. */
export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && (LOG_LEVELS as readonly string[]).includes(value);
}

/** True when `value` is a {@link LogFormat}. */
export function isLogFormat(value: unknown): value is LogFormat {
  return typeof value === 'string' && (LOG_FORMATS as readonly string[]).includes(value);
}

/** pino's numeric levels, folded onto the service's five (pino's `fatal` is an error, `trace` a debug line). */
function levelName(value: number): Exclude<LogLevel, 'silent'> {
  if (value >= 50) return 'error';
  if (value >= 40) return 'warn';
  if (value >= 30) return 'info';
  return 'debug';
}

function defaultWrite(line: string, level: Exclude<LogLevel, 'silent'>): void {
  (level === 'error' || level === 'warn' ? process.stderr : process.stdout).write(`${line}\n`);
}

interface PinoRecord {
  level: number;
  time?: number;
  msg?: string;
  err?: { type?: string; message?: string; stack?: string };
  detail?: string;
}

/** A pino destination that turns each JSON record into a `time level message` line. */
function textDestination(write: (line: string, level: Exclude<LogLevel, 'silent'>) => void, timestamps: boolean): DestinationStream {
  return {
    write(chunk: string): void {
      for (const json of chunk.split('\n')) {
        if (json === '') continue;
        const record = JSON.parse(json) as PinoRecord;
        const at = levelName(record.level);
        const head = timestamps && record.time !== undefined ? `${new Date(record.time).toISOString()} ${at.padEnd(5)} ` : `${at.padEnd(5)} `;
        // The stack says where; the message alone would leave a 500 impossible to trace.
        const err = record.err;
        const detail = err !== undefined ? `: ${err.stack ?? `${err.type ?? 'Error'}: ${err.message ?? ''}`}` : record.detail !== undefined ? `: ${record.detail}` : '';
        write(head + oneLine(record.msg ?? '') + detail, at);
      }
    },
  };
}

/**
 * A logger over pino: text lines (`time level message`) by default, pino's JSON lines with `format: 'json'`.
 *
 * @example
 * const log = createLogger({ level: 'debug' });
 * log.info('listening on http://127.0.0.1:3000');
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const { level = 'info', format = 'text', write, timestamps = options.write === undefined } = options;
  if (!isLogLevel(level)) throw new TypeError(`level must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`);
  if (!isLogFormat(format)) throw new TypeError(`format must be one of ${LOG_FORMATS.join(', ')}, got ${JSON.stringify(format)}`);
  let destination: DestinationStream;
  if (format === 'text') destination = textDestination(write ?? defaultWrite, timestamps);
  else if (write !== undefined) destination = { write: (chunk: string) => chunk.split('\n').forEach((line) => line !== '' && write(line, levelName((JSON.parse(line) as PinoRecord).level))) };
  else destination = pino.destination({ dest: 1, sync: true });
  // JSON lines carry no pid or hostname: one service per process, and the shipper knows the host.
  const log = pino({ level, base: null }, destination);
  const threshold = LOG_LEVELS.indexOf(level);
  const enabled = (at: Exclude<LogLevel, 'silent'>): boolean => threshold >= LOG_LEVELS.indexOf(at);
  return {
    level,
    pino: log,
    enabled,
    error: (message, error) => {
      if (error === undefined) return log.error(message);
      if (error instanceof Error) return log.error({ err: error }, message);
      log.error({ detail: describe(error) }, message);
    },
    warn: (message) => log.warn(message),
    info: (message, fields) => (fields === undefined ? log.info(message) : log.info(fields, message)),
    debug: (message) => log.debug(message),
  };
}

/** A thrown non-Error as text: JSON where it has a shape, so an object does not print as `[object Object]`. */
function describe(value: unknown): string {
  if (typeof value !== 'object' || value === null) return String(value);
  try {
    return JSON.stringify(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** A logger that writes nothing. */
export const silentLogger: Logger = createLogger({ level: 'silent', write: () => undefined });
