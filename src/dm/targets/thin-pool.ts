/**
 * The thin-pool target: table rows and status (see the kernel's
 * Documentation/admin-guide/device-mapper/thin-provisioning.rst).
 */

import { describeValue, invalid } from '../errors.js';
import { tableRow, type Extent, type TableRow } from '../table.js';
import { SECTOR_SIZE, type Sectors } from '../units.js';
import {
  checkInt,
  checkSectors,
  parseDeviceRef,
  parseSectors,
  parseUint,
  splitArgs,
  validateDeviceRef,
} from './args.js';

/** The pool's mode as its status line reports it. */
export type ThinPoolMode = 'rw' | 'ro' | 'out_of_data_space' | 'fail' | 'error';

/** What the pool does when data space runs out. */
export type NoSpacePolicy = 'queue' | 'error';

/** How the pool handles discards. */
export type DiscardMode = 'discard_passdown' | 'no_discard_passdown' | 'ignore_discard';

/** The kernel's thin-pool status, typed. */
export interface ThinPoolStatus {
  /** The pool's transaction id (set with `set_transaction_id`). */
  transactionId: number;
  /** Metadata block size in bytes (the kernel's is 4096). */
  metadataBlockSizeBytes: number;
  /** Metadata blocks in use. */
  usedMetadataBlocks: number;
  /** Metadata blocks in all. */
  totalMetadataBlocks: number;
  /** Data block size in bytes. */
  dataBlockSizeBytes: number;
  /** Data blocks in use. */
  usedDataBlocks: number;
  /** Data blocks in all. */
  totalDataBlocks: number;
  /** Space figures derived from the block counts. */
  data: {
    /** Bytes in used data blocks. */
    usedBytes: number;
    /** Bytes of all data blocks. */
    totalBytes: number;
    /** Bytes of free data blocks. */
    availableBytes: number;
  };
  /** Metadata space figures derived from the block counts. */
  metadata: {
    /** Bytes in used metadata blocks. */
    usedBytes: number;
    /** Bytes of all metadata blocks. */
    totalBytes: number;
    /** Bytes of free metadata blocks. */
    availableBytes: number;
  };
  /** The held metadata root (a metadata snapshot), or null when none is held. */
  heldMetadataRoot: number | null;
  /** The pool's mode: 'fail' and 'error' when the status was `Fail` or `Error` (counts are then 0). */
  mode: ThinPoolMode;
  /** How discards are handled. */
  discard: DiscardMode;
  /** Whether I/O queues or errors when space runs out. */
  noSpacePolicy: NoSpacePolicy;
  /** The metadata needs thin_check before the pool is fully usable. */
  needsCheck: boolean;
  /** Metadata low watermark in blocks (kernel 4.19+), or null when not reported. */
  metadataLowWatermark: number | null;
}

/** The target type name. */
export const THIN_POOL_TARGET = 'thin-pool';

/** The kernel's thin-pool metadata block size in bytes. */
export const THIN_POOL_METADATA_BLOCK_SIZE = 4096;

/** The smallest data block size in sectors (64 KiB). */
export const MIN_DATA_BLOCK_SECTORS = 128;

/** The largest data block size in sectors (1 GiB). */
export const MAX_DATA_BLOCK_SECTORS = 2_097_152;

/** The largest thin device id (24 bits). */
export const MAX_THIN_DEVICE_ID = 0xff_ffff;

/** An optional thin-pool feature argument. */
export type ThinPoolFeature =
  | 'skip_block_zeroing'
  | 'ignore_discard'
  | 'no_discard_passdown'
  | 'read_only'
  | 'error_if_no_space';

/** Every thin-pool feature, in the order the kernel prints them. */
export const THIN_POOL_FEATURES: readonly ThinPoolFeature[] = Object.freeze([
  'skip_block_zeroing',
  'ignore_discard',
  'no_discard_passdown',
  'read_only',
  'error_if_no_space',
]);


