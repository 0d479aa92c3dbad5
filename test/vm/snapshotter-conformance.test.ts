/**
 * The shared snapshotter conformance suite on real devices: a loopback thin
 * pool in the guest's kernel, ext4 on every snapshot, mounts and file checks.
 */
import path from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import * as dm from '../../src/dm/device-mapper.js';
import { Snapshotter } from '../../src/snapshotter/index.js';
import { createLoopbackPool } from '../../src/thin/index.js';
import { defineSnapshotterConformance } from '../conformance/index.js';
import { growByWriting, holdByOpening, mountWithCommand } from '../conformance/real-devices.js';
import { cleanup, requireDeviceMapper, tempDir, uniquePrefix } from './support/kernel.js';

const MiB = 1024 * 1024;
const prefix = uniquePrefix('conf');
let n = 0;

beforeAll(() => requireDeviceMapper());
afterAll(async () => {
  expect((await dm.list()).filter((d) => d.name.startsWith(prefix))).toEqual([]);
});

for (const fsType of ['ext4', 'xfs'] as const) {
  defineSnapshotterConformance(`kernel pool, ${fsType}`, async () => {
    const dir = await tempDir('conf');
    const pool = await createLoopbackPool({
      directory: path.join(dir, 'pool'),
      name: `${prefix}${fsType}-${n++}`,
      dataSizeBytes: 2048 * MiB,
      metadataSizeBytes: 16 * MiB,
      minFreeSpacePercent: 0,
    });
    const snapshotter = await Snapshotter.open({
      rootPath: path.join(dir, 'meta'),
      pool,
      baseImageSize: fsType === 'xfs' ? '320MB' : '64MB',
      fsType,
      minFreeSpace: 0,
    });
    return {
      snapshotter,
      capabilities: { realDevices: true, mount: mountWithCommand, grow: growByWriting(mountWithCommand), hold: holdByOpening },
      async dispose() {
        try {
          await snapshotter.close();
          await pool.destroy();
        } finally {
          await cleanup(pool.name, [dir]);
        }
      },
    };
  }, { realDevices: true, deepLayers: fsType === 'ext4' ? 128 : 16 });
}
