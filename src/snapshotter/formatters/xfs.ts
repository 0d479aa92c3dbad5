/** XFS. */
import { runCommand } from './exec.js';
import { withTemporaryMount } from './temporary-mount.js';
import type { Formatter } from './types.js';

/**
 * XFS, mounted with `nouuid`: every snapshot is a block-level copy of the
 * base device and carries the same filesystem UUID, which XFS refuses to
 * mount twice otherwise. mkfs.xfs makes no lost+found, so there is no base
 * preparation. Current xfsprogs refuse filesystems below 300 MiB, its
 * {@link Formatter.minimumSizeBytes}.
 */
export const xfsFormatter: Formatter = {
  name: 'xfs',
  mountType: 'xfs',
  defaultOptions: [],
  // xfsprogs 5.19 and later: "Filesystem must be larger than 300MB."
  minimumSizeBytes: 300 * 1024 * 1024,
  async format(devicePath, options) {
    await runCommand('mkfs.xfs', ['-q', ...options, devicePath]);
  },
  async grow(devicePath) {
    // xfs grows only mounted: a private temporary mount, unmounted after.
    await withTemporaryMount(devicePath, 'xfs', ['nouuid'], (root) => runCommand('xfs_growfs', ['-d', root]));
  },
  mountOptions(readOnly) {
    return readOnly ? ['nouuid', 'ro'] : ['nouuid'];
  },
};
