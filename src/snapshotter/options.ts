/**
 * The snapshotter's options, named after containerd's devmapper keys in
 * camelCase (root_path → rootPath, pool_name → poolName, ...), and their
 * validation into one resolved form.
 */
import type { ThinPoolApi } from '../thin/types.js';
import { InvalidArgumentError } from './errors.js';
import { formatterArguments, getFormatter, registerFormatter, type Formatter } from './formatters/index.js';
import type { PoolResolver } from './pool-resolver.js';
import { checkMinimumSize } from './snapshot-size.js';
import { parseFreeSpace, parseSize, roundUpToSector, type FreeSpaceFloor, type SizeInput } from './sizes.js';

/** The default minimum free space: Docker's dm.min_free_space default. */
export const DEFAULT_MIN_FREE_SPACE = '10%';

/** Options of {@link Snapshotter.open}. */
export interface SnapshotterOptions {
  /** containerd `root_path`: the directory of the metastore (created 0700 when absent). */
  rootPath: string;
  /** The thin pool. The caller keeps ownership: close() does not close it. */
  pool?: ThinPoolApi;
  /**
   * containerd `pool_name`: open the pool by name instead (the snapshotter
   * then owns it and closes it). Ignored when `pool` is given; checked
   * against `pool.name` when both are given.
   */
  poolName?: string;
  /** How to open a pool by name; default {@link devmapper!resolvePoolByName}. */
  resolvePool?: PoolResolver;
  /**
   * containerd `base_image_size`: the virtual size of every snapshot's
   * device, as bytes or a size string ("8192MB", "10GB", "10G": binary units).
   * Rounded up to whole 512-byte sectors.
   */
  baseImageSize: SizeInput;
  /**
   * The size of every snapshot that asks for none (no
   * `containerd.io/snapshot/max-size` label), when it is above the
   * parent's or the base size: bytes or a size string, rounded up to whole
   * sectors. The base stays `baseImageSize` (formatted once); each snapshot's
   * device and filesystem are grown to this size. Default: none (snapshots
   * keep their parent's size, parentless ones the base size).
   */
  defaultSnapshotSize?: SizeInput;
  /** containerd `fs_type`: 'ext4' (default), 'xfs', 'none', another registered name, or a formatter. */
  fsType?: string | Formatter;
  /**
   * containerd `fs_options`: mkfs options. A string follows the formatter's
   * rule (ext4: a string without a leading '-' is the -E argument, as in
   * containerd); an array is passed to mkfs as is. Empty: the formatter's defaults.
   */
  fsOptions?: string | readonly string[];
  /** Extra mount options added to every mount (Docker's dm.mountopt). */
  mountOptions?: readonly string[];
  /** containerd `async_remove`: remove() only marks devices; cleanup() deletes them. */
  asyncRemove?: boolean;
  /** containerd `discard_blocks`: discard a device's blocks before deleting it (returns space to a loopback file). */
  discardBlocks?: boolean;
  /**
   * Refuse to create snapshots when the pool's free data or metadata space
   * is below this: bytes, a size string, or a percentage of the pool ("10%",
   * Docker's dm.min_free_space). Default "10%"; 0 turns the check off.
   * The rule looks at the pool's free space only, never at sizes: above the
   * floor a snapshot of any size is accepted, also one larger than the
   * pool's free space (thin provisioning); below it, every new snapshot and
   * every resize is refused.
   */
  minFreeSpace?: SizeInput;
}

/** The options after validation. */
export interface ResolvedOptions {
  rootPath: string;
  baseImageSizeBytes: number;
  /** 0: no default size. */
  defaultSnapshotSizeBytes: number;
  formatter: Formatter;
  fsArguments: string[];
  mountOptions: string[];
  asyncRemove: boolean;
  discardBlocks: boolean;
  minFreeSpace: FreeSpaceFloor;
}

/**
 * Validates options (everything but the pool) and registers a formatter
 * object given as `fsType`.
 *
 * @throws InvalidArgumentError naming the first bad option.
 */
