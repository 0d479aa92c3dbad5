/**
 * The CLI on the guest's kernel: a loopback pool made with Docker's option
 * names, the docker-info report, snapshots mounted and written across
 * separate invocations, resize, watch and destroy. Most invocations call
 * run() in-process (node is slow in the guest); one spawns the built
 * executable as `npx devmapper` would.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/program.js';
import { STATE_FILE } from '../../src/cli/state.js';
import * as dm from '../../src/dm/device-mapper.js';
import { LoopDevice } from '../../src/dm/loop.js';
import type { Mount } from '../../src/snapshotter/types.js';
import { Capture } from '../host/cli/helpers.js';
import { cleanup, requireDeviceMapper, sh, tempDir, uniquePrefix } from './support/kernel.js';

const exec = promisify(execFile);
const MiB = 1024 * 1024;
const prefix = uniquePrefix('cli');
const dirs: string[] = [];
// The package's bin as users run it (the bundled CLI).
const mainJs = path.resolve(import.meta.dirname, '../../bundle/cli.js');

async function dir(): Promise<string> {
  const d = await tempDir('cli');
  dirs.push(d);
  return d;
}

async function cli(argv: string[], options: { tty?: boolean } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Capture();
  const stderr = new Capture(options.tty === true);
  const code = await run(argv, { stdout, stderr, env: {} });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

async function json<T>(argv: string[]): Promise<T> {
  const r = await cli([...argv, '--json']);
  if (r.code !== 0) throw new Error(`devmapper ${argv.join(' ')}: exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

async function mountAndWrite(mounts: Mount[], target: string, file: string, text: string): Promise<string[]> {
  const m = mounts[0]!;
  await sh('mount', ['-t', m.type, ...(m.options.length ? ['-o', m.options.join(',')] : []), m.source, target]);
  try {
    await writeFile(path.join(target, file), text);
    // 256 KiB of new data: blocks beyond what the parent mapped, so usage and discards show.
    await writeFile(path.join(target, `${file}.data`), Buffer.alloc(256 * 1024, 1));
    return (await readdir(target)).sort();
  } finally {
    await sh('umount', [target]);
  }
}

beforeAll(() => requireDeviceMapper());
afterEach(async () => {
  await cleanup(prefix, dirs.splice(0));
});
afterAll(async () => {
  expect((await dm.list()).filter((d) => d.name.startsWith(prefix))).toEqual([]);
});

describe('devmapper CLI on a kernel pool', () => {
  it('pool create with dm.* options, status, snapshots across invocations, resize, destroy', async () => {
    const work = await dir();
    const root = path.join(work, 'root');
    const poolDir = path.join(work, 'pool');
    const target = path.join(work, 'mnt');
    await mkdir(target);
    const name = `${prefix}p1`;

    const created = await json<{ pool: string; kind: string; created: boolean; snapshotter: Record<string, unknown> }>([
      'pool', 'create', '--root', root, '--pool-dir', poolDir, '--name', name,
      '--storage-opt', 'dm.loopdatasize=256M', '--storage-opt', 'dm.loopmetadatasize=8M',
      '--storage-opt', 'dm.basesize=64M', '--storage-opt', 'dm.fs=ext4', '--storage-opt', 'dm.min_free_space=5%',
      '--storage-opt', 'dm.mountopt=noatime',
    ]);
    expect(created).toMatchObject({ pool: name, kind: 'loopback', created: true });
    expect(created.snapshotter).toEqual({ baseImageSize: '64M', fsType: 'ext4', mountOptions: ['noatime'], discardBlocks: true, minFreeSpace: '5%' });
    expect(JSON.parse(await readFile(path.join(root, STATE_FILE), 'utf8')).pool).toEqual({ name, directory: poolDir });
    // Creating again reopens the active pool under its own name, and refuses another name for the same files.
    expect(await json(['pool', 'create', '--pool-dir', poolDir])).toMatchObject({ pool: name, created: false });
    const clash = await cli(['pool', 'create', '--pool-dir', poolDir, '--name', `${prefix}other`]);
    expect(clash.code).toBe(2);
    expect(clash.stderr).toContain(`already holds the active pool ${name}`);

    const status = await json<Record<string, unknown>>(['pool', 'status', '--root', root]);
    expect(status).toMatchObject({ poolName: name, poolBlocksizeBytes: 64 * 1024, dataSpaceTotalBytes: 256 * MiB, dataLoopFile: path.join(poolDir, 'data'), mode: 'rw', transactionId: 0 });
    const text = await cli(['pool', 'status', '--pool-dir', poolDir]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^Storage Driver: devmapper\n Pool Name: /);
    expect(text.stdout).toContain(` Pool Name: ${name}\n`);
    expect(text.stdout).toContain(' Pool Blocksize: 65.54 kB\n');
    expect(text.stdout).toContain(' Data Space Total: 268.4 MB\n');
    expect(text.stdout).toContain(` Data loop file: ${path.join(poolDir, 'data')}\n`);
    expect(text.stdout).toMatch(/ Library Version: 1\.02\./);

    // Each command below is its own invocation: only --root says where everything is.
    // On a terminal, formatting the base shows a progress bar on stderr; stdout keeps the result.
    const first = await cli(['snapshot', 'prepare', 'base-extract', '--root', root], { tty: true });
    expect(first.code).toBe(0);
    expect(first.stderr).toMatch(/formatting the base device \(ext4, 64 MiB\): allocating and zeroing: \d+(\.\d)? [KM]iB/);
    const base = await json<Mount[]>(['snapshot', 'mounts', 'base-extract', '--root', root]);
    expect(base).toEqual([{ type: 'ext4', source: expect.stringMatching(new RegExp(`^/dev/mapper/${name}-snap-\\d+$`)), options: ['noatime'] }]);
    expect(await mountAndWrite(base, target, 'base.txt', 'base\n')).toEqual(['base.txt', 'base.txt.data']);
    await json(['snapshot', 'commit', 'base', 'base-extract', '--root', root]);
    const child = await json<Mount[]>(['snapshot', 'prepare', 'container', 'base', '--root', root, '--label', 'app=demo']);
    expect(await mountAndWrite(child, target, 'container.txt', 'container\n')).toEqual(['base.txt', 'base.txt.data', 'container.txt', 'container.txt.data']);
    const mountsText = await cli(['snapshot', 'mounts', 'container', target, '--root', root]);
    expect(mountsText.stdout).toBe(`mount -t ext4 -o noatime ${child[0]!.source} ${target}\n`);

    const list = await json<Array<{ name: string; kind: string; parent?: string; labels: Record<string, string> }>>(['snapshot', 'ls', '--root', root, '--filter', 'labels.app==demo']);
    expect(list).toEqual([expect.objectContaining({ name: 'container', kind: 'active', parent: 'base', labels: { app: 'demo' } })]);
    const usage = await json<Array<{ name: string; size: number }>>(['snapshot', 'usage', '--root', root]);
    expect(usage.map((u) => u.name)).toEqual(['base', 'container']);
    expect(usage.every((u) => u.size >= 128 * 1024)).toBe(true);
    expect((await json<{ kind: string }>(['snapshot', 'stat', 'base', '--root', root])).kind).toBe('committed');

    // The pool's data use goes down again when rm discards (dm.blkdiscard is on for loopback pools).
    const usedBefore = (await json<{ dataSpaceUsedBytes: number }>(['pool', 'status', '--root', root])).dataSpaceUsedBytes;
    const removed = await cli(['snapshot', 'rm', 'container', '--root', root], { tty: true });
    expect(removed.stdout).toBe('Removed container\n');
    expect(removed.stderr).toMatch(/discarding container \[.*\] 100%/);
    const usedAfter = (await json<{ dataSpaceUsedBytes: number }>(['pool', 'status', '--root', root])).dataSpaceUsedBytes;
    expect(usedAfter).toBeLessThan(usedBefore);
    await json(['snapshot', 'rm', 'base', '--root', root]);
    expect(await json<{ freedBytes: number }>(['snapshot', 'cleanup', '--root', root])).toMatchObject({ freedBytes: expect.any(Number) });

    const grown = await json<{ fromBytes: number; toBytes: number }>(['pool', 'resize', '--root', root, '--data-size', '320M']);
    expect(grown).toEqual({ pool: name, fromBytes: 256 * MiB, toBytes: 320 * MiB });

    const destroyed = await json<{ pool: string; removedFiles: string[]; forgotRoot: string | null }>(['pool', 'destroy', '--root', root]);
    expect(destroyed).toEqual({ pool: name, removedFiles: [path.join(poolDir, 'data'), path.join(poolDir, 'metadata')], forgotRoot: root });
    expect(await dm.info(name)).toBeNull();
    expect(existsSync(path.join(poolDir, 'data'))).toBe(false);
    expect(existsSync(path.join(root, STATE_FILE))).toBe(false);
  });

  it('the built executable (the bin, bundle/cli.js) watches a pool and prints its first event as JSON', async () => {
    expect(existsSync(mainJs), `${mainJs} is missing: run npm run build:ts first`).toBe(true);
    const poolDir = path.join(await dir(), 'pool');
    const name = `${prefix}p2`;
    expect(await json(['pool', 'create', '--pool-dir', poolDir, '--name', name, '--data-size', '128M', '--metadata-size', '4M'])).toMatchObject({ pool: name, created: true });
    // The first status event comes at once; --count 1 ends the watch after it.
    const { stdout } = await exec(process.execPath, [mainJs, 'pool', 'watch', '--pool-dir', poolDir, '--count', '1', '--json']);
    const event = JSON.parse(stdout.trim()) as { event: string; pool: string; status: { mode: string; data: { totalBytes: number } } };
    expect(event).toMatchObject({ event: 'status', pool: name, status: { mode: 'rw', data: { totalBytes: 128 * MiB } } });
    expect(await json(['pool', 'destroy', '--pool-dir', poolDir])).toMatchObject({ pool: name, forgotRoot: null });
    expect(await dm.info(name)).toBeNull();
  });

  it('fails clearly, without touching the kernel, for a directory with no pool', async () => {
    const empty = await dir();
    const r = await cli(['pool', 'status', '--pool-dir', empty]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/holds no loopback pool/);
  });

  it("pool ls finds the kernel's pools and the roots around them; dm.datadev and dm.metadatadev make a pool on block devices", async () => {
    const work = await dir();
    // A loopback pool made with only --root: its files go to ROOT/devicemapper, and pool ls finds the root from them.
    const root1 = path.join(work, 'root1');
    const loopName = `${prefix}p3`;
    await json(['pool', 'create', '--root', root1, '--name', loopName, '--data-size', '128M', '--metadata-size', '4M']);

    // A pool on two block devices (loop devices here), from Docker's options; a no-effect option warns and is not fatal.
    const dataFile = path.join(work, 'data.img');
    const metaFile = path.join(work, 'meta.img');
    await writeFile(dataFile, '');
    await truncate(dataFile, 128 * MiB);
    await writeFile(metaFile, Buffer.alloc(4 * MiB));
    const data = await LoopDevice.attach(dataFile);
    const meta = await LoopDevice.attach(metaFile);
    const root2 = path.join(work, 'root2');
    const devName = `${prefix}p4`;
    const made = await cli([
      'pool', 'create', '--root', root2, '--name', devName, '--json',
      '--storage-opt', `dm.datadev=${data.path}`, '--storage-opt', `dm.metadatadev=${meta.path}`,
      '--storage-opt', 'dm.override_udev_sync_check=true', '--storage-opt', 'dm.blocksize=128K',
    ]);
    expect(made.code, made.stderr).toBe(0);
    expect(JSON.parse(made.stdout)).toMatchObject({ pool: devName, kind: 'devices', created: true, dataSizeBytes: 128 * MiB, dataBlockSizeBytes: 128 * 1024 });
    expect(JSON.parse(made.stderr.trim())).toMatchObject({ warning: { option: 'dm.override_udev_sync_check' } });
    const status = await json<{ dataFile: string; metadataFile: string; dataLoopFile: string | null }>(['pool', 'status', '--root', root2]);
    expect(status).toMatchObject({ dataFile: data.path, metadataFile: meta.path, dataLoopFile: null });

    interface Listed {
      pools: Array<{ name: string; loopbackDirectory: string | null; dataTotalBytes: number; mode: string; roots: string[] }>;
      roots: Array<{ root: string; pool: string | null; active: boolean }>;
    }
    const listed = await json<Listed>(['pool', 'ls', '--root', root2]);
    const mine = listed.pools.filter((p) => p.name.startsWith(prefix));
    expect(mine).toEqual([
      expect.objectContaining({ name: loopName, loopbackDirectory: path.join(root1, 'devicemapper'), dataTotalBytes: 128 * MiB, mode: 'rw', roots: [root1] }),
      // Its data device is a loop device here too: pool ls names the file's directory, as for any pool over a loop device.
      expect.objectContaining({ name: devName, loopbackDirectory: work, dataTotalBytes: 128 * MiB, mode: 'rw', roots: [root2] }),
    ]);
    expect(listed.roots).toEqual(expect.arrayContaining([{ root: root1, pool: loopName, directory: path.join(root1, 'devicemapper'), active: true }, { root: root2, pool: devName, directory: null, active: true }]));
    const text = await cli(['pool', 'ls', '--root', root2]);
    expect(text.stdout).toMatch(new RegExp(`^POOL\\s+DATA\\s+METADATA\\s+MODE\\s+LOOPBACK DIR\\s+ROOTS\\n`));
    expect(text.stdout).toContain(`${root2}   ${devName}   yes`);

    await json(['pool', 'destroy', '--root', root2]);
    await json(['pool', 'destroy', '--root', root1]);
    const after = await json<Listed>(['pool', 'ls', '--root', root2]);
    expect(after.pools.filter((p) => p.name.startsWith(prefix))).toEqual([]);
    await data.detach();
    await meta.detach();
  });
});
