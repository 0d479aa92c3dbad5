/**
 * Reconciliation at open: compares the metastore with the pool
 * (`thinIds()`) and the kernel's activations, and repairs what a crash or a
 * reboot left behind:
 *
 * - `creating` devices (an interrupted prepare, view or base): rolled back,
 *   the thin id deleted if the kernel made it;
 * - `removing` devices (an interrupted remove or cleanup): rolled forward;
 * - `removed` devices (async remove, or removed while held open) whose id
 *   is gone: record dropped (present ones wait for cleanup());
 * - a `creating` or `removing` device still held open (a mount elsewhere,
 *   an open file descriptor): marked `removed` and left to a deferred
 *   removal, not a failure; cleanup() deletes it once the holder lets go;
 * - active and view snapshots: their device activated again (after a
 *   reboot), a pending deferred removal cancelled, and resumed (after a
 *   crash between suspend and resume);
 * - committed snapshots and bases: resumed and deactivated;
 * - `growing` devices (an interrupted resize): the device and its
 *   filesystem grown to the recorded target, the size recorded;
 * - thin ids in the pool that this store never made: recorded as foreign
 *   (one record of id runs, rewritten only when the set changed), never
 *   touched, never handed out; foreign ids gone from the pool are freed;
 * - a ready record whose thin id vanished (outside interference): the
 *   snapshot is dropped when it has no children, else reported.
 *
 * Every step is idempotent, so a crash during reconcile is repaired by the next one.
 */
import { activation, deviceHandle, stagePoolRecord, type SnapshotterCore } from './core.js';
import { destroyDevice } from './device-lifecycle.js';
import { releaseThinId } from './id-allocator.js';
import { ForeignIds } from './foreign-ids.js';
import { finishGrow } from './snapshot-grow.js';
import { keys, type DeviceRecord } from './records.js';

/** What reconcile found and did. */
export interface ReconcileReport {
  /** Thin ids of interrupted creations, rolled back. */
  rolledBack: number[];
  /** Thin ids of interrupted removals, finished. */
  rolledForward: number[];
  /** Snapshot keys whose device was activated again. */
  reactivated: string[];
  /** Thin ids of committed snapshots or bases found active and deactivated. */
  deactivated: number[];
  /**
   * Thin ids of devices to delete that are still held open: marked `removed`
   * with a deferred removal pending; cleanup() deletes them once released.
   */
  deferred: number[];
  /** Snapshot keys whose interrupted resize was finished (device and filesystem grown). */
  grown: string[];
  /** Thin ids found in the pool that this store did not make. */
  foreign: number[];
  /** Snapshots whose thin id vanished from the pool; dropped when they had no children. */
  lost: Array<{
    /** The snapshot's key. */
    key: string;
    /** Its thin id. */
    id: number;
    /** Whether the snapshot was dropped (it had no children). */
    dropped: boolean;
  }>;
  /** Devices that could not be repaired now (e.g. still held open); retried by cleanup() or the next open. */
  failed: Array<{
    /** The thin id. */
    id: number;
    /** Why the repair failed. */
    error: unknown;
  }>;
}

/** Runs reconciliation (see the module comment). */
export async function reconcile(core: SnapshotterCore): Promise<ReconcileReport> {
  const report: ReconcileReport = { rolledBack: [], rolledForward: [], reactivated: [], deactivated: [], deferred: [], grown: [], foreign: [], lost: [], failed: [] };
  const poolIds = await core.pool.thinIds();
  const inPool = new Set(poolIds);
  const devices = await core.store.devices();
  // `dev/` records in state foreign come from older code: folded into the foreign record below.
  const legacyForeign = devices.filter((d) => d.state === 'foreign').map((d) => d.id);
  const own = devices.filter((d) => d.state !== 'foreign');
  const known = new Set(own.map((d) => d.id));

  for (const record of own) {
    try {
      await core.claims.with(record.id, () => repair(core, record, inPool, report));
    } catch (error) {
      report.failed.push({ id: record.id, error });
    }
  }

  await recordForeign(core, ForeignIds.fromSorted(poolIds, known), legacyForeign, known, report);
  await core.store.transaction(async (tx) => stagePoolRecord(core, tx));
  return report;
}

/**
 * Makes the foreign record name exactly the pool's ids that this store did
 * not make: newly found ones leave the free list, vanished ones join it.
 * Writes nothing when the record already says so (the usual reopen).
 */
