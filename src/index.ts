/**
 * devmapper: Linux device-mapper thin provisioning and a containerd-style
 * snapshotter for Node.js, over libdevmapper.
 *
 * - {@link ThinPool} and {@link ThinDevice}: thin pools on block devices,
 *   loop files or LVM; thin ids, snapshots, status, events, growth.
 * - {@link Snapshotter}: containerd's snapshotter semantics on a LevelDB
 *   metastore, crash-safe, with ext4, xfs or raw-device formatters.
 * - The typed device-mapper layer under both: {@link DeviceMapper},
 *   {@link LoopDevice}, table builders and status parsers.
 *
 * Two more entry points: `devmapper/server` (the containerd proxy
 * snapshotter over gRPC) and `devmapper/testing` (the simulated pool and the
 * crash points, for tests).
 *
 * @module devmapper
 */
export * from './dm/index.js';
export * from './thin/index.js';
export * from './snapshotter/index.js';
