import { beforeEach, describe, expect, it, vi } from 'vitest';

// The addon is replaced by a fake: these tests run on hosts where it is not built.
const fake = vi.hoisted(() => {
  const binding = {
    version: vi.fn(),
    udevSyncSupported: vi.fn(),
    list: vi.fn(),
    targets: vi.fn(),
    create: vi.fn(),
    load: vi.fn(),
    clear: vi.fn(),
    suspend: vi.fn(),
    resume: vi.fn(),
    rename: vi.fn(),
    remove: vi.fn(),
    cancelDeferredRemove: vi.fn(),
    message: vi.fn(),
    status: vi.fn(),
    table: vi.fn(),
    info: vi.fn(),
    deps: vi.fn(),
    waitEvent: vi.fn(),
    loopAttach: vi.fn(),
    loopDetach: vi.fn(),
    loopSetCapacity: vi.fn(),
    loopInfo: vi.fn(),
    loopFind: vi.fn(),
    blockSize: vi.fn(),
    blockDiscard: vi.fn(),
  };
  return { binding, native: vi.fn(() => binding) };
});
vi.mock('../../src/dm/native.js', () => ({ native: fake.native }));

import {
  DeviceMapper,
  PoolMessages,
  devicePath,
  isDeviceMapperError,
  linearRow,
  sectors,
  zeroRow,
  type PoolMessage,
} from '../../src/dm/index.js';

const s = sectors;

function nativeError(code: string, errno: number, op: string, device?: string): Error {
  return Object.assign(new Error(`${op} failed`), { code, errno, op, device, dmLog: ['device-mapper: ioctl failed'] });
}

const nativeInfo = {
  exists: true,
  name: 'pool',
  uuid: '',
  major: 253,
  minor: 0,
  openCount: 0,
  eventNr: 3,
  targetCount: 1,
  suspended: false,
  readOnly: false,
  liveTable: true,
  inactiveTable: false,
  deferredRemove: false,
};

beforeEach(() => {
  vi.clearAllMocks();
  fake.native.mockImplementation(() => fake.binding);
});

