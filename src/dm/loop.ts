/**
 * Loop devices over the addon's loop calls: attach a file as a block device
 * (e.g. to back a thin pool), look devices up, detach. A {@link LoopDevice}
 * is `await using`-friendly: disposal detaches it.
 */
import { callNative } from './binding.js';
import { invalid, isDeviceMapperError } from './errors.js';
import type { NativeLoopInfo } from './native.js';

/** A loop device's state. */
export interface LoopInfo {
  /** The loop device path, e.g. '/dev/loop3'. */
  path: string;
  /** The loop device number (3 for /dev/loop3). */
  number: number;
  /** The backing file's path. */
  backingFile: string;
  /** Offset into the backing file, in bytes. */
  offsetBytes: number;
  /** Size limit in bytes (0: the whole file). */
  sizeLimitBytes: number;
  /** Attached read-only. */
  readOnly: boolean;
  /** The kernel detaches the device when its last holder closes it. */
  autoclear: boolean;
  /** Uses direct I/O on the backing file. */
  directIo: boolean;
}

/** Options of {@link LoopDevice.attach}. */
export interface LoopAttachOptions {
  /** Attach read-only. */
  readOnly?: boolean;
  /** Use direct I/O on the backing file (avoids double caching). */
  directIo?: boolean;
}

function checkPath(path: string, what: string, op: string): string {
  if (typeof path !== 'string' || path.length === 0 || path.length > 4095 || path.includes('\0')) {
    throw invalid(op, `${what} must be a non-empty path without NUL, up to 4095 characters`);
  }
  return path;
}

function toInfo(i: NativeLoopInfo): LoopInfo {
  return {
    path: i.path,
    number: i.number,
    backingFile: i.backingFile,
    offsetBytes: i.offsetBytes,
    sizeLimitBytes: i.sizeLimitBytes,
    readOnly: i.readOnly,
    autoclear: i.autoclear,
    directIo: i.directIo,
  };
}

/** A loop device. Disposal (`await using`) detaches it. */
export class LoopDevice implements AsyncDisposable {
  /** The loop device path, e.g. '/dev/loop3'. */
  readonly path: string;
  #detached = false;

  private constructor(path: string) {
    this.path = path;
  }

  /**
   * Attaches `file` to a free loop device.
   *
   * @throws DeviceMapperError 'EINVAL' on a bad path (before any call), else the kernel's code.
   */
  static async attach(file: string, options: LoopAttachOptions = {}): Promise<LoopDevice> {
    const op = 'loopAttach';
    const f = checkPath(file, 'file', op);
    const info = await callNative(op, f, (b) =>
      b.loopAttach(f, { readOnly: options.readOnly === true, directIo: options.directIo === true }),
    );
    return new LoopDevice(info.path);
  }

  /** The loop devices whose backing file is `file` (same device and inode). */
  static async find(file: string): Promise<LoopDevice[]> {
    const op = 'loopFind';
    const f = checkPath(file, 'file', op);
    const found = await callNative(op, f, (b) => b.loopFind(f));
    return found.map((i) => new LoopDevice(i.path));
  }

  /**
   * A handle on an attached loop device; checks it is attached.
   *
   * @throws DeviceMapperError with the kernel's code (e.g. 'ENXIO') when it is not attached.
   */
  static async open(path: string): Promise<LoopDevice> {
    const op = 'loopInfo';
    const p = checkPath(path, 'loop device path', op);
    const info = await callNative(op, p, (b) => b.loopInfo(p));
    return new LoopDevice(info.path);
  }

  /** The device's current state. */
  async info(): Promise<LoopInfo> {
    return toInfo(await callNative('loopInfo', this.path, (b) => b.loopInfo(this.path)));
  }

  /** Makes the device pick up its backing file's new size (LOOP_SET_CAPACITY). */
  async setCapacity(): Promise<void> {
    await callNative('loopSetCapacity', this.path, (b) => b.loopSetCapacity(this.path));
  }

  /**
   * Sets autoclear: the kernel detaches the device when its last holder
   * closes it. Set it once a holder (a dm table, a mount) has the device
   * open; with no holder the device detaches at once.
   */
  async setAutoclear(on: boolean): Promise<void> {
    await callNative('loopSetAutoclear', this.path, (b) => b.loopSetAutoclear(this.path, on === true));
  }

  /** Detaches the device. A second call does nothing. */
  async detach(): Promise<void> {
    if (this.#detached) return;
    await callNative('loopDetach', this.path, (b) => b.loopDetach(this.path));
    this.#detached = true;
  }

  /** Detaches the device (see {@link LoopDevice.detach}); a device already gone (ENXIO, e.g. autoclear) is fine. */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.detach();
    } catch (e) {
      if (!isDeviceMapperError(e, 'ENXIO')) throw e;
      this.#detached = true;
    }
  }
}
