import { rm } from 'node:fs/promises';
import { afterEach, describe, expect, test } from 'vitest';
import { DeviceMapperError } from '../../../src/dm/errors.js';
import { SimulatedThinPool } from '../../../src/thin/simulated.js';
import { temporaryDirectory } from './simulated-env.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const code = (c: string) => expect.objectContaining({ code: c });

describe('SimulatedThinPool', () => {
  test('thin ids, activation, fake paths and status', async () => {
    const pool = new SimulatedThinPool({ name: 'p', dataSizeBytes: 64 * MiB });
    await pool.createThin(1);
    await expect(pool.createThin(1)).rejects.toThrow(code('EEXIST'));
    await expect(pool.createThin(2 ** 24)).rejects.toThrow(code('EINVAL'));
    const dev = await pool.activate({ id: 1, name: 'p-1', sizeBytes: 8 * MiB });
    expect(dev.path).toBe('/dev/mapper/p-1');
    expect(await dev.isActive()).toBe(true);
    await expect(pool.activate({ id: 1, name: 'p-1', sizeBytes: 8 * MiB })).resolves.toBeDefined();
    await pool.createThin(2);
    await expect(pool.activate({ id: 2, name: 'p-1', sizeBytes: 8 * MiB })).rejects.toThrow(code('EBUSY'));
    await expect(pool.activate({ id: 3, name: 'p-3', sizeBytes: 8 * MiB })).rejects.toThrow(code('ENODATA'));
    await expect(pool.activate({ id: 2, name: 'bad name', sizeBytes: 8 * MiB })).rejects.toThrow(code('EINVAL'));
    expect(await dev.status()).toEqual({ mappedBytes: 0, highestMappedSector: null });
    pool.simulateWrite(1, 0, 100 * KiB);
    expect(await dev.status()).toEqual({ mappedBytes: 128 * KiB, highestMappedSector: 255 });
    const status = await pool.status();
    expect(status).toMatchObject({ usedDataBlocks: 2, totalDataBlocks: 1024, dataBlockSizeBytes: 64 * KiB, mode: 'rw' });
    expect(status.data.usedBytes + status.data.availableBytes).toBe(status.data.totalBytes);
    expect(status.usedMetadataBlocks).toBeGreaterThan(0);
    expect(await pool.thinIds()).toEqual([1, 2]);
    await expect(pool.deleteThin(1)).rejects.toThrow(code('EBUSY'));
    await dev.deactivate();
    await expect(dev.status()).rejects.toThrow(code('ENXIO'));
    await pool.deleteThin(1);
    await expect(pool.deleteThin(1)).rejects.toThrow(code('ENODATA'));
    expect((await pool.status()).usedDataBlocks).toBe(0);
  });

  test('errors are DeviceMapperErrors with errno names', async () => {
    const pool = new SimulatedThinPool();
    const error = await pool.deleteThin(9).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeviceMapperError);
    expect(error).toMatchObject({ code: 'ENODATA', op: 'deleteThin', errno: expect.any(Number) });
  });

  test('snapshots share blocks until written (copy-on-write accounting)', async () => {
    const pool = new SimulatedThinPool({ dataSizeBytes: 64 * MiB });
    await pool.createThin(1);
    await pool.activate({ id: 1, name: 'o', sizeBytes: 16 * MiB });
    pool.simulateWrite(1, 0, 4 * MiB);
    await pool.createSnapshot(2, 1);
    await expect(pool.createSnapshot(3, 99)).rejects.toThrow(code('ENODATA'));
    expect(pool.mappedBytes(2)).toBe(4 * MiB);
    expect((await pool.status()).data.usedBytes).toBe(4 * MiB);
    await pool.activate({ id: 2, name: 's', sizeBytes: 16 * MiB });
    pool.simulateWrite(2, 0, 1 * MiB); // overwrite shared blocks: copies
    expect(pool.mappedBytes(2)).toBe(4 * MiB);
    expect((await pool.status()).data.usedBytes).toBe(5 * MiB);
    pool.simulateWrite(2, 1 * MiB, 1 * MiB); // still shared: copies again
    pool.simulateWrite(2, 1 * MiB, 1 * MiB); // now its own: in place
    expect((await pool.status()).data.usedBytes).toBe(6 * MiB);
    await pool.device({ id: 1, name: 'o', sizeBytes: 16 * MiB }).deactivate();
    await pool.deleteThin(1);
    // Blocks only the origin held are free; blocks the snapshot shared stay.
    expect((await pool.status()).data.usedBytes).toBe(4 * MiB);
    await pool.device({ id: 2, name: 's', sizeBytes: 16 * MiB }).discardAll();
    expect((await pool.status()).data.usedBytes).toBe(0);
  });

  test('a full pool fails writes with ENOSPC and reports out_of_data_space', async () => {
    const pool = new SimulatedThinPool({ dataSizeBytes: 1 * MiB });
    await pool.createThin(1);
    await pool.activate({ id: 1, name: 'd', sizeBytes: 8 * MiB });
    expect(() => pool.simulateWrite(1, 0, 2 * MiB)).toThrow(code('ENOSPC'));
    expect((await pool.status()).mode).toBe('out_of_data_space');
    await pool.device({ id: 1, name: 'd', sizeBytes: 8 * MiB }).discardAll();
    expect((await pool.status()).mode).toBe('rw');
  });

  test('metadata space runs out with ENOSPC', async () => {
    const pool = new SimulatedThinPool({ metadataSizeBytes: 20 * 4096 });
    let id = 0;
    await expect(
      (async () => {
        for (;;) await pool.createThin(++id);
      })(),
    ).rejects.toThrow(code('ENOSPC'));
    expect(id).toBeLessThan(10);
  });

  test('writes need a writable, resumed activation inside the device', async () => {
    const pool = new SimulatedThinPool();
    await pool.createThin(1);
    expect(() => pool.simulateWrite(1, 0, 1)).toThrow(code('ENXIO'));
    const ro = await pool.activate({ id: 1, name: 'ro', sizeBytes: MiB, readOnly: true });
    expect(() => pool.simulateWrite(1, 0, 1)).toThrow(code('EROFS'));
    await ro.deactivate();
    const rw = await pool.activate({ id: 1, name: 'rw', sizeBytes: MiB });
    expect(() => pool.simulateWrite(1, MiB - 1, 2)).toThrow(code('EINVAL'));
    await rw.suspend();
    expect(() => pool.simulateWrite(1, 0, 1)).toThrow(code('EBUSY'));
    await rw.resume();
    pool.simulateWriteToPath(rw.path, 0, 1);
    await rw.grow(2 * MiB);
    expect(rw.sizeBytes).toBe(2 * MiB);
    await expect(rw.grow(MiB)).rejects.toThrow(code('EINVAL'));
  });

  test('an open device refuses plain deactivation and goes on its last close when deferred', async () => {
    const pool = new SimulatedThinPool();
    await pool.createThin(1);
    const dev = await pool.activate({ id: 1, name: 'held', sizeBytes: MiB });
    pool.simulateOpen('held');
    await expect(dev.deactivate({ deferred: false })).rejects.toThrow(code('EBUSY'));
    expect(await dev.deferredRemovalPending()).toBe(false);
    await dev.deactivate({ deferred: true });
    expect(await dev.isActive()).toBe(true);
    expect(await dev.deferredRemovalPending()).toBe(true);
    // Like the kernel: the thin id cannot go while its device is still there.
    await expect(pool.deleteThin(1)).rejects.toThrow(code('EBUSY'));
    await expect(dev.deactivate({ deferred: false })).rejects.toThrow(code('EBUSY'));
    pool.simulateClose('held');
    expect(await dev.isActive()).toBe(false);
    expect(await dev.deferredRemovalPending()).toBe(false);
    await pool.deleteThin(1);
  });

  test('a deactivation without `deferred` falls back to a deferred removal while the device is held open', async () => {
    const pool = new SimulatedThinPool();
    await pool.createThin(1);
    const dev = await pool.activate({ id: 1, name: 'held', sizeBytes: MiB });
    pool.simulateOpen('held');
    pool.simulateOpen('held');
    await dev.deactivate();
    expect(pool.activeDevices()).toMatchObject([{ name: 'held', openCount: 2, deferredRemove: true }]);
    pool.simulateClose('held');
    expect(await dev.deferredRemovalPending()).toBe(true);
    pool.simulateClose('held');
    expect(pool.activeDevices()).toEqual([]);
  });

  test('transaction id compare-and-swap', async () => {
    const pool = new SimulatedThinPool();
    expect(await pool.transactionId()).toBe(0);
    await pool.setTransactionId(0, 1);
    await expect(pool.setTransactionId(0, 2)).rejects.toThrow(code('EINVAL'));
    expect(await pool.transactionId()).toBe(1);
  });

  test('persists to a directory: a reopen keeps ids, blocks, activations and the transaction id; a reboot drops activations', async () => {
    const directory = await temporaryDirectory('simpool-');
    dirs.push(directory);
    const pool = await SimulatedThinPool.open({ directory, name: 'persisted', dataSizeBytes: 32 * MiB });
    await pool.createThin(4);
    await pool.activate({ id: 4, name: 'persisted-4', sizeBytes: 4 * MiB });
    pool.simulateWrite(4, 0, MiB);
    await pool.setTransactionId(0, 7);
    // No close: as after a kill.
    const again = await SimulatedThinPool.open({ directory });
    expect(again.name).toBe('persisted');
    expect(await again.thinIds()).toEqual([4]);
    expect(await again.transactionId()).toBe(7);
    expect(again.activeDevices()).toEqual([{ name: 'persisted-4', id: 4, readOnly: false, suspended: false, sizeBytes: 4 * MiB, openCount: 0, deferredRemove: false }]);
    expect((await again.status()).data.usedBytes).toBe(MiB);
    again.simulateReboot();
    const rebooted = await SimulatedThinPool.open({ directory });
    expect(rebooted.activeDevices()).toEqual([]);
    expect(rebooted.mappedBytes(4)).toBe(MiB);
    // Freed blocks are reusable after a reload.
    await rebooted.deleteThin(4);
    await rebooted.createThin(5);
    await rebooted.activate({ id: 5, name: 'x', sizeBytes: 32 * MiB });
    rebooted.simulateWrite(5, 0, 32 * MiB);
    expect((await rebooted.status()).data.availableBytes).toBe(0);
    await rebooted.close();
    await expect(rebooted.thinIds()).rejects.toThrow(code('EBADF'));
  });
});
