/**
 * What an operator watches, as one plain object: the pool's space, health
 * and transaction id (one status read), the snapshots by kind and the
 * devices waiting for removal or left behind (one pass over the metastore),
 * and the device-mapper layer's udev counters. Reading changes nothing.
 */
import { deviceMapperCounters, type DeviceMapperCounters } from '../dm/counters.js';
import { udevSyncSupported } from '../dm/device-mapper.js';
import type { ThinPoolMode } from '../dm/targets/thin-pool.js';
import type { ThinPoolApi } from '../thin/types.js';
import type { SnapshotterCore } from './core.js';
import type { Kind } from './types.js';

/** The pool's figures in {@link SnapshotterMetrics}. */
export interface PoolMetrics {
  /** The pool's device-mapper name. */
  name: string;
  /** The kernel's mode: 'rw', 'ro', 'out_of_data_space', or 'fail'/'error' for a failed pool. */
  mode: ThinPoolMode;
  /** Bytes of data blocks in use. */
  dataUsedBytes: number;
  /** Bytes of all data blocks. */
  dataTotalBytes: number;
  /** Bytes of metadata blocks in use. */
  metadataUsedBytes: number;
  /** Bytes of all metadata blocks. */
  metadataTotalBytes: number;
  /** The pool's transaction id. */
  transactionId: number;
  /** The pool is read-only (mode 'ro'): snapshots cannot be made or removed. */
  readOnly: boolean;
  /** Data space ran out (mode 'out_of_data_space'), or metadata space did. */
  outOfSpace: boolean;
  /** The kernel flagged the metadata for a thin_check. */
  needsCheck: boolean;
  /** The pool failed (mode 'fail' or 'error'). */
  failed: boolean;
}

/** What {@link Snapshotter.metrics} returns. */
export interface SnapshotterMetrics {
  /** The pool. */
  pool: PoolMetrics;
  /** Snapshots by kind. */
  snapshots: Record<Kind, number>;
  /** Devices whose snapshot is gone, waiting for cleanup() to delete them (async remove, or still held open: a deferred removal). */
  pendingRemovals: number;
  /** Devices left by an interrupted create or remove (repaired by cleanup() or the next open) or found in the pool but not made here. */
  leftoverDevices: number;
  /** The device-mapper layer's udev counters (process-wide). */
  udev: DeviceMapperCounters;
  /** Whether udev synchronisation is on (udevd runs): without it, the calls counted as udev waits make the nodes themselves. */
  udevSync: boolean;
  /** Why the snapshotter refuses calls after a failed pool transaction, or null. */
  unavailable: string | null;
}

/** The pool's figures, from one status read. */
export async function poolMetrics(pool: ThinPoolApi): Promise<PoolMetrics> {
  const status = await pool.status();
  const failed = status.mode === 'fail' || status.mode === 'error';
  const metadataFull = !failed && status.totalMetadataBlocks > 0 && status.usedMetadataBlocks >= status.totalMetadataBlocks;
  return {
    name: pool.name,
    mode: status.mode,
    dataUsedBytes: status.data.usedBytes,
    dataTotalBytes: status.data.totalBytes,
    metadataUsedBytes: status.metadata.usedBytes,
    metadataTotalBytes: status.metadata.totalBytes,
    transactionId: status.transactionId,
    readOnly: status.mode === 'ro',
    outOfSpace: status.mode === 'out_of_data_space' || metadataFull,
    needsCheck: status.needsCheck,
    failed,
  };
}

/** @internal Every figure of {@link SnapshotterMetrics}. */
export async function collectMetrics(core: SnapshotterCore, unavailable: Error | undefined): Promise<SnapshotterMetrics> {
  const pool = await poolMetrics(core.pool);
  const snapshots: Record<Kind, number> = { active: 0, view: 0, committed: 0 };
  for await (const [, record] of core.store.snapshots()) snapshots[record.kind]++;
  let pendingRemovals = 0;
  let leftoverDevices = 0;
  for (const device of await core.store.devices()) {
    if (device.state === 'removed') pendingRemovals++;
    else if (device.state !== 'ready') leftoverDevices++;
  }
  const udevSync = await udevSyncSupported().catch(() => false);
  return { pool, snapshots, pendingRemovals, leftoverDevices, udev: deviceMapperCounters(), udevSync, unavailable: unavailable?.message ?? null };
}
