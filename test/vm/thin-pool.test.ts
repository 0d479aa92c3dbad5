/**
 * ThinPool and ThinDevice on a real kernel: loopback pools, thin devices,
 * snapshots, status in every mode, events, growth, reboot survival, LVM,
 * discards and the free-space guard.
 */
import { once } from 'node:events';
import { copyFile, lstat, mkdir, stat, writeFile, readFile, truncate } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as dm from '../../src/dm/device-mapper.js';
import { isDeviceMapperError } from '../../src/dm/errors.js';
import { LoopDevice } from '../../src/dm/loop.js';
import { thinPoolRow } from '../../src/dm/targets/thin-pool.js';
import { linearRow } from '../../src/dm/targets/linear.js';
import { bytesToSectors } from '../../src/dm/units.js';
import { ThinPool, createLoopbackPool, enableAutoextend, lvmDmName, removeLvmThinPool } from '../../src/thin/index.js';
import { checksum, cleanup, ddWrite, requireDeviceMapper, sh, tempDir, uniquePrefix, withUdev } from './support/kernel.js';

const MiB = 1024 * 1024;
const prefix = uniquePrefix('pool');
const dirs: string[] = [];
let n = 0;

async function freshDir(): Promise<string> {
  const d = await tempDir('pool');
  dirs.push(d);
  return d;
}

/** A small loopback pool named with this file's prefix. */
async function smallPool(options: Partial<Parameters<typeof createLoopbackPool>[0]> = {}): Promise<ThinPool> {
  const directory = options.directory ?? (await freshDir());
  return createLoopbackPool({
    name: `${prefix}p${n++}`,
    dataSizeBytes: 256 * MiB,
    metadataSizeBytes: 8 * MiB,
    minFreeSpacePercent: 0,
    ...options,
    directory,
  });
}

beforeAll(() => requireDeviceMapper());
afterEach(async () => {
  await cleanup(prefix, dirs.splice(0));
});
afterAll(async () => {
  const left = (await dm.list()).filter((d) => d.name.startsWith(prefix));
  expect(left).toEqual([]);
});

describe('loopback pool', () => {
  it('creates sparse files, loop devices and a pool whose status and info are typed', async () => {
    const pool = await smallPool();
    const st = await pool.status();
    expect(st.mode).toBe('rw');
    expect(st.transactionId).toBe(0);
    expect(st.dataBlockSizeBytes).toBe(64 * 1024);
    expect(st.data.totalBytes).toBe(256 * MiB);
    expect(st.usedDataBlocks).toBe(0);
    expect(st.noSpacePolicy).toBe('error');
    expect(st.discard).toBe('discard_passdown');
    expect(st.needsCheck).toBe(false);
    expect(st.heldMetadataRoot).toBeNull();
    const info = await pool.info();
    expect(info.poolName).toBe(pool.name);
    expect(info.poolBlocksizeBytes).toBe(64 * 1024);
    expect(info.dataLoopFile).toBe(path.join(pool.loopback!.directory, 'data'));
    expect(info.dataFile).toMatch(/^\/dev\/loop\d+$/);
    expect(info.dataSpaceTotalBytes).toBe(256 * MiB);
    expect(info.metadataSpaceTotalBytes).toBeGreaterThan(0);
    expect(info.libraryVersion).toMatch(/^1\.02\./);
    expect(info.driverVersion).toMatch(/^4\./);
    expect(typeof info.udevSyncSupported).toBe('boolean');
    // Sparse: the 256 MiB file takes almost nothing on disk.
    const s = await stat(pool.loopback!.dataFile);
    expect(s.size).toBe(256 * MiB);
    expect(s.blocks * 512).toBeLessThan(MiB);
    await pool.destroy();
    expect(await dm.info(pool.name)).toBeNull();
    expect(await LoopDevice.find(info.dataLoopFile!).catch(() => [])).toEqual([]);
  });

  it('derives distinct names from distinct directories', async () => {
    const { loopbackPoolName } = await import('../../src/thin/loopback.js');
    const a = await freshDir();
    const b = await freshDir();
    expect(await loopbackPoolName(a)).not.toBe(await loopbackPoolName(b));
    expect(await loopbackPoolName(a)).toBe(await loopbackPoolName(a));
  });

  it('survives a simulated reboot: devices and loops torn down, reopened from the files with the data intact', async () => {
    const directory = await freshDir();
    const name = `${prefix}reboot`;
    let pool = await smallPool({ directory, name });
    await pool.createThin(1);
    let dev = await pool.activate({ id: 1, name: `${prefix}reboot-t1`, sizeBytes: 64 * MiB });
    await ddWrite(dev.path, 0, 8);
    const before = await checksum(dev.path, 8);
    await pool.createThin(2);
    await pool.setTransactionId(0, 7);
    // Tear down everything the kernel holds, as a reboot would.
    await pool.deactivate();
    for (const f of ['data', 'metadata']) for (const l of await LoopDevice.find(path.join(directory, f))) await l.detach();
    expect(await dm.info(name)).toBeNull();

    pool = await createLoopbackPool({ directory, name, minFreeSpacePercent: 0 });
    expect(await pool.thinIds()).toEqual([1, 2]);
    expect(await pool.transactionId()).toBe(7);
    dev = await pool.activate({ id: 1, name: `${prefix}reboot-t1`, sizeBytes: 64 * MiB });
    expect(await checksum(dev.path, 8)).toBe(before);
    await pool.destroy();
  });

  it('adopts an active pool when the directory is opened again', async () => {
    const directory = await freshDir();
    const a = await smallPool({ directory, name: `${prefix}adopt` });
    await a.createThin(5);
    const b = await createLoopbackPool({ directory, name: `${prefix}adopt` });
    expect(b.name).toBe(a.name);
    expect(await b.thinIds()).toEqual([5]);
    await b.destroy();
  });
});

