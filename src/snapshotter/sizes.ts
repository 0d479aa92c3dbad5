/**
 * Size strings as containerd and Docker accept them. Both parse sizes with
 * go-units' RAMInBytes, where every unit is binary: "10GB", "10G", "10gb"
 * and "10GiB" all mean 10 * 1024^3 bytes.
 */
import { InvalidArgumentError } from './errors.js';

const BINARY_MULTIPLIERS: Readonly<Record<string, number>> = {
  '': 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  p: 1024 ** 5,
};

// go-units' pattern: a decimal number, an optional space, an optional unit
// letter, then an optional 'i' and an optional 'b' in any case.
const SIZE_PATTERN = /^(\d+(?:\.\d+)?) ?([kmgtp])?i?b?$/i;

/** A size: a number of bytes or a string such as "8192MB", "10GB", "10G" or "512k". */
export type SizeInput = number | string;

/**
 * Parses a size the way go-units' RAMInBytes does (binary units, fraction
 * truncated to whole bytes).
 *
 * @param value - Bytes as a number, or a size string.
 * @param what - The option's name, for the error message.
 * @throws InvalidArgumentError for negative, fractional-byte, non-finite or malformed input.
 */
export function parseSize(value: SizeInput, what = 'size'): number {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new InvalidArgumentError(`${what}: ${value} is not a byte count (a non-negative safe integer)`);
    }
    return value;
  }
  if (typeof value !== 'string') throw new InvalidArgumentError(`${what}: expected a number or a string`);
  const match = SIZE_PATTERN.exec(value.trim());
  if (!match) throw new InvalidArgumentError(`${what}: invalid size ${JSON.stringify(value)} (examples: 8192MB, 10GB, 10G, 1073741824)`);
  const multiplier = BINARY_MULTIPLIERS[(match[2] ?? '').toLowerCase()] ?? 1;
  const bytes = Math.trunc(Number(match[1]) * multiplier);
  if (!Number.isSafeInteger(bytes)) throw new InvalidArgumentError(`${what}: ${JSON.stringify(value)} is too large`);
  return bytes;
}

/** A free-space floor: absolute bytes, or a percentage of the pool's total. */
export type FreeSpaceFloor =
  | {
      /** Free bytes required. */
      bytes: number;
    }
  | {
      /** Free percent of the pool's total required. */
      percent: number;
    };

/**
 * Parses a minimum free space: a size (see {@link parseSize}) or a
 * percentage such as "10%" (Docker's dm.min_free_space form).
 *
 * @throws InvalidArgumentError for malformed input or a percentage above 99.
 */
export function parseFreeSpace(value: SizeInput, what = 'minFreeSpace'): FreeSpaceFloor {
  if (typeof value === 'string' && value.trim().endsWith('%')) {
    const text = value.trim().slice(0, -1).trim();
    const percent = /^\d+(?:\.\d+)?$/.test(text) ? Number(text) : Number.NaN;
    if (!Number.isFinite(percent) || percent < 0 || percent > 99) {
      throw new InvalidArgumentError(`${what}: invalid percentage ${JSON.stringify(value)} (0% to 99%)`);
    }
    return { percent };
  }
  return { bytes: parseSize(value, what) };
}

/** Rounds a byte count up to a whole number of 512-byte sectors (device-mapper's unit). */
export function roundUpToSector(bytes: number): number {
  return Math.ceil(bytes / 512) * 512;
}
