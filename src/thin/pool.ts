/**
 * A kernel thin pool: create one on block devices, adopt one made by
 * dmsetup, LVM, containerd or Docker, and manage its thin ids, status,
 * events and size.
 */
import { EventEmitter } from 'node:events';
import { open as openFile } from 'node:fs/promises';
import * as dm from '../dm/device-mapper.js';
import { blockDeviceSize } from '../dm/block.js';
import { DeviceMapperError, isDeviceMapperError } from '../dm/errors.js';
import { validateDeviceName } from '../dm/names.js';
import {
  PoolMessages,
  parseThinPoolParams,
  parseThinPoolStatus,
  thinPoolRow,
  type ThinPoolFeature,
  type ThinPoolStatus,
} from '../dm/targets/thin-pool.js';
import { bytesToSectors, sectors, SECTOR_SIZE } from '../dm/units.js';
import { ThinDevice } from './device.js';
import { PoolGate } from './gate.js';
import { checkFreeSpace } from './guard.js';
import { blockDevicePath, dumpThinIds } from './metadata-ids.js';
import { readThinIds } from './metadata-details.js';
import { poolUuid, thinUuidPrefix } from './ownership.js';
import { PoolEventWatcher } from './events.js';
import { createLoopbackPool, destroyLoopbackPool, resizeLoopbackPool, type LoopbackPoolOptions } from './loopback.js';
import { createLvmThinPool, type LvmThinPoolOptions } from './lvm.js';
import { validateDataBlockSize, validateMetadataSize } from './sizing.js';
import { MAX_THIN_ID, type ThinActivation, type ThinCreateOptions, type ThinId, type ThinPoolApi, type ThinPoolEvents } from './types.js';

/** Pool behaviour chosen at creation (and kept in the table). */
export interface ThinPoolFeatures {
  /**
   * Zero newly provisioned blocks (the kernel's default). Turning it off
   * (Docker's and LVM's `--zero n`) is faster but lets a new device read
   * stale data in blocks it has not written.
   */
  zeroBlocks?: boolean;
  /** What writes do when data space runs out: fail at once ('error', the default) or queue. */
  noSpacePolicy?: 'error' | 'queue';
  /** Discards: pass them down to the data device (default), keep them in the pool, or ignore them. */
  discard?: 'passdown' | 'no_passdown' | 'ignore';
}

/** Options common to every way of getting a pool. */
export interface ThinPoolRuntimeOptions {
  /**
   * Refuse new thin devices when free data or metadata space is below this
   * percent (Docker's dm.min_free_space). Default 10; 0 turns the guard off.
   */
  minFreeSpacePercent?: number;
  /**
   * Raise 'lowWater' and 'metadataLow' once free data or metadata space is
   * below this percent: a margin above `minFreeSpacePercent`, so listeners
   * hear before the guard starts refusing new devices. Default twice
   * `minFreeSpacePercent`, at most halfway from it to 100; 0 leaves only the
   * kernel's own marks. Must not be below `minFreeSpacePercent` unless 0.
   */
  warnFreeSpacePercent?: number;
  /** Mark the pool's thin devices private to udev (no blkid scan): `thinDeviceUdev: 'private'`. */
  udevPrivate?: boolean;
  /**
   * How udev sees the pool's thin devices (the pool itself always gets udev's
   * full treatment): 'skip' (default: udev runs no rule for them and no call
   * waits for udev; the library makes /dev/mapper/NAME), 'private' (udev
   * makes the /dev/mapper link only), or 'wait' (every udev rule, e.g.
   * /dev/disk/by-id links; each activation waits for udev).
   */
  thinDeviceUdev?: dm.UdevMode;
}

/** Options of {@link ThinPool.create}. */
export interface ThinPoolCreateOptions extends ThinPoolFeatures, ThinPoolRuntimeOptions {
  /** The pool's device-mapper name. */
  name: string;
  /** The metadata block device. */
  metadataDevice: string;
  /** The data block device. */
  dataDevice: string;
  /** Data block size in bytes: 64 KiB to 1 GiB, a multiple of 64 KiB. Default 64 KiB. */
  dataBlockSizeBytes?: number;
  /**
   * Free data space in bytes below which the kernel raises the low-water
   * event. Default: `minFreeSpacePercent` of the data size.
   */
  lowWaterMarkBytes?: number;
  /**
   * Whether the metadata device is new: its first 4 KiB are zeroed so the
   * kernel formats fresh metadata. Default true; false reloads existing metadata.
   */
  fresh?: boolean;
}

