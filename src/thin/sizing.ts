/**
 * Pool geometry rules from the kernel's thin-provisioning guide: data block
 * size bounds and the metadata size guideline.
 */
import { DeviceMapperError } from '../dm/errors.js';

/** Smallest data block size the kernel accepts: 64 KiB. */
export const MIN_DATA_BLOCK_BYTES = 64 * 1024;
/** Largest data block size the kernel accepts: 1 GiB. */
export const MAX_DATA_BLOCK_BYTES = 1024 * 1024 * 1024;
/** The kernel's metadata block size. */
export const METADATA_BLOCK_BYTES = 4096;
/** Smallest useful metadata device (the guide's lower bound). */
export const MIN_METADATA_BYTES = 2 * 1024 * 1024;
/** Largest metadata device the kernel uses (about 16 GiB; the rest is ignored). */
export const MAX_METADATA_BYTES = 16 * 1024 * 1024 * 1024;

function invalid(message: string): DeviceMapperError {
  return DeviceMapperError.invalid('thin-pool', message);
}

/** Throws code 'EINVAL' unless `bytes` is a valid thin-pool data block size. */
export function validateDataBlockSize(bytes: number): void {
  if (!Number.isSafeInteger(bytes) || bytes < MIN_DATA_BLOCK_BYTES || bytes > MAX_DATA_BLOCK_BYTES || bytes % MIN_DATA_BLOCK_BYTES !== 0) {
    throw invalid(`data block size ${bytes} must be 64 KiB to 1 GiB and a multiple of 64 KiB`);
  }
}

/**
 * The metadata size the kernel's guide recommends for a pool:
 * 48 × data size / block size, clamped to 2 MiB .. 16 GiB and rounded up to a
 * whole metadata block.
 */
export function recommendedMetadataSize(dataBytes: number, dataBlockBytes: number): number {
  const raw = Math.ceil((48 * dataBytes) / dataBlockBytes);
  const clamped = Math.min(MAX_METADATA_BYTES, Math.max(MIN_METADATA_BYTES, raw));
  return Math.ceil(clamped / METADATA_BLOCK_BYTES) * METADATA_BLOCK_BYTES;
}

/**
 * Throws code 'EINVAL' when a metadata device is too small for the data
 * device by the kernel's guideline (with 2 MiB as the floor), or larger than
 * the kernel can use.
 */
export function validateMetadataSize(metadataBytes: number, dataBytes: number, dataBlockBytes: number): void {
  const needed = Math.min(recommendedMetadataSize(dataBytes, dataBlockBytes), MAX_METADATA_BYTES);
  if (metadataBytes < needed) {
    throw invalid(`metadata device of ${metadataBytes} bytes is below the ${needed} bytes a ${dataBytes}-byte pool with ${dataBlockBytes}-byte blocks needs`);
  }
  if (metadataBytes > MAX_METADATA_BYTES + METADATA_BLOCK_BYTES * 1024) {
    throw invalid(`metadata device of ${metadataBytes} bytes exceeds the kernel's ${MAX_METADATA_BYTES}-byte maximum`);
  }
}
