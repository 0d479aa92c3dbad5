/**
 * The typed device-mapper layer: units, names, errors, table rows, one
 * module per target, the facade over the addon, loop and block devices.
 *
 * @module
 */
export {
  DeviceMapperError,
  errnoOf,
  fromNative,
  isDeviceMapperError,
  type DeviceMapperErrorCode,
  type DeviceMapperErrorOptions,
} from './errors.js';
export * from './units.js';
export * from './names.js';
export {
  formatTable,
  MAX_TARGET_TYPE_LENGTH,
  parseTable,
  tableLength,
  tableRow,
  validateTable,
  type Extent,
  type TableRow,
} from './table.js';
export {
  deviceRefProblem,
  validateDeviceRef,
  MAX_DEVICE_PATH_LENGTH,
  MAX_MAJOR,
  MAX_MINOR,
} from './targets/args.js';
export * from './targets/linear.js';
export * from './targets/zero.js';
export * from './targets/error.js';
export * from './targets/thin-pool.js';
export * from './targets/thin.js';
export * from './targets/flakey.js';
export * from './targets/delay.js';
export {
  DeviceMapper,
  devicePath,
  type CreateOptions,
  type DeviceInfo,
  type DeviceListEntry,
  type DeviceNumber,
  type EventWait,
  type LoadOptions,
  type MessageOptions,
  type RemoveOptions,
  type StatusOptions,
  type SnapshotAndCreateOptions,
  type SuspendOptions,
  type SuspendedDevice,
  type TargetType,
  type UdevOptions,
  type UdevMode,
  type VersionInfo,
  type WaitEventOptions,
} from './device-mapper.js';
export * from './loop.js';
export { countDeviceMapper, deviceMapperCounters, UDEV_WAITING_OPS, type DeviceMapperCounters } from './counters.js';
export * from './block.js';
