/**
 * Table rows: one target each, `start length type params`, in sectors.
 * Conversion to and from the addon's rows, and the dmsetup text form.
 */
import { invalid } from './errors.js';
import type { NativeTableRow } from './native.js';
import { sectors, type Sectors } from './units.js';

/** One row of a device-mapper table (or of a status: then `params` is the target's status text). */
export interface TableRow {
  /** First sector of the device this row maps. */
  start: Sectors;
  /** Number of sectors this row maps. */
  length: Sectors;
  /** The target type, e.g. 'linear' or 'thin-pool'. */
  targetType: string;
  /** The target's parameters (or status) as text. */
  params: string;
}

/** Where a row sits in its device: `start` (default 0) and `length`, in sectors. */
export interface Extent {
  /** First sector (default 0). */
  start?: Sectors;
  /** Number of sectors, at least 1. */
  length: Sectors;
}

/** The kernel's DM_MAX_TYPE_NAME: a target type name takes at most 15 characters. */
export const MAX_TARGET_TYPE_LENGTH = 15;

const TARGET_TYPE = /^[\x21-\x7e]+$/;
// NUL ends the kernel's string; line breaks would break the dmsetup text form.
const BAD_PARAMS = /[\0\n\r]/;

/**
 * Makes a validated row for a table to load.
 *
 * @param targetType - The target type: 1 to 15 printable ASCII characters, no space.
 * @param extent - Start (default 0) and length (at least 1 sector).
 * @param params - The target's parameters: no NUL, CR or LF.
 * @throws DeviceMapperError code 'EINVAL' on a bad type, zero length or bad params.
 */
export function tableRow(targetType: string, extent: Extent, params: string): TableRow {
  const op = 'tableRow';
  if (typeof targetType !== 'string' || !TARGET_TYPE.test(targetType) || targetType.length > MAX_TARGET_TYPE_LENGTH) {
    throw invalid(op, `target type ${JSON.stringify(targetType)} must be 1 to ${MAX_TARGET_TYPE_LENGTH} printable ASCII characters without space`);
  }
  const start = sectors(extent.start ?? 0);
  const length = sectors(extent.length);
  if (length === 0) throw invalid(op, 'a row must map at least one sector');
  if (start + length > Number.MAX_SAFE_INTEGER) throw invalid(op, 'row ends beyond the largest safe sector');
  if (typeof params !== 'string' || BAD_PARAMS.test(params)) {
    throw invalid(op, 'params must be a string without NUL, CR or LF');
  }
  return { start, length, targetType, params };
}

/**
 * Checks a table before it is loaded: every row valid (see {@link tableRow}),
 * the first starting at sector 0 and each starting where the previous ends
 * (the kernel refuses gaps and overlaps).
 *
 * @param op - The operation to name in the error.
 * @throws DeviceMapperError code 'EINVAL' when the table is not loadable.
 */
export function validateTable(rows: readonly TableRow[], op = 'validateTable'): void {
  if (!Array.isArray(rows)) throw invalid(op, 'a table must be an array of rows');
  let next = 0;
  rows.forEach((row, i) => {
    let checked: TableRow;
    try {
      checked = tableRow(row.targetType, { start: row.start, length: row.length }, row.params);
    } catch (e) {
      throw invalid(op, `row ${i}: ${(e as Error).message}`);
    }
    if (checked.start !== next) {
      throw invalid(op, `row ${i} starts at sector ${checked.start}, expected ${next} (rows must be contiguous from 0)`);
    }
    next = checked.start + checked.length;
  });
}

/** The total length of a table in sectors (the device size). */
export function tableLength(rows: readonly TableRow[]): Sectors {
  return sectors(rows.reduce((sum, row) => sum + row.length, 0));
}

/** Converts a row to the addon's form. */
export function toNativeRow(row: TableRow): NativeTableRow {
  return { start: row.start, length: row.length, targetType: row.targetType, params: row.params };
}

/**
 * Converts a row from the addon (table or status) to a typed row.
 *
 * @throws DeviceMapperError code 'EINVAL' when start or length is not a sector count.
 */
export function fromNativeRow(row: NativeTableRow): TableRow {
  return { start: sectors(row.start), length: sectors(row.length), targetType: row.targetType, params: row.params };
}

/** Formats rows as dmsetup table text: one `start length type params` line each, joined by '\n'. */
export function formatTable(rows: readonly TableRow[]): string {
  return rows.map((r) => (r.params.length > 0 ? `${r.start} ${r.length} ${r.targetType} ${r.params}` : `${r.start} ${r.length} ${r.targetType}`)).join('\n');
}

const LINE = /^[ \t]*([0-9]+)[ \t]+([0-9]+)[ \t]+([^ \t]+)(?:[ \t]+(.*?))?[ \t]*$/;

/**
 * Parses dmsetup table text (as `dmsetup table` prints it, or as
 * {@link formatTable} writes it): one `start length type params` line per
 * row; blank lines are skipped. Params keep their inner spacing.
 *
 * @throws DeviceMapperError code 'EINVAL' on a malformed line.
 */
export function parseTable(text: string): TableRow[] {
  const op = 'parseTable';
  if (typeof text !== 'string') throw invalid(op, 'table text must be a string');
  const rows: TableRow[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (/^[ \t]*$/.test(line)) return;
    const m = LINE.exec(line);
    if (!m) throw invalid(op, `line ${i + 1} is not 'start length type params': ${JSON.stringify(line.slice(0, 200))}`);
    const [, start = '', length = '', targetType = '', params = ''] = m;
    let row: TableRow;
    try {
      row = { start: sectors(Number(start)), length: sectors(Number(length)), targetType, params };
    } catch (e) {
      throw invalid(op, `line ${i + 1}: ${(e as Error).message}`);
    }
    rows.push(row);
  });
  return rows;
}
