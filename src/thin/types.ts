/**
 * The contract every thin pool implementation keeps: the kernel-backed
 * {@link ThinPool} and the in-memory `SimulatedThinPool` for users' own tests.
 * The snapshotter depends only on these interfaces.
 */
import type { UdevMode } from '../dm/device-mapper.js';
import type { ThinPoolStatus } from '../dm/targets/thin-pool.js';

export type { ThinPoolStatus };

/** A thin device id inside a pool: 24 bits, 0 to 2^24 - 1. */
export type ThinId = number;

/** The largest thin id the kernel accepts (24 bits). */
export const MAX_THIN_ID = 0xff_ffff;

/** How to activate a thin device. */
export interface ThinActivation {
  /** The thin id inside the pool. */
  id: ThinId;
  /** The device-mapper name of the activated device. */
  name: string;
  /** Virtual size in bytes: a whole number of 512-byte sectors. */
  sizeBytes: number;
  /** Activate read-only. */
  readOnly?: boolean;
  /**
   * How udev sees the device: 'skip' (no udev rules, no wait: the fastest),
   * 'private' (udev makes the /dev/mapper link only) or 'wait' (every rule,
   * e.g. /dev/disk links). Default: the pool's `thinDeviceUdev`.
   */
  udev?: UdevMode;
}

/** Mapped space of one thin device, from the kernel's thin status. */
export interface ThinDeviceStatus {
  /** Bytes mapped (allocated in the pool) by this device. */
  mappedBytes: number;
  /** Highest mapped sector, or null when nothing is mapped. */
  highestMappedSector: number | null;
}

/** Options for deactivation. */
export interface DeactivateOptions {
  /** Let the kernel remove the device once its last holder closes it (deferred remove). */
  deferred?: boolean;
}

/** Options of {@link ThinPoolApi.createThin} and {@link ThinPoolApi.createSnapshot}. */
export interface ThinCreateOptions {
  /**
   * The caller's own conditions: called with the status (read without a
   * metadata commit) that the pool's free-space guard checks just before
   * the message; throwing refuses the creation with that error. Lets a
   * caller add checks (a transaction id, its own space floor) without a
   * second status read.
   */
  check?: (status: ThinPoolStatus) => void;
}

/** One thin device of a pool, active or not. */
export interface ThinDeviceApi {
  /** The pool the device belongs to. */
  readonly pool: ThinPoolApi;
  /** The thin id inside the pool. */
  readonly id: ThinId;
  /** The device-mapper name it is (or would be) active under. */
  readonly name: string;
  /** The virtual size in bytes. */
  readonly sizeBytes: number;
  /** The block device path (valid while active). */
  readonly path: string;
  /** Whether the device is active (made by this library, in this pool). */
  isActive(): Promise<boolean>;
  /** Whether the device is active and something holds it open (a mount, a process). */
  isOpen(): Promise<boolean>;
  /**
   * Whether the device is still active with a deferred removal pending: it
   * was removed while held open and goes when its last holder closes it.
   */
  deferredRemovalPending(): Promise<boolean>;
  /**
   * Cancels a pending deferred removal, so the device stays when its last
   * holder closes it; a no-op when none is pending.
   */
  cancelDeferredRemoval(): Promise<void>;
  /** Loads the thin table and resumes; a no-op when already active. */
  activate(options?: { readOnly?: boolean }): Promise<void>;
  /** Removes the dm device (the thin id stays in the pool); a no-op when inactive. */
  deactivate(options?: DeactivateOptions): Promise<void>;
  /** Suspends with flush; a no-op when already suspended. */
  suspend(): Promise<void>;
  /** Resumes; a no-op when not suspended. */
  resume(): Promise<void>;
  /** The kernel's thin status: mapped bytes and the highest mapped sector. */
  status(): Promise<ThinDeviceStatus>;
  /** Grows the virtual size: reloads the table with the new length. */
  grow(sizeBytes: number): Promise<void>;
  /** Discards every block so that the pool (and a loopback file) gets the space back. */
  discardAll(): Promise<void>;
  /** Snapshots this device into `newId` (suspending it first when active). */
  snapshot(newId: ThinId): Promise<void>;
  /** Deactivates, then deletes the thin id from the pool. */
  remove(options?: { discard?: boolean }): Promise<void>;
}