describe('validation before the addon loads', () => {
  const bad = 'bad/name';
  const cases: Array<[string, () => Promise<unknown>]> = [
    ['create', () => DeviceMapper.create({ name: bad, table: [] })],
    ['load', () => DeviceMapper.load({ name: bad, table: [zeroRow({ length: s(8) })] })],
    ['clear', () => DeviceMapper.clear(bad)],
    ['suspend', () => DeviceMapper.suspend(bad)],
    ['resume', () => DeviceMapper.resume(bad)],
    ['suspendScoped', () => DeviceMapper.suspendScoped(bad)],
    ['rename from', () => DeviceMapper.rename(bad, 'ok')],
    ['rename to', () => DeviceMapper.rename('ok', bad)],
    ['remove', () => DeviceMapper.remove(bad)],
    ['cancelDeferredRemove', () => DeviceMapper.cancelDeferredRemove(bad)],
    ['message', () => DeviceMapper.message(bad, PoolMessages.createThin(1))],
    ['status', () => DeviceMapper.status(bad)],
    ['table', () => DeviceMapper.table(bad)],
    ['info', () => DeviceMapper.info(bad)],
    ['deps', () => DeviceMapper.deps(bad)],
    ['create uuid', () => DeviceMapper.create({ name: 'ok', uuid: 'has space', table: [] })],
    ['create table gap', () => DeviceMapper.create({ name: 'ok', table: [zeroRow({ start: s(8), length: s(8) })] })],
    ['load empty table', () => DeviceMapper.load({ name: 'ok', table: [] })],
    ['remove retries', () => DeviceMapper.remove('ok', { retries: -1 })],
    ['unknown udev mode', () => DeviceMapper.create({ name: 'ok', table: [], udev: 'never' as 'skip' })],
    ['negative udev timeout', () => DeviceMapper.resume('ok', { udevTimeoutMs: -1 })],
    ['snapshotAndCreate bad pool', () => DeviceMapper.snapshotAndCreate({ pool: bad, message: PoolMessages.createSnap(2, 1), device: { name: 'ok', table: [] } })],
    ['snapshotAndCreate bad device', () => DeviceMapper.snapshotAndCreate({ pool: 'pool', message: PoolMessages.createSnap(2, 1), device: { name: bad, table: [] } })],
    ['snapshotAndCreate forged message', () => DeviceMapper.snapshotAndCreate({ pool: 'pool', message: 'delete 0; create_thin 1' as PoolMessage, device: { name: 'ok', table: [] } })],
    ['forged message', () => DeviceMapper.message('pool', 'delete 0; create_thin 1' as PoolMessage)],
    ['caller text cast to a message', () => DeviceMapper.message('pool', '@cancel_deferred_remove' as PoolMessage)],
  ];

  it.each(cases)('%s rejects with EINVAL without loading the addon', async (_, run) => {
    await expect(run()).rejects.toSatisfy((e: unknown) => isDeviceMapperError(e, 'EINVAL'));
    expect(fake.native).not.toHaveBeenCalled();
  });

  it('waitEvent throws EINVAL synchronously on a bad name or event number', () => {
    expect(() => DeviceMapper.waitEvent(bad, 0)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => DeviceMapper.waitEvent('ok', -1)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(fake.native).not.toHaveBeenCalled();
  });

  it('devicePath is /dev/mapper/<name> for valid names only', () => {
    expect(devicePath('pool')).toBe('/dev/mapper/pool');
    expect(() => devicePath('../etc')).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
});

describe('calls through to the addon', () => {
  it('create passes plain rows and options and returns typed info (empty uuid → null)', async () => {
    fake.binding.create.mockResolvedValue(nativeInfo);
    const table = [linearRow({ device: '/dev/loop0', offset: s(0) }, { length: s(2048) })];
    const info = await DeviceMapper.create({ name: 'pool', uuid: 'devmapper-1', table, udevPrivate: true });
    expect(fake.binding.create).toHaveBeenCalledWith({
      name: 'pool',
      uuid: 'devmapper-1',
      table: [{ start: 0, length: 2048, targetType: 'linear', params: '/dev/loop0 0' }],
      readOnly: false,
      udevPrivate: true,
    });
    expect(info).toMatchObject({ name: 'pool', uuid: null, eventNr: 3, liveTable: true });
    expect(info).not.toHaveProperty('exists');
  });

  it('passes the udev mode and timeout on', async () => {
    fake.binding.create.mockResolvedValue(nativeInfo);
    await DeviceMapper.create({ name: 'thin', table: [], udev: 'skip', udevTimeoutMs: 500 });
    expect(fake.binding.create).toHaveBeenCalledWith({ name: 'thin', table: [], readOnly: false, udev: 'skip', udevTimeoutMs: 500 });
  });

  it('info resolves null for a device that does not exist', async () => {
    fake.binding.info.mockResolvedValue({ ...nativeInfo, exists: false, name: '' });
    expect(await DeviceMapper.info('nope')).toBeNull();
  });

  it('status and table return rows in sectors', async () => {
    fake.binding.status.mockResolvedValue([{ start: 0, length: 2048, targetType: 'thin', params: '0 -' }]);
    expect(await DeviceMapper.status('thin1', { noFlush: true })).toEqual([{ start: 0, length: 2048, targetType: 'thin', params: '0 -' }]);
    expect(fake.binding.status).toHaveBeenCalledWith('thin1', { noFlush: true });
  });

  it('message sends builder text at sector 0 and returns the reply', async () => {
    fake.binding.message.mockResolvedValue(null);
    expect(await DeviceMapper.message('pool', PoolMessages.createSnap(2, 1))).toBeNull();
    expect(fake.binding.message).toHaveBeenCalledWith('pool', 0, 'create_snap 2 1');
  });

  it('remove passes retries and deferred', async () => {
    fake.binding.remove.mockResolvedValue(undefined);
    await DeviceMapper.remove('thin1', { retries: 5, retryDelayMs: 100, deferred: true });
    expect(fake.binding.remove).toHaveBeenCalledWith('thin1', { retries: 5, retryDelayMs: 100, deferred: true });
  });

  it('suspendScoped resumes on disposal, once', async () => {
    fake.binding.suspend.mockResolvedValue(undefined);
    fake.binding.resume.mockResolvedValue(undefined);
    {
      await using held = await DeviceMapper.suspendScoped('thin1');
      expect(fake.binding.suspend).toHaveBeenCalledWith('thin1', { noFlush: false, skipLockfs: false });
      await held.resume();
    }
    expect(fake.binding.resume).toHaveBeenCalledTimes(1);
  });
});

describe('addon failures become DeviceMapperError', () => {
  it('keeps the kernel code, errno, op, device and log', async () => {
    fake.binding.remove.mockRejectedValue(nativeError('EBUSY', 16, 'remove', 'pool'));
    const err = await DeviceMapper.remove('pool').catch((e: unknown) => e);
    expect(isDeviceMapperError(err, 'EBUSY')).toBe(true);
    expect(err).toMatchObject({ errno: 16, op: 'remove', device: 'pool', dmLog: ['device-mapper: ioctl failed'] });
  });

  it('maps create EEXIST and message ENODATA', async () => {
    fake.binding.create.mockRejectedValue(nativeError('EEXIST', 17, 'create', 'pool'));
    await expect(DeviceMapper.create({ name: 'pool', table: [] })).rejects.toMatchObject({ code: 'EEXIST' });
    fake.binding.message.mockRejectedValue(nativeError('ENODATA', 61, 'message', 'pool'));
    await expect(DeviceMapper.message('pool', PoolMessages.deleteThin(9))).rejects.toMatchObject({ code: 'ENODATA', op: 'message' });
  });

  it('reports an addon that does not load as ELIBACC', async () => {
    fake.native.mockImplementation(() => {
      throw new Error('devmapper: the native addon did not load');
    });
    await expect(DeviceMapper.list()).rejects.toMatchObject({ name: 'DeviceMapperError', code: 'ELIBACC', op: 'list' });
  });

  it('waitEvent resolves with the event number and converts cancellation', async () => {
    fake.binding.waitEvent.mockReturnValue({ promise: Promise.resolve(4), cancel: vi.fn() });
    expect(await DeviceMapper.waitEvent('pool', 3).promise).toBe(4);

    let reject: (e: unknown) => void = () => undefined;
    const cancel = vi.fn(() => reject(nativeError('ECANCELED', 125, 'waitEvent', 'pool')));
    fake.binding.waitEvent.mockReturnValue({ promise: new Promise((_, r) => (reject = r)), cancel });
    const controller = new AbortController();
    const wait = DeviceMapper.waitEvent('pool', 4, { signal: controller.signal });
    controller.abort();
    await expect(wait.promise).rejects.toMatchObject({ name: 'DeviceMapperError', code: 'ECANCELED' });
    expect(cancel).toHaveBeenCalledTimes(1);
  });

  it('waitEvent disposal cancels without an unhandled rejection', async () => {
    let reject: (e: unknown) => void = () => undefined;
    const cancel = vi.fn(() => reject(nativeError('ECANCELED', 125, 'waitEvent', 'pool')));
    fake.binding.waitEvent.mockReturnValue({ promise: new Promise((_, r) => (reject = r)), cancel });
    {
      using _wait = DeviceMapper.waitEvent('pool', 1);
    }
    expect(cancel).toHaveBeenCalledTimes(1);
    await new Promise((r) => setTimeout(r, 10));
  });
});
