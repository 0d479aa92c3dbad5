/**
 * A thin typed facade over the addon's device-mapper calls. Every name, uuid,
 * table and option is checked before the addon is even loaded, so bad input
 * fails with code 'EINVAL' on any host; every addon rejection becomes a
 * {@link DeviceMapperError}.
 */
import { DeviceMapperError, describeValue, errnoOf, fromNative, invalid } from './errors.js';
import { validateDeviceName, validateUuid } from './names.js';
import { callNative, loadBinding } from './binding.js';
import type { NativeBinding, NativeInfo, NativeUdevOptions } from './native.js';
import { fromNativeRow, toNativeRow, validateTable, type TableRow } from './table.js';
import { isPoolMessage, type PoolMessage } from './targets/thin-pool.js';
import { sectors, type Sectors } from './units.js';

/** What DM_DEVICE_INFO reports about an existing device. */
export interface DeviceInfo {
  /** The device-mapper name. */
  name: string;
  /** The device-mapper uuid, or null when it has none. */
  uuid: string | null;
  /** Block device major number. */
  major: number;
  /** Block device minor number. */
  minor: number;
  /** How many holders have the device open. */
  openCount: number;
  /** The device's event counter (see {@link DeviceMapper | DeviceMapper.waitEvent}). */
  eventNr: number;
  /** Number of rows in the live table. */
  targetCount: number;
  /** The device is suspended. */
  suspended: boolean;
  /** The device is read-only. */
  readOnly: boolean;
  /** A live table is loaded. */
  liveTable: boolean;
  /** An inactive table is loaded (waiting for resume). */
  inactiveTable: boolean;
  /** A deferred remove is pending. */
  deferredRemove: boolean;
}

/** The versions {@link DeviceMapper | DeviceMapper.version} reports. */
export interface VersionInfo {
  /** The libdevmapper version, e.g. '1.02.185 (2022-05-18)'. */
  library: string;
  /** The kernel driver version, e.g. '4.47.0'. */
  driver: string;
}

/** One device of {@link DeviceMapper | DeviceMapper.list}. */
export interface DeviceListEntry {
  /** The device-mapper name. */
  name: string;
  /** Block device major number. */
  major: number;
  /** Block device minor number. */
  minor: number;
  /** The device's event counter. */
  eventNr: number;
}

/** A target type the kernel has loaded. */
export interface TargetType {
  /** The target type name, e.g. 'thin-pool'. */
  name: string;
  /** Its version: major, minor, patch. */
  version: [number, number, number];
}

/** A block device number. */
export interface DeviceNumber {
  /** Major number. */
  major: number;
  /** Minor number. */
  minor: number;
}

/**
 * How a node-changing call deals with udev: 'wait' for udev's rules (the
 * /dev/mapper link, /dev/disk links, scans), 'private' (udev makes only the
 * /dev/mapper link), or 'skip' (udev runs no rule and is not waited for;
 * the library makes the /dev/mapper node). Use one mode for a device's whole life.
 */
export type UdevMode = 'wait' | 'private' | 'skip';

/** Options controlling udev for calls that make or change device nodes. */
export interface UdevOptions {
  /**
   * Mark the device private: udev makes the /dev/mapper node but its
   * subsystem, disk and other rules skip it (no blkid scan, no automount).
   * Same as `udev: 'private'`.
   */
  udevPrivate?: boolean;
  /** The udev mode (see {@link UdevMode}); default 'wait', or 'private' with `udevPrivate`. */
  udev?: UdevMode;
  /**
   * How long to wait for udev (ms, default 120000): a lost udev event then
   * fails only this call, with 'ETIMEDOUT'.
   */
  udevTimeoutMs?: number;
}

/** Options of {@link DeviceMapper | DeviceMapper.create}. */
export interface CreateOptions extends UdevOptions {
  /** The device-mapper name (see {@link validateDeviceName}). */
  name: string;
  /** The device-mapper uuid (see {@link validateUuid}). */
  uuid?: string;
  /** The table, contiguous from sector 0; empty creates a device without a table. */
  table: readonly TableRow[];
  /** Create read-only. */
  readOnly?: boolean;
}

/** Options of {@link DeviceMapper | DeviceMapper.load}. */
export interface LoadOptions {
  /** The device-mapper name. */
  name: string;
  /** The new table for the inactive slot: non-empty, contiguous from sector 0. */
  table: readonly TableRow[];
  /** Load read-only. */
  readOnly?: boolean;
}

