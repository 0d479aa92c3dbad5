/**
 * The thin target: one thin device of a pool
 * (Documentation/admin-guide/device-mapper/thin-provisioning.rst).
 * Params: `<pool dev> <dev id> [<external origin dev>]`.
 */
import { invalid } from '../errors.js';
import { tableRow, type Extent, type TableRow } from '../table.js';
import { SECTOR_SIZE } from '../units.js';
import { checkInt, expectEnd, parseDeviceRef, parseUint, splitArgs, validateDeviceRef } from './args.js';
import { MAX_THIN_DEVICE_ID } from './thin-pool.js';

/** The target type name. */
export const THIN_TARGET = 'thin';

/** Parameters of a thin row. */
export interface ThinParams {
  /** The pool device: e.g. '/dev/mapper/pool' or '253:0'. */
  poolDevice: string;
  /** The thin device id inside the pool, 0 to 2^24 - 1. */
  deviceId: number;
  /** A read-only device outside the pool that unprovisioned reads come from. */
  externalOrigin?: string;
}

/**
 * Formats thin params: `<pool dev> <dev id> [<external origin dev>]`.
 *
 * @throws DeviceMapperError code 'EINVAL' on a bad device or id.
 */
export function formatThinParams(params: ThinParams): string {
  const op = 'thin';
  const pool = validateDeviceRef(params.poolDevice, 'pool device', op);
  const id = checkInt(params.deviceId, 'thin device id', op, 0, MAX_THIN_DEVICE_ID);
  if (params.externalOrigin === undefined) return `${pool} ${id}`;
  return `${pool} ${id} ${validateDeviceRef(params.externalOrigin, 'external origin', op)}`;
}

/**
 * Builds a thin row.
 *
 * @throws DeviceMapperError code 'EINVAL' on bad params or extent.
 */
export function thinRow(params: ThinParams, extent: Extent): TableRow {
  return tableRow(THIN_TARGET, extent, formatThinParams(params));
}

/**
 * Parses thin params back into {@link ThinParams} (`externalOrigin` only when present).
 *
 * @throws DeviceMapperError code 'EINVAL' on malformed text.
 */
export function parseThinParams(text: string): ThinParams {
  const op = 'parseThinParams';
  const words = splitArgs(text, op);
  const poolDevice = parseDeviceRef(words[0], 'pool device', op);
  const deviceId = parseUint(words[1], 'thin device id', op, MAX_THIN_DEVICE_ID);
  if (words[2] === undefined) return { poolDevice, deviceId };
  const externalOrigin = parseDeviceRef(words[2], 'external origin', op);
  expectEnd(words, 3, op);
  return { poolDevice, deviceId, externalOrigin };
}

/** A thin device's status, typed. */
export interface ThinStatus {
  /** Bytes mapped (allocated in the pool) by this device; 0 when failed. */
  mappedBytes: number;
  /** Highest mapped sector, or null when nothing is mapped (or failed). */
  highestMappedSector: number | null;
  /** The pool failed (`Fail`) or the kernel could not read the counts (`Error`). */
  failed: boolean;
}

/**
 * Parses a thin status line: `<nr mapped sectors> <highest mapped sector>|-`,
 * or `Fail` / `Error` (failed), or a lone `-` (the thin device is not open
 * in the pool: nothing mapped).
 *
 * @throws DeviceMapperError code 'EINVAL' on malformed text.
 */
export function parseThinStatus(text: string): ThinStatus {
  const op = 'parseThinStatus';
  const words = splitArgs(text, op);
  if (words.length === 1 && (words[0] === 'Fail' || words[0] === 'Error')) {
    return { mappedBytes: 0, highestMappedSector: null, failed: true };
  }
  if (words.length === 1 && words[0] === '-') return { mappedBytes: 0, highestMappedSector: null, failed: false };
  if (words.length !== 2) throw invalid(op, `expected 2 fields, got ${words.length}`);
  const mappedSectors = parseUint(words[0], 'mapped sectors', op, Math.floor(Number.MAX_SAFE_INTEGER / SECTOR_SIZE));
  const highest = words[1] === '-' ? null : parseUint(words[1], 'highest mapped sector', op);
  // The kernel leaves the highest sector unspecified when nothing is mapped.
  return { mappedBytes: mappedSectors * SECTOR_SIZE, highestMappedSector: mappedSectors === 0 ? null : highest, failed: false };
}
