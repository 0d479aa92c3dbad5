/**
 * A thin pool in plain TypeScript, for tests that need no root and no
 * kernel: the snapshotter's host tests, and users' own tests of code built
 * on the {@link ThinPoolApi}.
 *
 * It keeps what the kernel keeps: thin ids with their block mappings (a
 * snapshot shares its origin's blocks until a write copies them), the
 * transaction id (compare-and-swap), activations under device-mapper names
 * with suspend state and open counts, and pool status computed from the
 * block maps. Failures are {@link DeviceMapperError}s with the errno name
 * the kernel would give ('EEXIST', 'ENODATA', 'ENXIO', 'EBUSY', 'EINVAL',
 * 'ENOSPC', 'EROFS').
 *
 * Device paths (`/dev/mapper/<name>`) are strings only: no node exists.
 * Writes are simulated with {@link SimulatedThinPool.simulateWrite}.
 *
 * With a `directory`, every change is written to a JSON file there
 * synchronously (like the kernel committing its metadata), so a process
 * killed at any point leaves a pool that {@link SimulatedThinPool.open}
 * loads as it was, activations included, as after a real process crash;
 * {@link SimulatedThinPool.simulateReboot} drops every activation.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DeviceMapperError } from '../dm/errors.js';
import { deviceNameProblem } from '../dm/names.js';
import type { ThinPoolStatus } from '../dm/targets/thin-pool.js';
import { BlockState, OutOfDataSpace, type BlockStateJson } from './simulated/block-state.js';
import { FaultInjector, type SimulatedFaultOptions, type SimulatedOperation } from './simulated/faults.js';
import {
  MAX_THIN_ID,
  type DeactivateOptions,
  type ThinActivation,
  type ThinCreateOptions,
  type ThinDeviceApi,
  type ThinDeviceStatus,
  type ThinId,
  type ThinPoolApi,
} from './types.js';

/** Options of a {@link SimulatedThinPool}. */
export interface SimulatedThinPoolOptions {
  /** The pool's device-mapper name. Default 'simulated-pool'. */
  name?: string;
  /** Data block size in bytes: a multiple of 64 KiB, as the kernel requires. Default 64 KiB. */
  dataBlockSizeBytes?: number;
  /** Data space in bytes. Default 1 GiB. */
  dataSizeBytes?: number;
  /** Metadata space in bytes (4 KiB blocks). Default 16 MiB. */
  metadataSizeBytes?: number;
  /** The dm uuid prefix of activated devices. Default 'SIMTHIN-'. */
  uuidPrefix?: string;
  /** A directory to persist the pool in; loaded by {@link SimulatedThinPool.open} when present. */
  directory?: string;
  /** Random latency and injected failures of its calls (see {@link SimulatedFaultOptions}). */
  faults?: SimulatedFaultOptions;
}

interface Activation {
  id: ThinId;
  sizeBytes: number;
  readOnly: boolean;
  suspended: boolean;
  /** Simulated holders (mounts): a non-deferred deactivation fails with EBUSY while above 0. */
  openCount: number;
  deferredRemove: boolean;
}

interface PersistedPool {
  version: 1;
  name: string;
  uuidPrefix: string;
  dataBlockSizeBytes: number;
  metadataBlocks: number;
  transactionId: number;
  blocks: BlockStateJson;
  activations: Array<[name: string, activation: Activation]>;
}

const METADATA_BLOCK_SIZE = 4096;
const STATE_FILE = 'simulated-thin-pool.json';
// Metadata blocks the kernel's format takes before any device exists (superblock, space maps, roots).
const METADATA_FIXED_BLOCKS = 16;
// Mappings per metadata block, roughly what a dm-thin btree leaf holds.
const MAPPINGS_PER_METADATA_BLOCK = 126;

function fail(code: string, op: string, message: string, device?: string): DeviceMapperError {
  return new DeviceMapperError(`${op}${device ? ` ${device}` : ''}: ${message}`, device === undefined ? { code, op } : { code, op, device });
}

/** A handle on one thin id of a {@link SimulatedThinPool}. */
class SimulatedThinDevice implements ThinDeviceApi {
  constructor(
    readonly pool: SimulatedThinPool,
    readonly id: ThinId,
    readonly name: string,
    private specSizeBytes: number,
  ) {}

  get sizeBytes(): number {
    return this.pool.activationOf(this.name)?.sizeBytes ?? this.specSizeBytes;
  }

  get path(): string {
    return `/dev/mapper/${this.name}`;
  }