/** Where a loopback pool keeps its files and loop devices. */
export interface LoopbackBacking {
  /** The directory holding the files. */
  directory: string;
  /** The sparse data file. */
  dataFile: string;
  /** The sparse metadata file. */
  metadataFile: string;
}

/** The operator's report, as `docker info` printed it for the devicemapper driver. */
export interface ThinPoolInfo {
  /** The pool's device-mapper name. */
  poolName: string;
  /** The data block size in bytes. */
  poolBlocksizeBytes: number;
  /** The data block device (a loop device for loopback pools). */
  dataFile: string;
  /** The metadata block device. */
  metadataFile: string;
  /** The file behind the data loop device, or null. */
  dataLoopFile: string | null;
  /** The file behind the metadata loop device, or null. */
  metadataLoopFile: string | null;
  /** Data space provisioned, in bytes. */
  dataSpaceUsedBytes: number;
  /** Data space in total, in bytes. */
  dataSpaceTotalBytes: number;
  /** Data space still free in the pool, in bytes. */
  dataSpaceAvailableBytes: number;
  /** Metadata space used, in bytes. */
  metadataSpaceUsedBytes: number;
  /** Metadata space in total, in bytes. */
  metadataSpaceTotalBytes: number;
  /** Metadata space still free, in bytes. */
  metadataSpaceAvailableBytes: number;
  /** The free-space guard's minimum, in bytes of data. */
  minFreeSpaceBytes: number;
  /** Whether libdevmapper synchronizes with a running udevd. */
  udevSyncSupported: boolean;
  /** Whether busy devices are removed deferred (always true here). */
  deferredRemovalEnabled: boolean;
  /** libdevmapper's version. */
  libraryVersion: string;
  /** The kernel device-mapper driver's version. */
  driverVersion: string;
  /** The pool's transaction id. */
  transactionId: number;
  /** The pool's mode (rw, ro, out_of_data_space, fail, ...). */
  mode: ThinPoolStatus['mode'];
  /** Whether the metadata needs thin_check before the pool is writable again. */
  needsCheck: boolean;
}

const DEFAULT_BLOCK_BYTES = 64 * 1024;
const DEFAULT_MIN_FREE_PERCENT = 10;
/** How often `delete` is retried while the kernel still holds a device it has just removed (deferred removals finish asynchronously). */
const DELETE_RETRIES = 20;
const DELETE_RETRY_DELAY_MS = 50;
/**
 * How long a thin table load waits out a pool that another process keeps
 * suspended (LVM's lvextend, a dmsetup reload): the kernel refuses thin
 * targets meanwhile, and this process's own reloads are ordered by the gate.
 */
const SUSPENDED_POOL_WAIT_MS = 10_000;
const SUSPENDED_POOL_POLL_MS = 20;
/** Retries of an EINVAL load once the pool shows resumed (its suspension may just have ended). */
const RESUMED_POOL_RETRIES = 3;

function featureList(f: ThinPoolFeatures): ThinPoolFeature[] {
  const list: ThinPoolFeature[] = [];
  if (f.zeroBlocks === false) list.push('skip_block_zeroing');
  if (f.discard === 'ignore') list.push('ignore_discard');
  if (f.discard === 'no_passdown') list.push('no_discard_passdown');
  if ((f.noSpacePolicy ?? 'error') === 'error') list.push('error_if_no_space');
  return list;
}

function checkPercent(value: number | undefined, fallback: number, what: string): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v >= 100) throw DeviceMapperError.invalid('thin-pool', `${what} must be from 0 to under 100`);
  return v;
}

/** The warning margin of a guard minimum (see ThinPoolRuntimeOptions.warnFreeSpacePercent). */
function warnPercent(value: number | undefined, minFree: number): number {
  const v = checkPercent(value, Math.min(2 * minFree, (minFree + 100) / 2), 'warnFreeSpacePercent');
  if (v !== 0 && v < minFree) throw DeviceMapperError.invalid('thin-pool', `warnFreeSpacePercent (${v}) must not be below minFreeSpacePercent (${minFree})`);
  return v;
}