describe('thin ids and devices', () => {
  it('creates, activates, writes, reports mapped space and deletes', async () => {
    const pool = await smallPool();
    await pool.createThin(1);
    const dev = await pool.activate({ id: 1, name: `${prefix}t1`, sizeBytes: 64 * MiB });
    expect(dev.path).toBe(`/dev/mapper/${prefix}t1`);
    expect(await dev.isActive()).toBe(true);
    expect((await dev.status()).mappedBytes).toBe(0);
    expect((await dev.status()).highestMappedSector).toBeNull();
    await ddWrite(dev.path, 0, 4);
    const s = await dev.status();
    expect(s.mappedBytes).toBe(4 * MiB);
    expect(s.highestMappedSector).toBe(bytesToSectors(4 * MiB) - 1);
    expect((await pool.status()).usedDataBlocks).toBe(64);
    // Idempotent state changes.
    await dev.activate();
    await dev.suspend();
    await dev.suspend();
    expect((await dm.info(dev.name))?.suspended).toBe(true);
    await dev.resume();
    await dev.resume();
    expect((await dm.info(dev.name))?.suspended).toBe(false);
    // An active id cannot be deleted.
    await expect(pool.deleteThin(1)).rejects.toMatchObject({ code: 'EBUSY' });
    await dev.remove();
    await dev.deactivate();
    expect(await dev.isActive()).toBe(false);
    expect(await pool.thinIds()).toEqual([]);
    await pool.destroy();
  });

  it('refuses a taken id with EEXIST and bad ids with EINVAL before any message', async () => {
    const pool = await smallPool();
    await pool.createThin(3);
    await expect(pool.createThin(3)).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(pool.createThin(-1)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(pool.createThin(2 ** 24)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(pool.createThin(1.5)).rejects.toMatchObject({ code: 'EINVAL' });
    expect(await pool.thinIds()).toEqual([3]);
    await pool.destroy();
  });

  it('snapshots an active origin (suspended and resumed around the message) and an inactive one', async () => {
    const pool = await smallPool();
    await pool.createThin(1);
    const origin = await pool.activate({ id: 1, name: `${prefix}o1`, sizeBytes: 32 * MiB });
    await ddWrite(origin.path, 0, 4);
    const sum = await checksum(origin.path, 4);
    await origin.snapshot(2);
    expect((await dm.info(origin.name))?.suspended).toBe(false);
    const snap = await pool.activate({ id: 2, name: `${prefix}s2`, sizeBytes: 32 * MiB });
    expect(await checksum(snap.path, 4)).toBe(sum);
    // Copy-on-write: writing the snapshot leaves the origin unchanged.
    await ddWrite(snap.path, 0, 1);
    expect(await checksum(origin.path, 4)).toBe(sum);
    await origin.deactivate();
    await pool.createSnapshot(3, 1);
    const snap3 = await pool.activate({ id: 3, name: `${prefix}s3`, sizeBytes: 32 * MiB });
    expect(await checksum(snap3.path, 4)).toBe(sum);
    expect(await pool.thinIds()).toEqual([1, 2, 3]);
    await pool.destroy();
  });

  it('snapshots and activates in one call, and takes the new id back when the activation fails', async () => {
    const pool = await smallPool();
    await pool.createThin(1);
    const origin = await pool.activate({ id: 1, name: `${prefix}ao1`, sizeBytes: 32 * MiB });
    await ddWrite(origin.path, 0, 4);
    const sum = await checksum(origin.path, 4);
    const snap = await pool.snapshotAndActivate({ id: 2, name: `${prefix}as2`, sizeBytes: 32 * MiB }, 1);
    expect((await dm.info(origin.name))?.suspended).toBe(false);
    expect(await snap.isActive()).toBe(true);
    expect(await pool.activeDevice(2)).toBe(snap);
    expect(await checksum(snap.path, 4)).toBe(sum);
    // The name is taken: the snapshot's id is deleted again, the origin runs on.
    await expect(pool.snapshotAndActivate({ id: 3, name: `${prefix}as2`, sizeBytes: 32 * MiB }, 1)).rejects.toMatchObject({ code: 'EBUSY' });
    expect(await pool.thinIds()).toEqual([1, 2]);
    expect((await dm.info(origin.name))?.suspended).toBe(false);
    // A missing origin changes nothing.
    await expect(pool.snapshotAndActivate({ id: 4, name: `${prefix}as4`, sizeBytes: 32 * MiB }, 9)).rejects.toMatchObject({ op: 'message' });
    expect(await pool.thinIds()).toEqual([1, 2]);
    expect(await dm.info(`${prefix}as4`)).toBeNull();
    await pool.destroy();
  });

  it("gives thin devices udev's full treatment only when asked", async () => {
    const pool = await smallPool();
    await pool.createThin(1);
    await pool.createThin(2);
    expect(pool.thinDeviceUdev).toBe('skip');
    // Default: the library's own node, no udev link, with or without udevd.
    const skipped = await pool.activate({ id: 1, name: `${prefix}u1`, sizeBytes: 16 * MiB });
    expect((await lstat(skipped.path)).isBlockDevice()).toBe(true);
    // 'wait': udev's symlink when udevd runs.
    const waited = await pool.activate({ id: 2, name: `${prefix}u2`, sizeBytes: 16 * MiB, udev: 'wait' });
    expect((await lstat(waited.path)).isSymbolicLink()).toBe(withUdev);
    expect((await stat(waited.path)).isBlockDevice()).toBe(true);
    await skipped.deactivate();
    await waited.deactivate();
    await expect(stat(skipped.path)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(stat(waited.path)).rejects.toMatchObject({ code: 'ENOENT' });
    await pool.destroy();
  });

  it('grows a thin device and keeps its data', async () => {
    const pool = await smallPool();
    await pool.createThin(1);
    const dev = await pool.activate({ id: 1, name: `${prefix}g1`, sizeBytes: 16 * MiB });
    await ddWrite(dev.path, 0, 2);
    const sum = await checksum(dev.path, 2);
    await dev.grow(48 * MiB);
    expect(await (await import('../../src/dm/block.js')).blockDeviceSize(dev.path)).toBe(48 * MiB);
    expect(await checksum(dev.path, 2)).toBe(sum);
    await expect(dev.grow(8 * MiB)).rejects.toMatchObject({ code: 'EINVAL' });
    await pool.destroy();
  });

  it('sets the transaction id only as compare-and-swap', async () => {
    const pool = await smallPool();
    await pool.setTransactionId(0, 1);
    await expect(pool.setTransactionId(0, 2)).rejects.toMatchObject({ code: 'EINVAL' });
    expect(await pool.transactionId()).toBe(1);
    await pool.destroy();
  });

  it('refuses to touch a device it did not make', async () => {
    const pool = await smallPool();
    await pool.createThin(1);
    // Someone else activates id 1 under our name without our uuid.
    const foreign = `${prefix}foreign`;
    await dm.create({ name: foreign, table: [{ ...linearRow({ device: pool.deviceNumber, offset: bytesToSectors(0) }, { length: bytesToSectors(MiB) }) }] });
    const dev = pool.device({ id: 1, name: foreign, sizeBytes: MiB });
    await expect(dev.suspend()).rejects.toMatchObject({ code: 'EPERM' });
    await expect(dev.deactivate()).rejects.toMatchObject({ code: 'EPERM' });
    expect(await dm.info(foreign)).not.toBeNull();
    await dm.remove(foreign);
    await pool.destroy();
  });
});

describe('space', () => {
  it('fills to out_of_data_space with error_if_no_space: writes fail with ENOSPC and the event fires', async () => {
    const pool = await smallPool({ dataSizeBytes: 16 * MiB, noSpacePolicy: 'error', lowWaterMarkBytes: 4 * MiB });
    const events: string[] = [];
    for (const e of ['lowWater', 'outOfDataSpace'] as const) pool.on(e, () => events.push(e));
    const out = once(pool, 'outOfDataSpace');
    await pool.createThin(1);
    const dev = await pool.activate({ id: 1, name: `${prefix}full`, sizeBytes: 64 * MiB });
    const r = await ddWrite(dev.path, 0, 32, { allowFail: true });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/No space left on device/);
    const [status] = (await out) as [Awaited<ReturnType<ThinPool['status']>>];
    expect(status.mode).toBe('out_of_data_space');
    expect(status.usedDataBlocks).toBe(status.totalDataBlocks);
    expect(events).toContain('lowWater');
    // The guard refuses new devices in a full pool.
    await expect(pool.createThin(2)).rejects.toMatchObject({ code: 'ENOSPC' });
    await pool.close();
    await pool.destroy();
  });

  it('reports queue_if_no_space in status when asked', async () => {
    const pool = await smallPool({ noSpacePolicy: 'queue', discard: 'no_passdown', zeroBlocks: false });
    const st = await pool.status();
    expect(st.noSpacePolicy).toBe('queue');
    expect(st.discard).toBe('no_discard_passdown');
    expect(pool.features).toContain('skip_block_zeroing');
    await pool.destroy();
  });

  it('raises the low water event when free space drops below the mark', async () => {
    const pool = await smallPool({ dataSizeBytes: 64 * MiB, lowWaterMarkBytes: 32 * MiB });
    const low = once(pool, 'lowWater');
    await pool.createThin(1);
    const dev = await pool.activate({ id: 1, name: `${prefix}lw`, sizeBytes: 64 * MiB });
    await ddWrite(dev.path, 0, 40);
    const [status] = (await low) as [Awaited<ReturnType<ThinPool['status']>>];
    expect(status.totalDataBlocks - status.usedDataBlocks).toBeLessThan(pool.lowWaterMarkBlocks);
    await pool.close();
    await pool.destroy();
  });

  it('refuses new devices below the minimum free space, before the pool is full', async () => {
    const pool = await smallPool({ dataSizeBytes: 32 * MiB, minFreeSpacePercent: 50 });
    await pool.createThin(1);
    const dev = await pool.activate({ id: 1, name: `${prefix}guard`, sizeBytes: 32 * MiB });
    await ddWrite(dev.path, 0, 20);
    const err = await pool.createThin(2).catch((e: unknown) => e);
    expect(isDeviceMapperError(err, 'ENOSPC')).toBe(true);
    expect(String((err as Error).message)).toMatch(/below the 50% minimum/);
    expect((await pool.status()).mode).toBe('rw');
    await pool.destroy();
  });

  it('grows a live loopback pool under a mounted thin device', async () => {
    const pool = await smallPool({ dataSizeBytes: 32 * MiB });
    await pool.createThin(1);
    const dev = await pool.activate({ id: 1, name: `${prefix}mnt`, sizeBytes: 128 * MiB });
    await sh('mkfs.ext4', ['-q', '-E', 'nodiscard,lazy_itable_init=0,lazy_journal_init=0', dev.path]);
    const mnt = path.join(pool.loopback!.directory, 'mnt');
    await mkdir(mnt);
    await sh('mount', [dev.path, mnt]);
    await writeFile(path.join(mnt, 'hello'), 'before resize');
    await pool.grow(96 * MiB);
    expect((await pool.status()).data.totalBytes).toBe(96 * MiB);
    expect(pool.dataSizeBytes).toBe(96 * MiB);
    await sh('dd', ['if=/dev/urandom', `of=${path.join(mnt, 'big')}`, 'bs=1M', 'count=48', 'conv=fsync']);
    expect(await readFile(path.join(mnt, 'hello'), 'utf8')).toBe('before resize');
    expect((await pool.status()).mode).toBe('rw');
    await sh('umount', [mnt]);
    await pool.destroy();
  });

  it('autoextends a loopback pool when use crosses the threshold', async () => {
    const pool = await smallPool({ dataSizeBytes: 32 * MiB });
    const grown = new Promise<{ fromBytes: number; toBytes: number }>((resolve, reject) => {
      void enableAutoextend(pool, {
        thresholdPercent: 50,
        extendPercent: 100,
        onExtend: (r) => ('error' in r ? reject(r.error) : resolve(r)),
      });
    });
    await pool.createThin(1);
    const dev = await pool.activate({ id: 1, name: `${prefix}ae`, sizeBytes: 64 * MiB });
    await ddWrite(dev.path, 0, 20);
    const r = await grown;
    expect(r).toEqual({ fromBytes: 32 * MiB, toBytes: 64 * MiB });
    expect((await pool.status()).data.totalBytes).toBe(64 * MiB);
    expect((await stat(pool.loopback!.dataFile)).size).toBe(64 * MiB);
    await pool.close();
    await pool.destroy();
  });

  it('activates and grows thin devices while the pool table is reloaded again and again', async () => {
    const pool = await smallPool({ dataSizeBytes: 64 * MiB });
    const ids = Array.from({ length: 16 }, (_, i) => i + 1);
    for (const id of ids) await pool.createThin(id);
    let reloads = 0;
    let working = true;
    // Low-water mark changes and growth, as autoextend makes them while prepares are busy.
    const reloader = (async () => {
      for (let size = 64 * MiB; working; reloads++) {
        if (reloads % 8 === 7 && size < 256 * MiB) await pool.grow((size += 16 * MiB));
        else await pool.setLowWaterMark((reloads % 2 === 0 ? 4 : 8) * MiB);
      }
    })();
    try {
      for (let round = 0; round < 3; round++) {
        await Promise.all(
          ids.map(async (id) => {
            const dev = await pool.activate({ id, name: `${prefix}rl${id}`, sizeBytes: 8 * MiB });
            await dev.grow((8 + round + 1) * MiB);
            await dev.deactivate({ deferred: false });
          }),
        );
      }
    } finally {
      working = false;
      await reloader;
    }
    expect(reloads).toBeGreaterThan(0);
    expect((await pool.status()).mode).toBe('rw');
    const dev = await pool.activate({ id: 1, name: `${prefix}rl1`, sizeBytes: 16 * MiB });
    await ddWrite(dev.path, 0, 1);
    await dev.deactivate();
    await pool.destroy();
  });

  it('waits out a pool that another process holds suspended, then activates', async () => {
    const pool = await smallPool();
    await pool.createThin(1);
    // As lvextend or a dmsetup reload from another process would.
    await dm.suspend(pool.name, { noFlush: true });
    const resumed = new Promise<void>((resolve, reject) => setTimeout(() => dm.resume(pool.name).then(resolve, reject), 300));
    const dev = await pool.activate({ id: 1, name: `${prefix}susp`, sizeBytes: 8 * MiB });
    await resumed;
    expect(await dev.isActive()).toBe(true);
    await ddWrite(dev.path, 0, 1);
    await pool.destroy();
  });

  it('gives space back to the sparse file when a device is discarded before delete', async () => {
    const pool = await smallPool();
    await pool.createThin(1);
    const dev = await pool.activate({ id: 1, name: `${prefix}disc`, sizeBytes: 64 * MiB });
    await ddWrite(dev.path, 0, 32);
    const before = (await stat(pool.loopback!.dataFile)).blocks * 512;
    expect(before).toBeGreaterThanOrEqual(32 * MiB);
    await dev.remove({ discard: true });
    const after = (await stat(pool.loopback!.dataFile)).blocks * 512;
    expect(after).toBeLessThan(before - 24 * MiB);
    expect((await pool.status()).usedDataBlocks).toBe(0);
    await pool.destroy();
  });
});

describe('adopting pools', () => {
  it('opens a pool made by dmsetup-style calls and refuses a device that is not a pool', async () => {
    const dir = await freshDir();
    const data = path.join(dir, 'd');
    const meta = path.join(dir, 'm');
    await writeFile(data, '');
    await truncate(data, 64 * MiB);
    await writeFile(meta, Buffer.alloc(4 * MiB));
    const dl = await LoopDevice.attach(data);
    const ml = await LoopDevice.attach(meta);
    const name = `${prefix}plain`;
    await dm.create({
      name,
      table: [thinPoolRow({ metadataDevice: ml.path, dataDevice: dl.path, dataBlockSize: bytesToSectors(128 * 1024), lowWaterMark: 0 }, { length: bytesToSectors(64 * MiB) })],
    });
    const pool = await ThinPool.open(`/dev/mapper/${name}`);
    expect(pool.name).toBe(name);
    expect(pool.dataBlockSizeBytes).toBe(128 * 1024);
    expect((await pool.status()).noSpacePolicy).toBe('queue');
    await pool.createThin(9);
    expect(await pool.thinIds()).toEqual([9]);
    await pool.close();

    const lin = `${prefix}lin`;
    await dm.create({ name: lin, table: [linearRow({ device: dl.path, offset: bytesToSectors(0) }, { length: bytesToSectors(MiB) })] });
    await expect(ThinPool.open(lin)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(ThinPool.open(`${prefix}missing`)).rejects.toMatchObject({ code: 'ENXIO' });
    await dm.remove(lin);
    await dm.remove(name);
    await dl.detach();
    await ml.detach();
  });

  it('rejects bad geometry before touching the kernel', async () => {
    const dir = await freshDir();
    await expect(createLoopbackPool({ directory: dir, name: `${prefix}bad`, dataBlockSizeBytes: 96 * 1024 })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(createLoopbackPool({ directory: await freshDir(), name: `${prefix}bad2`, dataSizeBytes: 4 * 1024 * MiB, metadataSizeBytes: 512 * 1024 })).rejects.toMatchObject({ code: 'EINVAL' });
    expect(await dm.info(`${prefix}bad`)).toBeNull();
    expect(await dm.info(`${prefix}bad2`)).toBeNull();
  });

  it('sets up direct-lvm on loop-device PVs and opens the LVM pool', async () => {
    const dir = await freshDir();
    const pvFile = path.join(dir, 'pv0');
    await writeFile(pvFile, '');
    await truncate(pvFile, 1024 * MiB);
    const pv = await LoopDevice.attach(pvFile);
    const systemDir = path.join(dir, 'lvm');
    await mkdir(systemDir);
    await copyFile('/etc/lvm/lvm.conf', path.join(systemDir, 'lvm.conf')).catch(() => undefined);
    const vg = `${prefix.replaceAll('-', '')}vg`;
    // No dmeventd in the guest; our own autoextend policy replaces LVM's monitoring.
    const config = 'activation { monitoring=0 } global { use_lvmlockd=0 } backup { backup=0 archive=0 }';
    const pool = await ThinPool.createDirectLvm({ devices: [pv.path], volumeGroup: vg, systemDir, config, minFreeSpacePercent: 0 });
    try {
      expect(pool.name === lvmDmName(vg, 'thinpool') || pool.name === `${lvmDmName(vg, 'thinpool')}-tpool`).toBe(true);
      expect(pool.dataBlockSizeBytes).toBe(512 * 1024);
      expect((await pool.status()).mode).toBe('rw');
      await pool.createThin(1);
      expect(await pool.thinIds()).toEqual([1]);
      await pool.deleteThin(1);
      const profile = await readFile(path.join(systemDir, 'profile', `${vg}-thinpool.profile`), 'utf8');
      expect(profile).toMatch(/thin_pool_autoextend_threshold=80/);
      expect(profile).toMatch(/thin_pool_autoextend_percent=20/);
    } finally {
      await pool.close();
      await removeLvmThinPool({ volumeGroup: vg, poolName: 'thinpool', dmName: '', profile: '' }, [pv.path], { systemDir, config });
      await pv.detach();
    }
  });
});
