/**
 * Quick start: a loopback thin pool, a snapshotter on it, a base, three
 * image layers and a container snapshot; mount and write, commit, usage,
 * then clean everything up. Run as root on a kernel with dm-thin-pool:
 *
 *   npm run build:ts && npx tsc -p tsconfig.examples.json && node dist-examples/quick-start.js
 *
 * (`npm run demo` does this, in the test VM when this machine has no device-mapper.)
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Snapshotter, ThinPool, type Mount } from 'devmapper';

const exec = promisify(execFile);
const MiB = 1024 * 1024;

/** What the quick start did, for tests and for the curious. */
export interface QuickStartResult {
  poolName: string;
  /** Committed layers, bottom first. */
  layers: string[];
  /** Files the container saw: every layer's, and its own. */
  containerFiles: string[];
  /** Bytes each snapshot uses on its own (containerd's Usage.size). */
  usage: Record<string, number>;
  /** The pool's data space in use before cleanup, in bytes. */
  poolDataUsedBytes: number;
  /** Whether every device and file was gone afterwards. */
  cleanedUp: boolean;
}

/** Where the quick start works, and how it talks. */
export interface QuickStartOptions {
  /** A scratch directory (default: a new one under the OS temp dir, removed at the end). */
  directory?: string;
  /** The pool's name (default: derived from the directory). */
  poolName?: string;
  /** Where the walkthrough goes (default console.log). */
  log?: (line: string) => void;
}

/** Mounts a snapshot's mount on `target` (what `mount -t TYPE -o OPTIONS SOURCE TARGET` does). */
async function mount(mounts: Mount[], target: string): Promise<void> {
  const [m] = mounts;
  if (!m) throw new Error('no mount');
  await exec('mount', ['-t', m.type, ...(m.options.length > 0 ? ['-o', m.options.join(',')] : []), m.source, target]);
}

/** Runs the quick start. */
export async function main(options: QuickStartOptions = {}): Promise<QuickStartResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const ownDirectory = options.directory === undefined;
  const work = options.directory ?? (await mkdtemp(path.join(tmpdir(), 'devmapper-quick-start-')));
  const target = path.join(work, 'mnt');
  await mkdir(target, { recursive: true });

  log('1. A loopback thin pool: sparse data and metadata files on loop devices (Docker\'s loop-lvm, done right).');
  const pool = await ThinPool.createLoopback({
    directory: path.join(work, 'pool'),
    dataSizeBytes: 256 * MiB,
    metadataSizeBytes: 8 * MiB,
    ...(options.poolName ? { name: options.poolName } : {}),
  });
  log(`   pool ${pool.name}: ${pool.dataSizeBytes / MiB} MiB of data in ${pool.dataBlockSizeBytes / 1024} KiB blocks`);
  let snapshotter: Snapshotter | undefined;
  try {
    log('2. A snapshotter on it (containerd semantics, metadata in a LevelDB under its root).');
    snapshotter = await Snapshotter.open({ rootPath: path.join(work, 'root'), pool, baseImageSize: '64MB', fsType: 'ext4' });

    const layers: string[] = [];
    let parent: string | undefined;
    for (const n of [1, 2, 3]) {
      const key = `layer-${n}-extract`;
      const mounts = await snapshotter.prepare(key, parent);
      if (n === 1) log(`3. The first prepare formats one base device (ext4, 64 MiB); every snapshot without a parent is a thin snapshot of it.`);
      log(`   layer ${n}: prepare ${key}${parent ? ` on ${parent}` : ''} -> ${mounts[0]?.source}; mount, write /layer-${n}.txt and .data, unmount, commit`);
      await mount(mounts, target);
      try {
        await writeFile(path.join(target, `layer-${n}.txt`), `written by layer ${n}\n`);
        await writeFile(path.join(target, `layer-${n}.data`), Buffer.alloc(256 * 1024, n)); // a layer's bulk
      } finally {
        await exec('umount', [target]);
      }
      await snapshotter.commit(`layer-${n}`, key);
      layers.push(`layer-${n}`);
      parent = `layer-${n}`;
    }

    log('4. A container: an active snapshot on the top layer. It sees every layer and writes its own file.');
    const containerMounts = await snapshotter.prepare('container-1', parent);
    await mount(containerMounts, target);
    let containerFiles: string[];
    try {
      await writeFile(path.join(target, 'container.txt'), 'the container was here\n');
      await writeFile(path.join(target, 'container.data'), Buffer.alloc(256 * 1024, 0xcc));
      containerFiles = (await readdir(target)).sort();
      log(`   files in the container: ${containerFiles.join(', ')}`);
      log(`   /layer-2.txt says: ${(await readFile(path.join(target, 'layer-2.txt'), 'utf8')).trim()}`);
    } finally {
      await exec('umount', [target]);
    }

    log('5. Usage: what each snapshot maps on its own, beyond what its parent mapped.');
    const usage: Record<string, number> = {};
    for (const key of [...layers, 'container-1']) {
      usage[key] = (await snapshotter.usage(key)).size;
      log(`   ${key.padEnd(12)} ${(usage[key] / 1024).toFixed(0).padStart(6)} KiB`);
    }
    const status = await pool.status();
    log(`   pool: ${(status.data.usedBytes / MiB).toFixed(1)} MiB of ${status.data.totalBytes / MiB} MiB used, transaction id ${status.transactionId}`);

    log('6. Cleanup: remove the container and the layers (children first), then the pool and its files.');
    for (const key of ['container-1', ...[...layers].reverse()]) await snapshotter.remove(key);
    await snapshotter.cleanup();
    await snapshotter.close();
    snapshotter = undefined;
    await pool.destroy();
    const cleanedUp = (await readdir(path.join(work, 'pool'))).length === 0;
    log(`   done: pool destroyed${cleanedUp ? ', its files removed' : ''}.`);
    return { poolName: pool.name, layers, containerFiles, usage, poolDataUsedBytes: status.data.usedBytes, cleanedUp };
  } catch (e) {
    await snapshotter?.close().catch(() => undefined);
    await exec('umount', [target]).catch(() => undefined);
    await pool.destroy().catch(() => undefined);
    throw e;
  } finally {
    if (ownDirectory) await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
