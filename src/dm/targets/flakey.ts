/**
 * The flakey target: a linear mapping that misbehaves periodically, for
 * testing (Documentation/admin-guide/device-mapper/dm-flakey.rst). Params:
 * `<dev> <offset> <up interval> <down interval> [<#feature args> <feature args>*]`.
 */
import { invalid } from '../errors.js';
import { tableRow, type Extent, type TableRow } from '../table.js';
import type { Sectors } from '../units.js';
import {
  UINT32_MAX,
  checkInt,
  checkSectors,
  parseDeviceRef,
  parseSectors,
  parseUint,
  splitArgs,
  validateDeviceRef,
} from './args.js';

/** The target type name. */
export const FLAKEY_TARGET = 'flakey';

/** The kernel's probability base: 1000000000 means 100%. */
export const FLAKEY_PROBABILITY_BASE = 1_000_000_000;

/** `corrupt_bio_byte <Nth_byte> <direction> <value> <flags>`: during the down interval, overwrite one byte of matching bios. */
export interface FlakeyCorruptBioByte {
  /** Which byte to overwrite, counting from 1. */
  nthByte: number;
  /** 'r' corrupts reads, 'w' writes. */
  direction: 'r' | 'w';
  /** The byte value written, 0 to 255. */
  value: number;
  /** Corrupt only bios whose bi_opf has all these flags set (0: every bio). */
  flags: number;
}

/**
 * Behaviour during the down interval. With no feature, all I/O fails (kernels
 * 6.5+ then print the table as `2 error_reads error_writes`). The kernel's
 * exclusions are enforced: drop/error writes exclude write corruption, error
 * reads exclude read corruption.
 */
export interface FlakeyFeatures {
  /** Fail reads (writes pass). Kernel 6.5+. */
  errorReads?: boolean;
  /** Silently drop writes (reads pass). Excludes `errorWrites` and write corruption. */
  dropWrites?: boolean;
  /** Fail writes (reads pass). Excludes `dropWrites` and write corruption. */
  errorWrites?: boolean;
  /** Overwrite one byte of matching bios. */
  corruptBioByte?: FlakeyCorruptBioByte;
  /** Corrupt a random byte of reads with this probability out of 1000000000 (0: off). Kernel 6.5+. */
  randomReadCorrupt?: number;
  /** Corrupt a random byte of writes with this probability out of 1000000000 (0: off). Kernel 6.5+. */
  randomWriteCorrupt?: number;
}

/** Parameters of a flakey row. */
export interface FlakeyParams {
  /** The underlying device: an absolute path or 'major:minor'. */
  device: string;
  /** Start on the underlying device, in sectors. */
  offset: Sectors;
  /** Seconds the device behaves. */
  upInterval: number;
  /** Seconds the device misbehaves. `upInterval + downInterval` must be 1 to 2^32 - 1. */
  downInterval: number;
  /** What misbehaving means (default: all I/O fails). */
  features?: FlakeyFeatures;
}

/** {@link FlakeyParams} as parsed: `features` always present. */
export interface ParsedFlakeyParams extends FlakeyParams {
  /** The features set (an empty object when none). */
  features: FlakeyFeatures;
}

function featureWords(features: FlakeyFeatures, op: string): string[] {
  const words: string[] = [];
  if (features.dropWrites && features.errorWrites) throw invalid(op, 'dropWrites and errorWrites exclude each other');
  if (features.errorReads) words.push('error_reads');
  if (features.dropWrites) words.push('drop_writes');
  if (features.errorWrites) words.push('error_writes');
  const c = features.corruptBioByte;
  if (c !== undefined) {
    if (typeof c !== 'object' || c === null) throw invalid(op, 'corruptBioByte must be an object');
    const nth = checkInt(c.nthByte, 'corrupt_bio_byte Nth byte', op, 1, UINT32_MAX);
    if (c.direction !== 'r' && c.direction !== 'w') throw invalid(op, "corrupt_bio_byte direction must be 'r' or 'w'");
    if (c.direction === 'w' && (features.dropWrites || features.errorWrites)) {
      throw invalid(op, "corrupt_bio_byte with direction 'w' excludes dropWrites and errorWrites");
    }
    const value = checkInt(c.value, 'corrupt_bio_byte value', op, 0, 255);
    const flags = checkInt(c.flags, 'corrupt_bio_byte flags', op, 0, UINT32_MAX);
    words.push('corrupt_bio_byte', String(nth), c.direction, String(value), String(flags));
  }
  const randomRead = features.randomReadCorrupt ?? 0;
  const randomWrite = features.randomWriteCorrupt ?? 0;
  if ((features.dropWrites || features.errorWrites) && randomWrite > 0) {
    throw invalid(op, 'randomWriteCorrupt excludes dropWrites and errorWrites');
  }
  if (features.errorReads && (randomRead > 0 || c?.direction === 'r')) {
    throw invalid(op, "errorReads excludes randomReadCorrupt and corrupt_bio_byte with direction 'r'");
  }
  if (features.randomReadCorrupt !== undefined) {
    const p = checkInt(features.randomReadCorrupt, 'random_read_corrupt probability', op, 0, FLAKEY_PROBABILITY_BASE);
    if (p > 0) words.push('random_read_corrupt', String(p));
  }
  if (features.randomWriteCorrupt !== undefined) {
    const p = checkInt(features.randomWriteCorrupt, 'random_write_corrupt probability', op, 0, FLAKEY_PROBABILITY_BASE);
    if (p > 0) words.push('random_write_corrupt', String(p));
  }
  return words;
}