async function recordForeign(
  core: SnapshotterCore,
  foreign: ForeignIds,
  legacy: readonly number[],
  known: ReadonlySet<number>,
  report: ReconcileReport,
): Promise<void> {
  const recorded = core.store.foreignIds;
  if (legacy.length === 0 && foreign.equals(recorded)) return;
  const before = legacy.length === 0 ? recorded : ForeignIds.fromSorted([...recorded.ids(), ...legacy].sort((a, b) => a - b));
  const found = foreign.minus(before);
  const gone = before.minus(foreign).filter((id) => !known.has(id));
  await core.store.transaction(async (tx) => {
    for (const id of legacy) tx.del(keys.device(id));
    for (const id of gone) releaseThinId(tx, id);
    for (const id of tx.freeIds.values()) if (foreign.has(id)) tx.del(keys.free(id));
    tx.put(keys.foreign, foreign.toRecord());
  });
  report.foreign = found;
}

async function repair(core: SnapshotterCore, record: DeviceRecord, inPool: ReadonlySet<number>, report: ReconcileReport): Promise<void> {
  switch (record.state) {
    case 'creating':
      if (await destroyDevice(core, record, 'reconcile')) report.rolledBack.push(record.id);
      else report.deferred.push(record.id);
      break;
    case 'removing':
      if (await destroyDevice(core, record, 'reconcile')) report.rolledForward.push(record.id);
      else report.deferred.push(record.id);
      break;
    case 'removed':
      if (!inPool.has(record.id)) await dropRecord(core, record);
      break;
    case 'ready':
      if (!inPool.has(record.id)) await handleLost(core, record, report);
      else await restoreActivation(core, record, report);
      break;
    case 'foreign':
      // Folded into the foreign record by recordForeign.
      break;
    case 'growing': {
      // The id cannot vanish mid-grow by this store's steps; a lost one is handled like a ready one.
      if (!inPool.has(record.id)) {
        await handleLost(core, record, report);
        break;
      }
      const key = await finishGrow(core, record);
      if (key !== undefined) report.grown.push(key);
      break;
    }
  }
}

async function dropRecord(core: SnapshotterCore, record: DeviceRecord): Promise<void> {
  await core.store.transaction(async (tx) => {
    tx.del(keys.device(record.id));
    releaseThinId(tx, record.id);
  });
}

async function restoreActivation(core: SnapshotterCore, record: DeviceRecord, report: ReconcileReport): Promise<void> {
  const device = deviceHandle(core, record);
  const owner = record.role === 'snapshot' && record.snapshot !== undefined ? await core.store.snapshot(record.snapshot) : undefined;
  if (record.role === 'snapshot' && !owner) {
    // A ready device without its snapshot: cannot come from this store's batches; reclaim it.
    const removing: DeviceRecord = { ...record, state: 'removing' };
    await core.store.transaction(async (tx) => tx.put(keys.device(record.id), removing));
    if (await destroyDevice(core, removing, 'reconcile')) report.rolledForward.push(record.id);
    else report.deferred.push(record.id);
    return;
  }
  if (owner && owner.kind !== 'committed') {
    const wasActive = await device.isActive();
    if (!wasActive) await core.pool.activate(activation(record));
    // A removal armed before a commit or remove whose record never landed: the snapshot still needs its device.
    else if (await device.deferredRemovalPending()) await device.cancelDeferredRemoval();
    await device.resume();
    if (!wasActive && record.snapshot !== undefined) report.reactivated.push(record.snapshot);
    return;
  }
  if (await device.isActive()) {
    await device.resume();
    await device.deactivate({ deferred: true });
    // Still held open: a child's create_snap must suspend it.
    if (await device.isActive()) core.heldOrigins.add(record.id);
    report.deactivated.push(record.id);
  }
}

async function handleLost(core: SnapshotterCore, record: DeviceRecord, report: ReconcileReport): Promise<void> {
  if (record.role === 'base') {
    // The next parentless prepare makes a new base.
    await core.store.transaction(async (tx) => {
      if (record.baseSpec !== undefined) tx.del(keys.base(record.baseSpec));
      tx.del(keys.device(record.id));
      releaseThinId(tx, record.id);
    });
    return;
  }
  const key = record.snapshot;
  const snapshot = key === undefined ? undefined : await core.store.snapshot(key);
  if (key === undefined || !snapshot) {
    await dropRecord(core, record);
    return;
  }
  const leaf = !(await core.store.hasChildren(key));
  if (leaf) {
    await deviceHandle(core, record).deactivate({ deferred: true }).catch(() => undefined);
    await core.store.transaction(async (tx) => {
      tx.del(keys.snapshot(key));
      if (snapshot.parent !== undefined) tx.del(keys.child(snapshot.parent, key));
      tx.del(keys.device(record.id));
      releaseThinId(tx, record.id);
    });
  }
  report.lost.push({ key, id: record.id, dropped: leaf });
}