export function resolveOptions(options: SnapshotterOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options must be an object');
  if (typeof options.rootPath !== 'string' || options.rootPath === '') throw new InvalidArgumentError('rootPath is required');
  if (options.baseImageSize === undefined) throw new InvalidArgumentError('baseImageSize is required');
  const baseImageSizeBytes = roundUpToSector(parseSize(options.baseImageSize, 'baseImageSize'));
  if (baseImageSizeBytes === 0) throw new InvalidArgumentError('baseImageSize must be above 0');

  let formatter: Formatter;
  const fsType = options.fsType ?? 'ext4';
  if (typeof fsType === 'string') {
    const found = getFormatter(fsType);
    if (!found) throw new InvalidArgumentError(`fsType: no formatter named ${JSON.stringify(fsType)} (register one with registerFormatter)`);
    formatter = found;
  } else {
    checkMinimumSize(fsType, baseImageSizeBytes, 'baseImageSize');
    registerFormatter(fsType);
    formatter = fsType;
  }
  checkMinimumSize(formatter, baseImageSizeBytes, 'baseImageSize');
  const defaultSnapshotSizeBytes =
    options.defaultSnapshotSize === undefined ? 0 : roundUpToSector(parseSize(options.defaultSnapshotSize, 'defaultSnapshotSize'));
  if (defaultSnapshotSizeBytes > 0) checkMinimumSize(formatter, defaultSnapshotSizeBytes, 'defaultSnapshotSize');
  const fsOptions = options.fsOptions;
  if (fsOptions !== undefined && typeof fsOptions !== 'string' && !(Array.isArray(fsOptions) && fsOptions.every((o) => typeof o === 'string'))) {
    throw new InvalidArgumentError('fsOptions must be a string or an array of strings');
  }
  const mountOptions = options.mountOptions ?? [];
  if (!Array.isArray(mountOptions) || !mountOptions.every((o) => typeof o === 'string' && o !== '' && !o.includes(','))) {
    throw new InvalidArgumentError('mountOptions must be an array of non-empty strings without commas');
  }
  return {
    rootPath: options.rootPath,
    baseImageSizeBytes,
    defaultSnapshotSizeBytes,
    formatter,
    fsArguments: formatterArguments(formatter, fsOptions),
    mountOptions: [...mountOptions],
    asyncRemove: options.asyncRemove ?? false,
    discardBlocks: options.discardBlocks ?? false,
    minFreeSpace: parseFreeSpace(options.minFreeSpace ?? DEFAULT_MIN_FREE_SPACE),
  };
}

/** containerd's devmapper configuration keys, as in config.toml. */
export interface ContainerdDevmapperConfig {
  /** The metastore directory. */
  root_path?: string;
  /** The thin pool's device-mapper name. */
  pool_name?: string;
  /** Every snapshot's virtual size, e.g. "10GB". */
  base_image_size?: string;
  /** remove() only marks devices; cleanup() deletes them. */
  async_remove?: boolean;
  /** Discard a device's blocks before deleting it. */
  discard_blocks?: boolean;
  /** The filesystem: ext4 (default), xfs or none. */
  fs_type?: string;
  /** mkfs options. */
  fs_options?: string;
}

/**
 * Maps a containerd `[plugins."io.containerd.snapshotter.v1.devmapper"]`
 * table to {@link SnapshotterOptions} (add `pool` or rely on `poolName`).
 *
 * @throws InvalidArgumentError when root_path or base_image_size is missing.
 */
export function optionsFromContainerdConfig(config: ContainerdDevmapperConfig): SnapshotterOptions {
  if (!config.root_path) throw new InvalidArgumentError('root_path is required');
  if (!config.base_image_size) throw new InvalidArgumentError('base_image_size is required');
  const options: SnapshotterOptions = { rootPath: config.root_path, baseImageSize: config.base_image_size };
  if (config.pool_name !== undefined) options.poolName = config.pool_name;
  if (config.async_remove !== undefined) options.asyncRemove = config.async_remove;
  if (config.discard_blocks !== undefined) options.discardBlocks = config.discard_blocks;
  if (config.fs_type !== undefined && config.fs_type !== '') options.fsType = config.fs_type;
  if (config.fs_options !== undefined) options.fsOptions = config.fs_options;
  return options;
}
