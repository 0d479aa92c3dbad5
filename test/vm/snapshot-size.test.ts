/**
 * A size per snapshot on a real kernel: the containerd.io/snapshot/max-size
 * label and resize() on ext4 and xfs. The mounted filesystem's size
 * (statfs) must match the asked size, the parent's files stay intact, space
 * beyond the base size can be allocated and written, and a view of a sized
 * snapshot's commit and a child of it keep the size.
 */
import { readFile, statfs, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import * as dm from '../../src/dm/device-mapper.js';
import { MAX_SIZE_LABEL, Snapshotter, type Mount } from '../../src/snapshotter/index.js';
import { createLoopbackPool, type ThinPool } from '../../src/thin/index.js';
import { mountWithCommand, withMounted } from '../conformance/real-devices.js';
import { cleanup, requireDeviceMapper, sh, tempDir, uniquePrefix } from './support/kernel.js';

const MiB = 1024 * 1024;
const prefix = uniquePrefix('size');

let dir: string;
let pool: ThinPool | undefined;
const opened: Snapshotter[] = [];

beforeAll(async () => {
  requireDeviceMapper();
  dir = await tempDir('size');
  pool = await createLoopbackPool({
    directory: path.join(dir, 'pool'),
    name: `${prefix}pool`,
    dataSizeBytes: 1024 * MiB,
    metadataSizeBytes: 16 * MiB,
    minFreeSpacePercent: 0,
  });
});

afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
});

afterAll(async () => {
  try {
    await pool?.destroy();
  } finally {
    if (dir) await cleanup(prefix, [dir]);
  }
  expect((await dm.list()).filter((d) => d.name.startsWith(prefix))).toEqual([]);
});

/** The filesystem's total size as statfs reports it. */
async function fsBytes(root: string): Promise<number> {
  const s = await statfs(root);
  return s.blocks * s.bsize;
}

/**
 * statfs leaves out the filesystem's own metadata: a fixed part (the xfs
 * log, the ext4 journal), measured on the base-size filesystem, and a part
 * that grows with the size (inode tables, allocation group headers).
 */
function expectFsSize(bytes: number, deviceBytes: number, baseOverhead: number): void {
  expect(bytes).toBeLessThanOrEqual(deviceBytes);
  expect(bytes).toBeGreaterThanOrEqual(deviceBytes - baseOverhead - 0.1 * deviceBytes);
}

const withMount = <T>(mounts: Mount[], fn: (root: string) => Promise<T>) => withMounted(mountWithCommand, mounts, fn);
const sized = (bytes: number) => ({ labels: { [MAX_SIZE_LABEL]: String(bytes) } });

for (const [fsType, baseBytes] of [
  ['ext4', 64 * MiB],
  ['xfs', 320 * MiB],
] as const) {
  describe(`${fsType}, base ${baseBytes / MiB} MiB`, () => {
    let s: Snapshotter;
    let overhead = 0;
    const expectSize = (bytes: number, deviceBytes: number) => expectFsSize(bytes, deviceBytes, overhead);
    beforeAll(async () => {
      s = await Snapshotter.open({ rootPath: path.join(dir, `meta-${fsType}`), pool: pool!, baseImageSize: baseBytes, fsType, minFreeSpace: 0 });
      const mounts = await s.prepare('p');
      await withMount(mounts, async (root) => {
        overhead = baseBytes - (await fsBytes(root));
        await writeFile(path.join(root, 'parent.txt'), `parent of ${fsType}`);
      });
      await s.commit('P', 'p');
    });
    afterAll(async () => {
      for (const key of ['big-child', 'big-view', 'BIG', 'r', 'x2', 'P']) await s.remove(key).catch(() => undefined);
      await s.cleanup();
      await s.close();
    });

    test.each([2, 10])('%i× the base: the filesystem fills the device, keeps the parent, takes data past the base size', async (factor) => {
      const size = factor * baseBytes;
      const key = factor === 2 ? 'x2' : 'big';
      const mounts = await s.prepare(key, 'P', sized(size));
      expect((await s.stat(key)).labels[MAX_SIZE_LABEL]).toBe(String(size));
      await withMount(mounts, async (root) => {
        expectSize(await fsBytes(root), size);
        expect(await readFile(path.join(root, 'parent.txt'), 'utf8')).toBe(`parent of ${fsType}`);
        // Allocate past the base size, then write real data at the end of it.
        const file = path.join(root, 'past-base');
        const length = baseBytes + 16 * MiB;
        await sh('fallocate', ['-l', String(length), file]);
        await sh('dd', ['if=/dev/urandom', `of=${file}`, 'bs=1M', 'count=4', `seek=${length / MiB - 4}`, 'conv=notrunc,fsync', 'status=none']);
        expect((await statfs(root)).bfree * (await statfs(root)).bsize).toBeLessThan(size - baseBytes);
      });
      if (factor !== 10) return;
      await s.commit('BIG', key);
      expect((await s.stat('BIG')).labels[MAX_SIZE_LABEL]).toBe(String(size));
      await withMount(await s.view('big-view', 'BIG'), async (root) => {
        expectSize(await fsBytes(root), size);
        expect(await readFile(path.join(root, 'parent.txt'), 'utf8')).toBe(`parent of ${fsType}`);
      });
      await withMount(await s.prepare('big-child', 'BIG'), async (root) => expectSize(await fsBytes(root), size));
    });

    test('resize grows an active snapshot while it is mounted', async () => {
      const mounts = await s.prepare('r', 'P');
      await withMount(mounts, async (root) => {
        expectSize(await fsBytes(root), baseBytes);
        await writeFile(path.join(root, 'before-resize.txt'), 'kept');
        const info = await s.resize('r', 3 * baseBytes);
        expect(info.labels[MAX_SIZE_LABEL]).toBe(String(3 * baseBytes));
        expectSize(await fsBytes(root), 3 * baseBytes);
        expect(await readFile(path.join(root, 'before-resize.txt'), 'utf8')).toBe('kept');
        expect(await readFile(path.join(root, 'parent.txt'), 'utf8')).toBe(`parent of ${fsType}`);
      });
      // The temporary mount the grow used is gone.
      expect(await readFile('/proc/self/mounts', 'utf8')).not.toContain('devmapper-base-');
      await expect(s.resize('r', baseBytes)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await withMount(await s.mounts('r'), async (root) => expectSize(await fsBytes(root), 3 * baseBytes));
    });
  });
}

test('a size below the base is refused, and xfs below 300 MiB is refused at open with the minimum named', async () => {
  const s = await Snapshotter.open({ rootPath: path.join(dir, 'meta-small'), pool: pool!, baseImageSize: 64 * MiB, fsType: 'ext4', minFreeSpace: 0 });
  opened.push(s);
  await expect(s.prepare('tiny', '', sized(32 * MiB))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  await expect(Snapshotter.open({ rootPath: path.join(dir, 'meta-xfs-small'), pool: pool!, baseImageSize: 64 * MiB, fsType: 'xfs' })).rejects.toThrow(
    /baseImageSize: .* below the smallest xfs filesystem, 314572800 bytes/,
  );
});
