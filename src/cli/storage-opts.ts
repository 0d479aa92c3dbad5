/**
 * Docker's `--storage-opt dm.*` options, parsed with Docker's rules (sizes
 * with go-units' binary units, booleans as Go's strconv.ParseBool), so a
 * daemon.json's `storage-opts` list can be pasted into the CLI.
 */
import { parseFreeSpace, parseSize } from '../snapshotter/sizes.js';
import { UsageError } from './errors.js';

/** What the `dm.*` options set. Unset options stay undefined. */
export interface StorageOptions {
  /** dm.loopdatasize: the loopback data file's size in bytes. */
  loopDataSizeBytes?: number;
  /** dm.loopmetadatasize: the loopback metadata file's size in bytes. */
  loopMetadataSizeBytes?: number;
  /** dm.basesize: the base device's (every snapshot's) virtual size, as given. */
  baseSize?: string;
  /** dm.blocksize: the pool's data block size in bytes. */
  blockSizeBytes?: number;
  /** dm.fs: the base filesystem (ext4, xfs; this library also has none). */
  fs?: string;
  /** dm.mkfsarg (repeatable): extra mkfs arguments. */
  mkfsArgs?: string[];
  /** dm.mountopt (repeatable, comma-separated): extra mount options. */
  mountOptions?: string[];
  /** dm.blkdiscard: discard a device's blocks before deleting it. */
  blkDiscard?: boolean;
  /** dm.min_free_space: refuse new devices below this much free space ("10%"). */
  minFreeSpace?: string;
  /** dm.use_deferred_removal: remove busy devices once their last holder closes them. */
  deferredRemoval?: boolean;
  /** dm.use_deferred_deletion: delete devices later, in cleanup (the snapshotter's asyncRemove). */
  deferredDeletion?: boolean;
  /** dm.thinpooldev: use this existing pool instead of a loopback one. */
  thinPoolDev?: string;
  /** dm.directlvm_device (repeatable): block devices for a direct-lvm pool. */
  directLvmDevices?: string[];
  /** dm.directlvm_device_force: accepted for compatibility (pvcreate always runs with -y). */
  directLvmDeviceForce?: boolean;
  /** dm.thinp_percent: percent of the volume group for data. */
  thinpPercent?: number;
  /** dm.thinp_metapercent: percent of the volume group for metadata. */
  thinpMetaPercent?: number;
  /** dm.thinp_autoextend_threshold: LVM autoextend threshold percent. */
  thinpAutoextendThreshold?: number;
  /** dm.thinp_autoextend_percent: LVM autoextend percent. */
  thinpAutoextendPercent?: number;
}

/** Every `dm.*` name the CLI accepts. */
export const STORAGE_OPTION_NAMES = [
  'dm.loopdatasize',
  'dm.loopmetadatasize',
  'dm.basesize',
  'dm.blocksize',
  'dm.fs',
  'dm.mkfsarg',
  'dm.mountopt',
  'dm.blkdiscard',
  'dm.min_free_space',
  'dm.use_deferred_removal',
  'dm.use_deferred_deletion',
  'dm.thinpooldev',
  'dm.directlvm_device',
  'dm.directlvm_device_force',
  'dm.thinp_percent',
  'dm.thinp_metapercent',
  'dm.thinp_autoextend_threshold',
  'dm.thinp_autoextend_percent',
] as const;

/** Go's strconv.ParseBool, which Docker used for boolean options. */
export function parseGoBool(value: string, what: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  throw new UsageError(`${what}: ${JSON.stringify(value)} is not a boolean (true or false)`);
}

function size(value: string, what: string): number {
  try {
    return parseSize(value, what);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function integerPercent(value: string, what: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 100) throw new UsageError(`${what}: ${JSON.stringify(value)} must be a whole percent from 1 to 100`);
  return n;
}

/**
 * Parses `dm.key=value` strings (keys case-insensitive, as Docker's).
 *
 * @throws UsageError for an unknown key, a missing '=' or a bad value.
 */
export function parseStorageOptions(list: readonly string[]): StorageOptions {
  const out: StorageOptions = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq < 0) throw new UsageError(`--storage-opt ${JSON.stringify(item)}: expected dm.KEY=VALUE`);
    const key = item.slice(0, eq).trim().toLowerCase();
    const value = item.slice(eq + 1).trim();
    switch (key) {
      case 'dm.loopdatasize':
        out.loopDataSizeBytes = size(value, key);
        break;
      case 'dm.loopmetadatasize':
        out.loopMetadataSizeBytes = size(value, key);
        break;
      case 'dm.basesize':
        size(value, key);
        out.baseSize = value;
        break;
      case 'dm.blocksize':
        out.blockSizeBytes = size(value, key);
        break;
      case 'dm.fs':
        if (value === '') throw new UsageError('dm.fs: a filesystem name is needed (ext4, xfs or none)');
        out.fs = value;
        break;
      case 'dm.mkfsarg':
        out.mkfsArgs = [...(out.mkfsArgs ?? []), ...value.split(/\s+/).filter(Boolean)];
        break;
      case 'dm.mountopt':
        out.mountOptions = [...(out.mountOptions ?? []), ...value.split(',').map((o) => o.trim()).filter(Boolean)];
        break;
      case 'dm.blkdiscard':
        out.blkDiscard = parseGoBool(value, key);
        break;
      case 'dm.min_free_space':
        try {
          parseFreeSpace(value, key);
        } catch (e) {
          throw new UsageError((e as Error).message);
        }
        out.minFreeSpace = value;
        break;
      case 'dm.use_deferred_removal':
        out.deferredRemoval = parseGoBool(value, key);
        break;
      case 'dm.use_deferred_deletion':
        out.deferredDeletion = parseGoBool(value, key);
        break;
      case 'dm.thinpooldev':
        if (value === '') throw new UsageError('dm.thinpooldev: a pool name or /dev/mapper path is needed');
        out.thinPoolDev = value;
        break;
      case 'dm.directlvm_device':
        out.directLvmDevices = [...(out.directLvmDevices ?? []), value];
        break;
      case 'dm.directlvm_device_force':
        out.directLvmDeviceForce = parseGoBool(value, key);
        break;
      case 'dm.thinp_percent':
        out.thinpPercent = integerPercent(value, key);
        break;
      case 'dm.thinp_metapercent':
        out.thinpMetaPercent = integerPercent(value, key);
        break;
      case 'dm.thinp_autoextend_threshold':
        out.thinpAutoextendThreshold = integerPercent(value, key);
        break;
      case 'dm.thinp_autoextend_percent':
        out.thinpAutoextendPercent = integerPercent(value, key);
        break;
      default:
        throw new UsageError(`--storage-opt: unknown option ${JSON.stringify(key)} (known: ${STORAGE_OPTION_NAMES.join(', ')})`);
    }
  }
  return out;
}

/**
 * The pool guard's percent from a minimum free space: "10%" → 10. A size
 * (bytes) has no percent form: the pool guard is then left at 0 and the
 * snapshotter's own check (which takes sizes) governs.
 */
export function minFreePercent(value: string | undefined, fallback = 10): number {
  if (value === undefined) return fallback;
  const floor = parseFreeSpace(value);
  return 'percent' in floor ? floor.percent : 0;
}
