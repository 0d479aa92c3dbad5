/**
 * A containerd-style snapshotter on a device-mapper thin pool: every
 * snapshot is a thin device, a child is a thin snapshot of its committed
 * parent, and a parentless one is a thin snapshot of one formatted base
 * device. Semantics follow containerd's snapshotter API (keys unique across
 * kinds, commit only active snapshots, parents must be committed, remove
 * refuses parents, update changes labels only).
 */
import { isDeviceMapperError } from '../dm/errors.js';
import type { ThinPoolApi } from '../thin/types.js';
import { baseSpec, ensureBase } from './base-device.js';
import { activation, deviceHandle, deviceName, stagePoolRecord, type SnapshotterCore } from './core.js';
import { crashPoint, isSimulatedCrash } from './crash-points.js';
import { createDevice, destroyDevice, rollbackDevice } from './device-lifecycle.js';
import { markRemoved, releaseDevice } from './device-release.js';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  UnavailableError,
} from './errors.js';
import { compileFilters } from './filters.js';
import { getFormatter } from './formatters/index.js';
import { checkLabelsSize, validateKey, validateLabel, validateLabels } from './labels.js';
import { IdClaims } from './id-claims.js';
import { registerCore } from './introspection.js';
import { KeyLocks, Mutex, type LockMode } from './locks.js';
import { Metastore } from './metastore.js';
import { collectMetrics, type SnapshotterMetrics } from './metrics.js';
import { resolveOptions, type ResolvedOptions, type SnapshotterOptions } from './options.js';
import { typedPoolError } from './pool-errors.js';
import { PoolTransactions } from './pool-transactions.js';
import { resolvePoolByName } from './pool-resolver.js';
import { reconcile, type ReconcileReport } from './reconcile.js';
import { keys, type DeviceRecord, type SnapshotRecord } from './records.js';
import { formatterOf, growSnapshot } from './snapshot-grow.js';
import { checkMinimumSize, chooseSize, labelsWithSize, MAX_SIZE_LABEL, requestedSize } from './snapshot-size.js';
import { parseSize, roundUpToSector, type SizeInput } from './sizes.js';
import type { Info, InfoUpdate, Kind, Mount, SnapshotOptions, Usage } from './types.js';

function toInfo(name: string, record: SnapshotRecord): Info {
  const info: Info = {
    name,
    kind: record.kind,
    labels: { ...record.labels },
    created: new Date(record.created),
    updated: new Date(record.updated),
  };
  if (record.parent !== undefined) info.parent = record.parent;
  return info;
}

/**
 * A thin-provisioned snapshotter. Open with {@link Snapshotter.open}.
 *
 * Every call raises the pool's health and space failures as snapshotter
 * errors, with the DeviceMapperError as `cause`: UnavailableError while the
 * pool is read-only, failed or needs a check; FailedPreconditionError when
 * it is out of space or below its free-space minimum.
 */
export class Snapshotter implements AsyncDisposable {
  /** What reconciliation found and repaired when this instance opened. */
  readonly reconcileReport: ReconcileReport;

  private readonly core: SnapshotterCore;
  private readonly locks = new KeyLocks();
  private readonly baseLock = new Mutex();
  private readonly cleanupLock = new Mutex();
  private readonly running = new Set<Promise<unknown>>();
  private closing: Promise<void> | undefined;
  private unhealthy: UnavailableError | undefined;

  private constructor(
    core: SnapshotterCore,
    report: ReconcileReport,
    private readonly ownsPool: boolean,
  ) {
    this.core = core;
    this.reconcileReport = report;
    registerCore(this, core);
  }

