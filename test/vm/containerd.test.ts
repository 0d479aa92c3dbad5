/**
 * End to end with containerd (Debian's 1.6) and runc: the server on a
 * loopback thin pool as containerd's proxy snapshotter plugin. An image
 * built here (busybox in one layer) is imported and unpacked into thin
 * devices, containers run on it, a container's changes are committed and
 * viewed, `ctr snapshots` behaves as with containerd's own native
 * snapshotter, and containerd's garbage collector removes every thin device
 * once the image and containers are gone.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import * as dm from '../../src/dm/device-mapper.js';
import { createLogger, serve, type Serving } from '../../src/server/index.js';
import { MAX_SIZE_LABEL, type Info } from '../../src/snapshotter/index.js';
import { createLoopbackPool, type ThinPool } from '../../src/thin/index.js';
import { buildBusyboxImage, type BuiltImage } from '../fixtures/image/busybox-image.js';
import { startContainerd, type Containerd } from './support/containerd.js';
import { cleanup, requireDeviceMapper, sh, tempDir, uniquePrefix } from './support/kernel.js';

const MiB = 1024 * 1024;
const prefix = uniquePrefix('ctd');
const plugin = `dmt-node-${process.pid}`;
const namespace = `dmt-${process.pid}`;

let dir: string;
let pool: ThinPool | undefined;
let serving: Serving | undefined;
let serverLog: WriteStream | undefined;
/** The server's log lines, parsed (they also go to server.log). */
const serverLines: Array<Record<string, unknown>> = [];
const serverStream = {
  write(chunk: string) {
    serverLines.push(JSON.parse(chunk) as Record<string, unknown>);
    return serverLog?.write(chunk) ?? true;
  },
};
let containerd: Containerd | undefined;
let image: BuiltImage;

function ctr(args: string[], options?: { allowFail?: boolean }) {
  if (!containerd) throw new Error('containerd is not running');
  return containerd.ctr(args, options);
}
const snapshots = (snapshotter: string, ...args: string[]) => ctr(['snapshots', '--snapshotter', snapshotter, ...args]);

/** What the server's snapshotter holds: containerd names backend snapshots `<namespace>/<n>/<key>`. */
async function backend(): Promise<Info[]> {
  const all: Info[] = [];
  for await (const info of serving!.snapshotter.walk()) all.push(info);
  return all;
}
const backendKey = (key: string) => (i: Info) => i.name.startsWith(`${namespace}/`) && i.name.endsWith(`/${key}`);

/** `ctr snapshots ls` as rows of [key, parent, kind]. */
function parseTable(stdout: string): string[][] {
  return stdout
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/));
}

beforeAll(async () => {
  requireDeviceMapper();
  dir = await tempDir('ctd');
  pool = await createLoopbackPool({
    directory: path.join(dir, 'pool'),
    name: `${prefix}pool`,
    dataSizeBytes: 2048 * MiB,
    metadataSizeBytes: 16 * MiB,
    minFreeSpacePercent: 0,
  });
  serverLog = createWriteStream(path.join(dir, 'server.log'));
  serving = await serve({
    socket: path.join(dir, 'snap.sock'),
    rootPath: path.join(dir, 'meta'),
    pool,
    baseImageSize: '128MB',
    fsType: 'ext4',
    minFreeSpace: 0,
    handleSignals: false,
    logger: createLogger({ level: 'debug', stream: serverStream }),
  });
  image = await buildBusyboxImage(path.join(dir, 'busybox.tar'), { name: `localhost/${namespace}/busybox:latest` });
  containerd = await startContainerd({ dir: path.join(dir, 'c'), snapshotter: { name: plugin, socket: serving.socket }, namespace });
});

// On a failure, show what containerd and the server said.
afterEach(async (context) => {
  if (context.task.result?.state !== 'fail') return;
  console.error(`containerd log (last lines):\n${(await containerd?.logTail(40)) ?? ''}`);
  console.error(`server log (last lines):\n${serverLines.slice(-20).map((l) => JSON.stringify(l)).join('\n')}`);
});

afterAll(async () => {
  try {
    await containerd?.stop();
    await serving?.close();
    await pool?.destroy();
  } finally {
    serverLog?.end();
    if (dir) await cleanup(prefix, [dir]);
  }
  expect((await dm.list()).filter((d) => d.name.startsWith(prefix))).toEqual([]);
});

