// The C++ addon on a real kernel: every NativeBinding call, with and without
// udevd (scripts/vm.sh [--udev]). Devices live on loop devices over sparse
// files in a fresh /tmp dir; every test removes what it made.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { native, type NativeBinding, type NativeTableRow } from '../../src/dm/native.js';
import {
  Scratch,
  exists,
  namePrefix,
  removeLeftoverDevices,
  requireDeviceMapper,
  sleep,
  splitDev,
  uniqueName,
  waitFor,
  withUdev,
} from './helpers/scratch.js';

/** loopSetAutoclear is an addition to the contract (see native/loop.cc). */
type Binding = NativeBinding & {
  loopSetAutoclear(loopPath: string, on: boolean): ReturnType<NativeBinding['loopInfo']>;
};

interface DmError extends Error {
  code: string;
  errno: number;
  op: string;
  device?: string;
  dmLog: string[];
}

/** The rejection of `promise`, failing the test if it resolves. */
async function rejection(promise: Promise<unknown>): Promise<DmError> {
  try {
    await promise;
  } catch (error) {
    return error as DmError;
  }
  throw new Error('expected the call to reject');
}

const MiB = 1024 * 1024;
const linear = (loop: { number: number }, length: number, offset = 0): NativeTableRow => ({
  start: 0,
  length,
  targetType: 'linear',
  params: `7:${loop.number} ${offset}`,
});

