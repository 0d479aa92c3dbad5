/**
 * The snapshotter's error classes, named after containerd's errdefs so that
 * callers can branch on `code` the way containerd clients branch on
 * `errdefs.IsNotFound` and friends.
 */

/** The codes a {@link SnapshotterError} carries. */
export type SnapshotterErrorCode =
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION'
  | 'INVALID_ARGUMENT'
  | 'UNAVAILABLE';

/** The base class of every error the snapshotter raises on purpose. */
export abstract class SnapshotterError extends Error {
  /** A stable, machine-readable code. */
  abstract readonly code: SnapshotterErrorCode;

  /**
   * @param message - A human-readable description.
   * @param options - The underlying error, if any.
   */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
  }
}

/** The snapshot (or its parent) does not exist. */
export class NotFoundError extends SnapshotterError {
  readonly code = 'NOT_FOUND' as const;
}

/** A snapshot with that key or name already exists. */
export class AlreadyExistsError extends SnapshotterError {
  readonly code = 'ALREADY_EXISTS' as const;
}

/** The snapshot is not in a state that allows the operation (e.g. it has children, or it is not active). */
export class FailedPreconditionError extends SnapshotterError {
  readonly code = 'FAILED_PRECONDITION' as const;
}

/** An argument is malformed: a bad key, label, filter, size or field path. */
export class InvalidArgumentError extends SnapshotterError {
  readonly code = 'INVALID_ARGUMENT' as const;
}

/** The snapshotter is closed or its store is unhealthy (locked by another process, newer schema, pool mismatch). */
export class UnavailableError extends SnapshotterError {
  readonly code = 'UNAVAILABLE' as const;
}

/** Whether `e` is a {@link SnapshotterError}, optionally with the given code. */
export function isSnapshotterError(e: unknown, code?: SnapshotterErrorCode): e is SnapshotterError {
  return e instanceof SnapshotterError && (code === undefined || e.code === code);
}

/** The `code` property of an unknown error value, if it has a string one (e.g. a DeviceMapperError's errno name). */
export function errorCode(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}