/** Parameters of a thin-pool row. */
export interface ThinPoolParams {
  /** The metadata device: an absolute path or 'major:minor'. */
  metadataDevice: string;
  /** The data device: an absolute path or 'major:minor'. */
  dataDevice: string;
  /** Data block size in sectors: 128 to 2097152 (64 KiB to 1 GiB), a multiple of 128. */
  dataBlockSize: Sectors;
  /** Low water mark in data blocks: a dm event fires when free blocks drop below it. */
  lowWaterMark: number;
  /** Feature arguments (duplicates are dropped; the kernel's order is used). */
  features?: readonly ThinPoolFeature[];
}

/** {@link ThinPoolParams} as parsed: `features` always present, in the kernel's order. */
export interface ParsedThinPoolParams extends ThinPoolParams {
  /** The features, deduplicated, in the kernel's order (empty when none). */
  features: ThinPoolFeature[];
}

function isFeature(word: string): word is ThinPoolFeature {
  return (THIN_POOL_FEATURES as readonly string[]).includes(word);
}

/** The features in the kernel's order, without duplicates. */
function canonicalFeatures(features: readonly string[], op: string): ThinPoolFeature[] {
  for (const f of features) {
    if (!isFeature(f)) throw invalid(op, `unknown thin-pool feature ${describeValue(f)}`);
  }
  return THIN_POOL_FEATURES.filter((f) => features.includes(f));
}

/**
 * Checks a data block size in sectors: 128 to 2097152 and a multiple of 128.
 *
 * @throws DeviceMapperError code 'EINVAL' otherwise.
 */
export function validateDataBlockSectors(blockSize: number, op = 'thin-pool'): Sectors {
  const size = checkSectors(blockSize, 'data block size', op);
  if (size < MIN_DATA_BLOCK_SECTORS || size > MAX_DATA_BLOCK_SECTORS || size % MIN_DATA_BLOCK_SECTORS !== 0) {
    throw invalid(
      op,
      `data block size ${size} sectors must be from ${MIN_DATA_BLOCK_SECTORS} to ${MAX_DATA_BLOCK_SECTORS} sectors (64 KiB to 1 GiB) and a multiple of ${MIN_DATA_BLOCK_SECTORS}`,
    );
  }
  return size;
}

/**
 * Formats thin-pool params: `<metadata dev> <data dev> <block size> <low water mark> [<#features> <feature>*]`.
 * The feature count is written only when there are features.
 *
 * @throws DeviceMapperError code 'EINVAL' on a bad device, block size, low water mark or feature.
 */
export function formatThinPoolParams(params: ThinPoolParams): string {
  const op = 'thin-pool';
  const metadata = validateDeviceRef(params.metadataDevice, 'metadata device', op);
  const data = validateDeviceRef(params.dataDevice, 'data device', op);
  const blockSize = validateDataBlockSectors(params.dataBlockSize, op);
  const lowWater = checkInt(params.lowWaterMark, 'low water mark', op, 0, Number.MAX_SAFE_INTEGER);
  if (params.features !== undefined && !Array.isArray(params.features)) throw invalid(op, 'features must be an array');
  const features = canonicalFeatures(params.features ?? [], op);
  const base = `${metadata} ${data} ${blockSize} ${lowWater}`;
  return features.length === 0 ? base : `${base} ${features.length} ${features.join(' ')}`;
}

/**
 * Builds a thin-pool row.
 *
 * @throws DeviceMapperError code 'EINVAL' on bad params or extent.
 */
export function thinPoolRow(params: ThinPoolParams, extent: Extent): TableRow {
  return tableRow(THIN_POOL_TARGET, extent, formatThinPoolParams(params));
}

/**
 * Parses thin-pool table params (as loaded, or as the kernel prints them)
 * into {@link ThinPoolParams}; `features` is always present, in the kernel's order.
 *
 * @throws DeviceMapperError code 'EINVAL' on malformed text.
 */
