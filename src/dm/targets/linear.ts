/**
 * The linear target: maps a range onto another device at an offset
 * (Documentation/admin-guide/device-mapper/linear.rst). Params: `<dev> <offset>`.
 */
import { tableRow, type Extent, type TableRow } from '../table.js';
import type { Sectors } from '../units.js';
import { checkSectors, expectEnd, parseDeviceRef, parseSectors, splitArgs, validateDeviceRef } from './args.js';

/** The target type name. */
export const LINEAR_TARGET = 'linear';

/** Parameters of a linear row. */
export interface LinearParams {
  /** The underlying device: an absolute path or 'major:minor'. */
  device: string;
  /** Start on the underlying device, in sectors. */
  offset: Sectors;
}

/**
 * Formats linear params as `<dev> <offset>`.
 *
 * @throws DeviceMapperError code 'EINVAL' on a bad device or offset.
 */
export function formatLinearParams(params: LinearParams): string {
  const op = 'linear';
  const device = validateDeviceRef(params.device, 'device', op);
  const offset = checkSectors(params.offset, 'offset', op);
  return `${device} ${offset}`;
}

/**
 * Builds a linear row.
 *
 * @throws DeviceMapperError code 'EINVAL' on bad params or extent.
 */
export function linearRow(params: LinearParams, extent: Extent): TableRow {
  return tableRow(LINEAR_TARGET, extent, formatLinearParams(params));
}

/**
 * Parses linear params (`<dev> <offset>`) back into {@link LinearParams}.
 *
 * @throws DeviceMapperError code 'EINVAL' on malformed text.
 */
export function parseLinearParams(text: string): LinearParams {
  const op = 'parseLinearParams';
  const words = splitArgs(text, op);
  const device = parseDeviceRef(words[0], 'device', op);
  const offset = parseSectors(words[1], 'offset', op);
  expectEnd(words, 2, op);
  return { device, offset };
}
