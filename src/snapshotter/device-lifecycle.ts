/**
 * Making and deleting thin devices in a crash-safe order:
 *
 * - create: write a `creating` device record (the intent) → check the pool
 *   (transaction-id fence and `minFreeSpace`, one status read) and create
 *   the thin id → activate. The caller then
 *   writes the owner's record and the `ready` state in one batch. A crash
 *   before that batch leaves a `creating` record: reconcile deletes the id.
 * - destroy (the owner's record is already gone, state `removing` or
 *   `removed`): deactivate (a device still held open is marked `removed`
 *   and left to a deferred removal, see device-release.ts) → discard when
 *   asked → delete the id (behind the same fence) → drop the device record
 *   and free the id in one batch.
 *   A crash leaves the record: reconcile or cleanup() finishes the job.
 */
import type { ThinCreateOptions, ThinDeviceApi } from '../thin/types.js';
import { activation, deviceHandle, deviceName, stagePoolRecord, type SnapshotterCore } from './core.js';
import { crashPoint, isSimulatedCrash, type CrashPointName } from './crash-points.js';
import { markRemoved, releaseDevice } from './device-release.js';
import { errorCode } from './errors.js';
import { checkMinFreeSpace, floorIsOff } from './free-space.js';
import { allocateThinId, releaseThinId } from './id-allocator.js';
import { keys, type DeviceRecord } from './records.js';

/** Which operation makes the device: names its crash points. */
export type CreatePhase = 'prepare' | 'view' | 'base';

/** What a new device belongs to. */
export interface NewDevice {
  phase: CreatePhase;
  /** The origin thin id to snapshot; absent for an empty thin device (the base). */
  originId?: number;
  sizeBytes: number;
  /** The owning snapshot key (prepare, view). */
  snapshot?: string;
  /** The base spec (base). */
  baseSpec?: string;
}

// A thin id found taken in the pool (by another writer) is marked foreign and another one tried.
const MAX_ID_ATTEMPTS = 8;

/**
 * Creates and activates a thin device, leaving its record in state
 * `creating` for the caller to complete. Rolls back on failure.
 */
export async function createDevice(core: SnapshotterCore, spec: NewDevice): Promise<{ record: DeviceRecord; device: ThinDeviceApi }> {
  for (let attempt = 1; ; attempt++) {
    let claimed: number | undefined;
    const record = await core.store.transaction(async (tx) => {
      const id = await allocateThinId(tx, core.claims);
      claimed = id;
      const rec: DeviceRecord = {
        id,
        state: 'creating',
        role: spec.phase === 'base' ? 'base' : 'snapshot',
        name: deviceName(core.pool.name, id),
        sizeBytes: spec.sizeBytes,
      };
      if (spec.snapshot !== undefined) rec.snapshot = spec.snapshot;
      if (spec.baseSpec !== undefined) rec.baseSpec = spec.baseSpec;
      tx.put(keys.device(id), rec);
      return rec;
    }).catch((e: unknown) => {
      if (claimed !== undefined) core.claims.release(claimed);
      throw e;
    });
    // The id stays claimed until the caller has given the device its owner (or rolled it back).
    crashPoint(`${spec.phase}:after-intent`);
    let created = false;
    let activated: ThinDeviceApi | undefined;
    try {
      const afterCreate: CrashPointName = spec.phase === 'base' ? 'base:after-create-thin' : `${spec.phase}:after-create-snapshot`;
      const floor = core.options.minFreeSpace;
      await core.poolTx.apply({
        run: async (check) => {
          if (spec.originId === undefined) await core.pool.createThin(record.id, { check });
          // A held origin (its removal deferred) is suspended here. An activation
          // that waits for udev runs after this pool change, outside its lock,
          // so concurrent creations overlap their waits; otherwise the snapshot
          // is made and activated in one pool call (one native job).
          else if (core.heldOrigins.has(spec.originId) || waitsForUdev(core)) await snapshotOrigin(core, record.id, spec.originId, spec.sizeBytes, check);
          else activated = await core.pool.snapshotAndActivate(activation(record), spec.originId, { check });
          created = true;
        },
        checkedByPool: true,
        ...(floorIsOff(floor) ? {} : { precheck: (status) => checkMinFreeSpace(core.pool.name, floor, status) }),
        afterChange: afterCreate,
      });
      const device = activated ?? (await core.pool.activate(activation(record)));
      crashPoint(`${spec.phase}:after-activate`);
      return { record, device };
    } catch (e) {
      if (isSimulatedCrash(e)) throw e;
      if (!created && errorCode(e) === 'EEXIST' && attempt < MAX_ID_ATTEMPTS) {
        await markForeign(core, record).finally(() => core.claims.release(record.id));
        continue;
      }
      await rollbackDevice(core, record, created).catch(() => undefined);
      core.claims.release(record.id);
      throw e;
    }
  }
}

