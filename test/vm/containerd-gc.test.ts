/**
 * Real containerd, real garbage collection: containerd (Debian's 1.6) with
 * the server as its proxy snapshotter and a GC scheduler that collects
 * after every deletion, while several clients import and remove images
 * and run and remove containers at once. Every container checks its own
 * files and the image's to its end; once everything is removed and
 * collected, no device, thin id or record is left.
 *
 * DEVMAPPER_GC_SECONDS (default 60) and DEVMAPPER_GC_CLIENTS (default 3)
 * size the run; CI uses the defaults, longer runs set them.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, test } from 'vitest';
import * as dm from '../../src/dm/device-mapper.js';
import { createLogger, serve, type Serving } from '../../src/server/index.js';
import type { Info } from '../../src/snapshotter/index.js';
import { createLoopbackPool, type ThinPool } from '../../src/thin/index.js';
import { buildBusyboxImage, type BuiltImage } from '../fixtures/image/busybox-image.js';
import { startContainerd, type Containerd } from './support/containerd.js';
import { cleanup, requireDeviceMapper, tempDir, uniquePrefix } from './support/kernel.js';
import { checkConsistency, reportFigure } from './support/reliability.js';

const MiB = 1024 * 1024;
const SECONDS = Number(process.env.DEVMAPPER_GC_SECONDS ?? 60);
const CLIENTS = Number(process.env.DEVMAPPER_GC_CLIENTS ?? 3);
const prefix = uniquePrefix('gc');
const plugin = `dmt-gc-${process.pid}`;
const namespace = `dmt-gc-${process.pid}`;

let dir: string;
let rootPath: string;
let pool: ThinPool | undefined;
let serving: Serving | undefined;
let serverLog: WriteStream | undefined;
const serverLines: Array<Record<string, unknown>> = [];
let containerd: Containerd | undefined;

/** An image and the sha256 of the busybox in it, which every container checks. */
interface TestImage extends BuiltImage {
  busyboxSha: string;
}

/**
 * A container's script: writes its own id and 1 MiB of random data, then
 * three times, a second apart, prints them back with the image's busybox
 * checksum. Any I/O error (its device gone) fails it.
 */
const SCRIPT = [
  'set -e',
  'B=/bin/busybox',
  'echo "$1" > /own.txt',
  '$B dd if=/dev/urandom of=/own.bin bs=64k count=16 2>/dev/null',
  'for i in 1 2 3; do',
  '  echo "own $($B cat /own.txt) $($B sha256sum /own.bin | $B cut -d" " -f1)"',
  '  echo "image $($B sha256sum /bin/busybox | $B cut -d" " -f1)"',
  '  $B sleep 1',
  'done',
].join('\n');

/** A busybox that differs from the host's by trailing bytes (still a valid ELF), so its layer is its own. */
async function busyboxVariant(tag: string): Promise<{ file: string; sha: string }> {
  const data = Buffer.concat([await readFile('/bin/busybox'), Buffer.from(`\n${tag}\n`)]);
  const file = path.join(dir, `busybox-${tag}`);
  await writeFile(file, data, { mode: 0o755 });
  return { file, sha: createHash('sha256').update(data).digest('hex') };
}

function ctr(args: string[], options?: { allowFail?: boolean }) {
  if (!containerd) throw new Error('containerd is not running');
  return containerd.ctr(args, options);
}

async function backend(): Promise<Info[]> {
  const all: Info[] = [];
  for await (const info of serving!.snapshotter.walk()) all.push(info);
  return all;
}

