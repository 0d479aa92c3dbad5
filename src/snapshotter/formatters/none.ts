/** No filesystem: the raw thin device. */
import type { Formatter } from './types.js';

/**
 * No filesystem at all, for callers that hand the block device itself to a
 * consumer, as microVM runtimes (Firecracker, Kata) do. Nothing is formatted.
 * The mount is a bind mount of the device node: `source` is the device path,
 * `type` is 'bind' with option 'bind' (and 'ro' for views), so that mounting
 * it places the device node at the target and runtimes that read `source`
 * get the device directly. A sized snapshot gets the larger device only:
 * there is no filesystem to grow.
 */
export const noneFormatter: Formatter = {
  name: 'none',
  mountType: 'bind',
  defaultOptions: [],
  minimumSizeBytes: 0,
  async format() {
    // Nothing to make.
  },
  mountOptions(readOnly) {
    return readOnly ? ['bind', 'ro'] : ['bind'];
  },
};