/** Options of {@link DeviceMapper | DeviceMapper.suspend}. */
export interface SuspendOptions {
  /** Do not flush queued I/O (needed e.g. for a pool out of space). */
  noFlush?: boolean;
  /** Do not freeze a filesystem on the device. */
  skipLockfs?: boolean;
}

/** Options of {@link DeviceMapper | DeviceMapper.remove}. */
export interface RemoveOptions extends UdevOptions {
  /** Retries on EBUSY, 0 to 1000 (the addon's default when omitted). */
  retries?: number;
  /** Milliseconds between retries, 0 to 60000. */
  retryDelayMs?: number;
  /** Let the kernel remove the device once its last holder closes it. */
  deferred?: boolean;
  /**
   * Remove only the device of this uuid: its name is looked up in the same
   * native call, just before the removal. No device of that name: resolves
   * false, doing nothing; one with another uuid: 'EPERM', untouched.
   */
  ifUuid?: string;
}

/** Options of {@link DeviceMapper | DeviceMapper.message}. */
export interface MessageOptions {
  /** The sector the message goes to (default 0; thin-pool messages use 0). */
  sector?: Sectors;
}

/** Options of {@link DeviceMapper | DeviceMapper.status}. */
export interface StatusOptions {
  /** Do not let the target flush (for a thin-pool: do not commit metadata) before reporting. */
  noFlush?: boolean;
}

/** Options of {@link DeviceMapper | DeviceMapper.waitEvent}. */
export interface WaitEventOptions {
  /** Aborting cancels the wait (the promise rejects with code 'ECANCELED'). */
  signal?: AbortSignal;
}

/**
 * A pending {@link DeviceMapper | DeviceMapper.waitEvent}. Disposing it cancels the wait. The promise is
 * marked handled, so a cancelled wait nobody awaits does not raise an
 * unhandled rejection.
 */
export interface EventWait extends Disposable {
  /** Resolves with the new event number; rejects with a {@link DeviceMapperError} ('ECANCELED' when cancelled). */
  readonly promise: Promise<number>;
  /** Cancels the wait; a no-op once settled. */
  cancel(): void;
}

/** A suspended device from {@link DeviceMapper | DeviceMapper.suspendScoped}: disposing it resumes the device. */
export interface SuspendedDevice extends AsyncDisposable {
  /** The device-mapper name. */
  readonly name: string;
  /** Resumes the device; later calls (and disposal) do nothing. */
  resume(): Promise<void>;
}

/* ------------------------------------------------------------------------ */

const UDEV_MODES: readonly UdevMode[] = ['wait', 'private', 'skip'];

function udev(options: UdevOptions | undefined, op: string): NativeUdevOptions {
  const out: NativeUdevOptions = {};
  if (options?.udevPrivate === true) out.udevPrivate = true;
  if (options?.udev !== undefined) {
    if (!UDEV_MODES.includes(options.udev)) throw invalid(op, `udev must be one of ${UDEV_MODES.join(', ')}`);
    out.udev = options.udev;
  }
  const timeout = checkOptionalInt(options?.udevTimeoutMs, 'udevTimeoutMs', op, 3_600_000);
  if (timeout !== undefined) out.udevTimeoutMs = timeout;
  return out;
}

function toInfo(info: NativeInfo): DeviceInfo {
  return {
    name: info.name,
    uuid: info.uuid.length > 0 ? info.uuid : null,
    major: info.major,
    minor: info.minor,
    openCount: info.openCount,
    eventNr: info.eventNr,
    targetCount: info.targetCount,
    suspended: info.suspended,
    readOnly: info.readOnly,
    liveTable: info.liveTable,
    inactiveTable: info.inactiveTable,
    deferredRemove: info.deferredRemove,
  };
}

function checkOptionalInt(value: number | undefined, what: string, op: string, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) {
    throw invalid(op, `${what} must be an integer from 0 to ${max}, got ${describeValue(value)}`);
  }
  return value;
}

/* ------------------------------------------------------------------------ */

/**
 * The block device path of a device-mapper device: `/dev/mapper/<name>`.
 *
 * @throws DeviceMapperError code 'EINVAL' on an invalid name.
 */
export function devicePath(name: string): string {
  return `/dev/mapper/${validateDeviceName(name, 'devicePath')}`;
}

/** The libdevmapper and kernel driver versions, e.g. `{ library: '1.02.185 (2022-05-18)', driver: '4.47.0' }`. */
export async function version(): Promise<VersionInfo> {
  return callNative('version', undefined, (b) => b.version());
}

/**
 * The installed libdevmapper's version, e.g. '1.02.185 (2022-05-18)', without
 * a kernel call: a cheap check that the addon and libdevmapper load here.
 *
 * @throws DeviceMapperError code 'ENOLIBDM' when libdevmapper is not
 * installed (the message names the package to install), 'ELIBACC' when the addon does not load.
 */
