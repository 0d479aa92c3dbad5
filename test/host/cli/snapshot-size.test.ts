/**
 * The CLI's size options: `snapshot prepare --size`, `snapshot resize`,
 * and `containerd-config` (the proxy plugin section for containerd 1.7 and 2.x).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'smol-toml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CliEnvironment } from '../../../src/cli/io.js';
import { MAX_SIZE_LABEL } from '../../../src/snapshotter/index.js';
import { SimulatedThinPool } from '../../../src/thin/simulated.js';
import { cli, cliJson } from './helpers.js';

const MiB = 1024 * 1024;
let dir: string;
let root: string;
let env: Partial<CliEnvironment>;
let pools: SimulatedThinPool[];

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'cli-size-'));
  root = path.join(dir, 'root');
  pools = [];
  env = {
    openSnapshotPool: async (selection) => {
      const pool = await SimulatedThinPool.open({ directory: path.join(dir, 'sim'), name: selection.name ?? 'sim-pool' });
      pools.push(pool);
      return pool;
    },
  };
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface InfoJson {
  labels: Record<string, string>;
}

describe('snapshot prepare --size and snapshot resize', () => {
  const first = () => ['--root', root, '--pool', 'sim-pool', '--fs', 'none', '--base-size', '64MB'];

  it('--default-size sizes snapshots that ask for none, is remembered by the root, and --size still wins', async () => {
    const sizeOf = (mount: { source: string } | undefined) => pools.at(-1)?.activationOf(mount?.source.replace('/dev/mapper/', '') ?? '')?.sizeBytes;
    const [a] = await cliJson<Array<{ source: string }>>(['snapshot', 'prepare', 'a', '--default-size', '128M', ...first()], env);
    expect(sizeOf(a)).toBe(128 * MiB);
    const [b] = await cliJson<Array<{ source: string }>>(['snapshot', 'prepare', 'b', '--root', root], env);
    expect(sizeOf(b)).toBe(128 * MiB);
    const [c] = await cliJson<Array<{ source: string }>>(['snapshot', 'prepare', 'c', '--size', '96M', '--root', root], env);
    expect(sizeOf(c)).toBe(96 * MiB);
    const bad = await cli(['snapshot', 'prepare', 'd', '--default-size', 'lots', '--root', root], env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('defaultSnapshotSize');
  });

  it('--size gives the snapshot its size (the max-size label, in bytes); views and resize too; shrinking is refused', async () => {
    const args = first();
    const [mount] = await cliJson<Array<{ source: string }>>(['snapshot', 'prepare', 'big', '--size', '256M', ...args], env);
    expect(pools.at(-1)?.activationOf(mount?.source.replace('/dev/mapper/', '') ?? '')?.sizeBytes).toBe(256 * MiB);
    expect((await cliJson<InfoJson>(['snapshot', 'stat', 'big', '--root', root], env)).labels).toEqual({ [MAX_SIZE_LABEL]: String(256 * MiB) });
    await cliJson(['snapshot', 'commit', 'BIG', 'big', '--root', root], env);
    await cliJson(['snapshot', 'view', 'v', 'BIG', '--size', '1G', '--root', root], env);
    expect((await cliJson<InfoJson>(['snapshot', 'stat', 'v', '--root', root], env)).labels[MAX_SIZE_LABEL]).toBe(String(1024 * MiB));

    await cliJson(['snapshot', 'prepare', 'r', 'BIG', '--root', root], env);
    const resized = await cli(['snapshot', 'resize', 'r', '2G', '--root', root], env);
    expect(resized).toMatchObject({ code: 0, stdout: 'Resized r to 2 GiB\n' });
    expect((await cliJson<InfoJson>(['snapshot', 'stat', 'r', '--root', root], env)).labels[MAX_SIZE_LABEL]).toBe(String(2048 * MiB));
    const shrink = await cli(['snapshot', 'resize', 'r', '1G', '--root', root], env);
    expect(shrink.code).toBe(2);
    expect(shrink.stderr).toContain('shrinking');
  });

  it('a malformed --size, or one that disagrees with --label, or one below the base is a usage error (exit 2)', async () => {
    expect((await cli(['snapshot', 'prepare', 'a', '--size', 'huge', ...first()], env)).code).toBe(2);
    const both = await cli(['snapshot', 'prepare', 'a', '--size', '1G', '--label', `${MAX_SIZE_LABEL}=5`, ...first()], env);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('disagree');
    const small = await cli(['snapshot', 'prepare', 'a', '--size', '32M', ...first()], env);
    expect(small.code).toBe(2);
    expect(small.stderr).toContain('below the base size');
  });
});

describe('containerd-config', () => {
  it('prints the proxy plugin for containerd 2.x (config version 3) by default, with exports.root and no capabilities', async () => {
    const r = await cli(['containerd-config', '--root', '/var/lib/dm', '--socket', '/run/dm.sock', '--name', 'thin'], env);
    expect(r.code).toBe(0);
    const doc = parse(r.stdout) as Record<string, unknown>;
    expect(doc).toEqual({
      version: 3,
      proxy_plugins: { thin: { type: 'snapshot', address: '/run/dm.sock', exports: { root: '/var/lib/dm' }, capabilities: [] } },
    });
    expect(r.stdout).toContain('# [plugins."io.containerd.cri.v1.images"]');
  });

  it('prints config version 2 for containerd 1.7, takes the root from a containerd config, and answers --json', async () => {
    const file = path.join(dir, 'config.toml');
    await writeFile(file, 'version = 2\nroot = "/data/containerd"\n[plugins."io.containerd.snapshotter.v1.devmapper"]\n  pool_name = "p"\n');
    const r = await cli(['containerd-config', '--containerd', '1.7', '--containerd-config', file], env);
    expect(r.code).toBe(0);
    const doc = parse(r.stdout) as { version: number; proxy_plugins: Record<string, { exports: { root: string }; address: string }> };
    expect(doc.version).toBe(2);
    expect(doc.proxy_plugins.thin).toMatchObject({ address: '/run/devmapper/snapshotter.sock', exports: { root: '/data/containerd/io.containerd.snapshotter.v1.devmapper' } });
    expect(r.stdout).toContain('# [plugins."io.containerd.grpc.v1.cri".containerd]');
    const json = await cliJson<{ configVersion: number; capabilities: string[]; toml: string }>(['containerd-config', '--root', '/r', '--containerd', '2.1.4'], env);
    expect(json).toMatchObject({ configVersion: 3, capabilities: [], type: 'snapshot', root: '/r' });
  });

  it('refuses an unknown containerd version and a missing root (usage errors)', async () => {
    expect((await cli(['containerd-config', '--root', '/r', '--containerd', '1.4'], env)).code).toBe(2);
    expect((await cli(['containerd-config', '--root', '/r', '--containerd', 'latest'], env)).code).toBe(2);
    const noRoot = await cli(['containerd-config'], env);
    expect(noRoot.code).toBe(2);
    expect(noRoot.stderr).toContain('--root');
  });
});