export function parseThinPoolParams(text: string): ParsedThinPoolParams {
  const op = 'parseThinPoolParams';
  const words = splitArgs(text, op);
  const metadataDevice = parseDeviceRef(words[0], 'metadata device', op);
  const dataDevice = parseDeviceRef(words[1], 'data device', op);
  const dataBlockSize = validateDataBlockSectors(parseSectors(words[2], 'data block size', op), op);
  const lowWaterMark = parseUint(words[3], 'low water mark', op);
  let features: ThinPoolFeature[] = [];
  if (words.length > 4) {
    const count = parseUint(words[4], 'feature count', op, words.length);
    if (words.length !== 5 + count) throw invalid(op, `feature count ${count} does not match the ${words.length - 5} feature words`);
    features = canonicalFeatures(words.slice(5), op);
  }
  return { metadataDevice, dataDevice, dataBlockSize, lowWaterMark, features };
}

/* ------------------------------------------------------------------------ */
/* Messages                                                                  */

declare const poolMessageBrand: unique symbol;

/**
 * A thin-pool message built by this module's builders. The facade's
 * `message` takes only this type, so no caller-made text reaches the kernel.
 */
export type PoolMessage = string & {
  /** Compile-time brand only; absent at run time. */
  readonly [poolMessageBrand]: true;
};

function thinId(id: number, what: string, op: string): number {
  return checkInt(id, what, op, 0, MAX_THIN_DEVICE_ID);
}

/**
 * `create_thin <id>`: creates a new thin device in the pool.
 *
 * @param id - Thin device id, 0 to 2^24 - 1.
 * @throws DeviceMapperError code 'EINVAL' on a bad id.
 */
export function createThin(id: number): PoolMessage {
  return `create_thin ${thinId(id, 'thin id', 'createThin')}` as PoolMessage;
}

/**
 * `create_snap <id> <originId>`: snapshots thin device `originId` into new thin device `id`.
 * Suspend the origin first when it is active.
 *
 * @throws DeviceMapperError code 'EINVAL' on a bad id.
 */
export function createSnap(id: number, originId: number): PoolMessage {
  const op = 'createSnap';
  return `create_snap ${thinId(id, 'thin id', op)} ${thinId(originId, 'origin id', op)}` as PoolMessage;
}

/**
 * `delete <id>`: deletes a thin device from the pool. Irreversible.
 *
 * @throws DeviceMapperError code 'EINVAL' on a bad id.
 */
export function deleteThin(id: number): PoolMessage {
  return `delete ${thinId(id, 'thin id', 'deleteThin')}` as PoolMessage;
}

/**
 * `set_transaction_id <current> <next>`: compare-and-swap of the pool's transaction id.
 *
 * @throws DeviceMapperError code 'EINVAL' when an id is not a non-negative safe integer.
 */
export function setTransactionId(current: number, next: number): PoolMessage {
  const op = 'setTransactionId';
  const a = checkInt(current, 'current transaction id', op, 0, Number.MAX_SAFE_INTEGER);
  const b = checkInt(next, 'new transaction id', op, 0, Number.MAX_SAFE_INTEGER);
  return `set_transaction_id ${a} ${b}` as PoolMessage;
}

/** `reserve_metadata_snap`: holds a metadata snapshot for userspace to read (its root shows in the status). */
export function reserveMetadataSnap(): PoolMessage {
  return 'reserve_metadata_snap' as PoolMessage;
}

/** `release_metadata_snap`: releases the held metadata snapshot. */
export function releaseMetadataSnap(): PoolMessage {
  return 'release_metadata_snap' as PoolMessage;
}

/**
 * The thin-pool message builders as one object.
 */
export const PoolMessages = Object.freeze({
  /** `create_thin <id>`. */
  createThin,
  /** `create_snap <id> <originId>`. */
  createSnap,
  /** `delete <id>`. */
  deleteThin,
  /** `set_transaction_id <current> <next>`. */
  setTransactionId,
  /** `reserve_metadata_snap`. */
  reserveMetadataSnap,
  /** `release_metadata_snap`. */
  releaseMetadataSnap,
});

/* ------------------------------------------------------------------------ */
/* Status                                                                    */

