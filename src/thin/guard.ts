/**
 * The minimum-free-space guard (Docker's dm.min_free_space): new thin
 * devices are refused while free data or metadata space is below a percent,
 * before the pool fills up, and while the pool is not healthy.
 */
import { DeviceMapperError } from '../dm/errors.js';
import type { ThinPoolStatus } from '../dm/targets/thin-pool.js';

/** Percent of free space of a used/total pair. */
export function freePercent(space: { usedBytes: number; totalBytes: number }): number {
  return space.totalBytes === 0 ? 0 : (100 * (space.totalBytes - space.usedBytes)) / space.totalBytes;
}

/**
 * Throws when a new device must not be made: 'EROFS' or 'EIO' for a pool
 * that is read-only, failed or needs a check; 'ENOSPC' below the minimum.
 */
export function checkFreeSpace(op: string, pool: string, status: ThinPoolStatus, minFreePercent: number): void {
  if (status.mode === 'fail' || status.mode === 'error') {
    throw new DeviceMapperError(`${op} ${pool}: the pool has failed; check it with thin_check before use`, { code: 'EIO', op, device: pool });
  }
  if (status.needsCheck) {
    throw new DeviceMapperError(`${op} ${pool}: the pool's metadata needs a check (thin_check, then thin_repair if it fails)`, { code: 'EROFS', op, device: pool });
  }
  if (status.mode === 'ro') {
    throw new DeviceMapperError(`${op} ${pool}: the pool is read-only`, { code: 'EROFS', op, device: pool });
  }
  if (status.mode === 'out_of_data_space') {
    throw new DeviceMapperError(`${op} ${pool}: the pool is out of data space`, { code: 'ENOSPC', op, device: pool });
  }
  if (minFreePercent <= 0) return;
  for (const [what, space] of [['data', status.data], ['metadata', status.metadata]] as const) {
    const free = freePercent(space);
    if (free < minFreePercent) {
      throw new DeviceMapperError(
        `${op} ${pool}: ${free.toFixed(1)}% of ${what} space is free, below the ${minFreePercent}% minimum; grow the pool or free space first`,
        { code: 'ENOSPC', op, device: pool },
      );
    }
  }
}
