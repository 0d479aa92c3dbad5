/**
 * Helpers for backends with real block devices (the VM run): mounting with
 * the `mount` command and writing through mounts. Not used on the host.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, open, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Mount } from '../../src/snapshotter/index.js';

const run = promisify(execFile);

/** Mounts one snapshot mount on `target` with `mount` (execFile, no shell); resolves with the unmount. */
export async function mountWithCommand(mounts: Mount[], target: string): Promise<() => Promise<void>> {
  if (mounts.length !== 1 || !mounts[0]) throw new Error(`expected one mount, got ${mounts.length}`);
  const m = mounts[0];
  if (m.type === 'bind') {
    await run('mount', ['--bind', m.source, target]);
    if (m.options.includes('ro')) await run('mount', ['-o', 'remount,bind,ro', target]);
  } else {
    const args = ['-t', m.type];
    if (m.options.length > 0) args.push('-o', m.options.join(','));
    await run('mount', [...args, m.source, target]);
  }
  return async () => {
    await run('umount', [target]);
  };
}

/** Mounts on a fresh temporary directory, runs `fn`, unmounts and removes the directory. */
export async function withMounted<T>(
  mount: (mounts: Mount[], target: string) => Promise<() => Promise<void>>,
  mounts: Mount[],
  fn: (root: string) => Promise<T>,
): Promise<T> {
  const target = await mkdtemp(path.join(tmpdir(), 'conformance-mnt-'));
  try {
    const unmount = await mount(mounts, target);
    try {
      return await fn(target);
    } finally {
      await unmount();
    }
  } finally {
    await rmdir(target).catch(() => undefined);
  }
}

/** A `hold` for real devices: opens the snapshot's device read-only; resolves with the close. */
export async function holdByOpening(mounts: Mount[]): Promise<() => Promise<void>> {
  const fd = await open(mounts[0]?.source ?? '', 'r');
  return () => fd.close();
}

let fileCounter = 0;

/** A `grow` for real devices: writes `bytes` of incompressible data to a new file through a mount and syncs. */
export function growByWriting(mount: (mounts: Mount[], target: string) => Promise<() => Promise<void>>) {
  return async (mounts: Mount[], bytes: number): Promise<void> => {
    await withMounted(mount, mounts, async (root) => {
      const file = await open(path.join(root, `grow-${process.pid}-${fileCounter++}`), 'w');
      try {
        const chunk = Buffer.alloc(1024 * 1024);
        for (let written = 0; written < bytes; written += chunk.length) {
          for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((Math.random() * 2 ** 32) >>> 0, i);
          await file.write(chunk, 0, Math.min(chunk.length, bytes - written));
        }
        await file.sync();
      } finally {
        await file.close();
      }
    });
  };
}
