/**
 * Docker's `--storage-opt dm.*` options, parsed with Docker's rules (sizes
 * with go-units' binary units, booleans as Go's strconv.ParseBool), so a
 * daemon.json's `storage-opts` list can be pasted into the CLI: every key
 * Docker's devicemapper driver accepted is either applied or accepted with a
 * warning saying why it has no effect here; only unknown keys fail.
 */
import { readFile } from 'node:fs/promises';
import { parseFreeSpace, parseSize } from '../snapshotter/sizes.js';
import { UsageError } from './errors.js';

/** A Docker option accepted without effect, and why. */
export interface StorageOptionWarning {
  /** The option's key, e.g. "dm.override_udev_sync_check". */
  option: string;
  /** Why it changes nothing here. */
  message: string;
}

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
  /** dm.datadev: the block device for a new pool's data (with dm.metadatadev). */
  dataDev?: string;
  /** dm.metadatadev: the block device for a new pool's metadata (with dm.datadev). */
  metadataDev?: string;
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
  'dm.datadev',
  'dm.metadatadev',
  'dm.override_udev_sync_check',
  'dm.xfs_nospace_max_retries',
  'dm.libdm_log_level',
  'dm.no_warn_on_loop_devices',
] as const;

/** Why the options that change nothing here change nothing (shown as warnings). */
export const NO_EFFECT: Readonly<Record<string, string>> = {
  'dm.override_udev_sync_check':
    'there is no udev sync check to override: the library waits for udev while udevd runs and makes the device nodes itself when it does not',
  'dm.xfs_nospace_max_retries': "the snapshotter does not mount its devices; whoever mounts them (containerd) sets XFS's error behaviour",
  'dm.libdm_log_level': "libdevmapper's messages are not logged by level here: each failure carries the lines libdevmapper logged for it",
  'dm.no_warn_on_loop_devices': 'loopback pools are a supported setup here: there is no warning to silence',
  'dm.use_deferred_removal=false': 'a busy device is always removed deferred here (the kernel removes it when its last holder closes it), so nothing is left behind',
  'dm.directlvm_device_force=false': 'pool create-lvm always initializes the devices it is given (pvcreate -y): give only devices whose data may be destroyed',
};

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

function wholeNumber(value: string, what: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) throw new UsageError(`${what}: ${JSON.stringify(value)} must be a whole number from ${min} to ${max}`);
  return n;
}

function device(value: string, key: string): string {
  if (value === '') throw new UsageError(`${key}: a block device path is needed`);
  return value;
}

/**
 * Parses `dm.key=value` strings (keys case-insensitive, as Docker's).
 * Options that are accepted but change nothing here are reported through
 * `warn`, with the reason.
 *
 * @throws UsageError for an unknown key, a missing '=' or a bad value.
 */
export function parseStorageOptions(list: readonly string[], warn: (w: StorageOptionWarning) => void = () => undefined): StorageOptions {
  const out: StorageOptions = {};
  const noEffect = (option: string, reason = option): void => warn({ option, message: NO_EFFECT[reason] ?? '' });
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
        if (!out.deferredRemoval) noEffect(key, `${key}=false`);
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
        if (!out.directLvmDeviceForce) noEffect(key, `${key}=false`);
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
      case 'dm.datadev':
        out.dataDev = device(value, key);
        break;
      case 'dm.metadatadev':
        out.metadataDev = device(value, key);
        break;
      case 'dm.override_udev_sync_check':
        parseGoBool(value, key);
        noEffect(key);
        break;
      case 'dm.xfs_nospace_max_retries':
        wholeNumber(value, key, 0, Number.MAX_SAFE_INTEGER);
        noEffect(key);
        break;
      case 'dm.libdm_log_level':
        // Docker's range: 2 (fatal) to 7 (debug).
        wholeNumber(value, key, 2, 7);
        noEffect(key);
        break;
      case 'dm.no_warn_on_loop_devices':
        parseGoBool(value, key);
        noEffect(key);
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

/**
 * The `storage-opts` list of a Docker daemon.json (other keys are ignored:
 * they are the daemon's, not the storage driver's).
 *
 * @throws UsageError when the file cannot be read, is not JSON, or its storage-opts is not a list of strings.
 */
export async function readDaemonJson(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--daemon-json ${file}: ${(e as Error).message}`);
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) throw new UsageError(`${file}: expected a JSON object`);
  const opts = (document as Record<string, unknown>)['storage-opts'];
  if (opts === undefined) return [];
  if (!Array.isArray(opts) || !opts.every((o): o is string => typeof o === 'string')) throw new UsageError(`${file}: "storage-opts" must be a list of strings`);
  const driver = (document as Record<string, unknown>)['storage-driver'];
  if (driver !== undefined && driver !== 'devicemapper') throw new UsageError(`${file}: "storage-driver" is ${JSON.stringify(driver)}, not "devicemapper"`);
  return opts;
}