  async isActive(): Promise<boolean> {
    await this.pool.enter('isActive', { device: this.name, id: this.id });
    return this.pool.activationOf(this.name)?.id === this.id;
  }

  async isOpen(): Promise<boolean> {
    await this.pool.enter('isOpen', { device: this.name, id: this.id });
    const activation = this.pool.activationOf(this.name);
    return activation?.id === this.id && activation.openCount > 0;
  }

  async deferredRemovalPending(): Promise<boolean> {
    await this.pool.enter('deferredRemovalPending', { device: this.name, id: this.id });
    const activation = this.pool.activationOf(this.name);
    return activation?.id === this.id && activation.deferredRemove;
  }

  async cancelDeferredRemoval(): Promise<void> {
    await this.pool.enter('cancelDeferredRemoval', { device: this.name, id: this.id });
    this.pool.cancelDeferredRemoval(this.name);
  }

  async activate(options: { readOnly?: boolean } = {}): Promise<void> {
    await this.pool.activate({ id: this.id, name: this.name, sizeBytes: this.specSizeBytes, readOnly: options.readOnly ?? false });
  }

  async deactivate(options: DeactivateOptions = {}): Promise<void> {
    await this.pool.enter('deactivate', { device: this.name, id: this.id });
    this.pool.deactivateName(this.name, options.deferred);
  }

  async suspend(): Promise<void> {
    await this.pool.enter('suspend', { device: this.name, id: this.id });
    this.pool.setSuspended(this.name, true);
  }

  async resume(): Promise<void> {
    await this.pool.enter('resume', { device: this.name, id: this.id });
    this.pool.setSuspended(this.name, false);
  }

  async status(): Promise<ThinDeviceStatus> {
    await this.pool.enter('deviceStatus', { device: this.name, id: this.id });
    return this.pool.deviceStatus(this.name);
  }

  async grow(sizeBytes: number): Promise<void> {
    await this.pool.enter('grow', { device: this.name, id: this.id });
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes % 512 !== 0 || sizeBytes < this.sizeBytes) {
      throw fail('EINVAL', 'grow', 'the new size must be a whole number of sectors, not below the current one', this.name);
    }
    if (await this.isActive()) this.pool.growActivation(this.name, sizeBytes);
    this.specSizeBytes = sizeBytes;
  }

  async discardAll(): Promise<void> {
    await this.pool.enter('discard', { device: this.name, id: this.id });
    // The real device activates itself for the discard when inactive; the effect on the blocks is the same.
    this.pool.simulateDiscard(this.id, 0, Number.MAX_SAFE_INTEGER);
  }

  async snapshot(newId: ThinId): Promise<void> {
    await this.pool.createSnapshot(newId, this.id);
  }

  async remove(options: { discard?: boolean } = {}): Promise<void> {
    if (options.discard) await this.discardAll();
    await this.deactivate({ deferred: false });
    await this.pool.deleteThin(this.id);
  }
}

/** A thin pool simulated in memory (optionally persisted to a directory). See the module comment. */
export class SimulatedThinPool implements ThinPoolApi {
  readonly name: string;
  readonly dataBlockSizeBytes: number;
  readonly uuidPrefix: string;
  /** The persistence directory, if any. */
  readonly directory: string | undefined;
  private readonly metadataBlocks: number;
  private blocks: BlockState;
  private txid = 0;
  private readonly activations = new Map<string, Activation>();
  private closed = false;
  private readonly faults: FaultInjector;

  /** Makes an empty pool (use {@link SimulatedThinPool.open} to load a persisted one). */
  constructor(options: SimulatedThinPoolOptions = {}) {
    this.name = options.name ?? 'simulated-pool';
    const problem = deviceNameProblem(this.name);
    if (problem) throw fail('EINVAL', 'SimulatedThinPool', problem, this.name);
    this.dataBlockSizeBytes = options.dataBlockSizeBytes ?? 64 * 1024;
    if (!Number.isSafeInteger(this.dataBlockSizeBytes) || this.dataBlockSizeBytes <= 0 || this.dataBlockSizeBytes % (64 * 1024) !== 0) {
      throw fail('EINVAL', 'SimulatedThinPool', 'the data block size must be a positive multiple of 64 KiB');
    }
    const dataSize = options.dataSizeBytes ?? 1024 ** 3;
    this.blocks = new BlockState(Math.floor(dataSize / this.dataBlockSizeBytes));
    this.metadataBlocks = Math.floor((options.metadataSizeBytes ?? 16 * 1024 ** 2) / METADATA_BLOCK_SIZE);
    this.uuidPrefix = options.uuidPrefix ?? 'SIMTHIN-';
    this.directory = options.directory;
    this.faults = new FaultInjector(options.faults);
    if (this.directory !== undefined) {
      mkdirSync(this.directory, { recursive: true });
      this.persist();
    }
  }