describe('native addon (on a real kernel)', () => {
  const dm = native() as Binding;
  let s: Scratch;

  beforeAll(() => {
    requireDeviceMapper();
  });

  beforeEach(async () => {
    s = await Scratch.create();
  });
  afterEach(async () => {
    await s.cleanup();
  });
  afterAll(async () => {
    expect(await removeLeftoverDevices(dm)).toEqual([]);
  });

  describe('library and driver', () => {
    it('reports the library and kernel driver versions', async () => {
      const version = await dm.version();
      expect(version.library).toMatch(/^1\.02\.\d+/);
      expect(version.driver).toMatch(/^4\.\d+\.\d+$/);
    });

    it('knows whether udev synchronisation is in use', async () => {
      expect(await dm.udevSyncSupported()).toBe(withUdev);
    });

    it('lists loaded target types with versions', async () => {
      const targets = await dm.targets();
      const names = targets.map((t) => t.name);
      for (const name of ['thin-pool', 'thin', 'linear', 'error']) expect(names).toContain(name);
      const pool = targets.find((t) => t.name === 'thin-pool');
      expect(pool?.version).toHaveLength(3);
      expect(pool?.version[0]).toBeGreaterThanOrEqual(1);
    });
  });

  describe('linear devices', () => {
    it('creates a device with a node, and reports info, table, status, deps, size and list', async () => {
      const loop = await s.loopFile('a.img', 8 * MiB);
      const name = uniqueName('lin');
      const uuid = `${namePrefix}uuid-${name}`;
      const created = await s.create({ name, uuid, table: [linear(loop, 8192)] });
      expect(created).toMatchObject({
        exists: true,
        name,
        uuid,
        openCount: 0,
        eventNr: 0,
        targetCount: 1,
        suspended: false,
        readOnly: false,
        liveTable: true,
        inactiveTable: false,
        deferredRemove: false,
      });
      expect(created.major).toBeGreaterThan(0);

      // The node: a udev symlink to ../dm-N, or libdevmapper's own block node.
      const node = `/dev/mapper/${name}`;
      const stat = await fs.stat(node);
      expect(stat.isBlockDevice()).toBe(true);
      expect(splitDev(stat.rdev)).toEqual({ major: created.major, minor: created.minor });
      expect((await fs.lstat(node)).isSymbolicLink()).toBe(withUdev);

      expect(await dm.info(name)).toEqual(created);
      expect(await dm.table(name)).toEqual([
        { start: 0, length: 8192, targetType: 'linear', params: `7:${loop.number} 0` },
      ]);
      expect(await dm.status(name)).toEqual([{ start: 0, length: 8192, targetType: 'linear', params: '' }]);
      expect(await dm.status(name, { noFlush: true })).toHaveLength(1);
      expect(await dm.deps(name)).toEqual([{ major: 7, minor: loop.number }]);
      expect(await dm.blockSize(node)).toBe(8192 * 512);

      const listed = (await dm.list()).find((e) => e.name === name);
      expect(listed).toEqual({ name, major: created.major, minor: created.minor, eventNr: 0 });

      const handle = await s.open(node, 'r');
      expect((await dm.info(name)).openCount).toBe(1);
      await handle.close();
    });

    it('suspends, loads, clears and resumes tables', async () => {
      const loop = await s.loopFile('a.img', 8 * MiB);
      const name = uniqueName('lin');
      await s.create({ name, table: [linear(loop, 4096)] });

      await dm.suspend(name);
      expect((await dm.info(name)).suspended).toBe(true);
      await dm.resume(name);
      expect((await dm.info(name)).suspended).toBe(false);
      await dm.suspend(name, { noFlush: true, skipLockfs: true });
      expect((await dm.info(name)).suspended).toBe(true);
      await dm.resume(name);

      await dm.load({ name, table: [linear(loop, 8192)] });
      expect(await dm.info(name)).toMatchObject({ liveTable: true, inactiveTable: true });
      expect((await dm.table(name))[0]?.length).toBe(4096); // still the live one
      await dm.clear(name);
      expect((await dm.info(name)).inactiveTable).toBe(false);

      await dm.load({ name, table: [linear(loop, 4096), { ...linear(loop, 4096, 4096), start: 4096 }] });
      await dm.suspend(name);
      await dm.resume(name);
      const info = await dm.info(name);
      expect(info).toMatchObject({ inactiveTable: false, suspended: false, targetCount: 2 });
      expect(await dm.table(name)).toEqual([
        { start: 0, length: 4096, targetType: 'linear', params: `7:${loop.number} 0` },
        { start: 4096, length: 4096, targetType: 'linear', params: `7:${loop.number} 4096` },
      ]);
      expect(await dm.blockSize(`/dev/mapper/${name}`)).toBe(8192 * 512);
    });

    it('creates a device without a table, which gets its node on the first resume', async () => {
      const loop = await s.loopFile('a.img', 4 * MiB);
      const name = uniqueName('empty');
      const info = await s.create({ name, table: [] });
      expect(info).toMatchObject({ exists: true, liveTable: false, targetCount: 0 });
      expect(await dm.table(name)).toEqual([]);
      await dm.load({ name, table: [linear(loop, 2048)] });
      await dm.resume(name);
      expect((await dm.info(name)).liveTable).toBe(true);
      expect((await fs.stat(`/dev/mapper/${name}`)).isBlockDevice()).toBe(true);
    });

    it('renames a device and moves its node', async () => {
      const loop = await s.loopFile('a.img', 4 * MiB);
      const name = uniqueName('old');
      const newName = uniqueName('new');
      const before = await s.create({ name, table: [linear(loop, 2048)] });
      s.track(newName);
      await dm.rename(name, newName);
      expect((await dm.info(name)).exists).toBe(false);
      const after = await dm.info(newName);
      expect(after).toMatchObject({ exists: true, name: newName, minor: before.minor });
      // A rename raises a device event.
      expect(after.eventNr).toBe(before.eventNr + 1);
      expect(await exists(`/dev/mapper/${name}`)).toBe(false);
      expect(splitDev((await fs.stat(`/dev/mapper/${newName}`)).rdev).minor).toBe(before.minor);
    });

    it('removes a device and its node', async () => {
      const loop = await s.loopFile('a.img', 4 * MiB);
      const name = uniqueName('rm');
      await s.create({ name, table: [linear(loop, 2048)] });
      await dm.remove(name);
      expect((await dm.info(name)).exists).toBe(false);
      expect(await exists(`/dev/mapper/${name}`)).toBe(false);
      expect((await dm.list()).some((e) => e.name === name)).toBe(false);
    });

    it('removes by name only the device of the given uuid (ifUuid), in one call', async () => {
      const name = uniqueName('ifuuid');
      const uuid = `${name}-uuid`;
      await s.create({ name, uuid, table: [{ start: 0, length: 8, targetType: 'zero', params: '' }] });
      // Another uuid: refused with EPERM, the device untouched.
      const refused = await rejection(dm.remove(name, { ifUuid: `${uuid}-other` }));
      expect(refused).toMatchObject({ code: 'EPERM', op: 'remove', device: name });
      expect(refused.message).toContain('did not make');
      expect((await dm.info(name)).exists).toBe(true);
      expect(await dm.remove(name, { ifUuid: uuid })).toBe(true);
      expect((await dm.info(name)).exists).toBe(false);
      expect(await waitFor(async () => !(await exists(`/dev/mapper/${name}`)))).toBe(true);
      // No device of that name: false, where a plain remove is ENXIO.
      expect(await dm.remove(name, { ifUuid: uuid })).toBe(false);
      expect(await rejection(dm.remove(name))).toMatchObject({ code: 'ENXIO' });
    });

    it('makes read-only devices', async () => {
      const loop = await s.loopFile('a.img', 4 * MiB);
      const name = uniqueName('ro');
      const info = await s.create({ name, table: [linear(loop, 2048)], readOnly: true });
      expect(info.readOnly).toBe(true);
      const error = await rejection(
        (async () => {
          const handle = await s.open(`/dev/mapper/${name}`, 'r+');
          await handle.write(Buffer.alloc(512, 1), 0, 512, 0);
          await handle.sync();
        })(),
      );
      expect(['EACCES', 'EPERM', 'EROFS']).toContain(error.code);
    });

    it('marks devices udev-private on request and still gets a node', async () => {
      const name = uniqueName('private');
      const info = await s.create({ name, table: [{ start: 0, length: 2048, targetType: 'zero', params: '' }], udevPrivate: true });
      expect((await fs.stat(`/dev/mapper/${name}`)).isBlockDevice()).toBe(true);
      if (withUdev) {
        const properties = execFileSync('udevadm', ['info', '--query=property', `--name=/dev/dm-${info.minor}`], {
          encoding: 'utf8',
        });
        expect(properties).toContain('DM_UDEV_DISABLE_OTHER_RULES_FLAG=1');
        expect(properties).toContain('DM_UDEV_DISABLE_DISK_RULES_FLAG=1');
      }
      await dm.suspend(name);
      await dm.resume(name, { udevPrivate: true });
      const newName = uniqueName('private');
      s.track(newName);
      await dm.rename(name, newName, { udevPrivate: true });
      expect((await fs.stat(`/dev/mapper/${newName}`)).isBlockDevice()).toBe(true);
      await dm.remove(newName, { udevPrivate: true });
      expect(await exists(`/dev/mapper/${newName}`)).toBe(false);
    });
  });

  describe('zero and error targets', () => {
    it('reads zeros from a zero device and EIO from an error device', async () => {
      const zero = uniqueName('zero');
      const error = uniqueName('error');
      await s.create({ name: zero, table: [{ start: 0, length: 2048, targetType: 'zero', params: '' }] });
      await s.create({ name: error, table: [{ start: 0, length: 2048, targetType: 'error', params: '' }] });
      expect((await dm.targets()).map((t) => t.name)).toContain('zero');

      const zeroHandle = await s.open(`/dev/mapper/${zero}`, 'r');
      const buffer = Buffer.alloc(4096, 0xff);
      const { bytesRead } = await zeroHandle.read(buffer, 0, 4096, 0);
      expect(bytesRead).toBe(4096);
      expect(buffer.every((b) => b === 0)).toBe(true);

      const errorHandle = await s.open(`/dev/mapper/${error}`, 'r');
      const readError = await rejection(errorHandle.read(Buffer.alloc(4096), 0, 4096, 0));
      expect(readError.code).toBe('EIO');
      expect(await dm.blockSize(`/dev/mapper/${error}`)).toBe(2048 * 512);
    });
  });

  describe('errors', () => {
    it('rejects a duplicate name with EBUSY and the full error shape', async () => {
      const name = uniqueName('dup');
      await s.create({ name, table: [{ start: 0, length: 8, targetType: 'zero', params: '' }] });
      const error = await rejection(dm.create({ name, table: [{ start: 0, length: 8, targetType: 'zero', params: '' }] }));
      expect(error).toBeInstanceOf(Error);
      expect(error).toMatchObject({ code: 'EBUSY', errno: 16, op: 'create', device: name });
      expect(error.dmLog.some((line) => line.includes('create ioctl'))).toBe(true);
      expect(error.message).toContain(name);
      expect(error.message).toContain('EBUSY');
    });

    it('rejects a bad table and leaves no device behind', async () => {
      const name = uniqueName('bad');
      s.track(name);
      const unknownTarget = await rejection(
        dm.create({ name, table: [{ start: 0, length: 8, targetType: 'no-such-target', params: '' }] }),
      );
      expect(unknownTarget).toMatchObject({ code: 'EINVAL', errno: 22, op: 'create', device: name });
      expect((await dm.info(name)).exists).toBe(false);

      const missingDevice = await rejection(
        dm.create({ name, table: [{ start: 0, length: 8, targetType: 'linear', params: '/dev/no-such-disk 0' }] }),
      );
      expect(missingDevice).toMatchObject({ code: 'ENODEV', op: 'create' });
      expect((await dm.info(name)).exists).toBe(false);
    });

    it('reports a missing device as exists:false from info and ENXIO from the rest', async () => {
      const name = uniqueName('missing');
      const info = await dm.info(name);
      expect(info).toMatchObject({ exists: false, name: '', major: 0, minor: 0, openCount: 0, eventNr: 0 });
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['status', () => dm.status(name)],
        ['table', () => dm.table(name)],
        ['deps', () => dm.deps(name)],
        ['message', () => dm.message(name, 0, 'x')],
        ['remove', () => dm.remove(name)],
        ['suspend', () => dm.suspend(name)],
        ['resume', () => dm.resume(name)],
        ['rename', () => dm.rename(name, uniqueName('x'))],
        ['clear', () => dm.clear(name)],
        ['load', () => dm.load({ name, table: [{ start: 0, length: 8, targetType: 'zero', params: '' }] })],
      ];
      for (const [op, call] of calls) {
        const error = await rejection(call());
        expect({ op: error.op, code: error.code, device: error.device }).toEqual({ op, code: 'ENXIO', device: name });
      }
    });

    it('rejects names libdevmapper would misread, and bad arguments, as promise rejections', async () => {
      const slash = await rejection(dm.info('a/b'));
      expect(slash).toMatchObject({ code: 'EINVAL', op: 'info' });
      const tooLong = await rejection(dm.info('x'.repeat(200)));
      expect(tooLong.code).toBe('EINVAL');
      const typeError = await rejection(dm.create({ name: 'x' } as Parameters<NativeBinding['create']>[0]));
      expect(typeError).toBeInstanceOf(TypeError);
      expect(await rejection(dm.blockDiscard('/dev/null', -1, 1))).toBeInstanceOf(TypeError);
    });
  });

  describe('remove while open', () => {
    it('retries EBUSY a bounded number of times, then rejects with EBUSY', async () => {
      const name = uniqueName('busy');
      await s.create({ name, table: [{ start: 0, length: 2048, targetType: 'zero', params: '' }] });
      const handle = await s.open(`/dev/mapper/${name}`, 'r');
      const started = Date.now();
      const error = await rejection(dm.remove(name, { retries: 3, retryDelayMs: 50 }));
      expect(Date.now() - started).toBeGreaterThanOrEqual(150);
      expect(error).toMatchObject({ code: 'EBUSY', errno: 16, op: 'remove', device: name });
      expect(error.message).toContain('retried 3 times');
      expect(error.dmLog.some((line) => line.includes('remove ioctl'))).toBe(true);
      expect((await dm.info(name)).exists).toBe(true);
      // Other calls are not blocked while a remove sleeps between retries.
      const slow = dm.remove(name, { retries: 10, retryDelayMs: 100 });
      expect((await dm.info(name)).exists).toBe(true);
      await handle.close();
      await slow; // the holder closed within the retries
      expect((await dm.info(name)).exists).toBe(false);
    });

    it('defers removal until the holder closes, and can cancel it', async () => {
      const name = uniqueName('deferred');
      const node = `/dev/mapper/${name}`;
      await s.create({ name, table: [{ start: 0, length: 2048, targetType: 'zero', params: '' }] });
      const handle = await s.open(node, 'r');

      await dm.remove(name, { deferred: true });
      expect(await dm.info(name)).toMatchObject({ exists: true, deferredRemove: true, openCount: 1 });
      // With udev the node stays until the device goes; without udev
      // libdevmapper deletes it at once (nothing would delete it later).
      expect(await exists(node)).toBe(withUdev);

      await dm.cancelDeferredRemove(name);
      expect(await dm.info(name)).toMatchObject({ exists: true, deferredRemove: false });
      expect((await fs.stat(node)).isBlockDevice()).toBe(true); // node back in both modes

      await dm.remove(name, { deferred: true });
      expect((await dm.info(name)).deferredRemove).toBe(true);
      await handle.close();
      expect(await waitFor(async () => !(await dm.info(name)).exists)).toBe(true);
      expect(await waitFor(async () => !(await exists(node)))).toBe(true);
    });

    it('removes an unopened device at once when asked for a deferred remove', async () => {
      const name = uniqueName('deferred-free');
      await s.create({ name, table: [{ start: 0, length: 8, targetType: 'zero', params: '' }] });
      await dm.remove(name, { deferred: true });
      expect((await dm.info(name)).exists).toBe(false);
      expect(await waitFor(async () => !(await exists(`/dev/mapper/${name}`)))).toBe(true);
    });
  });

  describe('thin provisioning', () => {
    // 64 MiB data = 1024 blocks of 64 KiB; low water mark 1023 blocks: the
    // pool raises an event on the second block it allocates (it checks the
    // free count before each allocation).
    async function makePool(): Promise<{ pool: string; dataBlocks: number }> {
      const meta = await s.loopFile('meta.img', 8 * MiB);
      const data = await s.loopFile('data.img', 64 * MiB);
      const metaHandle = await fs.open(meta.path, 'r+');
      await metaHandle.write(Buffer.alloc(4096), 0, 4096, 0); // a fresh pool needs zeroed metadata
      await metaHandle.close();
      const pool = uniqueName('pool');
      await s.create({
        name: pool,
        table: [{ start: 0, length: 131072, targetType: 'thin-pool', params: `7:${meta.number} 7:${data.number} 128 1023` }],
      });
      return { pool, dataBlocks: 1024 };
    }

    async function makeThin(pool: string, id: number, sectors: number): Promise<string> {
      expect(await dm.message(pool, 0, `create_thin ${id}`)).toBeNull();
      const thin = uniqueName('thin');
      await s.create({ name: thin, table: [{ start: 0, length: sectors, targetType: 'thin', params: `/dev/mapper/${pool} ${id}` }] });
      return thin;
    }

    /** Mapped sectors of a thin device, from its status "<mapped> <highest>". */
    async function mappedSectors(thin: string): Promise<number> {
      const [row] = await dm.status(thin);
      return Number(row?.params.split(' ')[0]);
    }

    it('activates thin devices, allocates on write and frees on discard', async () => {
      const { pool, dataBlocks } = await makePool();
      const [poolStatus] = await dm.status(pool);
      expect(poolStatus?.targetType).toBe('thin-pool');
      expect(poolStatus?.params).toMatch(new RegExp(`^0 \\d+/\\d+ 0/${dataBlocks} `));

      const thin = await makeThin(pool, 0, 20480);
      expect(await dm.table(thin)).toHaveLength(1);
      expect(await dm.deps(thin)).toEqual([{ major: (await dm.info(pool)).major, minor: (await dm.info(pool)).minor }]);
      expect(await mappedSectors(thin)).toBe(0);
      expect(await dm.blockSize(`/dev/mapper/${thin}`)).toBe(20480 * 512);

      const handle = await s.open(`/dev/mapper/${thin}`, 'r+');
      await handle.write(Buffer.alloc(4 * 65536, 0xab), 0, 4 * 65536, 0);
      await handle.datasync();
      await handle.close();
      expect(await mappedSectors(thin)).toBe(4 * 128);
      expect((await dm.status(pool))[0]?.params).toContain(`4/${dataBlocks}`);

      await dm.blockDiscard(`/dev/mapper/${thin}`, 65536, 2 * 65536);
      expect(await mappedSectors(thin)).toBe(2 * 128);
      const unaligned = await rejection(dm.blockDiscard(`/dev/mapper/${thin}`, 1, 511));
      expect(unaligned).toMatchObject({ code: 'EINVAL', op: 'blockDiscard', device: `/dev/mapper/${thin}` });
    });

    it('sends messages: no reply, a reply, and EINVAL for nonsense', async () => {
      const { pool } = await makePool();
      expect(await dm.message(pool, 0, 'reserve_metadata_snap')).toBeNull();
      // A held metadata snapshot shows its block where '-' stood.
      expect((await dm.status(pool))[0]?.params).toMatch(/^\d+ \d+\/\d+ \d+\/\d+ \d+ rw /);
      expect(await dm.message(pool, 0, 'release_metadata_snap')).toBeNull();
      const bogus = await rejection(dm.message(pool, 0, 'no_such_message'));
      expect(bogus).toMatchObject({ code: 'EINVAL', errno: 22, op: 'message', device: pool });

      const thin = await makeThin(pool, 1, 2048);
      // dm statistics messages (handled by the dm core) reply with text.
      const region = await dm.message(thin, 0, '@stats_create - /1');
      expect(region).toMatch(/^\d+$/);
      expect(await dm.message(thin, 0, '@stats_list')).toContain(`${region}: 0+2048`);
      expect(await dm.message(thin, 0, `@stats_delete ${region}`)).toBeNull();
    });

    it('waits for events: resolves on the low-water event, cancels, and sees removal', async () => {
      const { pool } = await makePool();
      const thin = await makeThin(pool, 0, 20480);
      const before = (await dm.info(pool)).eventNr;

      // Suspend/resume and messages raise no event; the low water mark does.
      const waiter = dm.waitEvent(pool, before);
      let settled = false;
      void waiter.promise.then(
        () => (settled = true),
        () => (settled = true),
      );
      await dm.suspend(thin);
      await dm.resume(thin);
      expect(await dm.message(pool, 0, 'reserve_metadata_snap')).toBeNull();
      expect(await dm.message(pool, 0, 'release_metadata_snap')).toBeNull();
      await sleep(300);
      expect(settled).toBe(false);

      const handle = await s.open(`/dev/mapper/${thin}`, 'r+');
      await handle.write(Buffer.alloc(2 * 65536, 1), 0, 2 * 65536, 0);
      await handle.datasync();
      const eventNr = await waiter.promise;
      expect(eventNr).toBeGreaterThan(before);
      expect((await dm.info(pool)).eventNr).toBe(eventNr);
      expect((await dm.list()).find((e) => e.name === pool)?.eventNr).toBe(eventNr);

      // Already past: resolves without waiting.
      expect(await dm.waitEvent(pool, before).promise).toBe(eventNr);

      const cancelled = dm.waitEvent(pool, eventNr);
      await sleep(100);
      cancelled.cancel();
      const error = await rejection(cancelled.promise);
      expect(error).toMatchObject({ code: 'ECANCELED', op: 'waitEvent', device: pool });
      cancelled.cancel(); // harmless after the end

      await handle.close();
      const gone = rejection(dm.waitEvent(thin, (await dm.info(thin)).eventNr).promise);
      await sleep(100);
      await dm.remove(thin, { retries: 50 });
      expect(await gone).toMatchObject({ code: 'ENXIO', op: 'waitEvent', device: thin });

      expect(await rejection(dm.waitEvent(uniqueName('none'), 0).promise)).toMatchObject({ code: 'ENXIO' });
    });
  });

  describe('serialisation', () => {
    it('runs many calls at once without interference', async () => {
      const names = [uniqueName('par'), uniqueName('par'), uniqueName('par'), uniqueName('par')];
      const infos = await Promise.all(
        names.map((name) => s.create({ name, table: [{ start: 0, length: 8, targetType: 'zero', params: '' }] })),
      );
      expect(infos.map((i) => i.name)).toEqual(names);
      const again = await Promise.all([...names, ...names].map((name) => dm.info(name)));
      expect(again.every((i) => i.exists)).toBe(true);
      await Promise.all(names.map((name) => dm.remove(name)));
      expect((await Promise.all(names.map((name) => dm.info(name)))).some((i) => i.exists)).toBe(false);
    });
  });

  describe('edge cases', () => {
    const zero = (length = 2048): NativeTableRow => ({ start: 0, length, targetType: 'zero', params: '' });
    /** The name the kernel holds for a device (sysfs), whatever libdevmapper makes of it. */
    const kernelName = async (minor: number): Promise<string> => (await fs.readFile(`/sys/block/dm-${minor}/dm/name`, 'utf8')).trim();

    it('removes the new device when anything fails after the create ioctl', async () => {
      const name = uniqueName('late');
      s.track(name);
      // libdevmapper refuses a target type longer than DM_MAX_TYPE_NAME when the
      // table is added, after the device was created.
      const error = await rejection(dm.create({ name, table: [{ start: 0, length: 8, targetType: 'x'.repeat(40), params: '' }] }));
      expect(error).toMatchObject({ code: 'EINVAL', op: 'create', device: name });
      expect((await dm.info(name)).exists).toBe(false);
      expect(await exists(`/dev/mapper/${name}`)).toBe(false);
    });

    it('passes names to the kernel unmangled, up to 127 characters', async () => {
      const bang = `${uniqueName('bang')}!x`;
      const created = await s.create({ name: bang, table: [zero()] });
      expect(await kernelName(created.minor)).toBe(bang);
      expect((await dm.list()).some((e) => e.name === bang)).toBe(true);
      expect((await dm.info(bang)).exists).toBe(true);

      const prefix = uniqueName('long');
      const long = `${prefix}#+:=@_`.padEnd(127, 'n');
      expect(long).toHaveLength(127);
      const info = await s.create({ name: long, table: [zero()] });
      expect(await kernelName(info.minor)).toBe(long);
      expect(splitDev((await fs.stat(`/dev/mapper/${long}`)).rdev)).toEqual({ major: info.major, minor: info.minor });
      await dm.remove(long);
      expect(await exists(`/dev/mapper/${long}`)).toBe(false);
      expect(await rejection(dm.info('n'.repeat(128)))).toMatchObject({ code: 'EINVAL' });
    });

    it('keeps the control fd and every fd it opens from child processes', async () => {
      await s.loopFile('cloexec.img', MiB);
      await dm.version();
      const name = uniqueName('cloexec');
      await s.create({ name, table: [zero()] });
      const wait = dm.waitEvent(name, 100);
      try {
        const fds = execFileSync('sh', ['-c', 'for f in /proc/$$/fd/*; do readlink "$f"; done; true'], { encoding: 'utf8' });
        expect(fds).not.toContain('/dev/mapper/control');
        expect(fds).not.toMatch(/\/dev\/loop/);
      } finally {
        wait.cancel();
        await wait.promise.catch(() => undefined);
      }
    });

    it('reaches the driver on a later call when the first contact failed', async () => {
      // A child process whose first calls cannot open /dev/mapper/control (an
      // empty nodev tmpfs over /dev/mapper in its own mount namespace), which
      // then unmounts it, as if dm_mod had loaded meanwhile.
      const addon = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../build/Release/devmapper.node');
      const script = path.join(s.dir, 'late-driver.cjs');
      await fs.writeFile(
        script,
        `const { execFileSync } = require('node:child_process');
const dm = require(${JSON.stringify(addon)});
const outcome = (p) => p.then((v) => ({ ok: true, driver: v.driver }), (e) => ({ ok: false, code: e.code }));
(async () => {
  const first = await outcome(dm.version());
  const second = await outcome(dm.version());
  execFileSync('umount', ['/dev/mapper']);
  const third = await outcome(dm.version());
  const list = await outcome(dm.list().then(() => ({ driver: 'listed' })));
  console.log(JSON.stringify({ first, second, third, list }));
})();
`,
      );
      const out = execFileSync(
        'unshare',
        ['-m', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs -o nodev tmpfs /dev/mapper && exec ${process.execPath} ${script}`],
        { encoding: 'utf8' },
      );
      const result = JSON.parse(out.trim().split('\n').pop() ?? '{}') as Record<string, { ok: boolean; code?: string; driver?: string }>;
      expect(result.first).toEqual({ ok: false, code: 'EACCES' });
      expect(result.second).toEqual({ ok: false, code: 'EACCES' });
      expect(result.third?.ok).toBe(true);
      expect(result.third?.driver).toMatch(/^4\./);
      expect(result.list).toEqual({ ok: true, driver: 'listed' });
    });
  });

  describe('udev modes', () => {
    const zero: NativeTableRow = { start: 0, length: 2048, targetType: 'zero', params: '' };

    it("makes the node itself and leaves udev's rules out with udev: 'skip'", async () => {
      const name = uniqueName('skip');
      const info = await s.create({ name, table: [zero], udev: 'skip' });
      const node = `/dev/mapper/${name}`;
      // libdevmapper's own block node, never udev's symlink, and no /dev/disk link.
      expect((await fs.lstat(node)).isBlockDevice()).toBe(true);
      expect(splitDev((await fs.stat(node)).rdev)).toEqual({ major: info.major, minor: info.minor });
      expect(await exists(`/dev/disk/by-id/dm-name-${name}`)).toBe(false);
      if (withUdev) {
        execFileSync('udevadm', ['settle', '--timeout=30']);
        const properties = execFileSync('udevadm', ['info', '--query=property', `--name=/dev/dm-${info.minor}`], { encoding: 'utf8' });
        expect(properties).toContain('DM_UDEV_DISABLE_DM_RULES_FLAG=1');
        expect(properties).toContain('DM_UDEV_DISABLE_OTHER_RULES_FLAG=1');
        expect((await fs.lstat(node)).isBlockDevice()).toBe(true);
      }
      await dm.suspend(name);
      await dm.resume(name, { udev: 'skip' });
      const newName = uniqueName('skip');
      s.track(newName);
      await dm.rename(name, newName, { udev: 'skip' });
      expect(await exists(node)).toBe(false);
      expect((await fs.lstat(`/dev/mapper/${newName}`)).isBlockDevice()).toBe(true);
      await dm.remove(newName, { udev: 'skip' });
      expect(await exists(`/dev/mapper/${newName}`)).toBe(false);
    });

    it('refuses an unknown udev mode as a TypeError', async () => {
      const error = await rejection(dm.create({ name: uniqueName('mode'), table: [zero], udev: 'never' as 'skip' }));
      expect(error).toBeInstanceOf(TypeError);
    });

    it('fails only the call whose udev answer is lost, with ETIMEDOUT, while others finish', async () => {
      // udevd stopped mid-run: its queued events (and their cookies) wait
      // until it continues. Without udevd there are no cookies to lose.
      const udevd = withUdev ? execFileSync('pidof', ['systemd-udevd'], { encoding: 'utf8' }).trim().split(/\s+/) : [];
      const waiting = uniqueName('lost');
      s.track(waiting);
      const others = [uniqueName('other'), uniqueName('other'), uniqueName('other')];
      for (const udevd_pid of udevd) process.kill(Number(udevd_pid), 'SIGSTOP');
      try {
        const started = Date.now();
        const lost = dm.create({ name: waiting, table: [zero], udevTimeoutMs: 3000 }).then(
          () => ({ ok: true as const, ms: Date.now() - started }),
          (e: DmError) => ({ ok: false as const, code: e.code, op: e.op, ms: Date.now() - started }),
        );
        // Calls without a udev wait go on while that one waits.
        const otherDone = await Promise.all(
          others.map(async (name) => {
            await s.create({ name, table: [zero], udev: 'skip' });
            return Date.now() - started;
          }),
        );
        expect((await dm.info(others[0]!)).exists).toBe(true);
        const outcome = await lost;
        if (withUdev) {
          expect(outcome).toMatchObject({ ok: false, code: 'ETIMEDOUT', op: 'create' });
          expect(Math.max(...otherDone)).toBeLessThan(outcome.ms);
          // The create was undone.
          expect((await dm.info(waiting)).exists).toBe(false);
        } else {
          expect(outcome.ok).toBe(true);
        }
      } finally {
        for (const udevd_pid of udevd) process.kill(Number(udevd_pid), 'SIGCONT');
      }
      // udevd is back: waits work again.
      const after = uniqueName('after');
      await s.create({ name: after, table: [zero] });
      expect((await fs.stat(`/dev/mapper/${after}`)).isBlockDevice()).toBe(true);
    });
  });

  describe('loop devices', () => {
    it('attaches, describes, finds and detaches', async () => {
      const file = await s.file('a.img', 4 * MiB);
      const other = await s.file('b.img', 4 * MiB);
      const loop = await s.loop(file);
      expect(loop).toMatchObject({
        path: `/dev/loop${loop.number}`,
        backingFile: file,
        offsetBytes: 0,
        sizeLimitBytes: 0,
        readOnly: false,
        autoclear: false,
        directIo: false,
      });
      expect(await dm.loopInfo(loop.path)).toEqual(loop);
      expect(await dm.loopFind(file)).toEqual([loop]);
      expect(await dm.loopFind(other)).toEqual([]);
      expect(await dm.blockSize(loop.path)).toBe(4 * MiB);

      const second = await s.loop(file);
      expect(second.number).not.toBe(loop.number);
      expect((await dm.loopFind(file)).map((l) => l.number).sort()).toEqual([loop.number, second.number].sort());

      await dm.loopDetach(second.path);
      await dm.loopDetach(loop.path);
      // A probe by udev can hold it for a moment; the kernel then detaches on its close.
      expect(await waitFor(async () => (await dm.loopFind(file)).length === 0)).toBe(true);
      expect(await rejection(dm.loopInfo(loop.path))).toMatchObject({ code: 'ENXIO', op: 'loopInfo', device: loop.path });
      expect(await rejection(dm.loopDetach(loop.path))).toMatchObject({ code: 'ENXIO', op: 'loopDetach' });
      expect(await rejection(dm.loopAttach(path.join(s.dir, 'missing.img')))).toMatchObject({ code: 'ENOENT', op: 'loopAttach' });
    });

    it('picks up a grown backing file on setCapacity', async () => {
      const file = await s.file('grow.img', 4 * MiB);
      const loop = await s.loop(file);
      await fs.truncate(file, 12 * MiB);
      expect(await dm.blockSize(loop.path)).toBe(4 * MiB);
      await dm.loopSetCapacity(loop.path);
      expect(await dm.blockSize(loop.path)).toBe(12 * MiB);
    });

    it('attaches read-only and with direct I/O when asked', async () => {
      const file = await s.file('ro.img', 4 * MiB);
      const ro = await s.loop(file, { readOnly: true });
      expect(ro.readOnly).toBe(true);
      const error = await rejection(
        (async () => {
          const handle = await s.open(ro.path, 'r+');
          await handle.write(Buffer.alloc(512, 1), 0, 512, 0);
          await handle.sync();
        })(),
      );
      expect(['EACCES', 'EPERM', 'EROFS']).toContain(error.code);

      const dio = await s.loop(await s.file('dio.img', 4 * MiB), { directIo: true });
      // The kernel drops direct I/O silently when the file system cannot do
      // it (tmpfs before Linux 6.6); the flag then agrees with sysfs.
      const sysfs = (await fs.readFile(`/sys/block/loop${dio.number}/loop/dio`, 'utf8')).trim();
      expect(dio.directIo).toBe(sysfs === '1');
    });

    it('refuses autoclear at attach; loopSetAutoclear detaches once the last holder goes', async () => {
      const file = await s.file('auto.img', 4 * MiB);
      expect(await rejection(dm.loopAttach(file, { autoclear: true }))).toMatchObject({ code: 'EINVAL', op: 'loopAttach' });

      // With nobody holding it, autoclear takes effect when our own fd closes.
      const lone = await s.loop(file);
      expect((await dm.loopSetAutoclear(lone.path, true)).autoclear).toBe(true);
      expect(await waitFor(async () => (await dm.loopFind(file)).length === 0)).toBe(true);

      // Held by a dm table, it stays until the dm device is removed.
      const held = await s.loop(file);
      const name = uniqueName('holder');
      await s.create({ name, table: [linear(held, 2048)] });
      expect((await dm.loopSetAutoclear(held.path, true)).autoclear).toBe(true);
      expect((await dm.loopInfo(held.path)).autoclear).toBe(true);
      expect((await dm.loopSetAutoclear(held.path, false)).autoclear).toBe(false);
      await dm.loopSetAutoclear(held.path, true);
      await dm.remove(name, { retries: 50 });
      expect(await waitFor(async () => (await dm.loopFind(file)).length === 0)).toBe(true);
    });
  });
});
