/**
 * Typed units. Device-mapper tables count in 512-byte sectors; everything
 * else in this library counts in bytes. The {@link Sectors} brand keeps the
 * two apart at compile time, and the converters refuse (never round) values
 * that do not convert exactly.
 */
import { describeValue, invalid } from './errors.js';

declare const sectorsBrand: unique symbol;

/** A count of 512-byte sectors: a non-negative safe integer, made by {@link sectors} or {@link bytesToSectors}. */
export type Sectors = number & {
  /** Compile-time brand only; absent at run time. */
  readonly [sectorsBrand]: true;
};

/** The size of a device-mapper sector in bytes. */
export const SECTOR_SIZE = 512;

/** The largest sector count whose byte size is still a safe integer. */
export const MAX_SECTORS = Math.floor(Number.MAX_SAFE_INTEGER / SECTOR_SIZE);

/**
 * Makes a {@link Sectors} value from a plain number.
 *
 * @param n - A non-negative integer not above {@link MAX_SECTORS}.
 * @throws DeviceMapperError code 'EINVAL' for anything else (negative, fractional, NaN, too large, not a number).
 */
export function sectors(n: number): Sectors {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || n > MAX_SECTORS) {
    throw invalid('sectors', `${describeValue(n)} is not a sector count (a non-negative integer up to ${MAX_SECTORS})`);
  }
  return n as Sectors;
}

/**
 * Converts bytes to sectors exactly.
 *
 * @param bytes - A non-negative safe integer that is a multiple of {@link SECTOR_SIZE}.
 * @throws DeviceMapperError code 'EINVAL' when `bytes` is negative, not a safe integer, or not a multiple of 512.
 */
export function bytesToSectors(bytes: number): Sectors {
  if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0) {
    throw invalid('bytesToSectors', `${describeValue(bytes)} is not a byte count (a non-negative safe integer)`);
  }
  if (bytes % SECTOR_SIZE !== 0) {
    throw invalid('bytesToSectors', `${bytes} bytes is not a whole number of ${SECTOR_SIZE}-byte sectors`);
  }
  return (bytes / SECTOR_SIZE) as Sectors;
}

/**
 * Converts sectors to bytes. Exact for every valid {@link Sectors} value.
 *
 * @throws DeviceMapperError code 'EINVAL' when given a value that is not a valid sector count
 *   (possible only by casting around the brand).
 */
export function sectorsToBytes(count: Sectors): number {
  return sectors(count) * SECTOR_SIZE;
}

/** Whether `bytes` is a non-negative safe integer multiple of {@link SECTOR_SIZE}. */
export function isSectorAligned(bytes: number): boolean {
  return typeof bytes === 'number' && Number.isSafeInteger(bytes) && bytes >= 0 && bytes % SECTOR_SIZE === 0;
}