  /**
   * Loads the pool persisted in `options.directory`, or makes a new one
   * there (with the other options) when none is.
   */
  static async open(options: SimulatedThinPoolOptions & { directory: string }): Promise<SimulatedThinPool> {
    let saved: PersistedPool | undefined;
    try {
      saved = JSON.parse(readFileSync(path.join(options.directory, STATE_FILE), 'utf8')) as PersistedPool;
    } catch (e) {
      if ((e as { code?: string }).code !== 'ENOENT') throw e;
    }
    if (!saved) return new SimulatedThinPool(options);
    const pool = new SimulatedThinPool({
      name: saved.name,
      uuidPrefix: saved.uuidPrefix,
      dataBlockSizeBytes: saved.dataBlockSizeBytes,
      dataSizeBytes: saved.blocks.dataBlocks * saved.dataBlockSizeBytes,
      metadataSizeBytes: saved.metadataBlocks * METADATA_BLOCK_SIZE,
      ...(options.faults === undefined ? {} : { faults: options.faults }),
    });
    pool.blocks = BlockState.fromJSON(saved.blocks);
    pool.txid = saved.transactionId;
    for (const [name, activation] of saved.activations) pool.activations.set(name, activation);
    // Set after loading: constructing with the directory would persist an empty pool over the saved one.
    (pool as { directory: string | undefined }).directory = options.directory;
    return pool;
  }

  private persist(): void {
    if (this.directory === undefined) return;
    const state: PersistedPool = {
      version: 1,
      name: this.name,
      uuidPrefix: this.uuidPrefix,
      dataBlockSizeBytes: this.dataBlockSizeBytes,
      metadataBlocks: this.metadataBlocks,
      transactionId: this.txid,
      blocks: this.blocks.toJSON(),
      activations: [...this.activations],
    };
    const file = path.join(this.directory, STATE_FILE);
    // Write then rename: a kill leaves the old or the new state, never half of one.
    writeFileSync(`${file}.tmp`, JSON.stringify(state));
    renameSync(`${file}.tmp`, file);
  }

  private check(op: string): void {
    if (this.closed) throw fail('EBADF', op, 'the simulated pool is closed', this.name);
  }

  private checkId(id: ThinId, op: string): void {
    if (!Number.isInteger(id) || id < 0 || id > MAX_THIN_ID) throw fail('EINVAL', op, `thin id ${id} is not in 0..${MAX_THIN_ID}`);
  }

  private usedMetadataBlocks(): number {
    return METADATA_FIXED_BLOCKS + this.blocks.thins.size + Math.ceil(this.blocks.totalMappings / MAPPINGS_PER_METADATA_BLOCK);
  }

  private ensureMetadataSpace(op: string): void {
    if (this.usedMetadataBlocks() + 1 > this.metadataBlocks) throw fail('ENOSPC', op, 'out of metadata space', this.name);
  }

  private activeNamesOf(id: ThinId): string[] {
    return [...this.activations].filter(([, a]) => a.id === id).map(([n]) => n);
  }

  /** The pool's status, computed from the block maps as the kernel reports it. */
  async status(_options: { noFlush?: boolean } = {}): Promise<ThinPoolStatus> {
    await this.enter('status');
    return this.currentStatus();
  }

  private currentStatus(): ThinPoolStatus {
    this.check('status');
    const used = this.blocks.usedDataBlocks;
    const total = this.blocks.dataBlocks;
    const usedMeta = Math.min(this.usedMetadataBlocks(), this.metadataBlocks);
    return {
      transactionId: this.txid,
      metadataBlockSizeBytes: METADATA_BLOCK_SIZE,
      usedMetadataBlocks: usedMeta,
      totalMetadataBlocks: this.metadataBlocks,
      dataBlockSizeBytes: this.dataBlockSizeBytes,
      usedDataBlocks: used,
      totalDataBlocks: total,
      data: {
        usedBytes: used * this.dataBlockSizeBytes,
        totalBytes: total * this.dataBlockSizeBytes,
        availableBytes: (total - used) * this.dataBlockSizeBytes,
      },
      metadata: {
        usedBytes: usedMeta * METADATA_BLOCK_SIZE,
        totalBytes: this.metadataBlocks * METADATA_BLOCK_SIZE,
        availableBytes: (this.metadataBlocks - usedMeta) * METADATA_BLOCK_SIZE,
      },
      heldMetadataRoot: null,
      mode: used >= total ? 'out_of_data_space' : 'rw',
      discard: 'discard_passdown',
      noSpacePolicy: 'error',
      needsCheck: false,
      metadataLowWatermark: null,
    };
  }