/** What a pool's live table says about it. */
interface PoolTable {
  lengthSectors: number;
  metadataDevice: string;
  dataDevice: string;
  dataBlockSizeBytes: number;
  lowWaterMark: number;
  features: ThinPoolFeature[];
}

async function readPoolTable(name: string): Promise<PoolTable> {
  const rows = await dm.table(name);
  const row = rows[0];
  if (rows.length !== 1 || !row || row.targetType !== 'thin-pool') {
    throw new DeviceMapperError(`${name} is not a thin pool (its table is ${rows.map((r) => r.targetType).join(', ') || 'empty'})`, {
      code: 'EINVAL',
      op: 'ThinPool.open',
      device: name,
    });
  }
  const p = parseThinPoolParams(row.params);
  return {
    lengthSectors: row.length,
    metadataDevice: p.metadataDevice,
    dataDevice: p.dataDevice,
    dataBlockSizeBytes: p.dataBlockSize * SECTOR_SIZE,
    lowWaterMark: p.lowWaterMark,
    features: p.features,
  };
}

/** A kernel thin pool. Emits {@link ThinPoolEvents} while anyone listens. */
export class ThinPool extends EventEmitter<ThinPoolEvents> implements ThinPoolApi {
  /** The pool's device-mapper name. */
  readonly name: string;
  /** Prefix of the dm uuid of every thin device this library activates in the pool. */
  readonly uuidPrefix: string;
  /** How udev sees thin devices unless their activation says otherwise (see {@link ThinPoolRuntimeOptions.thinDeviceUdev}). */
  readonly thinDeviceUdev: dm.UdevMode;
  /** Whether thin devices are marked private to udev (`thinDeviceUdev` 'private'). */
  get udevPrivate(): boolean {
    return this.thinDeviceUdev === 'private';
  }
  /** The files behind a loopback pool, or null for block devices. */
  readonly loopback: LoopbackBacking | null;
  #table: PoolTable;
  #major: number;
  #minor: number;
  #minFreePercent: number;
  readonly #warnFreePercent: number;
  readonly #active = new Map<ThinId, ThinDevice>();
  #scannedActive = false;
  readonly #watcher: PoolEventWatcher;
  readonly #gate = new PoolGate();
  #closed = false;

