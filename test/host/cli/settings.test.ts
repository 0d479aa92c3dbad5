import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resolve, snapshotterSettings } from '../../../src/cli/context.js';
import { readState, writeState } from '../../../src/cli/state.js';

const dirs: string[] = [];
async function dir(): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), 'cli-settings-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('which settings win', () => {
  it('flags, then dm.* options, then the containerd config, then the root state', async () => {
    const root = await dir();
    await writeState(root, { version: 1, pool: { name: 'from-state' }, snapshotter: { baseImageSize: '1G', fsType: 'xfs', discardBlocks: false, minFreeSpace: '5%' } });
    const config = path.join(root, 'config.toml');
    await writeFile(config, `[plugins.devmapper]\nroot_path = "${root}"\npool_name = "from-config"\nbase_image_size = "2G"\nfs_type = "ext4"\n`);

    const fromState = await resolve({ root });
    expect(fromState.pool).toEqual({ name: 'from-state' });
    expect(snapshotterSettings({}, fromState)).toEqual({ baseImageSize: '1G', fsType: 'xfs', discardBlocks: false, minFreeSpace: '5%' });

    const fromConfig = await resolve({ containerdConfig: config });
    expect(fromConfig.root).toBe(root);
    expect(fromConfig.pool).toEqual({ name: 'from-config' });
    expect(snapshotterSettings({}, fromConfig)).toMatchObject({ baseImageSize: '2G', fsType: 'ext4' });

    const fromOpts = await resolve({ containerdConfig: config, storageOpt: ['dm.basesize=3G', 'dm.thinpooldev=/dev/mapper/from-opt', 'dm.blkdiscard=true'] });
    expect(fromOpts.pool).toEqual({ name: '/dev/mapper/from-opt' });
    expect(snapshotterSettings({}, fromOpts)).toMatchObject({ baseImageSize: '3G', discardBlocks: true });

    const fromFlags = await resolve({ containerdConfig: config, storageOpt: ['dm.basesize=3G'], pool: 'from-flag', poolDir: 'rel/dir' });
    expect(fromFlags.pool).toEqual({ name: 'from-flag', directory: path.resolve('rel/dir') });
    expect(snapshotterSettings({ baseSize: '4G', fs: 'none', asyncRemove: true }, fromFlags)).toMatchObject({ baseImageSize: '4G', fsType: 'none', asyncRemove: true });
  });

  it('ranks environment defaults (DEVMAPPER_*) below every flag and above the root state', async () => {
    const root = await dir();
    const other = await dir();
    await writeState(root, { version: 1, pool: { name: 'from-state' } });
    const config = path.join(other, 'config.toml');
    await writeFile(config, `[plugins.devmapper]\nroot_path = "${other}"\npool_name = "from-config"\n`);
    expect((await resolve({ envDefaults: { root, pool: 'from-env' } })).pool).toEqual({ name: 'from-env' });
    expect((await resolve({ envDefaults: { root } })).pool).toEqual({ name: 'from-state' });
    expect((await resolve({ root, envDefaults: { pool: 'from-env' }, storageOpt: ['dm.thinpooldev=from-opt'] })).pool).toEqual({ name: 'from-opt' });
    expect((await resolve({ pool: 'from-flag', envDefaults: { root, pool: 'from-env' } })).pool).toEqual({ name: 'from-flag' });
    const withConfig = await resolve({ containerdConfig: config, envDefaults: { root, pool: 'from-env', poolDir: '/env/dir' } });
    expect(withConfig.root).toBe(other); // the config given on the command line names the root
    expect(withConfig.pool).toEqual({ name: 'from-config' });
    const envConfig = await resolve({ root, envDefaults: { containerdConfig: config } });
    expect(envConfig.root).toBe(root);
  });

  it('--default-size, then DEVMAPPER_DEFAULT_SIZE, then the root state give the snapshotter its defaultSnapshotSize', async () => {
    const root = await dir();
    await writeState(root, { version: 1, pool: { name: 'p' }, snapshotter: { baseImageSize: '1G', defaultSnapshotSize: '8G' } });
    const r = await resolve({ root });
    expect(snapshotterSettings({}, r)).toMatchObject({ baseImageSize: '1G', defaultSnapshotSize: '8G' });
    expect(snapshotterSettings({ envDefaults: { defaultSize: '16G' } }, r)).toMatchObject({ defaultSnapshotSize: '16G' });
    expect(snapshotterSettings({ defaultSize: '20G', envDefaults: { defaultSize: '16G' } }, r)).toMatchObject({ defaultSnapshotSize: '20G' });
    const none = await resolve({ root: await dir(), pool: 'p' });
    expect(snapshotterSettings({}, none)).not.toHaveProperty('defaultSnapshotSize');
  });

  it('keeps state in the root, written atomically, and reads an absent one as empty', async () => {
    const root = path.join(await dir(), 'new-root');
    expect(await readState(root)).toEqual({ version: 1 });
    await writeState(root, { version: 1, pool: { directory: '/x' } });
    expect(await readState(root)).toEqual({ version: 1, pool: { directory: '/x' } });
  });
});