  async createThin(id: ThinId, options: ThinCreateOptions = {}): Promise<void> {
    await this.enter('createThin', { id });
    this.check('createThin');
    this.checkId(id, 'createThin');
    if (options.check) options.check(this.currentStatus());
    if (this.blocks.thins.has(id)) throw fail('EEXIST', 'createThin', `thin id ${id} exists`, this.name);
    this.ensureMetadataSpace('createThin');
    this.blocks.create(id);
    this.persist();
  }

  async createSnapshot(id: ThinId, originId: ThinId, options: ThinCreateOptions = {}): Promise<void> {
    await this.enter('createSnapshot', { id });
    this.check('createSnapshot');
    this.checkId(id, 'createSnapshot');
    this.checkId(originId, 'createSnapshot');
    if (options.check) options.check(this.currentStatus());
    if (this.blocks.thins.has(id)) throw fail('EEXIST', 'createSnapshot', `thin id ${id} exists`, this.name);
    if (!this.blocks.thins.has(originId)) throw fail('ENODATA', 'createSnapshot', `origin thin id ${originId} does not exist`, this.name);
    this.ensureMetadataSpace('createSnapshot');
    // The real pool suspends an active origin around the message; the state after is the same.
    this.blocks.snapshot(id, originId);
    this.persist();
  }

  async snapshotAndActivate(spec: ThinActivation, originId: ThinId, options: ThinCreateOptions = {}): Promise<ThinDeviceApi> {
    await this.createSnapshot(spec.id, originId, options);
    try {
      return await this.activate(spec);
    } catch (e) {
      await this.deleteThin(spec.id).catch(() => undefined);
      throw e;
    }
  }

  async deleteThin(id: ThinId): Promise<void> {
    await this.enter('deleteThin', { id });
    this.check('deleteThin');
    this.checkId(id, 'deleteThin');
    if (!this.blocks.thins.has(id)) throw fail('ENODATA', 'deleteThin', `thin id ${id} does not exist`, this.name);
    if (this.activeNamesOf(id).length > 0) throw fail('EBUSY', 'deleteThin', `thin id ${id} is active`, this.name);
    this.blocks.delete(id);
    this.persist();
  }

  device(spec: ThinActivation): ThinDeviceApi {
    return new SimulatedThinDevice(this, spec.id, spec.name, spec.sizeBytes);
  }

  async activate(spec: ThinActivation): Promise<ThinDeviceApi> {
    await this.enter('activate', { device: spec.name, id: spec.id });
    this.check('activate');
    this.checkId(spec.id, 'activate');
    const problem = deviceNameProblem(spec.name);
    if (problem) throw fail('EINVAL', 'activate', problem, spec.name);
    if (!Number.isSafeInteger(spec.sizeBytes) || spec.sizeBytes <= 0 || spec.sizeBytes % 512 !== 0) {
      throw fail('EINVAL', 'activate', 'the size must be a positive whole number of 512-byte sectors', spec.name);
    }
    const existing = this.activations.get(spec.name);
    if (existing) {
      if (existing.id !== spec.id) throw fail('EBUSY', 'activate', `the name is taken by thin id ${existing.id}`, spec.name);
      return this.device(spec);
    }
    if (!this.blocks.thins.has(spec.id)) throw fail('ENODATA', 'activate', `thin id ${spec.id} does not exist`, spec.name);
    this.activations.set(spec.name, {
      id: spec.id,
      sizeBytes: spec.sizeBytes,
      readOnly: spec.readOnly ?? false,
      suspended: false,
      openCount: 0,
      deferredRemove: false,
    });
    this.persist();
    return this.device(spec);
  }

  async thinIds(): Promise<ThinId[]> {
    await this.enter('thinIds');
    this.check('thinIds');
    return [...this.blocks.thins.keys()].sort((a, b) => a - b);
  }

  async transactionId(): Promise<number> {
    await this.enter('transactionId');
    this.check('transactionId');
    return this.txid;
  }

