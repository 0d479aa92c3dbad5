/**
 * Growing an active snapshot in a crash-safe order:
 *
 *   record the device `growing` with its target size (the intent)
 *   → reload the device's table with the larger size
 *   → grow its filesystem (the formatter's `grow` hook)
 *   → record device and snapshot `ready` with the new size, in one batch.
 *
 * A crash anywhere leaves the `growing` record: the next open finishes the
 * grow (both steps are idempotent), or reports it in `failed` when it
 * cannot (the snapshot stays usable at its old filesystem size).
 */
import { activation, deviceHandle, type SnapshotterCore } from './core.js';
import { crashPoint } from './crash-points.js';
import { FailedPreconditionError } from './errors.js';
import { checkMinFreeSpace, floorIsOff } from './free-space.js';
import { getFormatter, type Formatter } from './formatters/index.js';
import { keys, type DeviceRecord, type SnapshotRecord } from './records.js';
import { labelsWithSize } from './snapshot-size.js';

/** The formatter of a snapshot's filesystem. */
export function formatterOf(fsType: string): Formatter {
  const formatter = getFormatter(fsType);
  if (!formatter) throw new FailedPreconditionError(`filesystem ${JSON.stringify(fsType)} has no registered formatter`);
  return formatter;
}

/**
 * Grows the active snapshot `key` (record `snapshot`, device `device`) to
 * `targetBytes`, which the caller has checked is larger. Refused below
 * the pool's free-space floor: growing a filesystem writes its new
 * metadata into the pool.
 *
 * @returns The snapshot's new record.
 */
export async function growSnapshot(
  core: SnapshotterCore,
  key: string,
  snapshot: SnapshotRecord,
  device: DeviceRecord,
  targetBytes: number,
): Promise<SnapshotRecord> {
  const formatter = formatterOf(snapshot.fsType);
  const floor = core.options.minFreeSpace;
  if (!floorIsOff(floor)) checkMinFreeSpace(core.pool.name, floor, await core.pool.status({ noFlush: true }));
  const growing: DeviceRecord = { ...device, state: 'growing', growToBytes: targetBytes };
  await core.store.transaction(async (tx) => {
    tx.put(keys.device(device.id), growing);
  });
  crashPoint('resize:after-intent');
  return finishGrowSteps(core, key, snapshot, growing, formatter);
}

/**
 * Finishes the grow of a `growing` device at open: activates it at the
 * target size (or reloads its table), grows the filesystem, records it ready.
 *
 * @returns The owning snapshot's key, or undefined when the device has no active owner
 *   (then only the records are brought to the target size).
 */
export async function finishGrow(core: SnapshotterCore, device: DeviceRecord): Promise<string | undefined> {
  const key = device.snapshot;
  const snapshot = key === undefined ? undefined : await core.store.snapshot(key);
  const target = device.growToBytes ?? device.sizeBytes;
  if (key === undefined || !snapshot || snapshot.kind !== 'active') {
    // Commit and remove refuse a growing device, so this is not reached by this store's own steps.
    const { growToBytes: _target, ...rest } = device;
    await core.store.transaction(async (tx) => {
      tx.put(keys.device(device.id), { ...rest, state: 'ready' } satisfies DeviceRecord);
    });
    return undefined;
  }
  const handle = deviceHandle(core, device);
  if (!(await handle.isActive())) await core.pool.activate(activation({ ...device, sizeBytes: target }));
  await finishGrowSteps(core, key, snapshot, device, formatterOf(snapshot.fsType));
  return key;
}

async function finishGrowSteps(
  core: SnapshotterCore,
  key: string,
  snapshot: SnapshotRecord,
  device: DeviceRecord,
  formatter: Formatter,
): Promise<SnapshotRecord> {
  const target = device.growToBytes ?? device.sizeBytes;
  const handle = deviceHandle(core, device);
  await handle.grow(target);
  // A crash between the reload's suspend and resume leaves the device suspended.
  await handle.resume();
  crashPoint('resize:after-device-grow');
  await formatter.grow?.(handle.path, target);
  crashPoint('resize:after-fs-grow');
  const { growToBytes: _target, ...rest } = device;
  const grown: SnapshotRecord = {
    ...snapshot,
    sizeBytes: target,
    labels: labelsWithSize(snapshot.labels, target, core.options.baseImageSizeBytes, true),
    updated: new Date().toISOString(),
  };
  await core.store.transaction(async (tx) => {
    tx.put(keys.device(device.id), { ...rest, state: 'ready', sizeBytes: target } satisfies DeviceRecord);
    tx.put(keys.snapshot(key), grown);
  });
  return grown;
}
