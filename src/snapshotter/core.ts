/** What the snapshotter's parts share: the store, the pool and the options. */
import type { ThinActivation, ThinDeviceApi, ThinPoolApi } from '../thin/types.js';
import type { IdClaims } from './id-claims.js';
import type { Metastore, WriteTransaction } from './metastore.js';
import type { ResolvedOptions } from './options.js';
import type { PoolTransactions } from './pool-transactions.js';
import { keys, type DeviceRecord, type PoolRecord } from './records.js';

/** The shared state of one open snapshotter. */
export interface SnapshotterCore {
  readonly store: Metastore;
  readonly pool: ThinPoolApi;
  readonly poolTx: PoolTransactions;
  readonly options: ResolvedOptions;
  /** Thin ids a running operation is creating or destroying (see id-claims.ts). */
  readonly claims: IdClaims;
  /**
   * Committed devices whose deactivation was deferred (still active while
   * something holds them open): suspended around a create_snap of a child.
   */
  readonly heldOrigins: Set<number>;
}

const MAX_NAME = 127;

/** The device-mapper name of thin id `id` (containerd's `<pool>-snap-<id>`), kept within 127 characters. */
export function deviceName(poolName: string, id: number): string {
  const suffix = `-snap-${id}`;
  return `${poolName.slice(0, MAX_NAME - suffix.length)}${suffix}`;
}

/** A handle for a device record's thin device. */
export function deviceHandle(core: SnapshotterCore, device: Pick<DeviceRecord, 'id' | 'name' | 'sizeBytes'>): ThinDeviceApi {
  return core.pool.device(activation(device));
}

/** The activation spec of a device record. */
export function activation(device: Pick<DeviceRecord, 'id' | 'name' | 'sizeBytes'>): ThinActivation {
  return { id: device.id, name: device.name, sizeBytes: device.sizeBytes };
}

/** Stages the pool record with the current transaction id (never ahead of the pool's own). */
export function stagePoolRecord(core: SnapshotterCore, tx: WriteTransaction): void {
  tx.put(keys.pool, { name: core.pool.name, transactionId: core.poolTx.current } satisfies PoolRecord);
}
