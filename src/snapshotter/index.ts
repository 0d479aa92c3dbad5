/**
 * The snapshotter: containerd's snapshotter API on a device-mapper thin pool.
 *
 * @example
 * ```ts
 * import { Snapshotter } from 'devmapper';
 * await using snapshotter = await Snapshotter.open({ rootPath: '/var/lib/app/snapshots', pool, baseImageSize: '10GB' });
 * const mounts = await snapshotter.prepare('layer-1-extract');
 * // mount, unpack, unmount ...
 * await snapshotter.commit('layer-1', 'layer-1-extract');
 * ```
 */
export { Snapshotter } from './snapshotter.js';
export type { Info, InfoUpdate, Kind, Mount, SnapshotOptions, Usage } from './types.js';
export {
  optionsFromContainerdConfig,
  DEFAULT_MIN_FREE_SPACE,
  type ContainerdDevmapperConfig,
  type SnapshotterOptions,
} from './options.js';
export { resolvePoolByName, type PoolResolver } from './pool-resolver.js';
export {
  SnapshotterError,
  NotFoundError,
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  UnavailableError,
  isSnapshotterError,
  type SnapshotterErrorCode,
} from './errors.js';
export {
  registerFormatter,
  getFormatter,
  formatterNames,
  ext4Formatter,
  xfsFormatter,
  noneFormatter,
  CommandError,
  type Formatter,
} from './formatters/index.js';
export { parseSize, parseFreeSpace, type SizeInput, type FreeSpaceFloor } from './sizes.js';
export { parseFilter, compileFilters, MAX_FILTER_LENGTH, type Selector, type SnapshotFilter } from './filters.js';
export { validateKey, validateLabel, validateLabels, checkLabelsSize, MAX_KEY_BYTES, MAX_LABEL_BYTES, MAX_LABELS_BYTES } from './labels.js';
export type { ReconcileReport } from './reconcile.js';
export { MAX_SIZE_LABEL } from './snapshot-size.js';
export { poolMetrics, type SnapshotterMetrics, type PoolMetrics } from './metrics.js';