export function libraryVersion(): string {
  const lib = loadBinding('libraryVersion').libdevmapper();
  if (!lib.loaded || lib.version === undefined) {
    throw new DeviceMapperError(`libraryVersion: ${lib.error ?? 'libdevmapper did not load'}`, { code: 'ENOLIBDM', errno: errnoOf('ELIBACC'), op: 'libraryVersion' });
  }
  return lib.version;
}

/** Whether udev synchronisation is compiled in and udevd is running now. */
export async function udevSyncSupported(): Promise<boolean> {
  return callNative('udevSyncSupported', undefined, (b) => b.udevSyncSupported());
}

/** Every device-mapper device. */
export async function list(): Promise<DeviceListEntry[]> {
  const entries = await callNative('list', undefined, (b) => b.list());
  return entries.map((e) => ({ name: e.name, major: e.major, minor: e.minor, eventNr: e.eventNr }));
}

/** The target types the kernel has loaded, with versions. */
export async function targets(): Promise<TargetType[]> {
  const types = await callNative('targets', undefined, (b) => b.targets());
  return types.map((t) => ({ name: t.name, version: [t.version[0], t.version[1], t.version[2]] }));
}

/**
 * Creates a device and loads and resumes its table (DM_DEVICE_CREATE);
 * resolves once the /dev/mapper node exists.
 *
 * @throws DeviceMapperError 'EINVAL' on a bad name, uuid or table (before any ioctl); 'EEXIST' when the name or uuid is taken.
 */
export async function create(options: CreateOptions): Promise<DeviceInfo> {
  const op = 'create';
  const name = validateDeviceName(options.name, op);
  const uuid = options.uuid === undefined ? undefined : validateUuid(options.uuid, op);
  validateTable(options.table, op);
  const udevOptions = udev(options, op);
  const info = await callNative(op, name, (b) =>
    b.create({
      name,
      ...(uuid === undefined ? {} : { uuid }),
      table: options.table.map(toNativeRow),
      readOnly: options.readOnly === true,
      ...udevOptions,
    }),
  );
  return toInfo(info);
}

/** Options of {@link DeviceMapper | DeviceMapper.snapshotAndCreate}. */
export interface SnapshotAndCreateOptions {
  /** The pool device that receives the message. */
  pool: string;
  /** The pool message, e.g. `PoolMessages.createSnap(id, originId)`. */
  message: PoolMessage;
  /** The origin's device, suspended around the message when it is live. */
  origin?: string;
  /** How udev sees the origin when it is resumed. */
  originUdev?: UdevOptions;
  /** The new device. */
  device: CreateOptions;
}

/**
 * Sends a pool message (with the origin suspended around it when live), then
 * creates, loads and resumes the new device: one native job instead of three.
 * When the message fails nothing changed; when the create fails the thin id
 * the message made stays in the pool.
 *
 * @throws DeviceMapperError as {@link message} and {@link create}.
 */
export async function snapshotAndCreate(options: SnapshotAndCreateOptions): Promise<DeviceInfo> {
  const op = 'snapshotAndCreate';
  const pool = validateDeviceName(options.pool, op);
  if (!isPoolMessage(options.message)) throw invalid(op, 'the message was not made by a message builder', pool);
  const origin = options.origin === undefined ? undefined : validateDeviceName(options.origin, op);
  const device = options.device;
  const name = validateDeviceName(device.name, op);
  const uuid = device.uuid === undefined ? undefined : validateUuid(device.uuid, op);
  validateTable(device.table, op);
  const deviceUdev = udev(device, op);
  const originUdev = udev(options.originUdev, op);
  const info = await callNative(op, name, (b) =>
    b.snapshotAndCreate(
      {
        pool,
        message: options.message,
        ...(origin === undefined ? {} : { origin }),
        device: {
          name,
          ...(uuid === undefined ? {} : { uuid }),
          table: device.table.map(toNativeRow),
          readOnly: device.readOnly === true,
          ...deviceUdev,
        },
      },
      originUdev,
    ),
  );
  return toInfo(info);
}

/**
 * Loads a table into the device's inactive slot (DM_DEVICE_RELOAD); {@link resume} makes it live.
 *
 * @throws DeviceMapperError 'EINVAL' on a bad name or table; 'ENXIO' when there is no such device.
 */
