/**
 * Structured logs: one JSON object a line (to stderr by default), with a
 * time, a level and a message, plus fields. Levels, least to most severe:
 * debug, info, warn, error; lines below the logger's level are dropped.
 *
 * ```json
 * {"time":"2024-05-01T10:00:00.000Z","level":"info","msg":"listening","socket":"/run/devmapper/snapshotter.sock"}
 * ```
 */

/** A log level. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Every level, least severe first. */
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** Extra fields of a log line. Errors are written as `{ name, message, code }`. */
export type LogFields = Record<string, unknown>;

/** What the server logs through. */
export interface Logger {
  /** Writes a line at level 'debug'. */
  debug(msg: string, fields?: LogFields): void;
  /** Writes a line at level 'info'. */
  info(msg: string, fields?: LogFields): void;
  /** Writes a line at level 'warn'. */
  warn(msg: string, fields?: LogFields): void;
  /** Writes a line at level 'error'. */
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
  /** Whether lines of `level` are written (to skip building costly fields). */
  enabled(level: LogLevel): boolean;
}

/** Where a logger writes: anything with `write`, such as process.stderr. */
export interface LogStream {
  /** Takes one line, newline included. */
  write(chunk: string): unknown;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** The least severe level written; default 'info'. */
  level?: LogLevel;
  /** Where lines go; default process.stderr. */
  stream?: LogStream;
  /** The clock, for tests. */
  now?: () => Date;
}

/** Whether `value` names a level. */
export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && (LOG_LEVELS as readonly string[]).includes(value);
}

function errorFields(e: unknown): unknown {
  if (!(e instanceof Error)) return e;
  const out: Record<string, unknown> = { name: e.name, message: e.message };
  const code = (e as { code?: unknown }).code;
  if (code !== undefined) out.code = code;
  if (e instanceof AggregateError) out.errors = e.errors.map(errorFields);
  if (e.cause !== undefined) out.cause = errorFields(e.cause);
  return out;
}

// JSON.stringify that never throws (cycles, BigInt) and writes errors readably.
function serialize(record: Record<string, unknown>): string {
  const seen = new WeakSet<object>();
  try {
    return JSON.stringify(record, (_key, value: unknown) => {
      if (typeof value === 'bigint') return value.toString();
      if (value instanceof Error) return errorFields(value);
      if (typeof value === 'object' && value !== null) {
        if (seen.has(value)) return '[circular]';
        seen.add(value);
      }
      return value;
    });
  } catch {
    return JSON.stringify({ time: record.time, level: record.level, msg: record.msg, logError: 'fields could not be serialized' });
  }
}

/** A JSON-lines logger. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  if (!isLogLevel(level)) throw new TypeError(`unknown log level ${JSON.stringify(level)} (one of ${LOG_LEVELS.join(', ')})`);
  const stream = options.stream ?? process.stderr;
  const now = options.now ?? (() => new Date());
  const threshold = LOG_LEVELS.indexOf(level);
  const make = (base: LogFields): Logger => {
    const enabled = (l: LogLevel): boolean => LOG_LEVELS.indexOf(l) >= threshold;
    const write = (l: LogLevel, msg: string, fields?: LogFields): void => {
      if (!enabled(l)) return;
      stream.write(`${serialize({ time: now().toISOString(), level: l, msg, ...base, ...fields })}\n`);
    };
    return {
      debug: (msg, fields) => write('debug', msg, fields),
      info: (msg, fields) => write('info', msg, fields),
      warn: (msg, fields) => write('warn', msg, fields),
      error: (msg, fields) => write('error', msg, fields),
      child: (fields) => make({ ...base, ...fields }),
      enabled,
    };
  };
  return make({});
}

/** A logger that writes nothing. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
  enabled() {
    return false;
  },
};
