/**
 * The snapshot commands end to end on a simulated pool persisted in a
 * directory (each invocation opens it anew, as separate processes would)
 * with the 'none' formatter: no root, no kernel.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CliEnvironment } from '../../../src/cli/io.js';
import { STATE_FILE } from '../../../src/cli/state.js';
import { SimulatedThinPool } from '../../../src/thin/simulated.js';
import { cli, cliJson } from './helpers.js';

let dir: string;
let root: string;
let opened: Array<{ name?: string; directory?: string }>;
let env: Partial<CliEnvironment>;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'cli-snap-'));
  root = path.join(dir, 'root');
  opened = [];
  env = {
    openSnapshotPool: async (selection) => {
      opened.push(selection);
      return SimulatedThinPool.open({ directory: path.join(dir, 'sim'), name: selection.name ?? 'sim-pool' });
    },
  };
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface MountJson {
  type: string;
  source: string;
  options: string[];
}
interface InfoJson {
  name: string;
  parent?: string;
  kind: string;
  labels: Record<string, string>;
  created: string;
  updated: string;
}

describe('snapshot commands', () => {
  it('remember the pool and settings in the root, so later commands need only --root', async () => {
    const mounts = await cliJson<MountJson[]>(['snapshot', 'prepare', 'layer-1-extract', '--root', root, '--pool', 'sim-pool', '--fs', 'none', '--base-size', '64MB'], env);
    expect(mounts).toEqual([{ type: 'bind', source: expect.stringMatching(/^\/dev\/mapper\/sim-pool-snap-\d+$/), options: ['bind'] }]);
    const state = JSON.parse(await readFile(path.join(root, STATE_FILE), 'utf8'));
    expect(state).toMatchObject({ version: 1, pool: { name: 'sim-pool' }, snapshotter: { baseImageSize: '64MB', fsType: 'none' } });

    // No --pool, no --fs: the root knows both.
    await cliJson(['snapshot', 'commit', 'layer-1', 'layer-1-extract', '--root', root, '--label', 'containerd.io/gc.root=yes'], env);
    expect(opened.at(-1)).toEqual({ name: 'sim-pool' });
    const info = await cliJson<InfoJson>(['snapshot', 'stat', 'layer-1', '--root', root], env);
    expect(info).toMatchObject({ name: 'layer-1', kind: 'committed', labels: { 'containerd.io/gc.root': 'yes' } });
    expect(Number.isNaN(Date.parse(info.created))).toBe(false);
  });

  it('prepare, view, commit, ls with filters, usage, mounts, rm and cleanup, in text and JSON', async () => {
    const base = ['--root', root, '--pool', 'sim-pool', '--fs', 'none', '--base-size', '64MB'];
    const prepared = await cli(['snapshot', 'prepare', 'a-extract', ...base], env);
    expect(prepared.code).toBe(0);
    expect(prepared.stdout).toMatch(/^TYPE\s+SOURCE\s+OPTIONS\nbind\s+\/dev\/mapper\/sim-pool-snap-\d+\s+bind\n/);
    expect(prepared.stdout).toMatch(/Mount it with: mount -o bind \/dev\/mapper\/sim-pool-snap-\d+ '<target>'/);
    expect((await cli(['snapshot', 'commit', 'a', 'a-extract', '--root', root], env)).stdout).toBe('Committed a-extract as a\n');
    await cliJson(['snapshot', 'prepare', 'b-extract', 'a', '--root', root, '--label', 'team=x'], env);
    await cliJson(['snapshot', 'commit', 'b', 'b-extract', '--root', root], env);
    await cliJson(['snapshot', 'prepare', 'container', 'b', '--root', root], env);
    const view = await cliJson<MountJson[]>(['snapshot', 'view', 'peek', 'a', '--root', root], env);
    expect(view[0]?.options).toEqual(['bind', 'ro']);

    const ls = await cli(['snapshot', 'ls', '--root', root], env);
    expect(ls.stdout).toMatch(/^KEY\s+PARENT\s+KIND\n/);
    expect(ls.stdout).toMatch(/\na\s+committed\n/);
    expect(ls.stdout).toMatch(/\nb\s+a\s+committed\n/);
    expect(ls.stdout).toMatch(/\ncontainer\s+b\s+active\n/);
    expect(ls.stdout).toMatch(/\npeek\s+a\s+view\n/);
    const committed = await cliJson<InfoJson[]>(['snapshot', 'ls', '--root', root, '--filter', 'kind==committed'], env);
    expect(committed.map((i) => i.name)).toEqual(['a', 'b']);
    const either = await cliJson<InfoJson[]>(['snapshot', 'ls', '--root', root, '--filter', 'parent==b', '--filter', 'kind==view'], env);
    expect(either.map((i) => i.name)).toEqual(['container', 'peek']);
    const badFilter = await cli(['snapshot', 'ls', '--root', root, '--filter', 'name~=x'], env);
    expect(badFilter.code).toBe(2);
    expect(badFilter.stderr).toMatch(/~= is not supported/);

    const usage = await cliJson<Array<{ name: string; size: number; inodes: number }>>(['snapshot', 'usage', '--root', root], env);
    expect(usage.map((u) => u.name)).toEqual(['a', 'b', 'container', 'peek']);
    for (const u of usage) expect(u.size).toBeGreaterThanOrEqual(0);
    const usageText = await cli(['snapshot', 'usage', 'a', '--root', root], env);
    expect(usageText.stdout).toMatch(/^KEY\s+SIZE\s+INODES\na\s+\d+(\.\d)? [KMG]?i?B\s+0\n$/);

    const mountsCmd = await cli(['snapshot', 'mounts', 'container', '/mnt/c', '--root', root], env);
    expect(mountsCmd.stdout).toMatch(/^mount -o bind \/dev\/mapper\/sim-pool-snap-\d+ \/mnt\/c\n$/);
    const committedMounts = await cli(['snapshot', 'mounts', 'a', '--root', root, '--json'], env);
    expect(committedMounts.code).toBe(1);
    expect(JSON.parse(committedMounts.stderr)).toMatchObject({ error: { code: 'FAILED_PRECONDITION' } });

    const parentRm = await cli(['snapshot', 'rm', 'a', '--root', root], env);
    expect(parentRm.code).toBe(1);
    expect(parentRm.stderr).toMatch(/has children/);
    expect(await cliJson(['snapshot', 'rm', 'container', 'peek', 'b', '--root', root], env)).toEqual({ removed: ['container', 'peek', 'b'] });
    const cleanup = await cliJson<{ freedBytes: number }>(['snapshot', 'cleanup', '--root', root], env);
    expect(cleanup.freedBytes).toBeGreaterThanOrEqual(0);
    expect((await cliJson<InfoJson[]>(['snapshot', 'ls', '--root', root], env)).map((i) => i.name)).toEqual(['a']);
    const missing = await cli(['snapshot', 'stat', 'nope', '--root', root], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('devmapper: snapshot "nope" does not exist\n');
  });

  it('tree shows the parent chains, as text and as JSON, whole or under one key', async () => {
    const base = ['--root', root, '--pool', 'sim-pool', '--fs', 'none', '--base-size', '64MB'];
    await cliJson(['snapshot', 'prepare', 'a-extract', ...base], env);
    await cliJson(['snapshot', 'commit', 'a', 'a-extract', '--root', root], env);
    await cliJson(['snapshot', 'prepare', 'b-extract', 'a', '--root', root], env);
    await cliJson(['snapshot', 'commit', 'b', 'b-extract', '--root', root], env);
    await cliJson(['snapshot', 'prepare', 'c1', 'b', '--root', root], env);
    await cliJson(['snapshot', 'view', 'v', 'a', '--root', root], env);
    await cliJson(['snapshot', 'prepare', 'lone', '--root', root], env);

    const text = await cli(['snapshot', 'tree', '--root', root], env);
    expect(text.code).toBe(0);
    expect(text.stdout).toBe(['a (committed)', '├── b (committed)', '│   └── c1 (active)', '└── v (view)', 'lone (active)', ''].join('\n'));
    const forest = await cliJson(['snapshot', 'tree', '--root', root], env);
    expect(forest).toEqual([
      {
        name: 'a',
        kind: 'committed',
        children: [
          { name: 'b', kind: 'committed', children: [{ name: 'c1', kind: 'active', children: [] }] },
          { name: 'v', kind: 'view', children: [] },
        ],
      },
      { name: 'lone', kind: 'active', children: [] },
    ]);
    expect((await cli(['snapshot', 'tree', 'b', '--root', root], env)).stdout).toBe('b (committed)\n└── c1 (active)\n');
    const missing = await cli(['snapshot', 'tree', 'nope', '--root', root, '--json'], env);
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stderr)).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });

  it('with async remove (dm.use_deferred_deletion), rm marks and cleanup deletes', async () => {
    const base = ['--root', root, '--pool', 'sim-pool', '--fs', 'none', '--base-size', '64MB', '--storage-opt', 'dm.use_deferred_deletion=true'];
    await cliJson(['snapshot', 'prepare', 'x', ...base], env);
    const pool = await SimulatedThinPool.open({ directory: path.join(dir, 'sim') });
    const idsBefore = await pool.thinIds();
    await pool.close();
    await cliJson(['snapshot', 'rm', 'x', '--root', root], env);
    const marked = await SimulatedThinPool.open({ directory: path.join(dir, 'sim') });
    expect(await marked.thinIds()).toEqual(idsBefore);
    await marked.close();
    await cliJson(['snapshot', 'cleanup', '--root', root], env);
    const cleaned = await SimulatedThinPool.open({ directory: path.join(dir, 'sim') });
    expect((await cleaned.thinIds()).length).toBe(idsBefore.length - 1);
    await cleaned.close();
  });

  it('reads root_path, pool_name and base_image_size from a containerd config', async () => {
    const file = path.join(dir, 'config.toml');
    await writeFile(
      file,
      `version = 2\n[plugins."io.containerd.snapshotter.v1.devmapper"]\n  root_path = "${root}"\n  pool_name = "ctr-pool"\n  base_image_size = "128MB"\n  fs_type = "none"\n`,
    );
    await cliJson(['snapshot', 'prepare', 'k', '--containerd-config', file], env);
    expect(opened.at(-1)).toEqual({ name: 'ctr-pool' });
    const state = JSON.parse(await readFile(path.join(root, STATE_FILE), 'utf8'));
    expect(state).toMatchObject({ pool: { name: 'ctr-pool' }, snapshotter: { baseImageSize: '128MB', fsType: 'none' } });
    const ls = await cliJson<InfoJson[]>(['snapshot', 'ls', '--containerd-config', file], env);
    expect(ls.map((i) => i.name)).toEqual(['k']);
  });

  it('refuses a root that belongs to another pool', async () => {
    await cliJson(['snapshot', 'prepare', 'k', '--root', root, '--pool', 'sim-pool', '--fs', 'none', '--base-size', '64MB'], env);
    const other = await cli(['snapshot', 'ls', '--root', root, '--pool', 'other-pool'], {
      openSnapshotPool: async () => new SimulatedThinPool({ name: 'other-pool' }),
    });
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/belongs to pool "sim-pool"/);
  });
});

describe('environment defaults', () => {
  it('DEVMAPPER_ROOT and DEVMAPPER_POOL stand in for --root and --pool', async () => {
    const saved = { root: process.env.DEVMAPPER_ROOT, pool: process.env.DEVMAPPER_POOL };
    process.env.DEVMAPPER_ROOT = root;
    process.env.DEVMAPPER_POOL = 'env-pool';
    try {
      await cliJson(['snapshot', 'prepare', 'k', '--fs', 'none', '--base-size', '64MB'], env);
      expect(opened.at(-1)).toEqual({ name: 'env-pool' });
      const state = JSON.parse(await readFile(path.join(root, STATE_FILE), 'utf8'));
      expect(state).toMatchObject({ pool: { name: 'env-pool' } });
      expect((await cliJson<InfoJson[]>(['snapshot', 'ls'], env)).map((i) => i.name)).toEqual(['k']);
      // An empty variable counts as unset.
      process.env.DEVMAPPER_ROOT = '';
      const noRoot = await cli(['snapshot', 'ls'], env);
      expect(noRoot.code).toBe(2);
      expect(noRoot.stderr).toMatch(/need --root DIR/);
    } finally {
      for (const [k, v] of [['DEVMAPPER_ROOT', saved.root], ['DEVMAPPER_POOL', saved.pool]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});
