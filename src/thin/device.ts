/**
 * One thin device of a kernel pool. Each state change is a no-op when the
 * kernel is already in the wanted state, and every change checks that the
 * device carries this library's uuid first.
 */
import * as dm from '../dm/device-mapper.js';
import { discard } from '../dm/block.js';
import { DeviceMapperError, isDeviceMapperError } from '../dm/errors.js';
import { validateDeviceName } from '../dm/names.js';
import { parseThinStatus } from '../dm/targets/thin.js';
import { thinRow } from '../dm/targets/thin.js';
import { bytesToSectors } from '../dm/units.js';
import { assertOwned, thinUuid } from './ownership.js';
import type { DeactivateOptions, ThinActivation, ThinDeviceApi, ThinDeviceStatus, ThinId } from './types.js';
import type { ThinPool } from './pool.js';

/** How many times remove retries on EBUSY before it gives up or defers. */
const REMOVE_RETRIES = 10;
const REMOVE_RETRY_DELAY_MS = 50;

/** A thin device of a {@link ThinPool}: activate, suspend, snapshot, remove. */
export class ThinDevice implements ThinDeviceApi {
  /** The pool the device lives in. */
  readonly pool: ThinPool;
  /** The thin id inside the pool. */
  readonly id: ThinId;
  /** The device-mapper name it is (or will be) active under. */
  readonly name: string;
  /** The dm uuid the library gives it. */
  readonly uuid: string;
  /** How udev sees the device (see {@link ThinActivation.udev}). */
  readonly udev: dm.UdevMode;
  #sizeBytes: number;

  /** @internal Use {@link ThinPool.device} or {@link ThinPool.activate}. */
  constructor(pool: ThinPool, spec: ThinActivation) {
    this.pool = pool;
    this.id = spec.id;
    this.name = validateDeviceName(spec.name, 'thin device');
    bytesToSectors(spec.sizeBytes);
    if (spec.sizeBytes === 0) throw DeviceMapperError.invalid('thin device', 'size must be at least one sector', spec.name);
    this.#sizeBytes = spec.sizeBytes;
    this.uuid = thinUuid(pool.uuidPrefix, spec.id);
    this.udev = spec.udev ?? pool.thinDeviceUdev;
  }

  /** The virtual size in bytes. */
  get sizeBytes(): number {
    return this.#sizeBytes;
  }

  /** `/dev/mapper/<name>`, valid while active. */
  get path(): string {
    return dm.devicePath(this.name);
  }