describe('containerd with the server as its proxy snapshotter', () => {
  test('ctr images import unpacks the image into a committed thin snapshot', async () => {
    const imported = await ctr(['images', 'import', '--snapshotter', plugin, image.file]);
    expect(imported.stdout).toContain(image.name);
    expect((await ctr(['images', 'ls', '-q'])).stdout.split('\n')).toContain(image.name);
    // One layer: its chain id is its diff id, the committed snapshot's name.
    expect(parseTable((await snapshots(plugin, 'ls')).stdout)).toEqual([[image.diffId, 'Committed']]);
    expect((await backend()).filter(backendKey(image.diffId))).toEqual([expect.objectContaining({ kind: 'committed' })]);
    // containerd's unpacker prepared the layer under an extract key naming the chain id it then committed to.
    const prepares = serverLines.filter((l) => l.msg === 'rpc' && l.method === 'Prepare').map((l) => l.key);
    expect(prepares).toContainEqual(expect.stringMatching(new RegExp(`^${namespace}/\\d+/extract-\\S+ ${image.diffId}$`)));
    expect(serverLines.filter((l) => l.msg === 'rpc' && l.method === 'Commit')).toContainEqual(
      expect.objectContaining({ name: expect.stringMatching(new RegExp(`^${namespace}/\\d+/${image.diffId}$`)) }),
    );
    // The layer's blocks are in the pool: busybox is ~2 MB.
    const usage = parseTable((await snapshots(plugin, 'usage', image.diffId)).stdout);
    expect(usage).toEqual([[image.diffId, expect.any(String), expect.any(String), '0']]);
    expect(Number(usage[0]?.[1]) * (usage[0]?.[2] === 'MiB' ? MiB : 1)).toBeGreaterThanOrEqual(1 * MiB);
  });

  test('ctr run --rm runs a container on it', async () => {
    const r = await ctr(['run', '--rm', '--snapshotter', plugin, image.name, 'c-hello', '/bin/busybox', 'echo', 'hello']);
    expect(r.stdout.trim()).toBe('hello');
    expect((await ctr(['containers', 'ls', '-q'])).stdout.trim()).toBe('');
  });

  test('a container run with the containerd.io/snapshot/max-size label gets a root filesystem of that size (df inside it)', async () => {
    const rootKb = async (id: string, extra: string[]) => {
      const r = await ctr(['run', '--rm', '--snapshotter', plugin, ...extra, image.name, id, '/bin/busybox', 'df', '-P', '-k', '/']);
      // "Filesystem 1024-blocks Used Available Capacity Mounted on", then the root's row.
      return Number(r.stdout.trim().split('\n').at(-1)?.trim().split(/\s+/)[1]) * 1024;
    };
    const size = 512 * MiB;
    const sized = await rootKb('c-sized', ['--snapshotter-label', `${MAX_SIZE_LABEL}=${size}`]);
    expect(sized).toBeLessThanOrEqual(size);
    expect(sized).toBeGreaterThan(size * 0.85);
    // Without the label: the base size (128 MiB).
    expect(await rootKb('c-plain', [])).toBeLessThanOrEqual(128 * MiB);
    // containerd passed the label on Prepare.
    expect(serverLines.filter((l) => l.msg === 'rpc' && l.method === 'Prepare' && String(l.key).endsWith('/c-sized'))).toEqual([
      expect.objectContaining({ labels: expect.objectContaining({ [MAX_SIZE_LABEL]: String(size) }) }),
    ]);
  });

  test("a container's writes, committed with ctr snapshots commit, show in a view of the commit", async () => {
    await ctr(['run', '--snapshotter', plugin, image.name, 'c-write', '/bin/busybox', 'sh', '-c', 'echo written-in-container > /data.txt']);
    expect(parseTable((await snapshots(plugin, 'ls')).stdout)).toContainEqual(['c-write', image.diffId, 'Active']);
    await snapshots(plugin, 'commit', 'c-write-layer', 'c-write');
    await snapshots(plugin, 'view', 'c-write-view', 'c-write-layer');
    const rows = parseTable((await snapshots(plugin, 'ls')).stdout);
    expect(rows).toContainEqual(['c-write-layer', image.diffId, 'Committed']);
    expect(rows).toContainEqual(['c-write-view', 'c-write-layer', 'View']);
    expect(rows.find((r) => r[0] === 'c-write')).toBeUndefined();

    // `ctr snapshots mounts` prints the mount command; run it.
    const target = path.join(dir, 'view-mount');
    await mkdir(target);
    const command = (await snapshots(plugin, 'mounts', target, 'c-write-view')).stdout.trim();
    expect(command).toMatch(new RegExp(`^mount -t ext4 /dev/mapper/${prefix}pool-snap-\\d+ ${target} -o ro$`));
    await sh('sh', ['-c', command]);
    try {
      expect(await readFile(path.join(target, 'data.txt'), 'utf8')).toBe('written-in-container\n');
      // Compared as a boolean: a deep equality of 2 MB buffers is slow.
      expect((await readFile(path.join(target, 'bin', 'busybox'))).equals(await readFile('/bin/busybox'))).toBe(true);
    } finally {
      await sh('umount', [target]);
    }
    // The write is the commit's own: it uses space beyond its parent's.
    const usage = parseTable((await snapshots(plugin, 'usage', 'c-write-layer')).stdout);
    expect(usage[0]?.[1]).not.toBe('0.0');
  });

  test("ctr snapshots ls, info, label, usage, tree and rm answer as with containerd's native snapshotter", async () => {
    // The same operations on both snapshotters, outputs compared with times and sizes left out.
    const session = async (snapshotter: string) => {
      const out: Record<string, unknown> = {};
      const s = (...args: string[]) => ctr(['snapshots', '--snapshotter', snapshotter, ...args], { allowFail: true });
      const step = async (name: string, ...args: string[]) => {
        const r = await s(...args);
        // Messages name backend keys and differ in wording; containerd's error kind ends them (": not found").
        let stdout = r.stdout.trim();
        // `label` prints the labels in map order, with containerd's own gc.root stamp.
        if (args[0] === 'label') stdout = stdout.split(',').filter((l) => !l.startsWith('containerd.io/gc.root=')).sort().join(',');
        out[name] = { code: r.code, stdout, error: r.code === 0 ? '' : (/: ([a-z ]+)$/.exec(r.stderr.trim())?.[1] ?? r.stderr.trim()) };
        return r;
      };
      await step('prepare', 'prepare', 'k-a');
      await step('commit', 'commit', 'k-a1', 'k-a');
      await step('view', 'view', 'k-v', 'k-a1');
      await step('prepare child', 'prepare', 'k-b', 'k-a1');
      await step('prepare again', 'prepare', 'k-b', 'k-a1');
      await step('prepare on an active parent', 'prepare', 'k-c', 'k-b');
      await step('commit a committed', 'commit', 'k-x', 'k-a1');
      out.ls = parseTable((await s('ls')).stdout).filter((r) => r[0]?.startsWith('k-')).sort();
      out.tree = (await s('tree')).stdout.split('\n').filter((l) => l.includes('k-')).join('\n');
      const info = (key: string) => s('info', key).then((r) => {
        const { Created: _c, Updated: _u, Labels, ...rest } = JSON.parse(r.stdout) as Record<string, unknown> & { Labels?: Record<string, string> };
        const { 'containerd.io/gc.root': _g, ...labels } = Labels ?? {};
        return { ...rest, labels };
      });
      out['info k-a1'] = await info('k-a1');
      out['info k-v'] = await info('k-v');
      await step('label', 'label', 'k-a1', 'containerd.io/snapshot/t=1', 'plain=2');
      out['info after label'] = await info('k-a1');
      await step('unlabel', 'label', 'k-a1', 'plain=');
      out['info after unlabel'] = await info('k-a1');
      const usage = parseTable((await s('usage')).stdout).filter((r) => r[0]?.startsWith('k-'));
      out.usage = usage.map((r) => [r[0], r.length]).sort();
      await step('info missing', 'info', 'k-missing');
      await step('rm a parent', 'rm', 'k-a1');
      await step('rm view', 'rm', 'k-v');
      await step('rm missing', 'rm', 'k-v');
      await step('rm child', 'rm', 'k-b');
      await step('rm parent', 'rm', 'k-a1');
      out['ls after rm'] = parseTable((await s('ls')).stdout).filter((r) => r[0]?.startsWith('k-'));
      return out;
    };
    const ours = await session(plugin);
    const native = await session('native');
    expect(ours).toEqual(native);
    // A sanity check of the comparison: the failures are there, as containerd words them.
    expect(ours['prepare again']).toMatchObject({ code: 1, error: 'already exists' });
    expect(ours['prepare on an active parent']).toMatchObject({ code: 1, error: 'invalid argument' });
    expect(ours['rm a parent']).toMatchObject({ code: 1, error: 'failed precondition' });
    expect(ours['info missing']).toMatchObject({ code: 1, error: 'not found' });
    expect(ours['info after label']).toEqual({ Kind: 'Committed', Name: 'k-a1', labels: { 'containerd.io/snapshot/t': '1', plain: '2' } });
  });

  test("labels reach the snapshotter as containerd passes them: only containerd.io/snapshot/ ones", async () => {
    await snapshots(plugin, 'prepare', 'l-a');
    await snapshots(plugin, 'label', 'l-a', 'containerd.io/snapshot/remote=yes', 'team=x');
    expect((await backend()).find(backendKey('l-a'))?.labels).toEqual({ 'containerd.io/snapshot/remote': 'yes' });
    await snapshots(plugin, 'label', 'l-a', 'containerd.io/snapshot/remote=');
    expect((await backend()).find(backendKey('l-a'))?.labels).toEqual({});
    await snapshots(plugin, 'rm', 'l-a');
  });

  test("removing the image and containers lets containerd's garbage collector delete every thin device", async () => {
    expect((await backend()).length).toBeGreaterThan(0);
    await ctr(['containers', 'rm', 'c-write']);
    await snapshots(plugin, 'rm', 'c-write-view');
    await snapshots(plugin, 'rm', 'c-write-layer');
    // --sync waits for the garbage collection, which removes what containerd no longer references from the plugin and calls Cleanup.
    await ctr(['images', 'rm', '--sync', image.name]);
    let left = await backend();
    for (let round = 0; left.length > 0 && round < 60; round++) {
      await sleep(5000);
      left = await backend();
    }
    expect(left).toEqual([]);
    expect(parseTable((await snapshots(plugin, 'ls')).stdout)).toEqual([]);
    // Only the base device (every parentless snapshot's origin) stays, inactive.
    expect(await pool!.thinIds()).toHaveLength(1);
    expect((await dm.list()).filter((d) => d.name.startsWith(prefix)).map((d) => d.name)).toEqual([`${prefix}pool`]);
    // Containers' rootfs mounts are gone too.
    const mounts = await readFile('/proc/self/mounts', 'utf8');
    expect(mounts).not.toContain(`${prefix}pool-snap-`);
  });
});