/** What {@link parseThinPoolStatus} needs besides the status text. */
export interface ThinPoolStatusContext {
  /** The pool's data block size in bytes (from its table: block size in sectors times 512). */
  dataBlockSizeBytes: number;
  /**
   * The pool table's features, when known. `ignore_discard` and
   * `error_if_no_space` fill `discard` and `noSpacePolicy` when the status
   * does not say (a failed pool), and `ignore_discard` wins over the status.
   */
  features?: readonly ThinPoolFeature[];
}

const MODES: Readonly<Record<string, ThinPoolMode>> = { rw: 'rw', ro: 'ro', out_of_data_space: 'out_of_data_space' };
const DISCARDS: Readonly<Record<string, DiscardMode>> = {
  discard_passdown: 'discard_passdown',
  no_discard_passdown: 'no_discard_passdown',
  ignore_discard: 'ignore_discard',
};
const POLICIES: Readonly<Record<string, NoSpacePolicy>> = { queue_if_no_space: 'queue', error_if_no_space: 'error' };

function lookup<T>(table: Readonly<Record<string, T>>, word: string | undefined, what: string, op: string): T {
  if (word === undefined) throw invalid(op, `missing ${what}`);
  const value = Object.hasOwn(table, word) ? table[word] : undefined;
  if (value === undefined) throw invalid(op, `unknown ${what} ${JSON.stringify(word.slice(0, 40))}`);
  return value;
}

function ratio(word: string | undefined, what: string, op: string): [number, number] {
  if (word === undefined) throw invalid(op, `missing ${what}`);
  const parts = word.split('/');
  if (parts.length !== 2) throw invalid(op, `${what} ${JSON.stringify(word.slice(0, 40))} is not 'used/total'`);
  const used = parseUint(parts[0], `used ${what}`, op);
  const total = parseUint(parts[1], `total ${what}`, op);
  if (used > total) throw invalid(op, `${what}: used ${used} exceeds total ${total}`);
  return [used, total];
}

function space(used: number, total: number, blockBytes: number, what: string, op: string): ThinPoolStatus['data'] {
  const usedBytes = used * blockBytes;
  const totalBytes = total * blockBytes;
  if (!Number.isSafeInteger(totalBytes)) throw invalid(op, `${what} size ${total} blocks of ${blockBytes} bytes is beyond a safe integer`);
  return { usedBytes, totalBytes, availableBytes: totalBytes - usedBytes };
}

/**
 * Parses a thin-pool status line:
 * `<transaction id> <used>/<total metadata blocks> <used>/<total data blocks> <held root>|-
 *  ro|rw|out_of_data_space [no_]discard_passdown|ignore_discard [error|queue]_if_no_space
 *  [needs_check|- [<metadata low watermark>]]`, or `Fail` (mode 'fail') or
 * `Error` (mode 'error'); for those two every count is 0 and the discard
 * mode and no-space policy come from `context.features`.
 *
 * @param text - The status params (the row's `params`).
 * @param context - The data block size (and optionally the table features).
 * @throws DeviceMapperError code 'EINVAL' on malformed text or a bad context.
 */