beforeAll(async () => {
  requireDeviceMapper();
  dir = await tempDir('gc');
  rootPath = path.join(dir, 'meta');
  pool = await createLoopbackPool({ directory: path.join(dir, 'pool'), name: `${prefix}pool`, dataSizeBytes: 4096 * MiB, metadataSizeBytes: 32 * MiB, minFreeSpacePercent: 0 });
  serverLog = createWriteStream(path.join(dir, 'server.log'));
  serving = await serve({
    socket: path.join(dir, 'snap.sock'),
    rootPath,
    pool,
    baseImageSize: '64MB',
    fsType: 'ext4',
    minFreeSpace: 0,
    handleSignals: false,
    logger: createLogger({
      level: 'debug',
      stream: {
        write(chunk: string) {
          serverLines.push(JSON.parse(chunk) as Record<string, unknown>);
          return serverLog?.write(chunk) ?? true;
        },
      },
    }),
  });
  containerd = await startContainerd({
    dir: path.join(dir, 'c'),
    snapshotter: { name: plugin, socket: serving.socket },
    namespace,
    // Collect after every deletion or mutation, as soon as possible.
    gc: { pauseThreshold: 0.5, deletionThreshold: 1, mutationThreshold: 1, scheduleDelay: '10ms' },
  });
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

test(`${CLIENTS} clients import, run and remove for ${SECONDS} s under containerd's automatic GC; nothing is lost or left`, async () => {
  // Per client: two images of its own and one whose layer every client shares.
  const shared = await busyboxVariant('shared');
  const images: TestImage[][] = [];
  for (let c = 0; c < CLIENTS; c++) {
    const own = [await busyboxVariant(`c${c}-0`), await busyboxVariant(`c${c}-1`), shared];
    images.push(
      await Promise.all(
        own.map(async (b, v) => ({
          ...(await buildBusyboxImage(path.join(dir, `image-c${c}-${v}.tar`), { name: `localhost/${namespace}/c${c}-v${v}:latest`, busybox: b.file })),
          busyboxSha: b.sha,
        })),
      ),
    );
  }
  const stats = { imports: 0, containers: 0, imageRemovals: 0 };
  const failures: string[] = [];
  const deadline = Date.now() + SECONDS * 1000;

  const runContainer = async (image: TestImage, id: string): Promise<void> => {
    const r = await ctr(['run', '--rm', '--snapshotter', plugin, image.name, id, '/bin/busybox', 'sh', '-c', SCRIPT, 'sh', id], { allowFail: true });
    const lines = r.stdout.trim().split('\n');
    const own = lines.filter((l) => l.startsWith('own '));
    const img = lines.filter((l) => l.startsWith('image '));
    const ownShas = new Set(own.map((l) => l.split(' ')[2]));
    const ok =
      r.code === 0 &&
      own.length === 3 &&
      own.every((l) => l.split(' ')[1] === id) &&
      ownShas.size === 1 &&
      img.length === 3 &&
      img.every((l) => l === `image ${image.busyboxSha}`);
    if (!ok) failures.push(`container ${id} on ${image.name}: exit ${r.code}\n${r.stdout}${r.stderr}`);
    stats.containers++;
  };

  const client = async (c: number): Promise<void> => {
    for (let round = 0; Date.now() < deadline; round++) {
      const image = images[c]![round % 3]!;
      await ctr(['images', 'import', '--snapshotter', plugin, image.file]);
      stats.imports++;
      await Promise.all([0, 1].map((k) => runContainer(image, `c${c}-r${round}-${k}`)));
      // No --sync: the scheduler collects on its own.
      await ctr(['images', 'rm', image.name]);
      stats.imageRemovals++;
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
  expect(failures).toEqual([]);

  // Everything removed: containerd's collector removes every snapshot from the plugin.
  expect((await ctr(['containers', 'ls', '-q'])).stdout.trim()).toBe('');
  expect((await ctr(['images', 'ls', '-q'])).stdout.trim()).toBe('');
  await containerd!.collectGarbage();
  let left = await backend();
  for (let i = 0; left.length > 0 && i < 60; i++) {
    await sleep(2000);
    left = await backend();
  }
  expect(left).toEqual([]);

  const log = await readFile(containerd!.logFile, 'utf8');
  const gcPasses = log.split('\n').filter((l) => l.includes('msg="garbage collected"')).length;
  const rpcs = (method: string) => serverLines.filter((l) => l.msg === 'rpc' && l.method === method).length;
  const figures = {
    clients: CLIENTS,
    seconds: SECONDS,
    ...stats,
    gcPasses,
    removes: rpcs('Remove'),
    cleanups: rpcs('Cleanup'),
  };
  await reportFigure('containerd-gc.txt', JSON.stringify(figures));
  expect(stats.containers).toBeGreaterThan(0);
  expect(gcPasses).toBeGreaterThan(1);

  // Nothing left: no record, no thin id but the base device's, no device but the pool.
  await containerd!.stop();
  await serving!.close();
  serving = undefined;
  const c = await checkConsistency(rootPath, pool!);
  expect(c).toMatchObject({ leakedIds: [], danglingRecords: [], unfinished: [], missingDevices: [], strayActive: [], snapshots: 0 });
  expect(c.thinIds).toBeLessThanOrEqual(1);
  expect((await dm.list()).filter((d) => d.name.startsWith(prefix)).map((d) => d.name)).toEqual([`${prefix}pool`]);
});
