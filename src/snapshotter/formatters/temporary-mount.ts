/** Mounting a device on a temporary directory for a moment (base device preparation). */
import { mkdtemp, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCommand } from './exec.js';

/**
 * Mounts `devicePath` on a fresh temporary directory, runs `fn` with it,
 * then unmounts and removes the directory, on failure too.
 *
 * @param devicePath - The block device.
 * @param type - The filesystem type passed to `mount -t`.
 * @param options - Mount options (may be empty).
 * @param fn - What to do with the mounted root.
 */
export async function withTemporaryMount<T>(
  devicePath: string,
  type: string,
  options: readonly string[],
  fn: (root: string) => Promise<T>,
): Promise<T> {
  const root = await mkdtemp(path.join(tmpdir(), 'devmapper-base-'));
  try {
    const args = ['-t', type];
    if (options.length > 0) args.push('-o', options.join(','));
    await runCommand('mount', [...args, devicePath, root]);
    try {
      return await fn(root);
    } finally {
      await runCommand('umount', [root]);
    }
  } finally {
    await rmdir(root).catch(() => undefined);
  }
}