function checkIntervals(up: number, down: number, op: string): void {
  if (up + down === 0) throw invalid(op, 'up and down intervals must not both be 0');
  if (up + down > UINT32_MAX) throw invalid(op, `up + down interval must not exceed ${UINT32_MAX}`);
}

/**
 * Formats flakey params. The feature count is written only when there are features.
 *
 * @throws DeviceMapperError code 'EINVAL' on a bad device, offset, interval or feature combination.
 */
export function formatFlakeyParams(params: FlakeyParams): string {
  const op = 'flakey';
  const device = validateDeviceRef(params.device, 'device', op);
  const offset = checkSectors(params.offset, 'offset', op);
  const up = checkInt(params.upInterval, 'up interval', op, 0, UINT32_MAX);
  const down = checkInt(params.downInterval, 'down interval', op, 0, UINT32_MAX);
  checkIntervals(up, down, op);
  const words = featureWords(params.features ?? {}, op);
  const base = `${device} ${offset} ${up} ${down}`;
  return words.length === 0 ? base : `${base} ${words.length} ${words.join(' ')}`;
}

/**
 * Builds a flakey row.
 *
 * @throws DeviceMapperError code 'EINVAL' on bad params or extent.
 */
export function flakeyRow(params: FlakeyParams, extent: Extent): TableRow {
  return tableRow(FLAKEY_TARGET, extent, formatFlakeyParams(params));
}

/**
 * Parses flakey params (as loaded, or as the kernel prints them, with its
 * `0` feature count) into {@link FlakeyParams}; `features` is always present
 * and holds only the features set.
 *
 * @throws DeviceMapperError code 'EINVAL' on malformed text.
 */
export function parseFlakeyParams(text: string): ParsedFlakeyParams {
  const op = 'parseFlakeyParams';
  const words = splitArgs(text, op);
  const device = parseDeviceRef(words[0], 'device', op);
  const offset = parseSectors(words[1], 'offset', op);
  const upInterval = parseUint(words[2], 'up interval', op, UINT32_MAX);
  const downInterval = parseUint(words[3], 'down interval', op, UINT32_MAX);
  checkIntervals(upInterval, downInterval, op);
  const features: FlakeyFeatures = {};
  if (words.length > 4) {
    const count = parseUint(words[4], 'feature count', op, words.length);
    if (words.length !== 5 + count) throw invalid(op, `feature count ${count} does not match the ${words.length - 5} feature words`);
    let i = 5;
    const seen = new Set<string>();
    while (i < words.length) {
      const word = words[i++] ?? '';
      if (seen.has(word)) throw invalid(op, `feature ${word} given twice`);
      seen.add(word);
      switch (word) {
        case 'error_reads':
          features.errorReads = true;
          break;
        case 'drop_writes':
          features.dropWrites = true;
          break;
        case 'error_writes':
          features.errorWrites = true;
          break;
        case 'corrupt_bio_byte': {
          const nthByte = parseUint(words[i++], 'corrupt_bio_byte Nth byte', op, UINT32_MAX);
          if (nthByte === 0) throw invalid(op, 'corrupt_bio_byte Nth byte counts from 1');
          const direction = words[i++];
          if (direction !== 'r' && direction !== 'w') throw invalid(op, "corrupt_bio_byte direction must be 'r' or 'w'");
          const value = parseUint(words[i++], 'corrupt_bio_byte value', op, 255);
          const flags = parseUint(words[i++], 'corrupt_bio_byte flags', op, UINT32_MAX);
          features.corruptBioByte = { nthByte, direction, value, flags };
          break;
        }
        case 'random_read_corrupt': {
          const p = parseUint(words[i++], 'random_read_corrupt probability', op, FLAKEY_PROBABILITY_BASE);
          if (p > 0) features.randomReadCorrupt = p;
          break;
        }
        case 'random_write_corrupt': {
          const p = parseUint(words[i++], 'random_write_corrupt probability', op, FLAKEY_PROBABILITY_BASE);
          if (p > 0) features.randomWriteCorrupt = p;
          break;
        }
        default:
          throw invalid(op, `unknown flakey feature ${JSON.stringify(word.slice(0, 40))}`);
      }
    }
    // The same combination rules as the builder.
    featureWords(features, op);
  }
  return { device, offset, upInterval, downInterval, features };
}