  async setTransactionId(expected: number, next: number): Promise<void> {
    await this.enter('setTransactionId');
    this.check('setTransactionId');
    if (expected !== this.txid) {
      throw fail('EINVAL', 'setTransactionId', `transaction id is ${this.txid}, not the expected ${expected}`, this.name);
    }
    this.txid = next;
    this.persist();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.persist();
    this.closed = true;
  }

  /** Same as {@link SimulatedThinPool.close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- used by the device handles ----

  /** @internal Waits the call's simulated latency, then throws its injected fault, if any. */
  async enter(op: SimulatedOperation, target: { device?: string; id?: number } = {}): Promise<void> {
    if (this.faults.active) await this.faults.enter(op, target);
  }

  /** @internal Cancels a pending deferred removal; a no-op when none is pending. */
  cancelDeferredRemoval(name: string): void {
    this.check('cancelDeferredRemoval');
    const activation = this.activations.get(name);
    if (!activation || !activation.deferredRemove) return;
    activation.deferredRemove = false;
    this.persist();
  }

  /** @internal The activation under `name`, if any. */
  activationOf(name: string): Readonly<Activation> | undefined {
    return this.activations.get(name);
  }

  /** @internal The activation under `name`, or ENXIO. */
  requireActivation(name: string, op: string): Activation {
    this.check(op);
    const activation = this.activations.get(name);
    if (!activation) throw fail('ENXIO', op, 'no such device', name);
    return activation;
  }

  /**
   * @internal Like the real device: a device still open fails with EBUSY
   * when `deferred` is false, else is removed deferred (on the last close).
   */
  deactivateName(name: string, deferred: boolean | undefined): void {
    this.check('deactivate');
    const activation = this.activations.get(name);
    if (!activation) return;
    if (activation.openCount > 0) {
      if (deferred === false) throw fail('EBUSY', 'deactivate', `device is open ${activation.openCount} time(s)`, name);
      activation.deferredRemove = true;
    } else {
      this.activations.delete(name);
    }
    this.persist();
  }

  /** @internal A no-op when inactive or already in the state, like the real device. */
  setSuspended(name: string, suspended: boolean): void {
    this.check(suspended ? 'suspend' : 'resume');
    const activation = this.activations.get(name);
    if (!activation || activation.suspended === suspended) return;
    activation.suspended = suspended;
    this.persist();
  }

  /** @internal */
  deviceStatus(name: string): ThinDeviceStatus {
    const activation = this.requireActivation(name, 'status');
    const mappings = this.blocks.thins.get(activation.id);
    if (!mappings || mappings.size === 0) return { mappedBytes: 0, highestMappedSector: null };
    let highest = 0;
    for (const vb of mappings.keys()) highest = Math.max(highest, vb);
    return {
      mappedBytes: mappings.size * this.dataBlockSizeBytes,
      highestMappedSector: ((highest + 1) * this.dataBlockSizeBytes) / 512 - 1,
    };
  }

