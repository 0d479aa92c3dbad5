/**
 * The contract of the C++ addon (native/) and its loader. Everything here is
 * internal: the typed layer in this folder is the public face.
 *
 * Units: every `start`/`length`/`sector` is in 512-byte sectors; every size
 * named `...Bytes` is in bytes. Numbers stay below 2^53.
 *
 * Every function returns a promise and does its work off the JS thread.
 * Failures reject with an Error carrying `code` (errno name such as 'EBUSY'),
 * `errno` (positive number, 0 when libdevmapper gave none), `op` (the call,
 * e.g. 'remove'), `device` (name or path, when there is one) and `dmLog`
 * (the lines libdevmapper logged during the call).
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../package-root.js';

/** One row of a device-mapper table or status. */
export interface NativeTableRow {
  start: number;
  length: number;
  targetType: string;
  params: string;
}

/** Options that control udev for calls that make or change device nodes. */
export interface NativeUdevOptions {
  /**
   * Mark the device private: set DM_UDEV_DISABLE_SUBSYSTEM_RULES_FLAG,
   * DM_UDEV_DISABLE_DISK_RULES_FLAG and DM_UDEV_DISABLE_OTHER_RULES_FLAG so
   * udev makes the /dev/mapper node but does not scan the device.
   * Same as `udev: 'private'`.
   */
  udevPrivate?: boolean;
  /**
   * 'wait' (default): udev runs its rules and the call waits for it.
   * 'private': as `udevPrivate`. 'skip': every DM_UDEV_DISABLE_*_RULES flag
   * is set, the call does not wait for udev, and libdevmapper makes the
   * /dev/mapper node itself (no /dev/disk links).
   */
  udev?: 'wait' | 'private' | 'skip';
  /** How long the call waits for udev before it fails with ETIMEDOUT (default 120000). */
  udevTimeoutMs?: number;
}

/** What DM_DEVICE_INFO reports. `exists` false means no such device (other fields zero). */
export interface NativeInfo {
  exists: boolean;
  name: string;
  uuid: string;
  major: number;
  minor: number;
  openCount: number;
  eventNr: number;
  targetCount: number;
  suspended: boolean;
  readOnly: boolean;
  liveTable: boolean;
  inactiveTable: boolean;
  deferredRemove: boolean;
}

/** One entry of DM_DEVICE_LIST. */
export interface NativeListEntry {
  name: string;
  major: number;
  minor: number;
  eventNr: number;
}

/** A loaded target type and its version. */
export interface NativeTargetType {
  name: string;
  version: [number, number, number];
}

/** A loop device's state, from LOOP_GET_STATUS64 and sysfs. */
export interface NativeLoopInfo {
  path: string;
  number: number;
  backingFile: string;
  offsetBytes: number;
  sizeLimitBytes: number;
  readOnly: boolean;
  autoclear: boolean;
  directIo: boolean;
}

/** The addon's exports. */
export interface NativeBinding {
  /** Library and kernel driver versions, e.g. '1.02.185 (2022-05-18)' and '4.47.0'. */
  version(): Promise<{ library: string; driver: string }>;
  /** Whether udev synchronisation is compiled in and udevd is running now. */
  udevSyncSupported(): Promise<boolean>;
  list(): Promise<NativeListEntry[]>;
  targets(): Promise<NativeTargetType[]>;
  /** DM_DEVICE_CREATE with a table; resolves after udev (or the library fallback) made the node. */
  create(options: {
    name: string;
    uuid?: string;
    table: NativeTableRow[];
    readOnly?: boolean;
  } & NativeUdevOptions): Promise<NativeInfo>;
  /**
   * One job for a new snapshot: the pool message (create_snap), with `origin`
   * suspended around it when it is live (resumed with `originUdev`), then
   * `device` created as by {@link NativeBinding.create}. When the create
   * fails the new thin id stays in the pool.
   */
  snapshotAndCreate(
    options: {
      pool: string;
      message: string;
      origin?: string;
      device: Parameters<NativeBinding['create']>[0];
    },
    originUdev?: NativeUdevOptions,
  ): Promise<NativeInfo>;
  /** DM_DEVICE_RELOAD: loads the inactive table slot. */
  load(options: { name: string; table: NativeTableRow[]; readOnly?: boolean }): Promise<void>;
  /** DM_DEVICE_CLEAR: drops the inactive table. */
  clear(name: string): Promise<void>;
  suspend(name: string, options?: { noFlush?: boolean; skipLockfs?: boolean }): Promise<void>;
  resume(name: string, options?: NativeUdevOptions): Promise<void>;
  rename(name: string, newName: string, options?: NativeUdevOptions): Promise<void>;
  /**
   * DM_DEVICE_REMOVE. On EBUSY it retries up to `retries` times, `retryDelayMs`
   * apart, without holding the library lock while it sleeps; then rejects with
   * code 'EBUSY'. `deferred` asks the kernel to remove once the last holder closes.
   * `ifUuid`: DM_DEVICE_INFO first, in the same hold of the lock: resolves
   * false when no device has the name, rejects with 'EPERM' (untouched) when
   * its uuid is another. Resolves true once removed (or the removal deferred).
   */
  remove(name: string, options?: { retries?: number; retryDelayMs?: number; deferred?: boolean; ifUuid?: string } & NativeUdevOptions): Promise<boolean>;
  /** DM_DEVICE_TARGET_MSG with '@cancel_deferred_remove'. */
  cancelDeferredRemove(name: string): Promise<void>;
  /** DM_DEVICE_TARGET_MSG; resolves with the kernel's reply text or null when it gave none. */
  message(name: string, sector: number, text: string): Promise<string | null>;
  status(name: string, options?: { noFlush?: boolean }): Promise<NativeTableRow[]>;
  table(name: string): Promise<NativeTableRow[]>;
  info(name: string): Promise<NativeInfo>;
  deps(name: string): Promise<Array<{ major: number; minor: number }>>;
  /**
   * Resolves with the device's event number once it is greater than `eventNr`.
   * Waits on DM_DEV_ARM_POLL and poll() of the control node, not on a timer.
   * `cancel()` on the returned handle rejects the promise with code 'ECANCELED'.
   */
  waitEvent(name: string, eventNr: number): { promise: Promise<number>; cancel(): void };

