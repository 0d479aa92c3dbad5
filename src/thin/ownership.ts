/**
 * Device ownership: every device the library makes carries a dm uuid with a
 * prefix derived from its pool, and the library checks it before it
 * suspends, removes or deletes anything, so a pool shared with LVM or
 * another snapshotter is never touched outside what this library made.
 */
import { createHash } from 'node:crypto';
import { DeviceMapperError } from '../dm/errors.js';

/** Every uuid the library gives a device starts with this. */
export const LIBRARY_UUID_PREFIX = 'DMTHIN-';

/** The uuid prefix of thin devices of the pool named `poolName` (fixed length). */
export function thinUuidPrefix(poolName: string): string {
  const hash = createHash('sha256').update(poolName).digest('hex').slice(0, 16);
  return `${LIBRARY_UUID_PREFIX}${hash}-`;
}

/** The uuid of thin device `id` in a pool with the given prefix. */
export function thinUuid(prefix: string, id: number): string {
  return `${prefix}${id}`;
}

/** The uuid the library gives a pool device it creates. */
export function poolUuid(poolName: string): string {
  return `${thinUuidPrefix(poolName)}pool`;
}

/**
 * Throws code 'EPERM' unless `uuid` is exactly the uuid this library gives
 * thin device `id` of the pool: refusing to change a device it did not make.
 */
export function assertOwned(op: string, device: string, uuid: string | null, expected: string): void {
  if (uuid !== expected) {
    throw new DeviceMapperError(
      `${op} ${device}: the device's uuid ${JSON.stringify(uuid)} is not ${JSON.stringify(expected)}; refusing to touch a device this library did not make`,
      { code: 'EPERM', op, device },
    );
  }
}
