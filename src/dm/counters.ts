/**
 * Process-wide counters of the device-mapper layer, for metrics: how many
 * calls waited for udev to settle a device node, how long they took, and
 * how many gave up with a udev timeout (code 'ETIMEDOUT'). The layer counts
 * its own calls; other code may add to a counter with {@link countDeviceMapper}.
 */

/** The counters, as read by {@link deviceMapperCounters}. */
export interface DeviceMapperCounters {
  /** Calls that wait for udev to settle the device node (create, resume, rename, remove), finished or failed. */
  udevWaits: number;
  /** Seconds spent in those calls, summed. */
  udevWaitSeconds: number;
  /** Those calls that failed with a udev timeout (code 'ETIMEDOUT'). */
  udevTimeouts: number;
}

const counters: DeviceMapperCounters = { udevWaits: 0, udevWaitSeconds: 0, udevTimeouts: 0 };

/** The operations whose libdevmapper call waits on a udev cookie. */
export const UDEV_WAITING_OPS: ReadonlySet<string> = new Set(['create', 'resume', 'rename', 'remove']);

/** Adds `by` (default 1) to a counter. */
export function countDeviceMapper(counter: keyof DeviceMapperCounters, by = 1): void {
  if (Number.isFinite(by) && by > 0) counters[counter] += by;
}

/** The counters now (a copy). */
export function deviceMapperCounters(): DeviceMapperCounters {
  return { ...counters };
}

/** @internal Counts one call of `op` that took `seconds` and failed with `code` (or succeeded). */
export function countCall(op: string, seconds: number, code?: string): void {
  if (!UDEV_WAITING_OPS.has(op)) return;
  countDeviceMapper('udevWaits');
  countDeviceMapper('udevWaitSeconds', seconds);
  if (code === 'ETIMEDOUT') countDeviceMapper('udevTimeouts');
}
