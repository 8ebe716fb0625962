/** How much the service says, from nothing to every request. */
export type LogLevel = 'silent' | 'error' | 'warn' | 'info' | 'debug';

/** Every {@link LogLevel}, least verbose first. */
export const LOG_LEVELS: readonly LogLevel[] = Object.freeze(['silent', 'error', 'warn', 'info', 'debug']);

/** A line-oriented logger: one call, one line. */
export interface Logger {
  readonly level: LogLevel;
  error(message: string, error?: unknown): void;
  warn(message: string): void;
  info(message: string): void;
  debug(message: string): void;
  /** True when `level` lines are written, so a caller can skip building a costly message. */
  enabled(level: Exclude<LogLevel, 'silent'>): boolean;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** @default 'info' */
  level?: LogLevel;
  /**
   * Receives each finished line (without a newline). Tests pass one to capture or drop lines.
   * @default error and warn lines to stderr, the others to stdout
   */
  write?: (line: string, level: Exclude<LogLevel, 'silent'>) => void;
  /** @default true when `write` is not given: a terminal reader wants the time, a test does not */
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

function defaultWrite(line: string, level: Exclude<LogLevel, 'silent'>): void {
  (level === 'error' || level === 'warn' ? process.stderr : process.stdout).write(`${line}\n`);
}

/**
 * A logger writing `time level message` lines. Deliberately tiny: the service logs a handful of kinds of
 * line and needs no structured-logging dependency to do it.
 *
 * @example
 * const log = createLogger({ level: 'debug' });
 * log.info('listening on http://127.0.0.1:3000');
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const { level = 'info', write = defaultWrite, timestamps = options.write === undefined } = options;
  if (!isLogLevel(level)) throw new TypeError(`level must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`);
  const threshold = LOG_LEVELS.indexOf(level);
  const enabled = (at: Exclude<LogLevel, 'silent'>): boolean => threshold >= LOG_LEVELS.indexOf(at);
  const emit = (at: Exclude<LogLevel, 'silent'>, message: string, detail = ''): void => {
    if (!enabled(at)) return;
    const head = timestamps ? `${new Date().toISOString()} ${at.padEnd(5)} ` : `${at.padEnd(5)} `;
    write(head + oneLine(message) + detail, at);
  };
  return {
    level,
    enabled,
    error: (message, error) => {
      if (error === undefined) return emit('error', message);
      // The stack says where; the message alone would leave a 500 impossible to trace.
      const detail = error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : describe(error);
      emit('error', message, `: ${detail}`);
    },
    warn: (message) => emit('warn', message),
    info: (message) => emit('info', message),
    debug: (message) => emit('debug', message),
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
