/**
 * Errors as containerd expects them over gRPC: containerd's errdefs map
 * gRPC status codes back to its error kinds (errdefs.FromGRPC), so the
 * snapshotter's error codes become the matching status codes, and anything
 * else is INTERNAL with a message that says what failed.
 */
import { Metadata, status as Status, type ServiceError } from '@grpc/grpc-js';
import { isSnapshotterError, type SnapshotterErrorCode } from '../snapshotter/errors.js';

/** The status code of each snapshotter error code. */
export const STATUS_OF: Readonly<Record<SnapshotterErrorCode, Status>> = {
  NOT_FOUND: Status.NOT_FOUND,
  ALREADY_EXISTS: Status.ALREADY_EXISTS,
  FAILED_PRECONDITION: Status.FAILED_PRECONDITION,
  INVALID_ARGUMENT: Status.INVALID_ARGUMENT,
  UNAVAILABLE: Status.UNAVAILABLE,
};

function describe(e: unknown): string {
  if (e instanceof AggregateError) {
    const inner = e.errors.map(describe).join('; ');
    return inner ? `${e.message}: ${inner}` : e.message;
  }
  if (isSnapshotterError(e)) return e.message;
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return typeof code === 'string' && !e.message.includes(code) ? `${e.message} (${code})` : e.message;
  }
  return String(e);
}

/** An error as grpc-js sends it: a status code and its message. */
export interface StatusError extends Partial<ServiceError> {
  /** The gRPC status code. */
  code: Status;
  /** The status message the client sees. */
  details: string;
}

/** The status an error maps to. */
export function statusOf(e: unknown): Status {
  return isSnapshotterError(e) ? STATUS_OF[e.code] : Status.INTERNAL;
}

/**
 * A thrown value as a gRPC error: the snapshotter's errors keep their
 * message under their status code; others are INTERNAL, their message
 * prefixed with what was being done ("prepare: ...").
 */
export function toServiceError(e: unknown, method: string): StatusError {
  const code = statusOf(e);
  const details = code === Status.INTERNAL ? `${method.toLowerCase()}: ${describe(e)}` : describe(e);
  return { name: 'Error', message: details, code, details, metadata: new Metadata() };
}