  /**
   * Opens the snapshotter: validates options, opens (or creates) the
   * metastore in `rootPath`, checks it belongs to this pool, and reconciles
   * it with the pool (see {@link ReconcileReport}).
   *
   * @throws InvalidArgumentError for bad options or a metastore of another pool.
   * @throws UnavailableError when the metastore is locked by another process, has a newer
   *   schema, or the pool's transaction id is behind the metastore's (the pool is not the
   *   one the metastore describes, or its metadata was rolled back).
   */
  static async open(options: SnapshotterOptions): Promise<Snapshotter> {
    const resolved: ResolvedOptions = resolveOptions(options);
    let pool: ThinPoolApi;
    let ownsPool = false;
    if (options.pool) {
      pool = options.pool;
      if (options.poolName !== undefined && options.poolName !== pool.name) {
        throw new InvalidArgumentError(`poolName ${JSON.stringify(options.poolName)} does not match pool ${JSON.stringify(pool.name)}`);
      }
    } else if (options.poolName) {
      pool = await (options.resolvePool ?? resolvePoolByName)(options.poolName);
      ownsPool = true;
    } else {
      throw new InvalidArgumentError('pool (or poolName) is required');
    }
    let store: Metastore | undefined;
    try {
      store = await Metastore.open(resolved.rootPath);
      const recorded = await store.pool();
      const transactionId = await pool.transactionId();
      if (recorded && recorded.name !== pool.name) {
        throw new InvalidArgumentError(`the metastore in ${resolved.rootPath} belongs to pool ${JSON.stringify(recorded.name)}, not ${JSON.stringify(pool.name)}`);
      }
      if (recorded && transactionId < recorded.transactionId) {
        throw new UnavailableError(
          `pool ${pool.name} has transaction id ${transactionId}, below the metastore's ${recorded.transactionId}: ` +
            'the pool is not the one this metastore describes, or its metadata was rolled back',
        );
      }
      let snapshotter: Snapshotter | undefined;
      const core: SnapshotterCore = {
        store,
        pool,
        options: resolved,
        claims: new IdClaims(),
        heldOrigins: new Set(),
        poolTx: new PoolTransactions(pool, transactionId, (error) => {
          if (snapshotter) snapshotter.unhealthy = error;
        }),
      };
      const report = await reconcile(core);
      snapshotter = new Snapshotter(core, report, ownsPool);
      return snapshotter;
    } catch (e) {
      await store?.close();
      if (ownsPool) await pool.close();
      throw await typedPoolError(e, pool);
    }
  }

  /** Whether close() has been called. */
  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** The pool this snapshotter uses. */
  get pool(): ThinPoolApi {
    return this.core.pool;
  }

  /**
   * The figures an operator watches: pool space, health and transaction id,
   * snapshots by kind, devices pending removal or left over, udev counters.
   * Reads only; works while the pool is unhealthy.
   *
   * @throws UnavailableError once closed.
   */
  async metrics(): Promise<SnapshotterMetrics> {
    if (this.closing) throw new UnavailableError('the snapshotter is closed');
    return collectMetrics(this.core, this.unhealthy);
  }

