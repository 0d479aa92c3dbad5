/**
 * `pool create-lvm` and `pool create --storage-opt dm.directlvm_device=...`
 * turn flags and Docker's direct-lvm options into the library's LVM options
 * (the LVM run itself is tested on a kernel in test/vm/thin-pool.test.ts).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { STATE_FILE } from '../../../src/cli/state.js';
import { ThinPool } from '../../../src/thin/pool.js';
import { cli, cliJson } from './helpers.js';

const dirs: string[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

function fakeLvm() {
  const close = vi.fn(async () => undefined);
  const spy = vi.spyOn(ThinPool, 'createDirectLvm').mockImplementation(async (options) => {
    const name = `${options.volumeGroup}-${options.poolName ?? 'thinpool'}`;
    return { name, dataSizeBytes: 95 * 1024 ** 3, dataBlockSizeBytes: options.chunkSizeBytes ?? 512 * 1024, close } as unknown as ThinPool;
  });
  return { spy, close };
}

describe('pool create-lvm', () => {
  it('maps plain flags to the LVM options and records the pool in the root', async () => {
    const { spy, close } = fakeLvm();
    const root = await mkdtemp(path.join(tmpdir(), 'cli-lvm-'));
    dirs.push(root);
    const out = await cliJson<Record<string, unknown>>([
      'pool', 'create-lvm', '--root', root, '--device', '/dev/xvdf', '--device', '/dev/xvdg', '--volume-group', 'docker', '--thin-pool', 'tp',
      '--data-percent', '90', '--metadata-percent', '2', '--chunk-size', '256K', '--autoextend-threshold', '70', '--autoextend-percent', '30',
      '--lvm-system-dir', '/tmp/lvm', '--base-size', '20G', '--fs', 'xfs',
    ]);
    expect(spy).toHaveBeenCalledWith({
      devices: ['/dev/xvdf', '/dev/xvdg'],
      volumeGroup: 'docker',
      poolName: 'tp',
      dataPercent: 90,
      metadataPercent: 2,
      autoextendThreshold: 70,
      autoextendPercent: 30,
      chunkSizeBytes: 256 * 1024,
      systemDir: '/tmp/lvm',
      minFreeSpacePercent: 10,
    });
    expect(close).toHaveBeenCalled();
    expect(out).toMatchObject({ pool: 'docker-tp', kind: 'lvm', created: true, root, snapshotter: { baseImageSize: '20G', fsType: 'xfs' } });
    expect(JSON.parse(await readFile(path.join(root, STATE_FILE), 'utf8'))).toMatchObject({ pool: { name: 'docker-tp' } });
  });

  it("takes Docker's dm.directlvm_device and dm.thinp_* options, also through pool create", async () => {
    const { spy } = fakeLvm();
    const r = await cli([
      'pool', 'create',
      '--storage-opt', 'dm.directlvm_device=/dev/xvdf',
      '--storage-opt', 'dm.thinp_percent=95', '--storage-opt', 'dm.thinp_metapercent=1',
      '--storage-opt', 'dm.thinp_autoextend_threshold=80', '--storage-opt', 'dm.thinp_autoextend_percent=20',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('Created lvm pool devmapper-thinpool: 95 GiB of data, 512 KiB blocks\n');
    expect(spy).toHaveBeenCalledWith(expect.objectContaining({ devices: ['/dev/xvdf'], volumeGroup: 'devmapper', dataPercent: 95, metadataPercent: 1, autoextendThreshold: 80, autoextendPercent: 20 }));
  });

  it('needs a device', async () => {
    const { spy } = fakeLvm();
    const r = await cli(['pool', 'create-lvm']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/needs --device DEV/);
    expect(spy).not.toHaveBeenCalled();
  });
});
