/** Block device size and discard, in bytes. */
import { callNative } from './binding.js';
import { describeValue, invalid } from './errors.js';
import { SECTOR_SIZE } from './units.js';

function checkPath(path: string, op: string): string {
  if (typeof path !== 'string' || path.length === 0 || path.length > 4095 || path.includes('\0')) {
    throw invalid(op, 'device path must be a non-empty path without NUL, up to 4095 characters');
  }
  return path;
}

/** The size of a block device in bytes (BLKGETSIZE64). */
export async function blockDeviceSize(path: string): Promise<number> {
  const op = 'blockSize';
  const p = checkPath(path, op);
  return callNative(op, p, (b) => b.blockSize(p));
}

/**
 * Discards `[offsetBytes, offsetBytes + lengthBytes)` of a block device
 * (BLKDISCARD): a thin device gives the blocks back to its pool. A zero
 * length does nothing.
 *
 * @throws DeviceMapperError 'EINVAL' (before any call) when offset or length is not a
 *   non-negative safe integer multiple of 512 or the range ends beyond a safe integer.
 */
export async function discard(path: string, offsetBytes: number, lengthBytes: number): Promise<void> {
  const op = 'discard';
  const p = checkPath(path, op);
  for (const [what, v] of [['offset', offsetBytes], ['length', lengthBytes]] as const) {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v % SECTOR_SIZE !== 0) {
      throw invalid(op, `${what} ${describeValue(v)} must be a non-negative safe integer multiple of ${SECTOR_SIZE} bytes`, p);
    }
  }
  if (!Number.isSafeInteger(offsetBytes + lengthBytes)) throw invalid(op, 'the range ends beyond a safe integer', p);
  if (lengthBytes === 0) return;
  await callNative(op, p, (b) => b.blockDiscard(p, offsetBytes, lengthBytes));
}
