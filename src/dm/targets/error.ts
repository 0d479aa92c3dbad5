/**
 * The error target: every I/O fails. It takes no params. Useful to replace a
 * device's table so that its holders see errors instead of hanging.
 */
import { invalid } from '../errors.js';
import { tableRow, type Extent, type TableRow } from '../table.js';
import { splitArgs } from './args.js';

/** The target type name. */
export const ERROR_TARGET = 'error';

/** Builds an error row (no params). */
export function errorRow(extent: Extent): TableRow {
  return tableRow(ERROR_TARGET, extent, '');
}

/**
 * Checks that error params are empty.
 *
 * @throws DeviceMapperError code 'EINVAL' when any parameter is present.
 */
export function parseErrorParams(text: string): Record<string, never> {
  const op = 'parseErrorParams';
  if (splitArgs(text, op).length > 0) throw invalid(op, 'the error target takes no parameters');
  return {};
}
