import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readContainerdConfig } from '../../../src/cli/containerd-config.js';
import { optionsFromContainerdConfig } from '../../../src/snapshotter/options.js';

const dirs: string[] = [];
async function config(text: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'cli-cfg-'));
  dirs.push(dir);
  const file = path.join(dir, 'config.toml');
  await writeFile(file, text);
  return file;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('containerd config.toml', () => {
  it('reads the short [plugins.devmapper] form of version 1 configs', async () => {
    const file = await config(`
[plugins]
  [plugins.devmapper]
    pool_name = "containerd-pool"
    root_path = "/var/lib/containerd/devmapper"
    base_image_size = "8192MB"
    async_remove = true
`);
    const s = await readContainerdConfig(file);
    expect(s.section).toBe('plugins.devmapper');
    expect(s.config).toEqual({ pool_name: 'containerd-pool', root_path: '/var/lib/containerd/devmapper', base_image_size: '8192MB', async_remove: true });
    expect(optionsFromContainerdConfig(s.config)).toMatchObject({ poolName: 'containerd-pool', rootPath: '/var/lib/containerd/devmapper', baseImageSize: '8192MB', asyncRemove: true });
  });

  it('reads the full plugin id form of version 2 configs, with every key', async () => {
    const file = await config(`
version = 2
[plugins]
  [plugins."io.containerd.snapshotter.v1.devmapper"]
    root_path = "/var/lib/containerd/io.containerd.snapshotter.v1.devmapper"
    pool_name = "devpool"
    base_image_size = "10GB"
    discard_blocks = true
    fs_type = "xfs"
    fs_options = ""
`);
    const s = await readContainerdConfig(file);
    expect(s.section).toBe('plugins."io.containerd.snapshotter.v1.devmapper"');
    expect(s.config).toEqual({
      root_path: '/var/lib/containerd/io.containerd.snapshotter.v1.devmapper',
      pool_name: 'devpool',
      base_image_size: '10GB',
      discard_blocks: true,
      fs_type: 'xfs',
      fs_options: '',
    });
  });

  it("defaults root_path to containerd's plugin directory under the config's root", async () => {
    const noRoot = await readContainerdConfig(await config('[plugins.devmapper]\npool_name = "p"\nbase_image_size = "1GB"\n'));
    expect(noRoot.config.root_path).toBe('/var/lib/containerd/io.containerd.snapshotter.v1.devmapper');
    const withRoot = await readContainerdConfig(await config('root = "/data/ctr"\n[plugins."io.containerd.snapshotter.v1.devmapper"]\npool_name = "p"\n'));
    expect(withRoot.config.root_path).toBe('/data/ctr/io.containerd.snapshotter.v1.devmapper');
  });

  it('says what is wrong with a config it cannot use', async () => {
    await expect(readContainerdConfig(await config('[plugins.overlayfs]\nroot_path = "/x"\n'))).rejects.toThrow(/no \[plugins.devmapper\] or \[plugins."io.containerd.snapshotter.v1.devmapper"\] section/);
    await expect(readContainerdConfig(await config('[plugins.devmapper]\npool_name = 3\n'))).rejects.toThrow(/pool_name must be a string/);
    await expect(readContainerdConfig(await config('[plugins.devmapper]\nasync_remove = "yes"\n'))).rejects.toThrow(/async_remove must be true or false/);
    await expect(readContainerdConfig(await config('[plugins.devmapper\n'))).rejects.toThrow(/not valid TOML/);
    await expect(readContainerdConfig('/nonexistent/config.toml')).rejects.toThrow(/ENOENT/);
  });
});