  /**
   * Attaches `file` to a free loop device. `autoclear: true` is refused with
   * 'EINVAL': the kernel would detach on the addon's own last close, before
   * anyone else holds the device; use loopSetAutoclear once a holder (such as
   * a dm table) has it open.
   */
  loopAttach(file: string, options?: { readOnly?: boolean; autoclear?: boolean; directIo?: boolean }): Promise<NativeLoopInfo>;
  /** Sets or clears LO_FLAGS_AUTOCLEAR: the kernel detaches the device when its last holder closes it. */
  loopSetAutoclear(loopPath: string, on: boolean): Promise<NativeLoopInfo>;
  loopDetach(loopPath: string): Promise<void>;
  /** LOOP_SET_CAPACITY: the loop device picks up its backing file's new size. */
  loopSetCapacity(loopPath: string): Promise<void>;
  loopInfo(loopPath: string): Promise<NativeLoopInfo>;
  /** The loop devices whose backing file is `file` (same st_dev and st_ino). */
  loopFind(file: string): Promise<NativeLoopInfo[]>;

  /** BLKGETSIZE64. */
  blockSize(devicePath: string): Promise<number>;
  /** BLKDISCARD of [offsetBytes, offsetBytes + lengthBytes). */
  blockDiscard(devicePath: string, offsetBytes: number, lengthBytes: number): Promise<void>;

  /**
   * Loads libdevmapper (once; sync): whether it loaded and its version (e.g.
   * '1.02.185 (2022-05-18)'), or else why not and what to install. No kernel call.
   */
  libdevmapper(): { loaded: boolean; version?: string; error?: string };
}

let loaded: NativeBinding | undefined;

/** The platforms a prebuilt addon is published for, as `linux-<arch>-<libc>`. */
export const PREBUILT_PLATFORMS = ['linux-x64-gnu', 'linux-arm64-gnu', 'linux-x64-musl', 'linux-arm64-musl'] as const;

/** This process's platform in the names of {@link PREBUILT_PLATFORMS}, e.g. 'linux-x64-musl'. */
export function currentPlatform(): string {
  if (process.platform !== 'linux') return `${process.platform}-${process.arch}`;
  // The report's header names the glibc the process runs on; none means musl.
  const header = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header;
  return `linux-${process.arch}-${header?.glibcVersionRuntime === undefined ? 'musl' : 'gnu'}`;
}

/**
 * Loads the addon once: a local build (build/Release, made by `npm run
 * build:native`) when there is one, else the prebuilt binary of this
 * platform's package (`@devmapper/linux-x64-gnu` and the like, installed as
 * an optional dependency). libdevmapper itself is loaded on the first kernel call.
 */
export function native(): NativeBinding {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  const local = path.join(PACKAGE_ROOT, 'build', 'Release', 'devmapper.node');
  if (existsSync(local)) {
    loaded = require(local) as NativeBinding;
    return loaded;
  }
  const platform = currentPlatform();
  const pkg = `@devmapper/${platform}`;
  if (!(PREBUILT_PLATFORMS as readonly string[]).includes(platform)) {
    throw new Error(
      `devmapper: no prebuilt addon for ${platform} (published for ${PREBUILT_PLATFORMS.join(', ')}). ` +
        'Build it from source in the installed package: cd node_modules/devmapper && npx node-gyp rebuild ' +
        '(needs python3, make, a C++17 compiler, pkg-config and the libdevmapper headers).',
    );
  }
  try {
    loaded = require(pkg) as NativeBinding;
  } catch (cause) {
    const missing = (cause as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && (cause as Error).message.includes(pkg);
    throw new Error(
      missing
        ? `devmapper: the prebuilt addon for ${platform} is missing: the optional dependency ${pkg} was not installed. ` +
            'Reinstall without --omit=optional / --no-optional (and on a lockfile made on another platform, run npm install here).'
        : `devmapper: the prebuilt addon ${pkg} did not load: ${(cause as Error).message}`,
      { cause },
    );
  }
  return loaded;
}
