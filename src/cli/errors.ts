/** Errors the CLI raises itself, and how any error becomes output and an exit code. */
import { isDeviceMapperError } from '../dm/errors.js';
import { isSnapshotterError } from '../snapshotter/errors.js';

/** A wrong invocation: a missing or bad option. Exit code 2. */
export class UsageError extends Error {
  readonly code = 'USAGE';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Exit codes: 0 success, 1 the operation failed, 2 a usage error. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** What `--json` prints for an error (on stderr), and the text form's parts. */
export interface ErrorReport {
  error: { code: string; message: string; causes?: string[] };
}

/** A machine-readable form of any thrown value. */
export function errorReport(e: unknown): ErrorReport {
  if (e instanceof AggregateError) {
    return { error: { code: 'AGGREGATE', message: e.message, causes: e.errors.map((x) => (x instanceof Error ? x.message : String(x))) } };
  }
  if (e instanceof UsageError || isSnapshotterError(e) || isDeviceMapperError(e)) {
    return { error: { code: e.code, message: e.message } };
  }
  const code = typeof (e as { code?: unknown })?.code === 'string' ? (e as { code: string }).code : 'ERROR';
  return { error: { code, message: e instanceof Error ? e.message : String(e) } };
}

/** The exit code for a thrown value. */
export function exitCodeOf(e: unknown): number {
  return e instanceof UsageError || isSnapshotterError(e, 'INVALID_ARGUMENT') ? EXIT.usage : EXIT.failed;
}