/** Whether the pool's activations wait for udev (its 'wait' and 'private' modes). */
function waitsForUdev(core: SnapshotterCore): boolean {
  const mode = core.pool.thinDeviceUdev;
  return mode !== undefined && mode !== 'skip';
}

/**
 * `create_snap` of `originId`. A committed origin whose deactivation was
 * deferred may still be active (held open): the kernel requires an active
 * origin to be suspended around the message, and the pool only knows to do
 * that for devices it activated itself, so it is done here. Children of one
 * such origin take turns (its claim), so one resume cannot end another's suspend.
 */
async function snapshotOrigin(
  core: SnapshotterCore,
  id: number,
  originId: number,
  sizeBytes: number,
  check: ThinCreateOptions['check'],
): Promise<void> {
  const options = check === undefined ? {} : { check };
  if (!core.heldOrigins.has(originId)) {
    await core.pool.createSnapshot(id, originId, options);
    return;
  }
  await core.claims.with(originId, async () => {
    const origin = deviceHandle(core, { id: originId, name: deviceName(core.pool.name, originId), sizeBytes });
    if (!(await origin.isActive())) {
      core.heldOrigins.delete(originId);
      await core.pool.createSnapshot(id, originId, options);
      return;
    }
    await origin.suspend();
    try {
      await core.pool.createSnapshot(id, originId, options);
    } finally {
      await origin.resume();
    }
  });
}

/** Records an id that turned out to be taken in the pool so that it is never handed out again. */
async function markForeign(core: SnapshotterCore, record: DeviceRecord): Promise<void> {
  await core.store.transaction(async (tx) => {
    tx.del(keys.device(record.id));
    tx.put(keys.foreign, tx.foreignIds.with(record.id).toRecord());
  });
}

/**
 * Undoes a device that never got an owner: deactivate, delete the id if it
 * was created, drop the record and free the id. Idempotent; what it cannot
 * finish stays in the `creating` record for reconcile.
 */
export async function rollbackDevice(core: SnapshotterCore, record: DeviceRecord, created: boolean): Promise<void> {
  await deviceHandle(core, record).deactivate({ deferred: false });
  if (created) await deleteThinId(core, record.id, undefined);
  await core.store.transaction(async (tx) => {
    tx.del(keys.device(record.id));
    releaseThinId(tx, record.id);
    stagePoolRecord(core, tx);
  });
}

/** Deletes a thin id from the pool; a missing one counts as deleted. */
async function deleteThinId(core: SnapshotterCore, id: number, afterDelete: CrashPointName | undefined): Promise<void> {
  await core.poolTx.apply({
    run: async () => {
      try {
        await core.pool.deleteThin(id);
      } catch (e) {
        if (errorCode(e) !== 'ENODATA') throw e;
      }
    },
    checkedByPool: false,
    ...(afterDelete === undefined ? {} : { afterChange: afterDelete }),
  });
}

/** Which operation destroys the device: names its crash points (none for reconcile). */
export type DestroyPhase = 'remove' | 'cleanup' | 'reconcile';

/**
 * Deletes a device whose owner is gone (state `removing` or `removed`):
 * deactivate, discard when configured, delete the id, then drop the record
 * and free the id. Resolves false, having deleted nothing, when the device
 * is still held open: it is then `removed` with a deferred removal pending
 * (see device-release.ts), for a later cleanup(). The caller holds the id's claim.
 */
export async function destroyDevice(
  core: SnapshotterCore,
  record: DeviceRecord,
  phase: DestroyPhase,
  options: {
    /** The caller has just deactivated the device: skip the lookup. */
    released?: boolean;
  } = {},
): Promise<boolean> {
  return destroySteps(core, record, phase, options.released === true);
}

async function destroySteps(core: SnapshotterCore, record: DeviceRecord, phase: DestroyPhase, released: boolean): Promise<boolean> {
  const point = (step: 'after-discard' | 'after-delete-thin' | 'after-release'): void => {
    if (phase !== 'reconcile') crashPoint(`${phase}:${step}`);
  };
  const device = deviceHandle(core, record);
  if (!released && !(await releaseDevice(core, record, () => markRemoved(core, record)))) return false;
  // A device that never got an owner holds nothing worth handing back early
  // (and its id may not exist: activating it for the discard would fail).
  if (core.options.discardBlocks && record.state !== 'creating') {
    // Best effort: the discard only hands blocks back to the data device (a
    // loopback file shrinks); the delete below frees them in the pool either
    // way, and after a crash the id may be gone already.
    await device.discardAll().catch(() => undefined);
    point('after-discard');
  }
  await deleteThinId(core, record.id, phase === 'reconcile' ? undefined : `${phase}:after-delete-thin`);
  await core.store.transaction(async (tx) => {
    tx.del(keys.device(record.id));
    releaseThinId(tx, record.id);
    stagePoolRecord(core, tx);
  });
  core.heldOrigins.delete(record.id);
  point('after-release');
  return true;
}