  async #ownedInfo(op: string): Promise<dm.DeviceInfo | null> {
    const info = await dm.info(this.name);
    if (info) assertOwned(op, this.name, info.uuid, this.uuid);
    return info;
  }

  /** Whether the device is active in the kernel. */
  async isActive(): Promise<boolean> {
    return (await this.#ownedInfo('isActive')) !== null;
  }

  /** Whether the device is active and held open (its open count is above 0). */
  async isOpen(): Promise<boolean> {
    return ((await this.#ownedInfo('isOpen'))?.openCount ?? 0) > 0;
  }

  /** Whether the device is still active with a deferred removal pending (it goes on its last close). */
  async deferredRemovalPending(): Promise<boolean> {
    return (await this.#ownedInfo('deferredRemovalPending'))?.deferredRemove === true;
  }

  /** Cancels a pending deferred removal (the device stays when its last holder closes it); a no-op when none is pending. */
  async cancelDeferredRemoval(): Promise<void> {
    const info = await this.#ownedInfo('cancelDeferredRemoval');
    if (info?.deferredRemove !== true) return;
    await dm.cancelDeferredRemove(this.name);
    this.pool.trackActive(this);
  }

  #table(sizeBytes: number): dm.CreateOptions['table'] {
    return [thinRow({ poolDevice: this.pool.deviceNumber, deviceId: this.id }, { length: bytesToSectors(sizeBytes) })];
  }

  /** @internal What {@link activate} passes to `dm.create`. */
  createOptions(readOnly: boolean): dm.CreateOptions {
    return { name: this.name, uuid: this.uuid, table: this.#table(this.#sizeBytes), readOnly, udev: this.udev };
  }

  /** Loads the thin table and resumes; a no-op when already active. */
  async activate(options: { readOnly?: boolean } = {}): Promise<void> {
    try {
      await this.pool.loadThinTable(() => dm.create(this.createOptions(options.readOnly === true)));
    } catch (e) {
      // Create first, look second: activation is usually of a new id, so the
      // lookup is only paid when the name (or uuid) is taken.
      if (!isDeviceMapperError(e, 'EBUSY') && !isDeviceMapperError(e, 'EEXIST')) throw e;
      if (!(await this.#ownedInfo('activate'))) throw e;
    }
    this.pool.trackActive(this);
  }

  /**
   * Removes the dm device (the thin id stays in the pool); a no-op when
   * inactive. A device still held open is retried a bounded number of times,
   * then removed deferred (the kernel removes it when the holder closes) when
   * `deferred` is not false; with `deferred: false` it fails with 'EBUSY'.
   */
  async deactivate(options: DeactivateOptions = {}): Promise<void> {
    // The ownership check and the removal are one native call (ifUuid).
    const remove = (how: dm.RemoveOptions): Promise<boolean> => dm.remove(this.name, { ...how, udev: this.udev, ifUuid: this.uuid });
    if (options.deferred === true) {
      await remove({ deferred: true });
    } else {
      try {
        await remove({ retries: REMOVE_RETRIES, retryDelayMs: REMOVE_RETRY_DELAY_MS });
      } catch (e) {
        if (!isDeviceMapperError(e, 'EBUSY') || options.deferred === false) throw e;
        await remove({ deferred: true });
      }
    }
    this.pool.untrackActive(this);
  }

  /** Suspends (flushing I/O); a no-op when inactive or already suspended. */
  async suspend(): Promise<void> {
    const info = await this.#ownedInfo('suspend');
    if (!info || info.suspended) return;
    await dm.suspend(this.name);
  }

  /** Resumes; a no-op when inactive or not suspended. */
  async resume(): Promise<void> {
    const info = await this.#ownedInfo('resume');
    if (!info || !info.suspended) return;
    await dm.resume(this.name, { udev: this.udev });
  }

  /** Mapped space of the active device. */
  async status(): Promise<ThinDeviceStatus> {
    const rows = await dm.status(this.name);
    const row = rows[0];
    if (!row || row.targetType !== 'thin') {
      throw new DeviceMapperError(`status ${this.name}: not a thin device`, { code: 'EINVAL', op: 'status', device: this.name });
    }
    const s = parseThinStatus(row.params);
    return { mappedBytes: s.mappedBytes, highestMappedSector: s.highestMappedSector };
  }

  /** Grows the virtual size; an active device gets the new table at once. */
  async grow(sizeBytes: number): Promise<void> {
    bytesToSectors(sizeBytes);
    if (sizeBytes < this.#sizeBytes) throw DeviceMapperError.invalid('grow', `new size ${sizeBytes} is below the current ${this.#sizeBytes}`, this.name);
    if (sizeBytes === this.#sizeBytes) return;
    const info = await this.#ownedInfo('grow');
    if (info) {
      // Load, suspend and resume as one step of the pool's gate, so no pool
      // reload suspends the pool between them (a thin suspend waiting on a
      // suspended pool would hold the addon's lock the pool's resume needs).
      // No flush: growing loses nothing in flight, and a flush could wait on
      // I/O queued behind a full pool that only a reload can grow.
      await this.pool.loadThinTable(async () => {
        await dm.load({ name: this.name, table: this.#table(sizeBytes), readOnly: info.readOnly });
        await dm.suspend(this.name, { noFlush: true });
        await dm.resume(this.name, { udev: this.udev });
      });
    }
    this.#sizeBytes = sizeBytes;
  }

  /** Discards every block (activating the device for the time it takes when inactive). */
  async discardAll(): Promise<void> {
    const wasActive = await this.isActive();
    if (!wasActive) await this.activate();
    try {
      await discard(this.path, 0, this.#sizeBytes);
    } finally {
      if (!wasActive) await this.deactivate({ deferred: false });
    }
  }

  /** Snapshots this device into `newId`, suspending it around the message when active. */
  async snapshot(newId: ThinId): Promise<void> {
    await this.pool.createSnapshot(newId, this.id);
  }

  /** Deactivates, then deletes the thin id (discarding its blocks first when asked). */
  async remove(options: { discard?: boolean } = {}): Promise<void> {
    if (options.discard === true) await this.discardAll();
    await this.deactivate({ deferred: false });
    await this.pool.deleteThin(this.id);
  }
}