  // Tracks a running operation so close() can wait for it; refuses new ones once closing.
  private run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closing) return Promise.reject(new UnavailableError('the snapshotter is closed'));
    if (this.unhealthy) return Promise.reject(new UnavailableError(this.unhealthy.message, { cause: this.unhealthy }));
    // Pool health and space failures reach callers as SnapshotterErrors, the DeviceMapperError as cause.
    const promise = fn().catch(async (e: unknown) => {
      throw await typedPoolError(e, this.core.pool);
    });
    this.running.add(promise);
    const forget = (): void => {
      this.running.delete(promise);
    };
    promise.then(forget, forget);
    return promise;
  }

  private withLocks<T>(wanted: Array<readonly [string, LockMode]>, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(wanted, fn);
  }

  private async record(key: string): Promise<SnapshotRecord> {
    const record = await this.core.store.snapshot(key);
    if (!record) throw new NotFoundError(`snapshot ${JSON.stringify(key)} does not exist`);
    return record;
  }

  private async deviceRecord(snapshot: SnapshotRecord): Promise<DeviceRecord> {
    const device = await this.core.store.device(snapshot.deviceId);
    if (!device) throw new FailedPreconditionError(`the device record of thin id ${snapshot.deviceId} is missing`);
    return device;
  }

  private mountsOf(record: SnapshotRecord): Mount[] {
    const formatter = getFormatter(record.fsType);
    if (!formatter) {
      throw new FailedPreconditionError(`the snapshot's filesystem ${JSON.stringify(record.fsType)} has no registered formatter`);
    }
    const device = deviceHandle(this.core, { id: record.deviceId, name: deviceName(this.core.pool.name, record.deviceId), sizeBytes: record.sizeBytes });
    return [
      {
        type: formatter.mountType,
        source: device.path,
        options: [...formatter.mountOptions(record.kind === 'view'), ...this.core.options.mountOptions],
      },
    ];
  }

  private createSnapshot(kind: Exclude<Kind, 'committed'>, key: string, parent: string | undefined, options: SnapshotOptions | undefined): Promise<Mount[]> {
    return this.run(async () => {
      validateKey(key);
      const parentKey = parent === '' ? undefined : parent;
      if (parentKey !== undefined) validateKey(parentKey, 'parent');
      const labels = validateLabels(options?.labels);
      const requested = requestedSize(labels);
      const wanted: Array<readonly [string, LockMode]> = [[key, 'write']];
      if (parentKey !== undefined) wanted.push([parentKey, 'read']);
      return this.withLocks(wanted, () => this.createLocked(kind, key, parentKey, labels, requested));
    });
  }

  private async createLocked(
    kind: Exclude<Kind, 'committed'>,
    key: string,
    parent: string | undefined,
    labels: Record<string, string>,
    requested: number | undefined,
  ): Promise<Mount[]> {
    const { store, options } = this.core;
    const [existing, p] = await store.snapshotsOf(parent === undefined ? [key] : [key, parent]);
    if (existing) throw new AlreadyExistsError(`snapshot ${JSON.stringify(key)} already exists`);
    if (parent !== undefined) {
      if (!p) throw new NotFoundError(`parent snapshot ${JSON.stringify(parent)} does not exist`);
      // containerd answers InvalidArgument here too.
      if (p.kind !== 'committed') throw new InvalidArgumentError(`parent ${JSON.stringify(parent)} is not a committed snapshot`);
    }
    // The size is checked before anything changes (a parentless snapshot's origin is the base of the current options).
    const formatter = formatterOf(p?.fsType ?? options.formatter.name);
    const sizeBytes = chooseSize({
      requested,
      originBytes: p?.sizeBytes ?? options.baseImageSizeBytes,
      fromParent: p !== undefined,
      defaultBytes: options.defaultSnapshotSizeBytes,
      formatter,
    });
    let origin: { deviceId: number; fsType: string; sizeBytes: number; inheritedBytes: number };
    if (p) {
      origin = { deviceId: p.deviceId, fsType: p.fsType, sizeBytes: p.sizeBytes, inheritedBytes: p.mappedBytes ?? 0 };
    } else {
      const base = await this.baseLock.run(() => ensureBase(this.core));
      origin = { deviceId: base.deviceId, fsType: base.fsType, sizeBytes: base.sizeBytes, inheritedBytes: base.mappedBytes };
    }

    const phase = kind === 'active' ? 'prepare' : 'view';
    // A larger snapshot is activated at its size at once; its filesystem is grown before it is recorded.
    const { record: device, device: handle } = await createDevice(this.core, { phase, originId: origin.deviceId, sizeBytes, snapshot: key });
    try {
      if (sizeBytes > origin.sizeBytes) {
        await formatter.grow?.(handle.path, sizeBytes);
        crashPoint(`${phase}:after-grow`);
      }
      const now = new Date().toISOString();
      const snapshot: SnapshotRecord = {
        kind,
        labels: labelsWithSize(labels, sizeBytes, options.baseImageSizeBytes, requested !== undefined),
        created: now,
        updated: now,
        deviceId: device.id,
        fsType: origin.fsType,
        sizeBytes,
        inheritedBytes: origin.inheritedBytes,
      };
      if (parent !== undefined) snapshot.parent = parent;
      await store.transaction(async (tx) => {
        tx.put(keys.device(device.id), { ...device, state: 'ready' } satisfies DeviceRecord);
        tx.put(keys.snapshot(key), snapshot);
        if (parent !== undefined) tx.put(keys.child(parent, key), true);
        stagePoolRecord(this.core, tx);
      });
      crashPoint(`${phase}:after-record`);
      return this.mountsOf(snapshot);
    } catch (e) {
      if (isSimulatedCrash(e)) throw e;
      if (!(await store.snapshot(key))) await rollbackDevice(this.core, device, true).catch(() => undefined);
      throw e;
    } finally {
      this.core.claims.release(device.id);
    }
  }

  /**
   * Creates an active (writable) snapshot `key` on top of the committed
   * `parent` (or on an empty filesystem) and returns how to mount it.
   *
   * Its size: the `containerd.io/snapshot/max-size` label (bytes, a decimal
   * integer) when given, else the larger of the parent's size (the base
   * size without parent) and `defaultSnapshotSize`. A larger size gets a
   * larger thin device whose filesystem is grown to fill it (the formatter's
   * `grow`); the label then records the size, so stat shows it. Only the
   * pool's free space is checked, never the size: a snapshot may be larger
   * than the pool's free space (thin provisioning).
   *
   * @throws AlreadyExistsError when `key` is taken by any snapshot.
   * @throws NotFoundError when `parent` does not exist.
   * @throws InvalidArgumentError when `parent` is not committed, for a bad key or label, or for a
   *   size below the parent's, the base size or the filesystem's minimum.
   * @throws FailedPreconditionError when the pool's free space is below `minFreeSpace` or the pool's own minimum.
   * @throws UnavailableError when the pool is read-only, failed or needs a check.
   */
  prepare(key: string, parent?: string, options?: SnapshotOptions): Promise<Mount[]> {
    return this.createSnapshot('active', key, parent, options);
  }

  /**
   * Creates a read-only view `key` of the committed `parent` (or of an
   * empty filesystem); its mounts carry 'ro'. (The device itself is
   * writable so that a filesystem journal can be replayed on mount.) Sized
   * like {@link prepare}.
   *
   * @throws Like {@link prepare}.
   */
  view(key: string, parent?: string, options?: SnapshotOptions): Promise<Mount[]> {
    return this.createSnapshot('view', key, parent, options);
  }

  /**
   * Grows the active snapshot `key` to `size` (bytes or a size string such
   * as "20G", rounded up to whole sectors): records the intent, reloads its
   * device with the larger size, grows its filesystem (online when it is
   * mounted), then records the size (and the `containerd.io/snapshot/max-size`
   * label). A crash partway is finished by the next open. The same size is
   * a no-op; shrinking is refused.
   *
   * @throws NotFoundError when `key` does not exist.
   * @throws FailedPreconditionError when `key` is not active, or the pool's free space is below `minFreeSpace`.
   * @throws InvalidArgumentError for a malformed size, one below the current size or the filesystem's minimum.
   */
  resize(key: string, size: SizeInput): Promise<Info> {
    return this.run(async () => {
      validateKey(key);
      const target = roundUpToSector(parseSize(size, 'size'));
      return this.withLocks([[key, 'write']], async () => {
        const record = await this.record(key);
        if (record.kind !== 'active') throw new FailedPreconditionError(`snapshot ${JSON.stringify(key)} is not active: only active snapshots can be resized`);
        const device = await this.deviceRecord(record);
        if (target < record.sizeBytes) {
          throw new InvalidArgumentError(`size: ${target} bytes is below snapshot ${JSON.stringify(key)}'s size, ${record.sizeBytes} bytes: shrinking is not supported`);
        }
        // An earlier resize that failed partway is finished by the same steps.
        if (target === record.sizeBytes && device.state !== 'growing') return toInfo(key, record);
        checkMinimumSize(formatterOf(record.fsType), target, 'size');
        return toInfo(key, await growSnapshot(this.core, key, record, device, Math.max(target, device.growToBytes ?? 0)));
      });
    });
  }

  /**
   * The mounts of an active snapshot or a view.
   *
   * @throws NotFoundError when `key` does not exist.
   * @throws FailedPreconditionError when `key` is committed.
   */
  mounts(key: string): Promise<Mount[]> {
    return this.run(async () => {
      validateKey(key);
      return this.withLocks([[key, 'read']], async () => {
        const record = await this.record(key);
        if (record.kind === 'committed') throw new FailedPreconditionError(`snapshot ${JSON.stringify(key)} is committed: it has no mounts`);
        return this.mountsOf(record);
      });
    });
  }

  /**
   * Commits the active snapshot `key` as `name` (keeping its size, and its
   * size label when it has one): flushes its device when
   * something holds it open (suspend, then resume: resuming before
   * deactivating avoids containerd issue 4234's hang), stores its usage,
   * renames the record, then deactivates the device (deferred while it is
   * held open). The record is durable before the device is let go, so a
   * failed write or a crash leaves the active snapshot with its device. The
   * committed snapshot takes `options.labels` (labels of the active snapshot
   * are not inherited, as in containerd).
   *
   * @throws NotFoundError when `key` does not exist.
   * @throws FailedPreconditionError when `key` is not active.
   * @throws AlreadyExistsError when `name` is taken.
   */
  commit(name: string, key: string, options?: SnapshotOptions): Promise<void> {
    return this.run(async () => {
      validateKey(name, 'name');
      validateKey(key);
      const labels = validateLabels(options?.labels);
      await this.withLocks([[key, 'write'], [name, 'write']], async () => {
        const { store } = this.core;
        const record = await this.record(key);
        if (record.kind !== 'active') throw new FailedPreconditionError(`snapshot ${JSON.stringify(key)} is not active`);
        if (await store.snapshot(name)) throw new AlreadyExistsError(`snapshot ${JSON.stringify(name)} already exists`);
        const deviceRec = await this.deviceRecord(record);
        if (deviceRec.state === 'growing') throw new FailedPreconditionError(`snapshot ${JSON.stringify(key)} has a resize that did not finish: resize it again first`);
        const device = deviceHandle(this.core, deviceRec);
        // Suspending flushes in-flight I/O (and freezes a mounted filesystem);
        // a device nobody holds open has none, so the pair is skipped.
        const held = await device.isOpen();
        if (held) await device.suspend();
        crashPoint('commit:after-suspend');
        if (held) await device.resume();
        crashPoint('commit:after-resume');
        const { mappedBytes } = await device.status();
        const now = new Date().toISOString();
        const committed: SnapshotRecord = {
          ...record,
          kind: 'committed',
          // The caller's labels, plus the size label the snapshot carried (its size is the children's).
          labels: labelsWithSize(labels, record.sizeBytes, this.core.options.baseImageSizeBytes, Object.hasOwn(record.labels, MAX_SIZE_LABEL)),
          created: now,
          updated: now,
          mappedBytes,
          usage: { size: Math.max(0, mappedBytes - record.inheritedBytes), inodes: 0 },
        };
        await store.transaction(async (tx) => {
          tx.del(keys.snapshot(key));
          tx.put(keys.snapshot(name), committed);
          if (record.parent !== undefined) {
            tx.del(keys.child(record.parent, key));
            tx.put(keys.child(record.parent, name), true);
          }
          tx.put(keys.device(deviceRec.id), { ...deviceRec, snapshot: name } satisfies DeviceRecord);
        });
        crashPoint('commit:after-record');
        // Committed: the device is only needed again as a child's origin. A
        // failure here leaves it active, which the next open (reconcile) undoes.
        try {
          await device.deactivate({ deferred: true });
          if (held) this.core.heldOrigins.add(deviceRec.id);
        } catch (e) {
          if (isSimulatedCrash(e)) throw e;
          if (held || (await device.isActive().catch(() => true))) this.core.heldOrigins.add(deviceRec.id);
        }
        crashPoint('commit:after-deactivate');
      });
    });
  }

  /**
   * Removes a snapshot. Its device is deactivated first, then the record
   * goes, then the thin id is deleted (discarded first with
   * `discardBlocks`). A device still held open (mounted, in this or another
   * mount namespace, or open in some process) is retried a bounded number of
   * times (10 × 50 ms), then handed to the kernel as a deferred removal: the
   * snapshot is removed at once (its key is free again) and the kernel
   * removes the device when its last holder closes it; the thin id stays in
   * the pool until a cleanup() after that. With `asyncRemove` the device is
   * only marked and cleanup() deletes it. A deletion that fails after the
   * record is gone is retried by cleanup() and at the next open.
   *
   * @throws NotFoundError when `key` does not exist.
   * @throws FailedPreconditionError when it has children, or when its device cannot be
   *   deactivated (EPERM, EINVAL, ENOMEM...: the DeviceMapperError is the `cause`); the snapshot stays.
   */
  remove(key: string): Promise<void> {
    return this.run(async () => {
      validateKey(key);
      await this.withLocks([[key, 'write']], async () => {
        const { store } = this.core;
        const record = await this.record(key);
        // Only committed snapshots can be parents: the index is searched for them alone.
        if (record.kind === 'committed' && (await store.hasChildren(key))) throw new FailedPreconditionError(`snapshot ${JSON.stringify(key)} has children: remove them first`);
        // The claim keeps cleanup() off the device while its record passes through `removing`/`removed`.
        await this.core.claims.with(record.deviceId, () => this.removeLocked(key, record));
      });
    });
  }

  private async removeLocked(key: string, record: SnapshotRecord): Promise<void> {
    const { store } = this.core;
    const deviceRec = await this.deviceRecord(record);
    const dropRecord = (state: 'removing' | 'removed') =>
      store.transaction(async (tx) => {
        tx.del(keys.snapshot(key));
        if (record.parent !== undefined) tx.del(keys.child(record.parent, key));
        const { snapshot: _owner, ...rest } = deviceRec;
        tx.put(keys.device(deviceRec.id), { ...rest, state } satisfies DeviceRecord);
      });
    if (this.core.options.asyncRemove) {
      await dropRecord('removed');
      crashPoint('remove:after-mark-removed');
      return;
    }
    let marked = false;
    const released = await releaseDevice(
      this.core,
      deviceRec,
      async () => {
        await dropRecord('removed');
        marked = true;
      },
      { afterMark: 'remove:after-mark-busy', afterDefer: 'remove:after-defer' },
    ).catch(async (e: unknown) => {
      // Once the record is gone the snapshot is removed; cleanup() retries the deferred removal.
      if (isSimulatedCrash(e)) throw e;
      if (marked) return false;
      throw await this.deviceFailure(key, e);
    });
    // Still held open: the kernel removes the device on its last close, cleanup() deletes the id.
    if (!released) return;
    crashPoint('remove:after-deactivate');
    try {
      await dropRecord('removing');
    } catch (e) {
      // The snapshot stays: an active one or a view gets its device back.
      if (record.kind !== 'committed') await this.core.pool.activate(activation(deviceRec)).catch(() => undefined);
      throw e;
    }
    crashPoint('remove:after-record');
    await destroyDevice(this.core, { ...deviceRec, state: 'removing' }, 'remove', { released: true }).catch((e: unknown) => {
      if (isSimulatedCrash(e)) throw e;
      // The snapshot is gone; cleanup() or the next open deletes the device.
    });
  }

  // A device that cannot be let go keeps its snapshot: FailedPrecondition, as
  // containerd's devmapper answers, so that its garbage collector carries on
  // with other snapshots (pool health and space failures keep their own type).
  private async deviceFailure(key: string, e: unknown): Promise<unknown> {
    const typed = await typedPoolError(e, this.core.pool);
    if (!isDeviceMapperError(typed)) return typed;
    return new FailedPreconditionError(`snapshot ${JSON.stringify(key)}: its device cannot be released: ${typed.message}`, { cause: typed });
  }

  /**
   * The metadata of a snapshot of any kind.
   *
   * @throws NotFoundError when `key` does not exist.
   */
  stat(key: string): Promise<Info> {
    return this.run(async () => {
      validateKey(key);
      return toInfo(key, await this.record(key));
    });
  }

  /**
   * Updates a snapshot's labels, containerd's way: without field paths the
   * labels are replaced; 'labels' replaces them too; 'labels.KEY' sets (or,
   * with a missing or empty value, deletes) one label. Any other field path
   * (parent, kind, name, ...) is refused. `updated` is set to now.
   *
   * @throws NotFoundError when `info.name` does not exist.
   * @throws InvalidArgumentError for another field path or a bad label.
   */
  update(info: InfoUpdate, ...fieldpaths: string[]): Promise<Info> {
    return this.run(async () => {
      if (typeof info !== 'object' || info === null) throw new InvalidArgumentError('update needs an info object');
      validateKey(info.name, 'name');
      const name = info.name;
      const given = validateLabelsLoosely(info.labels);
      for (const path of fieldpaths) {
        if (typeof path !== 'string') throw new InvalidArgumentError('field paths must be strings');
        if (path === 'labels') continue;
        if (path.startsWith('labels.') && path.length > 'labels.'.length) continue;
        throw new InvalidArgumentError(`cannot update ${JSON.stringify(path)} field on snapshot ${JSON.stringify(name)}`);
      }
      return this.withLocks([[name, 'write']], async () => {
        const record = await this.record(name);
        let labels: Record<string, string> = { ...record.labels };
        if (fieldpaths.length === 0) labels = validateLabels(given);
        for (const path of fieldpaths) {
          if (path === 'labels') {
            labels = validateLabels(given);
            continue;
          }
          const labelKey = path.slice('labels.'.length);
          const value = Object.hasOwn(given, labelKey) ? (given[labelKey] ?? '') : '';
          validateLabel(labelKey, value);
          if (value === '') delete labels[labelKey];
          else Object.defineProperty(labels, labelKey, { value, enumerable: true, writable: true, configurable: true });
        }
        checkLabelsSize(labels);
        const updated: SnapshotRecord = { ...record, labels, updated: new Date().toISOString() };
        await this.core.store.transaction(async (tx) => {
          tx.put(keys.snapshot(name), updated);
        });
        return toInfo(name, updated);
      });
    });
  }

  /**
   * The space a snapshot uses without its parent's share: for active
   * snapshots and views, what its device maps now minus what its origin
   * mapped when it was made; for committed ones, the same figure stored at
   * commit. Floored at 0. Overwrites of inherited blocks do not change the
   * mapped count, so they do not show. `inodes` is 0 (unknown).
   *
   * @throws NotFoundError when `key` does not exist.
   */
  usage(key: string): Promise<Usage> {
    return this.run(async () => {
      validateKey(key);
      return this.withLocks([[key, 'read']], async () => {
        const record = await this.record(key);
        if (record.kind === 'committed') return { size: record.usage?.size ?? 0, inodes: record.usage?.inodes ?? 0 };
        const { mappedBytes } = await deviceHandle(this.core, await this.deviceRecord(record)).status();
        return { size: Math.max(0, mappedBytes - record.inheritedBytes), inodes: 0 };
      });
    });
  }

  /**
   * Every snapshot matching any of `filters` (containerd syntax, see
   * filters.ts; none: every snapshot), from one consistent read of the
   * metastore.
   *
   * @throws InvalidArgumentError (on the first iteration) for a malformed filter.
   */
  async *walk(...filters: string[]): AsyncGenerator<Info, void, undefined> {
    const matches = compileFilters(filters);
    const snapshots = await this.run(async () => {
      const all: Info[] = [];
      for await (const [key, record] of this.core.store.snapshots()) {
        const info = toInfo(key, record);
        if (matches(info)) all.push(info);
      }
      return all;
    });
    yield* snapshots;
  }

  /**
   * Deletes devices whose snapshots are gone: those marked by async remove,
   * those removed while held open, and those an interrupted or failed
   * removal or creation left; also the base devices of earlier options. A
   * device still held open is not a failure: it gets a deferred removal
   * (after the same bounded retries as remove) and is skipped while that is
   * pending; the first call after the kernel has removed it deletes its thin id.
   *
   * @throws AggregateError listing the devices that could not be deleted (after trying all);
   *   pool health and space failures in it are SnapshotterErrors, as elsewhere.
   */
  cleanup(): Promise<void> {
    return this.run(() =>
      this.cleanupLock.run(async () => {
        const failures: unknown[] = [];
        await this.retireStaleBases();
        // The list only names candidates: each is claimed and read again before anything is done to it.
        for (const listed of await this.core.store.devices()) {
          if (!isLeftover(listed) || !this.core.claims.tryClaim(listed.id)) continue;
          try {
            await this.cleanupDevice(listed.id);
          } catch (e) {
            if (isSimulatedCrash(e)) throw e;
            failures.push(await typedPoolError(e, this.core.pool));
          } finally {
            this.core.claims.release(listed.id);
          }
        }
        if (failures.length > 0) throw new AggregateError(failures, `cleanup: ${failures.length} device(s) could not be deleted`);
      }),
    );
  }

  // Deletes the device of thin id `id` if its record, read now under the id's claim, is a leftover.
  private async cleanupDevice(id: number): Promise<void> {
    const device = await this.core.store.device(id);
    if (!device || !isLeftover(device)) return;
    const released = await releaseDevice(this.core, device, () => markRemoved(this.core, device), {
      afterDefer: 'cleanup:after-defer',
      skipIfPending: true,
    });
    // Still held open: the kernel removes it on the last close; a later call deletes the id.
    if (!released) return;
    crashPoint('cleanup:after-deactivate');
    await destroyDevice(this.core, device, 'cleanup', { released: true });
  }

  // Bases made for other options (size, filesystem, mkfs arguments) are not
  // needed by existing snapshots (a thin snapshot does not depend on its origin).
  private async retireStaleBases(): Promise<void> {
    const { store } = this.core;
    const spec = baseSpec(this.core);
    await this.baseLock.run(async () => {
      for (const base of await store.bases()) {
        if (base.spec === spec) continue;
        await this.core.claims.with(base.deviceId, async () => {
          const device = await store.device(base.deviceId);
          await store.transaction(async (tx) => {
            tx.del(keys.base(base.spec));
            if (device) tx.put(keys.device(device.id), { ...device, state: 'removing' } satisfies DeviceRecord);
          });
        });
      }
    });
  }

  /**
   * Closes the snapshotter: waits for running operations, closes the
   * metastore, and closes the pool when it was opened by name. Safe to call
   * twice; every later call on the snapshotter fails with UnavailableError.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.allSettled([...this.running]);
      await this.core.store.close();
      if (this.ownsPool) await this.core.pool.close();
    })();
    return this.closing;
  }

  /** {@link close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

// Devices whose owner is gone, or that never got one: cleanup() deletes them.
function isLeftover(device: DeviceRecord): boolean {
  return device.state === 'removed' || device.state === 'removing' || device.state === 'creating';
}

// update() reads labels from a caller's Info: accept only string values, check them when used.
function validateLabelsLoosely(labels: unknown): Record<string, string> {
  if (labels === undefined || labels === null) return {};
  if (typeof labels !== 'object' || Array.isArray(labels)) throw new InvalidArgumentError('labels must be an object');
  for (const value of Object.values(labels as Record<string, unknown>)) {
    if (typeof value !== 'string') throw new InvalidArgumentError('label values must be strings');
  }
  return labels as Record<string, string>;
}