  /** @internal Use {@link ThinPool.create}, {@link ThinPool.open} or `createLoopbackPool`. */
  constructor(name: string, table: PoolTable, info: dm.DeviceInfo, options: ThinPoolRuntimeOptions, loopback: LoopbackBacking | null) {
    super();
    this.name = name;
    this.uuidPrefix = thinUuidPrefix(name);
    this.thinDeviceUdev = options.thinDeviceUdev ?? (options.udevPrivate === true ? 'private' : 'skip');
    this.loopback = loopback;
    this.#table = table;
    this.#major = info.major;
    this.#minor = info.minor;
    this.#minFreePercent = checkPercent(options.minFreeSpacePercent, DEFAULT_MIN_FREE_PERCENT, 'minFreeSpacePercent');
    this.#warnFreePercent = warnPercent(options.warnFreeSpacePercent, this.#minFreePercent);
    this.#watcher = new PoolEventWatcher(this);
    // Watch kernel events only while someone listens, so an idle pool holds no wait.
    const plain = this as EventEmitter;
    plain.on('newListener', () => queueMicrotask(() => this.#watcher.update()));
    plain.on('removeListener', () => queueMicrotask(() => this.#watcher.update()));
  }

  /**
   * Creates a pool on two block devices. Validates the block size and the
   * metadata size against the kernel's guideline (48 × data size / block
   * size, 2 MiB to 16 GiB) and, for a fresh pool, zeroes the metadata header.
   */
  static async create(options: ThinPoolCreateOptions & { loopback?: LoopbackBacking }): Promise<ThinPool> {
    const op = 'ThinPool.create';
    const name = validateDeviceName(options.name, op);
    const blockBytes = options.dataBlockSizeBytes ?? DEFAULT_BLOCK_BYTES;
    validateDataBlockSize(blockBytes);
    const minFree = checkPercent(options.minFreeSpacePercent, DEFAULT_MIN_FREE_PERCENT, 'minFreeSpacePercent');
    warnPercent(options.warnFreeSpacePercent, minFree);
    const [dataBytes, metadataBytes] = await Promise.all([blockDeviceSize(options.dataDevice), blockDeviceSize(options.metadataDevice)]);
    validateMetadataSize(metadataBytes, dataBytes, blockBytes);
    const usableData = Math.floor(dataBytes / blockBytes) * blockBytes;
    if (usableData === 0) throw DeviceMapperError.invalid(op, `data device ${options.dataDevice} is smaller than one block`);
    const totalBlocks = usableData / blockBytes;
    const lowWater = options.lowWaterMarkBytes === undefined ? Math.ceil((totalBlocks * minFree) / 100) : Math.ceil(options.lowWaterMarkBytes / blockBytes);
    const features = featureList(options);
    const row = thinPoolRow(
      { metadataDevice: options.metadataDevice, dataDevice: options.dataDevice, dataBlockSize: bytesToSectors(blockBytes), lowWaterMark: lowWater, features },
      { length: bytesToSectors(usableData) },
    );
    if (options.fresh !== false) await zeroMetadataHeader(options.metadataDevice);
    const info = await dm.create({ name, uuid: poolUuid(name), table: [row] });
    const table = await readPoolTable(name);
    return new ThinPool(name, table, info, options, options.loopback ?? null);
  }

  /**
   * Adopts an existing pool: one made by dmsetup, LVM (its `vg-pool`
   * device, or `vg-pool-tpool` behind it), containerd's `pool_name` or
   * Docker's `dm.thinpooldev` (a /dev/mapper path is accepted).
   *
   * @throws DeviceMapperError 'ENXIO' when there is no such device, 'EINVAL' when it is not a thin pool.
   */
  static async open(nameOrPath: string, options: ThinPoolRuntimeOptions & { loopback?: LoopbackBacking } = {}): Promise<ThinPool> {
    const op = 'ThinPool.open';
    let name = validateDeviceName(nameOrPath.startsWith('/dev/mapper/') ? nameOrPath.slice('/dev/mapper/'.length) : nameOrPath, op);
    let info = await dm.info(name);
    if (!info) throw new DeviceMapperError(`${op} ${name}: no such device`, { code: 'ENXIO', op, device: name });
    // LVM shows a pool with thin volumes as a linear `vg-pool` over `vg-pool-tpool`.
    const rows = await dm.table(name);
    if (rows[0]?.targetType !== 'thin-pool') {
      const tpool = await dm.info(`${name}-tpool`);
      if (tpool) {
        name = validateDeviceName(`${name}-tpool`, op);
        info = tpool;
      }
    }
    const table = await readPoolTable(name);
    return new ThinPool(name, table, info, options, options.loopback ?? null);
  }

  /**
   * A loopback pool in a directory (Docker's loop-lvm, done right): sparse
   * `data` and `metadata` files, loop devices, a name derived from the
   * directory. Reopening the directory re-attaches the files and reloads the
   * pool with every thin id and its data.
   */
  static async createLoopback(options: LoopbackPoolOptions): Promise<ThinPool> {
    return createLoopbackPool(options);
  }

  /**
   * A direct-lvm pool, as Docker's guide sets one up (pvcreate, vgcreate,
   * lvcreate, lvconvert --thinpool, an autoextend profile), then opened.
   */
  static async createDirectLvm(options: LvmThinPoolOptions & ThinPoolRuntimeOptions): Promise<ThinPool> {
    const lvm = await createLvmThinPool(options);
    return ThinPool.open(lvm.dmName, options);
  }

  /** The pool as `major:minor`, as thin tables reference it. */
  get deviceNumber(): string {
    return `${this.#major}:${this.#minor}`;
  }

  /** The data block size in bytes. */
  get dataBlockSizeBytes(): number {
    return this.#table.dataBlockSizeBytes;
  }

  /** The data size in bytes the live table maps. */
  get dataSizeBytes(): number {
    return this.#table.lengthSectors * SECTOR_SIZE;
  }

  /** The table's low water mark in data blocks. */
  get lowWaterMarkBlocks(): number {
    return this.#table.lowWaterMark;
  }

  /** The table's features. */
  get features(): readonly ThinPoolFeature[] {
    return this.#table.features;
  }

  /** The minimum free space percent below which new devices are refused. */
  get minFreeSpacePercent(): number {
    return this.#minFreePercent;
  }

  /** The free space percent below which 'lowWater' and 'metadataLow' fire (0: the kernel's marks only). */
  get warnFreeSpacePercent(): number {
    return this.#warnFreePercent;
  }

  /**
   * The kernel's status of the pool, typed. `noFlush` skips the metadata
   * commit the kernel otherwise does first; the space counts are current
   * either way, so the guard uses it to stay off the hot path. Listeners
   * hear the conditions it shows that have just turned true.
   */
  async status(options: { noFlush?: boolean } = {}): Promise<ThinPoolStatus> {
    const rows = await dm.status(this.name, { noFlush: options.noFlush === true });
    const row = rows[0];
    if (!row || row.targetType !== 'thin-pool') throw new DeviceMapperError(`${this.name} is no longer a thin pool`, { code: 'EINVAL', op: 'status', device: this.name });
    const status = parseThinPoolStatus(row.params, { dataBlockSizeBytes: this.#table.dataBlockSizeBytes, features: this.#table.features });
    this.#watcher.observe(status);
    return status;
  }

  #checkId(id: ThinId, op: string): void {
    if (!Number.isInteger(id) || id < 0 || id > MAX_THIN_ID) throw DeviceMapperError.invalid(op, `thin id ${String(id)} must be an integer from 0 to ${MAX_THIN_ID}`, this.name);
  }

  async #guard(op: string, check: ThinCreateOptions['check']): Promise<void> {
    this.#assertOpen(op);
    const status = await this.status({ noFlush: true });
    checkFreeSpace(op, this.name, status, this.#minFreePercent);
    check?.(status);
  }

  #assertOpen(op: string): void {
    if (this.#closed) throw new DeviceMapperError(`${op} ${this.name}: the pool handle is closed`, { code: 'EBADF', op, device: this.name });
  }

  /**
   * `create_thin id`: a new empty thin device.
   *
   * @throws DeviceMapperError 'EEXIST' when the id is taken, 'ENOSPC' below the free-space minimum.
   */
  async createThin(id: ThinId, options: ThinCreateOptions = {}): Promise<void> {
    this.#checkId(id, 'createThin');
    await this.#guard('createThin', options.check);
    await dm.message(this.name, PoolMessages.createThin(id));
  }

  /**
   * `create_snap id originId`. An active origin is suspended around the
   * message (the kernel requires it) and resumed after, on failure too.
   */
  async createSnapshot(id: ThinId, originId: ThinId, options: ThinCreateOptions = {}): Promise<void> {
    this.#checkId(id, 'createSnapshot');
    this.#checkId(originId, 'createSnapshot');
    await this.#guard('createSnapshot', options.check);
    const origin = await this.activeDevice(originId);
    const originInfo = origin ? await dm.info(origin.name) : null;
    if (!origin || !originInfo || originInfo.suspended) {
      await dm.message(this.name, PoolMessages.createSnap(id, originId));
      return;
    }
    await dm.suspend(origin.name);
    try {
      await dm.message(this.name, PoolMessages.createSnap(id, originId));
    } finally {
      await dm.resume(origin.name, { udev: origin.udev });
    }
  }

  /**
   * `create_snap spec.id originId` and the activation of `spec` in one native
   * job (after the free-space guard's status read): the origin is suspended
   * around the message when active. Both or neither: when the activation
   * fails, the new id is deleted again.
   *
   * @throws DeviceMapperError as {@link ThinPool.createSnapshot} and {@link ThinPool.activate}.
   */
  async snapshotAndActivate(spec: ThinActivation, originId: ThinId, options: ThinCreateOptions = {}): Promise<ThinDevice> {
    const op = 'snapshotAndActivate';
    this.#checkId(spec.id, op);
    this.#checkId(originId, op);
    await this.#guard(op, options.check);
    const origin = await this.activeDevice(originId);
    const device = this.device(spec);
    // Its table load is ordered against pool reloads like any other (loadThinTable);
    // a failed attempt has taken its id back, so a retry starts clean.
    await this.loadThinTable(async () => {
      try {
        await dm.snapshotAndCreate({
          pool: this.name,
          message: PoolMessages.createSnap(spec.id, originId),
          ...(origin ? { origin: origin.name, originUdev: { udev: origin.udev } } : {}),
          device: device.createOptions(spec.readOnly === true),
        });
      } catch (e) {
        // The native job names the step that failed: nothing was made before
        // the message went through; after it, the new id is taken back.
        const messageSent = !isDeviceMapperError(e) || (e.op !== 'message' && e.op !== 'suspend');
        if (messageSent) await this.deleteThin(spec.id).catch(() => undefined);
        throw e;
      }
    });
    this.trackActive(device);
    return device;
  }

  /**
   * `delete id`. Refuses an id this pool handle knows to be active ('EBUSY');
   * the kernel refuses one active elsewhere, after a bounded retry (a device
   * whose deferred removal has just finished still holds the id for a moment).
   */
  async deleteThin(id: ThinId): Promise<void> {
    this.#checkId(id, 'deleteThin');
    this.#assertOpen('deleteThin');
    const active = await this.activeDevice(id);
    if (active && (await dm.info(active.name))) {
      throw new DeviceMapperError(`deleteThin ${this.name}: thin id ${id} is active as ${active.name}`, { code: 'EBUSY', op: 'deleteThin', device: this.name });
    }
    for (let attempt = 0; ; attempt++) {
      try {
        await dm.message(this.name, PoolMessages.deleteThin(id));
        return;
      } catch (e) {
        if (!isDeviceMapperError(e, 'EBUSY') || attempt >= DELETE_RETRIES) throw e;
      }
      await new Promise((resolve) => setTimeout(resolve, DELETE_RETRY_DELAY_MS));
    }
  }

  /** A handle for thin id `spec.id` under `spec.name` (no kernel call). */
  device(spec: ThinActivation): ThinDevice {
    this.#checkId(spec.id, 'device');
    return this.#active.get(spec.id) ?? new ThinDevice(this, spec);
  }

  /** Activates a thin id; a no-op when it is already active under that name. */
  async activate(spec: ThinActivation): Promise<ThinDevice> {
    const device = this.device(spec);
    await device.activate(spec.readOnly === undefined ? {} : { readOnly: spec.readOnly });
    return device;
  }

  /** @internal Called by {@link ThinDevice} when it becomes active. */
  trackActive(device: ThinDevice): void {
    this.#active.set(device.id, device);
  }

  /** @internal Called by {@link ThinDevice} when it is deactivated. */
  untrackActive(device: ThinDevice): void {
    if (this.#active.get(device.id) === device) this.#active.delete(device.id);
  }

  /**
   * The active device of thin id `id` made by this library, if any. The
   * first call scans the kernel's devices for ones this pool's uuid prefix
   * marks (devices activated before this process started).
   */
  async activeDevice(id: ThinId): Promise<ThinDevice | undefined> {
    if (!this.#scannedActive) await this.#scanActive();
    return this.#active.get(id);
  }

  async #scanActive(): Promise<void> {
    for (const entry of await dm.list()) {
      const info = await dm.info(entry.name);
      if (!info?.uuid?.startsWith(this.uuidPrefix)) continue;
      const id = Number(info.uuid.slice(this.uuidPrefix.length));
      if (!Number.isInteger(id) || this.#active.has(id)) continue;
      const rows = await dm.table(entry.name);
      const length = rows.reduce((sum, r) => sum + r.length, 0);
      this.#active.set(id, new ThinDevice(this, { id, name: entry.name, sizeBytes: length * SECTOR_SIZE }));
    }
    this.#scannedActive = true;
  }

  /**
   * The thin ids in the pool's metadata, read from a metadata snapshot
   * while the pool keeps running: straight from the metadata device (see
   * metadata-details.ts), or with thin_dump when that read fails.
   */
  async thinIds(): Promise<ThinId[]> {
    this.#assertOpen('thinIds');
    const metadataDevice = await this.#devicePathOf(this.#table.metadataDevice);
    await dm.message(this.name, PoolMessages.reserveMetadataSnap());
    try {
      // thin_dump is the reference reader: it gets the last word on anything the direct read refuses.
      return await readThinIds(metadataDevice).catch(() => dumpThinIds(metadataDevice));
    } finally {
      await dm.message(this.name, PoolMessages.releaseMetadataSnap());
    }
  }

  async #devicePathOf(ref: string): Promise<string> {
    const m = /^(\d+):(\d+)$/.exec(ref);
    return m ? blockDevicePath(Number(m[1]), Number(m[2])) : ref;
  }

  /** The pool's transaction id. */
  async transactionId(): Promise<number> {
    return (await this.status()).transactionId;
  }

  /**
   * `set_transaction_id expected next`: compare-and-swap.
   *
   * @throws DeviceMapperError 'EINVAL' when the current id is not `expected`.
   */
  async setTransactionId(expected: number, next: number): Promise<void> {
    this.#assertOpen('setTransactionId');
    await dm.message(this.name, PoolMessages.setTransactionId(expected, next));
  }

  /**
   * Grows the pool to `dataSizeBytes` after its data device grew (a block
   * device or LVM volume extended, or a loopback file — see
   * `resizeLoopbackPool`): reloads the table with the new length and
   * resumes. Shrinking is refused.
   */
  async resize(dataSizeBytes?: number): Promise<void> {
    this.#assertOpen('resize');
    await this.#reload(async () => {
      const dataDevice = await this.#devicePathOf(this.#table.dataDevice);
      const deviceBytes = await blockDeviceSize(dataDevice);
      const target = Math.floor((dataSizeBytes ?? deviceBytes) / this.dataBlockSizeBytes) * this.dataBlockSizeBytes;
      if (target > deviceBytes) throw DeviceMapperError.invalid('resize', `the data device holds ${deviceBytes} bytes, less than ${target}`, this.name);
      if (target < this.dataSizeBytes) throw DeviceMapperError.invalid('resize', `a pool cannot shrink (from ${this.dataSizeBytes} to ${target} bytes)`, this.name);
      if (target === this.dataSizeBytes) return null;
      return { dataBytes: target, lowWaterBlocks: Math.ceil(((target / this.dataBlockSizeBytes) * this.#lowWaterPercent()) / 100) };
    });
  }

  /** The low water mark as a percent of the data blocks, kept across resizes. */
  #lowWaterPercent(): number {
    const blocks = this.dataSizeBytes / this.dataBlockSizeBytes;
    return blocks === 0 ? this.#minFreePercent : (100 * this.#table.lowWaterMark) / blocks;
  }

  /**
   * Sets the low water mark: the kernel raises an event when free data space
   * falls below `freeBytes` (the autoextend policy sets it at its threshold).
   */
  async setLowWaterMark(freeBytes: number): Promise<void> {
    this.#assertOpen('setLowWaterMark');
    const check = (): void => {
      if (!Number.isSafeInteger(freeBytes) || freeBytes < 0 || freeBytes > this.dataSizeBytes) {
        throw DeviceMapperError.invalid('setLowWaterMark', `free bytes must be from 0 to the data size ${this.dataSizeBytes}`, this.name);
      }
    };
    check();
    await this.#reload(() => {
      check();
      return Promise.resolve({ dataBytes: this.dataSizeBytes, lowWaterBlocks: Math.ceil(freeBytes / this.dataBlockSizeBytes) });
    });
  }

  /**
   * @internal Runs a thin device's table load (activation, growth) so that
   * no pool reload suspends the pool under it: loads share the pool's gate,
   * reloads hold it alone. A pool suspended by another process is waited
   * out (bounded), since the kernel refuses thin targets until it resumes.
   */
  async loadThinTable<T>(load: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + SUSPENDED_POOL_WAIT_MS;
    let resumedRetries = 0;
    for (;;) {
      try {
        return await this.#gate.shared(load);
      } catch (e) {
        if (!isDeviceMapperError(e, 'EINVAL') || Date.now() > deadline) throw e;
        const info = await dm.info(this.name);
        if (!info) throw e;
        if (info.suspended) await new Promise((resolve) => setTimeout(resolve, SUSPENDED_POOL_POLL_MS));
        else if (++resumedRetries > RESUMED_POOL_RETRIES) throw e;
      }
    }
  }

  /**
   * Loads a new pool table (length, low water mark) and swaps it in, alone
   * on the gate. `plan` decides from the live table, read first: another
   * reload (here or by another process, e.g. lvextend) may have changed it.
   */
  async #reload(plan: () => Promise<{ dataBytes: number; lowWaterBlocks: number } | null>): Promise<void> {
    await this.#gate.exclusive(async () => {
      this.#table = await readPoolTable(this.name);
      const next = await plan();
      if (next) await this.#reloadNow(next.dataBytes, next.lowWaterBlocks);
    });
  }

  async #reloadNow(dataBytes: number, lowWaterBlocks: number): Promise<void> {
    const row = thinPoolRow(
      {
        metadataDevice: this.#table.metadataDevice,
        dataDevice: this.#table.dataDevice,
        dataBlockSize: bytesToSectors(this.dataBlockSizeBytes),
        lowWaterMark: lowWaterBlocks,
        features: this.#table.features,
      },
      { length: sectors(dataBytes / SECTOR_SIZE) },
    );
    await dm.load({ name: this.name, table: [row] });
    // A pool out of data space must not flush on suspend: queued I/O could never complete.
    await dm.suspend(this.name, { noFlush: true });
    await dm.resume(this.name);
    this.#table = await readPoolTable(this.name);
  }