describe('serve() with a loopback pool directory', () => {
  test('makes the pool on first use, serves it, and leaves it in the kernel on close', async () => {
    const poolDir = path.join(dir, 'serve-pool');
    let poolName: string | undefined;
    try {
      const first = await serve({
        socket: path.join(dir, 'dir.sock'),
        rootPath: path.join(dir, 'dir-meta'),
        poolDirectory: poolDir,
        poolSize: '256MB',
        baseImageSize: '64MB',
        fsType: 'none',
        minFreeSpace: 0,
        handleSignals: false,
        logger: createLogger({ level: 'warn', stream: serverStream }),
      });
      poolName = first.snapshotter.pool.name;
      expect(poolName).toMatch(/^devmapper-[0-9a-f]{12}-pool$/);
      await first.snapshotter.prepare('kept');
      await first.close();
      expect((await dm.list()).map((d) => d.name)).toContain(poolName);
      // Served again from the same directory: the snapshot is still there.
      const again = await serve({
        socket: path.join(dir, 'dir.sock'),
        rootPath: path.join(dir, 'dir-meta'),
        poolDirectory: poolDir,
        baseImageSize: '64MB',
        fsType: 'none',
        minFreeSpace: 0,
        handleSignals: false,
        logger: createLogger({ level: 'warn', stream: serverStream }),
      });
      expect((await again.snapshotter.stat('kept')).kind).toBe('active');
      await again.snapshotter.remove('kept');
      await again.close();
      await (await createLoopbackPool({ directory: poolDir })).destroy();
    } finally {
      if (poolName) await cleanup(poolName, []);
    }
    expect((await dm.list()).filter((d) => d.name === poolName)).toEqual([]);
  });
});
