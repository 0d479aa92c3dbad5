/** ext4, the snapshotter's default filesystem (containerd's too). */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { runCommand } from './exec.js';
import { withTemporaryMount } from './temporary-mount.js';
import type { Formatter } from './types.js';

/**
 * ext4. Without options it runs `mkfs.ext4 -E nodiscard,lazy_itable_init=0,lazy_journal_init=0`:
 * no discard (a fresh thin device is already unmapped) and no lazy init, so
 * that no background writer allocates blocks in every snapshot later. A
 * containerd-style options string such as "nodiscard,lazy_itable_init=0" (one
 * that does not start with '-') is passed as the -E argument, like containerd
 * does; a string starting with '-' is split into mkfs arguments (Docker's dm.mkfsarg).
 */
export const ext4Formatter: Formatter = {
  name: 'ext4',
  mountType: 'ext4',
  defaultOptions: ['-E', 'nodiscard,lazy_itable_init=0,lazy_journal_init=0'],
  // mkfs.ext4 with the default options refuses devices below about 105 KiB.
  minimumSizeBytes: 128 * 1024,
  async format(devicePath, options) {
    await runCommand('mkfs.ext4', ['-q', ...options, devicePath]);
  },
  mountOptions(readOnly) {
    return readOnly ? ['ro'] : [];
  },
  async prepareBase(devicePath) {
    // Every image would otherwise start with an empty lost+found directory.
    await withTemporaryMount(devicePath, 'ext4', [], (root) => rm(path.join(root, 'lost+found'), { recursive: true, force: true }));
  },
  async grow(devicePath) {
    // Online, through a private temporary mount: the mount replays a journal
    // a crash left, and resize2fs on a mounted device cannot race a writer.
    await withTemporaryMount(devicePath, 'ext4', [], () => runCommand('resize2fs', [devicePath]));
  },
  optionsFromString(text) {
    const trimmed = text.trim();
    if (trimmed === '') return [];
    return trimmed.startsWith('-') ? trimmed.split(/\s+/) : ['-E', trimmed];
  },
};
