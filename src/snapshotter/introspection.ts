/**
 * Test-only: the records behind an open snapshotter, read straight from its
 * metastore, so that a test can check invariants (every snapshot has its
 * device, no id is shared or leaked) without a second handle on the
 * database (LevelDB allows one per process).
 */
import type { SnapshotterCore } from './core.js';
import type { DeviceRecord, SnapshotRecord } from './records.js';

const cores = new WeakMap<object, SnapshotterCore>();

/** @internal Called by the snapshotter when it opens. */
export function registerCore(owner: object, core: SnapshotterCore): void {
  cores.set(owner, core);
}

/** What a snapshotter's metastore holds, and what its running operations claim. */
export interface StoreContents {
  /** Every snapshot record with its key. */
  snapshots: Array<[key: string, record: SnapshotRecord]>;
  /** Every device record. */
  devices: DeviceRecord[];
  /** The thin ids on the free list. */
  freeIds: number[];
  /** The thin ids recorded as another writer's. */
  foreignIds: number[];
  /** How many thin ids running operations claim (0 when idle). */
  claimedIds: number;
}

/**
 * Reads every record of an open snapshotter's metastore.
 *
 * @throws TypeError when `snapshotter` is not an open Snapshotter.
 */
export async function inspectStore(snapshotter: object): Promise<StoreContents> {
  const core = cores.get(snapshotter);
  if (!core) throw new TypeError('not a Snapshotter');
  const snapshots: Array<[string, SnapshotRecord]> = [];
  for await (const entry of core.store.snapshots()) snapshots.push(entry);
  return { snapshots, devices: await core.store.devices(), freeIds: await core.store.freeIdList(), foreignIds: [...core.store.foreignIds.ids()], claimedIds: core.claims.size };
}
