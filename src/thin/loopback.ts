/**
 * Loopback pools: Docker's loop-lvm done right. Sparse data and metadata
 * files in a directory, loop devices over them, a pool name derived from the
 * directory so two pools never clash. Reopening the directory (after a
 * reboot, say) re-attaches the files and reloads the pool's metadata.
 */
import { createHash } from 'node:crypto';
import { mkdir, open as openFile, realpath, rm, stat, statfs, truncate } from 'node:fs/promises';
import path from 'node:path';
import * as dm from '../dm/device-mapper.js';
import { DeviceMapperError, isDeviceMapperError } from '../dm/errors.js';
import { LoopDevice } from '../dm/loop.js';
import { ThinPool, type LoopbackBacking, type ThinPoolFeatures, type ThinPoolRuntimeOptions } from './pool.js';
import { recommendedMetadataSize } from './sizing.js';

/** Options of {@link createLoopbackPool}. */
export interface LoopbackPoolOptions extends ThinPoolFeatures, ThinPoolRuntimeOptions {
  /** The directory holding the `data` and `metadata` files (created 0700). */
  directory: string;
  /** Sparse data file size in bytes (default 100 GiB, as Docker's). */
  dataSizeBytes?: number;
  /** Sparse metadata file size in bytes (default 2 GiB, as Docker's; at least the kernel's guideline). */
  metadataSizeBytes?: number;
  /** Data block size in bytes (default 64 KiB). */
  dataBlockSizeBytes?: number;
  /** The pool's dm name (default: derived from the directory's real path). */
  name?: string;
  /** Free data bytes below which the kernel raises the low-water event (default: minFreeSpacePercent of the data). */
  lowWaterMarkBytes?: number;
}

const GiB = 1024 * 1024 * 1024;

/** The pool name a directory gets: `devmapper-<12 hex of its real path>-pool`. */
export async function loopbackPoolName(directory: string): Promise<string> {
  const real = await realpath(directory);
  return `devmapper-${createHash('sha256').update(real).digest('hex').slice(0, 12)}-pool`;
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

async function createSparse(file: string, sizeBytes: number): Promise<void> {
  const fd = await openFile(file, 'wx', 0o600);
  try {
    await fd.truncate(sizeBytes);
  } finally {
    await fd.close();
  }
}

/** The loop device already over `file`, or a new one. */
async function loopFor(file: string, attached: LoopDevice[]): Promise<LoopDevice> {
  const [found] = await LoopDevice.find(file);
  if (found) return found;
  const loop = await LoopDevice.attach(file);
  attached.push(loop);
  return loop;
}

/**
 * Creates a loopback pool in `directory`, or reopens the one already there:
 * an active pool is adopted, files without a pool are re-attached and their
 * metadata reloaded (every thin id and its data survive).
 */
export async function createLoopbackPool(options: LoopbackPoolOptions): Promise<ThinPool> {
  const op = 'createLoopbackPool';
  await mkdir(options.directory, { recursive: true, mode: 0o700 });
  const directory = await realpath(options.directory);
  const backing: LoopbackBacking = { directory, dataFile: path.join(directory, 'data'), metadataFile: path.join(directory, 'metadata') };
  const name = options.name ?? (await loopbackPoolName(directory));
  const blockBytes = options.dataBlockSizeBytes ?? 64 * 1024;
  const dataBytes = options.dataSizeBytes ?? 100 * GiB;
  const metadataBytes = options.metadataSizeBytes ?? Math.max(2 * GiB, recommendedMetadataSize(dataBytes, blockBytes));

  if (await dm.info(name)) return ThinPool.open(name, { ...options, loopback: backing });

  const [hasData, hasMetadata] = await Promise.all([exists(backing.dataFile), exists(backing.metadataFile)]);
  if (hasData !== hasMetadata) {
    throw new DeviceMapperError(`${op}: ${directory} holds only one of 'data' and 'metadata'; refusing to guess`, { code: 'EINVAL', op, device: directory });
  }
  const fresh = !hasData;
  const created: string[] = [];
  const attached: LoopDevice[] = [];
  try {
    if (fresh) {
      await createSparse(backing.dataFile, dataBytes);
      created.push(backing.dataFile);
      await createSparse(backing.metadataFile, metadataBytes);
      created.push(backing.metadataFile);
    }
    const dataLoop = await loopFor(backing.dataFile, attached);
    const metadataLoop = await loopFor(backing.metadataFile, attached);
    const pool = await ThinPool.create({
      ...options,
      name,
      dataDevice: dataLoop.path,
      metadataDevice: metadataLoop.path,
      dataBlockSizeBytes: blockBytes,
      fresh,
      loopback: backing,
    });
    // The pool holds the loops now: let them go with it, so no loop outlives its pool.
    for (const loop of [dataLoop, metadataLoop]) await loop.setAutoclear(true);
    return pool;
  } catch (e) {
    for (const loop of attached) await loop.detach().catch(() => undefined);
    for (const file of created) await rm(file, { force: true });
    throw e;
  }
}

/** Grows a loopback pool's data file to `dataSizeBytes`, then the loop device and the pool. */
export async function resizeLoopbackPool(pool: ThinPool, dataSizeBytes: number): Promise<void> {
  const backing = pool.loopback;
  if (!backing) throw DeviceMapperError.invalid('resizeLoopbackPool', 'not a loopback pool', pool.name);
  const current = (await stat(backing.dataFile)).size;
  if (dataSizeBytes < current) throw DeviceMapperError.invalid('resizeLoopbackPool', `a pool cannot shrink (from ${current} to ${dataSizeBytes} bytes)`, pool.name);
  if (dataSizeBytes > current) await truncate(backing.dataFile, dataSizeBytes);
  const [loop] = await LoopDevice.find(backing.dataFile);
  if (!loop) throw new DeviceMapperError(`no loop device over ${backing.dataFile}`, { code: 'ENXIO', op: 'resizeLoopbackPool', device: pool.name });
  await loop.setCapacity();
  await pool.resize(dataSizeBytes);
}

/** Free bytes on the file system holding a loopback pool's files (Docker reported the lesser of this and the pool's). */
export async function loopbackHostFreeBytes(pool: ThinPool): Promise<number | null> {
  if (!pool.loopback) return null;
  const s = await statfs(pool.loopback.directory);
  return s.bavail * s.bsize;
}

/**
 * Removes a loopback pool for good: its thin devices, the pool, the loop
 * devices and the files.
 */
export async function destroyLoopbackPool(pool: ThinPool): Promise<void> {
  const backing = pool.loopback;
  if (!backing) throw DeviceMapperError.invalid('destroyLoopbackPool', 'not a loopback pool', pool.name);
  await pool.deactivate();
  for (const file of [backing.dataFile, backing.metadataFile]) {
    for (const loop of await LoopDevice.find(file)) {
      try {
        await loop.detach();
      } catch (e) {
        if (!isDeviceMapperError(e, 'ENXIO')) throw e;
      }
    }
    await rm(file, { force: true });
  }
}
