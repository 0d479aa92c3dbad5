/**
 * What the snapshotter needs from a filesystem: how to make one on an empty
 * device, how to mount it, and what to tidy on the one base device every
 * parentless snapshot is cloned from.
 */

/** A filesystem the snapshotter can put on its base device. */
export interface Formatter {
  /** The registry name, e.g. 'ext4'. Recorded with every snapshot so that children keep their parent's filesystem. */
  readonly name: string;
  /** The `type` of the mounts returned for snapshots of this filesystem. */
  readonly mountType: string;
  /** The mkfs arguments used when the caller gives no filesystem options. */
  readonly defaultOptions: readonly string[];
  /**
   * Makes the filesystem on an empty, active device.
   *
   * @param devicePath - The block device, e.g. /dev/mapper/pool-snap-1.
   * @param options - mkfs arguments (the device path is appended after them).
   */
  format(devicePath: string, options: readonly string[]): Promise<void>;
  /** The mount options for a snapshot: `readOnly` is true for views. */
  mountOptions(readOnly: boolean): string[];
  /**
   * Runs once on the freshly formatted base device, while it is active and
   * unmounted: e.g. removes ext4's lost+found so that images do not inherit
   * it. Optional: formatters without on-disk structure skip it.
   */
  prepareBase?(devicePath: string): Promise<void>;
  /**
   * The smallest device this filesystem can be made on or grown to, in
   * bytes. The snapshotter refuses a smaller `baseImageSize` at open and a
   * smaller snapshot size at prepare. Absent: 0 (no minimum).
   */
  readonly minimumSizeBytes?: number;
  /**
   * Grows the filesystem to fill its device, which has just been given
   * `sizeBytes` (it is active and may be mounted elsewhere). Must be
   * idempotent: after a crash it runs again on a filesystem that may be
   * grown already. Absent: snapshots of this filesystem get the larger
   * device only (as with 'none').
   *
   * @param devicePath - The block device, e.g. /dev/mapper/pool-snap-7.
   * @param sizeBytes - The device's new size.
   */
  grow?(devicePath: string, sizeBytes: number): Promise<void>;
  /**
   * Turns a containerd-style `fs_options` string into mkfs arguments.
   * When absent the string is split on whitespace.
   */
  optionsFromString?(text: string): string[];
}
