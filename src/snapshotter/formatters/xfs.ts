/** XFS. */
import { runCommand } from './exec.js';
import type { Formatter } from './types.js';

/**
 * XFS, mounted with `nouuid`: every snapshot is a block-level copy of the
 * base device and carries the same filesystem UUID, which XFS refuses to
 * mount twice otherwise. mkfs.xfs makes no lost+found, so there is no base
 * preparation.
 */
export const xfsFormatter: Formatter = {
  name: 'xfs',
  mountType: 'xfs',
  defaultOptions: [],
  async format(devicePath, options) {
    await runCommand('mkfs.xfs', ['-q', ...options, devicePath]);
  },
  mountOptions(readOnly) {
    return readOnly ? ['nouuid', 'ro'] : ['nouuid'];
  },
};