  /** @internal */
  growActivation(name: string, sizeBytes: number): void {
    const activation = this.requireActivation(name, 'grow');
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes % 512 !== 0 || sizeBytes < activation.sizeBytes) {
      throw fail('EINVAL', 'grow', 'the new size must be a whole number of sectors, not smaller than the current one', name);
    }
    activation.sizeBytes = sizeBytes;
    this.persist();
  }

  // ---- simulation controls ----

  private blockRange(offsetBytes: number, lengthBytes: number, op: string): [number, number] | undefined {
    if (!Number.isSafeInteger(offsetBytes) || !Number.isSafeInteger(lengthBytes) || offsetBytes < 0 || lengthBytes < 0) {
      throw fail('EINVAL', op, 'offset and length must be non-negative integers');
    }
    if (lengthBytes === 0) return undefined;
    const first = Math.floor(offsetBytes / this.dataBlockSizeBytes);
    const last = Math.floor((offsetBytes + lengthBytes - 1) / this.dataBlockSizeBytes);
    return [first, last];
  }

  /**
   * Simulates a write of `lengthBytes` at `offsetBytes` to thin id `id`
   * through one of its activations: unmapped blocks get data blocks, blocks
   * shared with an origin or a snapshot are copied first.
   *
   * @throws DeviceMapperError 'ENXIO' when the id is not active, 'EROFS' when only read-only,
   *   'EBUSY' while suspended, 'EINVAL' past the device's end, 'ENOSPC' when the pool is full.
   */
  simulateWrite(id: ThinId, offsetBytes: number, lengthBytes: number): void {
    this.check('simulateWrite');
    const names = this.activeNamesOf(id);
    if (names.length === 0) throw fail('ENXIO', 'simulateWrite', `thin id ${id} is not active`);
    const activations = names.map((n) => this.activations.get(n)).filter((a): a is Activation => a !== undefined);
    const writable = activations.find((a) => !a.readOnly);
    if (!writable) throw fail('EROFS', 'simulateWrite', `thin id ${id} is active read-only`);
    if (writable.suspended) throw fail('EBUSY', 'simulateWrite', `thin id ${id} is suspended`);
    if (offsetBytes + lengthBytes > writable.sizeBytes) throw fail('EINVAL', 'simulateWrite', 'the write goes past the end of the device');
    const range = this.blockRange(offsetBytes, lengthBytes, 'simulateWrite');
    if (!range) return;
    try {
      this.blocks.write(id, range[0], range[1]);
    } catch (e) {
      if (e instanceof OutOfDataSpace) throw fail('ENOSPC', 'simulateWrite', 'the pool is out of data space', this.name);
      throw e;
    } finally {
      this.persist();
    }
  }

  /** {@link simulateWrite} through the device at `devicePath` (a `/dev/mapper/<name>` path this pool handed out). */
  simulateWriteToPath(devicePath: string, offsetBytes: number, lengthBytes: number): void {
    const name = devicePath.startsWith('/dev/mapper/') ? devicePath.slice('/dev/mapper/'.length) : devicePath;
    const activation = this.requireActivation(name, 'simulateWrite');
    this.simulateWrite(activation.id, offsetBytes, lengthBytes);
  }

  /** Simulates a discard: unmaps whole data blocks in the range (the pool gets them back when no one else maps them). */
  simulateDiscard(id: ThinId, offsetBytes: number, lengthBytes: number): void {
    this.check('simulateDiscard');
    const range = this.blockRange(offsetBytes, lengthBytes, 'simulateDiscard');
    if (!range) return;
    this.blocks.discard(id, range[0], range[1]);
    this.persist();
  }

  /**
   * Simulates a holder of the device `name` (a mount, an open file
   * descriptor), as the kernel counts them: until the last
   * {@link simulateClose}, a deactivation with `deferred: false` fails with
   * EBUSY, and any other leaves the device active with a deferred removal pending.
   */
  simulateOpen(name: string): void {
    this.requireActivation(name, 'simulateOpen').openCount++;
    this.persist();
  }

  /** Drops a holder; a deferred removal happens when the last one goes. */
  simulateClose(name: string): void {
    const activation = this.requireActivation(name, 'simulateClose');
    activation.openCount = Math.max(0, activation.openCount - 1);
    if (activation.openCount === 0 && activation.deferredRemove) this.activations.delete(name);
    this.persist();
  }

  /** Simulates a reboot: every activation (and suspension, and holder) is gone; thin ids and blocks stay. */
  simulateReboot(): void {
    this.activations.clear();
    this.persist();
  }

  /** The names of every active device, with their thin id and state (for assertions). */
  activeDevices(): Array<{
    /** The device-mapper name. */
    name: string;
    /** The thin id. */
    id: ThinId;
    /** Whether it is active read-only. */
    readOnly: boolean;
    /** Whether it is suspended. */
    suspended: boolean;
    /** The virtual size in bytes. */
    sizeBytes: number;
    /** Simulated holders ({@link simulateOpen}). */
    openCount: number;
    /** Whether a deferred removal is pending (it happens on the last {@link simulateClose}). */
    deferredRemove: boolean;
  }> {
    return [...this.activations].map(([name, a]) => ({
      name,
      id: a.id,
      readOnly: a.readOnly,
      suspended: a.suspended,
      sizeBytes: a.sizeBytes,
      openCount: a.openCount,
      deferredRemove: a.deferredRemove,
    }));
  }

  /**
   * A digest of what thin id `id` holds: it changes when data the id maps is
   * written or discarded, never when another id (a snapshot, its origin)
   * writes its own copy of a shared block. For checks that a snapshot's data
   * is unchanged; undefined when the id does not exist. Comparable within
   * one process only.
   */
  contentDigest(id: ThinId): string | undefined {
    return this.blocks.digest(id);
  }

  /** The bytes thin id `id` maps (shared blocks included), whether active or not. */
  mappedBytes(id: ThinId): number {
    return (this.blocks.thins.get(id)?.size ?? 0) * this.dataBlockSizeBytes;
  }
}