export function parseThinPoolStatus(text: string, context: ThinPoolStatusContext): ThinPoolStatus {
  const op = 'parseThinPoolStatus';
  const blockBytes = context?.dataBlockSizeBytes;
  if (typeof blockBytes !== 'number' || !Number.isSafeInteger(blockBytes) || blockBytes <= 0 || blockBytes % SECTOR_SIZE !== 0) {
    throw invalid(op, `dataBlockSizeBytes must be a positive multiple of ${SECTOR_SIZE}, got ${describeValue(blockBytes)}`);
  }
  if (context.features !== undefined && !Array.isArray(context.features)) throw invalid(op, 'features must be an array');
  const features = context.features === undefined ? [] : canonicalFeatures(context.features, op);
  const ignoreDiscard = features.includes('ignore_discard');
  const words = splitArgs(text, op);

  if (words.length === 1 && (words[0] === 'Fail' || words[0] === 'Error')) {
    return {
      transactionId: 0,
      metadataBlockSizeBytes: THIN_POOL_METADATA_BLOCK_SIZE,
      usedMetadataBlocks: 0,
      totalMetadataBlocks: 0,
      dataBlockSizeBytes: blockBytes,
      usedDataBlocks: 0,
      totalDataBlocks: 0,
      data: { usedBytes: 0, totalBytes: 0, availableBytes: 0 },
      metadata: { usedBytes: 0, totalBytes: 0, availableBytes: 0 },
      heldMetadataRoot: null,
      mode: words[0] === 'Fail' ? 'fail' : 'error',
      discard: ignoreDiscard ? 'ignore_discard' : features.includes('no_discard_passdown') ? 'no_discard_passdown' : 'discard_passdown',
      noSpacePolicy: features.includes('error_if_no_space') ? 'error' : 'queue',
      needsCheck: false,
      metadataLowWatermark: null,
    };
  }
  if (words.length < 7) throw invalid(op, `expected at least 7 fields, got ${words.length}`);

  const transactionId = parseUint(words[0], 'transaction id', op);
  const [usedMetadataBlocks, totalMetadataBlocks] = ratio(words[1], 'metadata blocks', op);
  const [usedDataBlocks, totalDataBlocks] = ratio(words[2], 'data blocks', op);
  const heldMetadataRoot = words[3] === '-' ? null : parseUint(words[3], 'held metadata root', op);
  const mode = lookup(MODES, words[4], 'mode', op);
  const reported = lookup(DISCARDS, words[5], 'discard mode', op);
  const noSpacePolicy = lookup(POLICIES, words[6], 'no-space policy', op);
  let needsCheck = false;
  if (words[7] !== undefined) {
    if (words[7] === 'needs_check') needsCheck = true;
    else if (words[7] !== '-') throw invalid(op, `unknown needs_check field ${JSON.stringify(words[7].slice(0, 40))}`);
  }
  const metadataLowWatermark = words[8] === undefined ? null : parseUint(words[8], 'metadata low watermark', op);
  // Further fields, if a later kernel adds any, are ignored.

  return {
    transactionId,
    metadataBlockSizeBytes: THIN_POOL_METADATA_BLOCK_SIZE,
    usedMetadataBlocks,
    totalMetadataBlocks,
    dataBlockSizeBytes: blockBytes,
    usedDataBlocks,
    totalDataBlocks,
    data: space(usedDataBlocks, totalDataBlocks, blockBytes, 'data', op),
    metadata: space(usedMetadataBlocks, totalMetadataBlocks, THIN_POOL_METADATA_BLOCK_SIZE, 'metadata', op),
    heldMetadataRoot,
    mode,
    discard: ignoreDiscard ? 'ignore_discard' : reported,
    noSpacePolicy,
    needsCheck,
    metadataLowWatermark,
  };
}


const POOL_MESSAGE_ARITY: Readonly<Record<string, readonly number[]>> = {
  create_thin: [MAX_THIN_DEVICE_ID],
  create_snap: [MAX_THIN_DEVICE_ID, MAX_THIN_DEVICE_ID],
  delete: [MAX_THIN_DEVICE_ID],
  set_transaction_id: [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  reserve_metadata_snap: [],
  release_metadata_snap: [],
};

/**
 * Whether `text` has the exact form one of this module's message builders
 * makes (single spaces, decimal ids in range). The facade checks this at run
 * time too, so a string cast to {@link PoolMessage} cannot smuggle other text
 * to the kernel.
 */
export function isPoolMessage(text: unknown): text is PoolMessage {
  if (typeof text !== 'string' || text.length > 64) return false;
  const [verb = '', ...args] = text.split(' ');
  const limits = Object.hasOwn(POOL_MESSAGE_ARITY, verb) ? POOL_MESSAGE_ARITY[verb] : undefined;
  if (limits === undefined || limits.length !== args.length) return false;
  return args.every((a, i) => /^(?:0|[1-9][0-9]{0,15})$/.test(a) && Number.isSafeInteger(Number(a)) && Number(a) <= (limits[i] ?? -1));
}
