/**
 * Letting go of the device of a snapshot that is being removed while
 * something may still hold it open (a mount in another mount namespace, an
 * open file descriptor): deactivation is retried within ThinDevice's bound,
 * then handed to the kernel as a deferred removal, which removes the device
 * when its last holder closes it. The device record is put in state
 * `removed` before the kernel is asked, so a crash at any point leaves a
 * record that cleanup() finishes: it skips the device while the removal is
 * pending and deletes the thin id once the device is gone.
 */
import { deviceHandle, type SnapshotterCore } from './core.js';
import { crashPoint, type CrashPointName } from './crash-points.js';
import { errorCode } from './errors.js';
import { keys, type DeviceRecord } from './records.js';

/** How to release: the crash points around the hand-over (each operation names its own). */
export interface ReleaseOptions {
  /** After the record says `removed`, before the kernel is asked. */
  afterMark?: CrashPointName;
  /** After the deferred removal was asked for. */
  afterDefer?: CrashPointName;
  /**
   * Look for a pending deferred removal first (one more ioctl) and skip
   * such a device without the retries: for cleanup(), which meets them
   * again and again until their holder lets go.
   */
  skipIfPending?: boolean;
}

/**
 * Deactivates `record`'s device. Resolves true when it is inactive (its thin
 * id can be deleted); false when it is still held open: `mark` has then put
 * the record in state `removed`, and the kernel removes the device on its
 * last close.
 */
export async function releaseDevice(
  core: SnapshotterCore,
  record: DeviceRecord,
  mark: () => Promise<void>,
  points: ReleaseOptions = {},
): Promise<boolean> {
  const device = deviceHandle(core, record);
  // Pending already (an earlier call, or a commit of a device held open): the retries would be wasted.
  const pending = points.skipIfPending === true && (await device.deferredRemovalPending());
  if (!pending) {
    try {
      await device.deactivate({ deferred: false });
      return true;
    } catch (e) {
      if (errorCode(e) !== 'EBUSY') throw e;
    }
  }
  await mark();
  if (points.afterMark) crashPoint(points.afterMark);
  if (!pending) {
    await device.deactivate({ deferred: true });
    if (points.afterDefer) crashPoint(points.afterDefer);
  }
  return false;
}

/** Puts a device record in state `removed` (cleanup() deletes such devices); a no-op when it is already. */
export async function markRemoved(core: SnapshotterCore, record: DeviceRecord): Promise<void> {
  if (record.state === 'removed') return;
  const { snapshot: _owner, ...rest } = record;
  await core.store.transaction(async (tx) => {
    tx.put(keys.device(record.id), { ...rest, state: 'removed' } satisfies DeviceRecord);
  });
}
