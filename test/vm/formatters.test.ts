/**
 * The ext4 and xfs formatters on image files (mount uses a loop device for a
 * regular file), on the test VM's kernel.
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ext4Formatter, xfsFormatter, type Formatter } from '../../src/snapshotter/index.js';
import { CommandError } from '../../src/snapshotter/formatters/index.js';
import { requireDeviceMapper } from './support/kernel.js';
import { temporaryDirectory } from '../host/snapshotter/simulated-env.js';

const run = promisify(execFile);
let dir: string;

beforeAll(async () => {
  requireDeviceMapper();
  dir = await temporaryDirectory('formatters-');
  {
    const image = path.join(dir, 'probe.img');
    await truncate(image, 0).catch(() => writeFile(image, ''));
    await truncate(image, 16 * 1024 * 1024);
    await run('mkfs.ext4', ['-q', image]);
    const target = path.join(dir, 'probe');
    await mkdir(target);
    await run('mount', ['-t', 'ext4', image, target]);
    await run('umount', [target]);
  }
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function withMount(formatter: Formatter, image: string, fn: (root: string) => Promise<void>): Promise<void> {
  const target = await temporaryDirectory('formatters-mnt-');
  const options = formatter.mountOptions(false);
  await run('mount', ['-t', formatter.mountType, ...(options.length ? ['-o', options.join(',')] : []), image, target]);
  try {
    await fn(target);
  } finally {
    await run('umount', [target]);
    await rm(target, { recursive: true, force: true });
  }
}

describe('formatters on image files', () => {
  test('ext4: formats with the default options, prepareBase drops lost+found, root is 0755', async () => {
    const image = path.join(dir, 'ext4.img');
    await writeFile(image, '');
    await truncate(image, 64 * 1024 * 1024);
    await ext4Formatter.format(image, ext4Formatter.defaultOptions);
    const { stdout } = await run('dumpe2fs', ['-h', image]).catch(() => ({ stdout: '' }));
    if (stdout) expect(stdout).toMatch(/Filesystem features:.*has_journal/);
    await ext4Formatter.prepareBase?.(image);
    await withMount(ext4Formatter, image, async (root) => {
      expect(await readdir(root)).toEqual([]);
      expect((await stat(root)).mode & 0o7777).toBe(0o755);
    });
  });

  test('xfs: formats, mounts with nouuid', async () => {
    const image = path.join(dir, 'xfs.img');
    await writeFile(image, '');
    await truncate(image, 320 * 1024 * 1024);
    await xfsFormatter.format(image, xfsFormatter.defaultOptions);
    await withMount(xfsFormatter, image, async (root) => {
      expect(await readdir(root)).toEqual([]);
    });
  });

  test('a failing mkfs rejects with CommandError carrying its output', async () => {
    const error = await ext4Formatter.format(path.join(dir, 'missing', 'nothing.img'), []).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandError);
    expect((error as CommandError).argv[0]).toBe('mkfs.ext4');
  });
});