export async function load(options: LoadOptions): Promise<void> {
  const op = 'load';
  const name = validateDeviceName(options.name, op);
  validateTable(options.table, op);
  if (options.table.length === 0) throw invalid(op, 'the table must have at least one row');
  await callNative(op, name, (b) => b.load({ name, table: options.table.map(toNativeRow), readOnly: options.readOnly === true }));
}

/** Drops the device's inactive table (DM_DEVICE_CLEAR). */
export async function clear(name: string): Promise<void> {
  const op = 'clear';
  const n = validateDeviceName(name, op);
  await callNative(op, n, (b) => b.clear(n));
}

/** Suspends the device (DM_DEVICE_SUSPEND), by default flushing I/O and freezing a filesystem. */
export async function suspend(name: string, options: SuspendOptions = {}): Promise<void> {
  const op = 'suspend';
  const n = validateDeviceName(name, op);
  await callNative(op, n, (b) => b.suspend(n, { noFlush: options.noFlush === true, skipLockfs: options.skipLockfs === true }));
}

/** Resumes the device, making a loaded inactive table live. */
export async function resume(name: string, options: UdevOptions = {}): Promise<void> {
  const op = 'resume';
  const n = validateDeviceName(name, op);
  const udevOptions = udev(options, op);
  await callNative(op, n, (b) => b.resume(n, udevOptions));
}

/**
 * Suspends the device and returns a handle whose disposal resumes it:
 * `await using s = await suspendScoped('thin1');`.
 */
export async function suspendScoped(name: string, options: SuspendOptions = {}): Promise<SuspendedDevice> {
  const n = validateDeviceName(name, 'suspend');
  await suspend(n, options);
  let resumed: Promise<void> | undefined;
  const resumeOnce = (): Promise<void> => (resumed ??= resume(n));
  return { name: n, resume: resumeOnce, [Symbol.asyncDispose]: resumeOnce };
}

/** Renames a device. */
export async function rename(name: string, newName: string, options: UdevOptions = {}): Promise<void> {
  const op = 'rename';
  const from = validateDeviceName(name, op);
  const to = validateDeviceName(newName, op);
  const udevOptions = udev(options, op);
  await callNative(op, from, (b) => b.rename(from, to, udevOptions));
}

/**
 * Removes a device (DM_DEVICE_REMOVE), retrying on EBUSY.
 *
 * @returns true once removed (or its removal deferred); false when `ifUuid` was given and no device has the name.
 * @throws DeviceMapperError 'EBUSY' when it stays open; 'ENXIO' when there is no such device (without `ifUuid`);
 *   'EPERM' when `ifUuid` is not the device's uuid.
 */
export async function remove(name: string, options: RemoveOptions = {}): Promise<boolean> {
  const op = 'remove';
  const n = validateDeviceName(name, op);
  const retries = checkOptionalInt(options.retries, 'retries', op, 1000);
  const retryDelayMs = checkOptionalInt(options.retryDelayMs, 'retryDelayMs', op, 60_000);
  const ifUuid = options.ifUuid === undefined ? undefined : validateUuid(options.ifUuid, op);
  const udevOptions = udev(options, op);
  return callNative(op, n, (b) =>
    b.remove(n, {
      ...(retries === undefined ? {} : { retries }),
      ...(retryDelayMs === undefined ? {} : { retryDelayMs }),
      deferred: options.deferred === true,
      ...(ifUuid === undefined ? {} : { ifUuid }),
      ...udevOptions,
    }),
  );
}

/** Cancels a pending deferred remove. */
export async function cancelDeferredRemove(name: string): Promise<void> {
  const op = 'cancelDeferredRemove';
  const n = validateDeviceName(name, op);
  await callNative(op, n, (b) => b.cancelDeferredRemove(n));
}

/**
 * Sends a target message (DM_DEVICE_TARGET_MSG). Only messages made by the
 * library's builders (e.g. `createThin(1)`) are accepted, checked again at run time.
 *
 * @returns The kernel's reply text, or null when it gave none.
 * @throws DeviceMapperError 'EINVAL' for any other text.
 */
export async function message(name: string, msg: PoolMessage, options: MessageOptions = {}): Promise<string | null> {
  const op = 'message';
  const n = validateDeviceName(name, op);
  if (!isPoolMessage(msg)) throw invalid(op, 'the message was not made by a message builder', n);
  const sector = sectors(options.sector ?? 0);
  return callNative(op, n, (b) => b.message(n, sector, msg));
}

/** The device's live status rows (`params` holds each target's status text). */
export async function status(name: string, options: StatusOptions = {}): Promise<TableRow[]> {
  const op = 'status';
  const n = validateDeviceName(name, op);
  const rows = await callNative(op, n, (b) => b.status(n, { noFlush: options.noFlush === true }));
  return rows.map(fromNativeRow);
}