  /** The operator's report (`docker info` style). */
  async info(): Promise<ThinPoolInfo> {
    const [status, versions, udevSync] = await Promise.all([this.status(), dm.version(), dm.udevSyncSupported()]);
    const [dataFile, metadataFile] = await Promise.all([this.#devicePathOf(this.#table.dataDevice), this.#devicePathOf(this.#table.metadataDevice)]);
    return {
      poolName: this.name,
      poolBlocksizeBytes: this.dataBlockSizeBytes,
      dataFile,
      metadataFile,
      dataLoopFile: this.loopback?.dataFile ?? null,
      metadataLoopFile: this.loopback?.metadataFile ?? null,
      dataSpaceUsedBytes: status.data.usedBytes,
      dataSpaceTotalBytes: status.data.totalBytes,
      dataSpaceAvailableBytes: status.data.availableBytes,
      metadataSpaceUsedBytes: status.metadata.usedBytes,
      metadataSpaceTotalBytes: status.metadata.totalBytes,
      metadataSpaceAvailableBytes: status.metadata.availableBytes,
      minFreeSpaceBytes: Math.ceil((status.data.totalBytes * this.#minFreePercent) / 100),
      udevSyncSupported: udevSync,
      deferredRemovalEnabled: true,
      libraryVersion: versions.library,
      driverVersion: versions.driver,
      transactionId: status.transactionId,
      mode: status.mode,
      needsCheck: status.needsCheck,
    };
  }

  /**
   * Removes the pool device from the kernel after deactivating every thin
   * device this library activated in it. Thin ids stay in the metadata.
   */
  async deactivate(): Promise<void> {
    await this.#scanActive();
    for (const device of [...this.#active.values()]) await device.deactivate({ deferred: false });
    await this.close();
    try {
      await dm.remove(this.name, { retries: 20, retryDelayMs: 50 });
    } catch (e) {
      if (!isDeviceMapperError(e, 'ENXIO')) throw e;
    }
  }

  /**
   * Grows the pool's data space: a loopback pool's file, loop device and
   * table; for block devices, the table after the device grew.
   */
  async grow(dataSizeBytes: number): Promise<void> {
    if (this.loopback) await resizeLoopbackPool(this, dataSizeBytes);
    else await this.resize(dataSizeBytes);
  }

  /**
   * Removes the pool for good: deactivates its thin devices and the pool;
   * a loopback pool also loses its loop devices and files.
   */
  async destroy(): Promise<void> {
    if (this.loopback) await destroyLoopbackPool(this);
    else await this.deactivate();
  }

  /** Stops event watching and releases handles; the pool stays in the kernel. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#watcher.stop();
    this.#active.clear();
  }

  /** Same as {@link ThinPool.close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** @internal Whether close() was called. */
  get closed(): boolean {
    return this.#closed;
  }
}

/** Zeroes the first 4 KiB of a metadata device, so the kernel formats new metadata. */
async function zeroMetadataHeader(device: string): Promise<void> {
  const fd = await openFile(device, 'r+');
  try {
    await fd.write(Buffer.alloc(4096), 0, 4096, 0);
    await fd.sync();
  } finally {
    await fd.close();
  }
}
