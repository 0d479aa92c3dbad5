/**
 * The zero target: reads return zeros, writes are dropped
 * (Documentation/admin-guide/device-mapper/zero.rst). It takes no params.
 */
import { invalid } from '../errors.js';
import { tableRow, type Extent, type TableRow } from '../table.js';
import { splitArgs } from './args.js';

/** The target type name. */
export const ZERO_TARGET = 'zero';

/** Builds a zero row (no params). */
export function zeroRow(extent: Extent): TableRow {
  return tableRow(ZERO_TARGET, extent, '');
}

/**
 * Checks that zero params are empty.
 *
 * @throws DeviceMapperError code 'EINVAL' when any parameter is present.
 */
export function parseZeroParams(text: string): Record<string, never> {
  const op = 'parseZeroParams';
  if (splitArgs(text, op).length > 0) throw invalid(op, 'the zero target takes no parameters');
  return {};
}
