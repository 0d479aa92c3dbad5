/**
 * The delay target: delays I/O, optionally sending writes and flushes to
 * other devices (Documentation/admin-guide/device-mapper/delay.rst). Params:
 * `<device> <offset> <delay> [<write_device> <write_offset> <write_delay>
 * [<flush_device> <flush_offset> <flush_delay>]]`, delays in milliseconds.
 */
import { invalid } from '../errors.js';
import { tableRow, type Extent, type TableRow } from '../table.js';
import type { Sectors } from '../units.js';
import { UINT32_MAX, checkInt, checkSectors, parseDeviceRef, parseSectors, parseUint, splitArgs, validateDeviceRef } from './args.js';

/** The target type name. */
export const DELAY_TARGET = 'delay';

/** Where one class of I/O goes and how long it waits. */
export interface DelayClass {
  /** The device: an absolute path or 'major:minor'. */
  device: string;
  /** Start on that device, in sectors. */
  offset: Sectors;
  /** Delay in milliseconds, 0 to 2^32 - 1. */
  delayMs: number;
}

/** Parameters of a delay row. */
export interface DelayParams {
  /** Reads (and, without `write`, all I/O). */
  read: DelayClass;
  /** Writes (and, without `flush`, flushes). */
  write?: DelayClass;
  /** Flushes; requires `write`. */
  flush?: DelayClass;
}

function formatClass(c: DelayClass, what: string, op: string): string {
  if (typeof c !== 'object' || c === null) throw invalid(op, `${what} must be an object`);
  const device = validateDeviceRef(c.device, `${what} device`, op);
  const offset = checkSectors(c.offset, `${what} offset`, op);
  const delay = checkInt(c.delayMs, `${what} delay`, op, 0, UINT32_MAX);
  return `${device} ${offset} ${delay}`;
}

/**
 * Formats delay params (3, 6 or 9 words).
 *
 * @throws DeviceMapperError code 'EINVAL' on a bad class, or `flush` without `write`.
 */
export function formatDelayParams(params: DelayParams): string {
  const op = 'delay';
  const parts = [formatClass(params.read, 'read', op)];
  if (params.write !== undefined) parts.push(formatClass(params.write, 'write', op));
  if (params.flush !== undefined) {
    if (params.write === undefined) throw invalid(op, 'flush needs write');
    parts.push(formatClass(params.flush, 'flush', op));
  }
  return parts.join(' ');
}

/**
 * Builds a delay row.
 *
 * @throws DeviceMapperError code 'EINVAL' on bad params or extent.
 */
export function delayRow(params: DelayParams, extent: Extent): TableRow {
  return tableRow(DELAY_TARGET, extent, formatDelayParams(params));
}

function parseClass(words: readonly string[], at: number, what: string, op: string): DelayClass {
  return {
    device: parseDeviceRef(words[at], `${what} device`, op),
    offset: parseSectors(words[at + 1], `${what} offset`, op),
    delayMs: parseUint(words[at + 2], `${what} delay`, op, UINT32_MAX),
  };
}

/**
 * Parses delay params (3, 6 or 9 words) into {@link DelayParams}.
 *
 * @throws DeviceMapperError code 'EINVAL' on malformed text.
 */
export function parseDelayParams(text: string): DelayParams {
  const op = 'parseDelayParams';
  const words = splitArgs(text, op);
  if (words.length !== 3 && words.length !== 6 && words.length !== 9) {
    throw invalid(op, `expected 3, 6 or 9 parameters, got ${words.length}`);
  }
  const params: DelayParams = { read: parseClass(words, 0, 'read', op) };
  if (words.length >= 6) params.write = parseClass(words, 3, 'write', op);
  if (words.length === 9) params.flush = parseClass(words, 6, 'flush', op);
  return params;
}
