/**
 * The snapshotter's own free-space floor (`minFreeSpace`): new devices are
 * refused while the pool's free data space, or with a percent floor its
 * free metadata space, is below it.
 */
import type { ThinPoolStatus } from '../dm/targets/thin-pool.js';
import { FailedPreconditionError } from './errors.js';
import type { FreeSpaceFloor } from './sizes.js';

/** Whether the floor is off (0 bytes or 0 percent): no status read is needed then. */
export function floorIsOff(floor: FreeSpaceFloor): boolean {
  return ('bytes' in floor ? floor.bytes : floor.percent) === 0;
}

/**
 * Throws when the pool's free space is below the floor.
 *
 * @throws FailedPreconditionError naming the space that is short.
 */
export function checkMinFreeSpace(poolName: string, floor: FreeSpaceFloor, status: ThinPoolStatus): void {
  if (floorIsOff(floor)) return;
  const need = (total: number): number => ('bytes' in floor ? floor.bytes : Math.ceil((total * floor.percent) / 100));
  if (status.data.availableBytes < need(status.data.totalBytes)) {
    throw new FailedPreconditionError(
      `pool ${poolName} has ${status.data.availableBytes} bytes of data space free, below the minimum ${need(status.data.totalBytes)} (minFreeSpace)`,
    );
  }
  if ('percent' in floor && status.metadata.availableBytes < need(status.metadata.totalBytes)) {
    throw new FailedPreconditionError(
      `pool ${poolName} has ${status.metadata.availableBytes} bytes of metadata space free, below the minimum ${need(status.metadata.totalBytes)} (minFreeSpace)`,
    );
  }
}