/**
 * Events a pool emits. 'status' comes with each kernel dm event; a
 * condition event fires when its condition turns true in any status the
 * pool reads (the event watcher's, `status()`, the free-space guard's).
 */
export interface ThinPoolEvents {
  /**
   * Free data space fell to the low water mark, or below the warning margin
   * (`warnFreeSpacePercent`, above the guard's minimum).
   */
  lowWater: [status: ThinPoolStatus];
  /** Free metadata space is running low: below the kernel's threshold or the warning margin. */
  metadataLow: [status: ThinPoolStatus];
  /** The pool ran out of data space. */
  outOfDataSpace: [status: ThinPoolStatus];
  /** The pool turned read-only. */
  readOnly: [status: ThinPoolStatus];
  /** The pool failed. */
  failed: [status: ThinPoolStatus];
  /** The pool's metadata needs a check (thin_check) before it is writable again. */
  needsCheck: [status: ThinPoolStatus];
  /** Any change of status. */
  status: [status: ThinPoolStatus];
  /** Watching the pool's events failed (other than by closing). */
  error: [error: Error];
}

/** A thin pool: the operations the snapshotter and users rely on. */
export interface ThinPoolApi {
  /** The pool's device-mapper name. */
  readonly name: string;
  /** The data block size in bytes. */
  readonly dataBlockSizeBytes: number;
  /**
   * Every device this pool activates carries a dm uuid starting with this
   * prefix; the library refuses to suspend, remove or delete devices without it.
   */
  readonly uuidPrefix: string;
  /**
   * How udev sees the thin devices this pool activates (see
   * {@link ThinActivation.udev}); absent for pools without udev (simulated).
   * With 'wait' or 'private' an activation waits for udev.
   */
  readonly thinDeviceUdev?: UdevMode;
  /**
   * The pool's status, typed. `noFlush` skips the metadata commit the kernel
   * otherwise makes first; the space counts and transaction id are current either way.
   */
  status(options?: { noFlush?: boolean }): Promise<ThinPoolStatus>;
  /** `create_thin id`. Fails with code 'EEXIST' when the id is taken. */
  createThin(id: ThinId, options?: ThinCreateOptions): Promise<void>;
  /**
   * `create_snap id originId`. When the origin is active it is suspended
   * around the message and resumed after, on failure too.
   */
  createSnapshot(id: ThinId, originId: ThinId, options?: ThinCreateOptions): Promise<void>;
  /**
   * {@link ThinPoolApi.createSnapshot} of `originId` into `spec.id`, then {@link ThinPoolApi.activate}
   * of `spec`: both or neither (a failed activation deletes the new id again).
   */
  snapshotAndActivate(spec: ThinActivation, originId: ThinId, options?: ThinCreateOptions): Promise<ThinDeviceApi>;
  /** `delete id`. The id must not be active. */
  deleteThin(id: ThinId): Promise<void>;
  /** A handle for an existing thin id (makes no kernel call). */
  device(spec: ThinActivation): ThinDeviceApi;
  /** Activates a thin id under a name; a no-op when it is already active. */
  activate(spec: ThinActivation): Promise<ThinDeviceApi>;
  /** The thin ids present in the pool's metadata. */
  thinIds(): Promise<ThinId[]>;
  /** The pool's transaction id. */
  transactionId(): Promise<number>;
  /** `set_transaction_id expected next`: compare-and-swap. Fails with 'EINVAL' if the current id is not `expected`. */
  setTransactionId(expected: number, next: number): Promise<void>;
  /** Releases handles and stops event watching; leaves the pool in the kernel. */
  close(): Promise<void>;
  /** Same as close(), for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}
