/**
 * The pool's health and space failures as snapshotter errors, so that
 * callers (and containerd, through the server's status codes) can branch on
 * `code` instead of errno names:
 *
 * - read-only, failed, or metadata that needs a check ('EROFS', 'EIO',
 *   'EOPNOTSUPP', the kernel's answer to a pool message in those modes, or
 *   any other pool failure while the pool's status shows such a mode: a
 *   change the kernel dropped when its metadata commit failed surfaces as
 *   'ENODATA' from the activation that follows): {@link UnavailableError};
 * - out of space, or below the pool guard's minimum ('ENOSPC'):
 *   {@link FailedPreconditionError}.
 *
 * The DeviceMapperError stays as `cause`; other errors pass unchanged.
 */
import { isDeviceMapperError } from '../dm/errors.js';
import type { ThinPoolApi, ThinPoolStatus } from '../thin/types.js';
import { FailedPreconditionError, UnavailableError } from './errors.js';

/** What is wrong with a pool's status, or undefined when it is healthy. */
function unhealthy(status: ThinPoolStatus): string | undefined {
  if (status.needsCheck) return `mode ${status.mode}, needs_check`;
  if (status.mode === 'ro' || status.mode === 'fail' || status.mode === 'error') return `mode ${status.mode}`;
  return undefined;
}

/** `e` as a snapshotter error when it is a health or space failure of `pool`; else `e`. Reads the pool's status only for other pool failures. */
export async function typedPoolError(e: unknown, pool: Pick<ThinPoolApi, 'name' | 'status'>): Promise<unknown> {
  if (!isDeviceMapperError(e)) return e;
  switch (e.code) {
    case 'ENOSPC':
      return new FailedPreconditionError(`pool ${pool.name} is short of space: ${e.message}`, { cause: e });
    case 'EROFS':
    case 'EIO':
    case 'EOPNOTSUPP':
      return new UnavailableError(`pool ${pool.name} is not healthy: ${e.message}`, { cause: e });
  }
  const status = await pool.status({ noFlush: true }).catch(() => undefined);
  const problem = status && unhealthy(status);
  return problem ? new UnavailableError(`pool ${pool.name} is not healthy (${problem}): ${e.message}`, { cause: e }) : e;
}