/** The device's live table rows (devices as the kernel prints them: 'major:minor'). */
export async function table(name: string): Promise<TableRow[]> {
  const op = 'table';
  const n = validateDeviceName(name, op);
  const rows = await callNative(op, n, (b) => b.table(n));
  return rows.map(fromNativeRow);
}

/** The device's state, or null when there is no such device. */
export async function info(name: string): Promise<DeviceInfo | null> {
  const op = 'info';
  const n = validateDeviceName(name, op);
  const i = await callNative(op, n, (b) => b.info(n));
  return i.exists ? toInfo(i) : null;
}

/** The block devices the device's live table uses. */
export async function deps(name: string): Promise<DeviceNumber[]> {
  const op = 'deps';
  const n = validateDeviceName(name, op);
  const list = await callNative(op, n, (b) => b.deps(n));
  return list.map((d) => ({ major: d.major, minor: d.minor }));
}

/**
 * Waits until the device's event number exceeds `eventNr` (take it from
 * {@link info}). Cancel with `cancel()`, an abort signal, or disposal:
 * `using w = waitEvent('pool', i.eventNr);`.
 *
 * @throws DeviceMapperError 'EINVAL' synchronously on a bad name or event number.
 */
export function waitEvent(name: string, eventNr: number, options: WaitEventOptions = {}): EventWait {
  const op = 'waitEvent';
  const n = validateDeviceName(name, op);
  if (typeof eventNr !== 'number' || !Number.isSafeInteger(eventNr) || eventNr < 0 || eventNr > 0xffff_ffff) {
    throw invalid(op, `event number must be an integer from 0 to ${0xffff_ffff}, got ${describeValue(eventNr)}`, n);
  }
  const signal = options.signal;
  if (signal?.aborted) {
    const promise = Promise.reject(new DeviceMapperError(`${op} ${n}: cancelled`, { code: 'ECANCELED', op, device: n }));
    promise.catch(() => undefined);
    return { promise, cancel: () => undefined, [Symbol.dispose]: () => undefined };
  }
  const b = loadBinding(op, n);
  let raw: ReturnType<NativeBinding['waitEvent']>;
  try {
    raw = b.waitEvent(n, eventNr);
  } catch (e) {
    throw fromNative(e, op, n);
  }
  let settled = false;
  const cancel = (): void => {
    if (!settled) raw.cancel();
  };
  const onAbort = (): void => cancel();
  signal?.addEventListener('abort', onAbort, { once: true });
  const promise = raw.promise.then(
    (nr) => nr,
    (e: unknown) => {
      throw fromNative(e, op, n);
    },
  );
  void promise
    .finally(() => {
      settled = true;
      signal?.removeEventListener('abort', onAbort);
    })
    .catch(() => undefined);
  return { promise, cancel, [Symbol.dispose]: cancel };
}

/**
 * The facade as one object: `DeviceMapper.create(...)`, `DeviceMapper.remove(...)`.
 */
export const DeviceMapper = Object.freeze({
  /** The block device path of a device: `/dev/mapper/<name>`. */
  devicePath,
  /** The libdevmapper and kernel driver versions. */
  version,
  /** The installed libdevmapper's version, without a kernel call. */
  libraryVersion,
  /** Whether udev synchronisation is compiled in and udevd is running. */
  udevSyncSupported,
  /** Every device-mapper device. */
  list,
  /** The target types the kernel has loaded. */
  targets,
  /** Creates a device with a live table (DM_DEVICE_CREATE). */
  create,
  /** A pool message (create_snap) and the new device's create, in one native job. */
  snapshotAndCreate,
  /** Loads a table into the device's inactive slot (DM_DEVICE_RELOAD). */
  load,
  /** Drops the device's inactive table (DM_DEVICE_CLEAR). */
  clear,
  /** Suspends the device. */
  suspend,
  /** Resumes the device, making a loaded inactive table live. */
  resume,
  /** Suspends the device; disposing the result resumes it. */
  suspendScoped,
  /** Renames a device. */
  rename,
  /** Removes a device, retrying on EBUSY. */
  remove,
  /** Cancels a pending deferred remove. */
  cancelDeferredRemove,
  /** Sends a message made by a library builder (DM_DEVICE_TARGET_MSG). */
  message,
  /** The device's live status rows. */
  status,
  /** The device's live table rows. */
  table,
  /** The device's state, or null when there is no such device. */
  info,
  /** The block devices the device's live table uses. */
  deps,
  /** Waits until the device's event number passes a given one; cancellable. */
  waitEvent,
});
