import { beforeEach, describe, expect, it, vi } from 'vitest';

const fake = vi.hoisted(() => {
  const binding = {
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

import { LoopDevice, blockDeviceSize, discard, isDeviceMapperError } from '../../src/dm/index.js';

const loopInfo = {
  path: '/dev/loop3',
  number: 3,
  backingFile: '/var/lib/pool/data',
  offsetBytes: 0,
  sizeLimitBytes: 0,
  readOnly: false,
  autoclear: false,
  directIo: true,
};

beforeEach(() => {
  vi.clearAllMocks();
});

describe('LoopDevice', () => {
  it('attaches, reports info, and detaches on disposal', async () => {
    fake.binding.loopAttach.mockResolvedValue(loopInfo);
    fake.binding.loopInfo.mockResolvedValue(loopInfo);
    fake.binding.loopDetach.mockResolvedValue(undefined);
    {
      await using loop = await LoopDevice.attach('/var/lib/pool/data', { directIo: true });
      expect(loop.path).toBe('/dev/loop3');
      expect(fake.binding.loopAttach).toHaveBeenCalledWith('/var/lib/pool/data', { readOnly: false, directIo: true });
      expect(await loop.info()).toEqual(loopInfo);
    }
    expect(fake.binding.loopDetach).toHaveBeenCalledWith('/dev/loop3');
  });

  it('detach is idempotent; disposal ignores a device already gone', async () => {
    fake.binding.loopInfo.mockResolvedValue(loopInfo);
    fake.binding.loopDetach.mockResolvedValue(undefined);
    const loop = await LoopDevice.open('/dev/loop3');
    await loop.detach();
    await loop.detach();
    expect(fake.binding.loopDetach).toHaveBeenCalledTimes(1);

    fake.binding.loopDetach.mockRejectedValue(Object.assign(new Error('gone'), { code: 'ENXIO', errno: 6 }));
    const other = await LoopDevice.open('/dev/loop3');
    await expect(other[Symbol.asyncDispose]()).resolves.toBeUndefined();
    await expect(other.detach()).resolves.toBeUndefined();
  });

  it('find returns one handle per loop device of the file', async () => {
    fake.binding.loopFind.mockResolvedValue([loopInfo, { ...loopInfo, path: '/dev/loop4', number: 4 }]);
    expect((await LoopDevice.find('/var/lib/pool/data')).map((l) => l.path)).toEqual(['/dev/loop3', '/dev/loop4']);
  });

  it('refuses empty paths and NUL before calling the addon', async () => {
    await expect(LoopDevice.attach('')).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(LoopDevice.find('a\0b')).rejects.toMatchObject({ code: 'EINVAL' });
    expect(fake.native).not.toHaveBeenCalled();
  });

  it('converts addon failures', async () => {
    fake.binding.loopAttach.mockRejectedValue(Object.assign(new Error('no free loop'), { code: 'EBUSY', errno: 16, op: 'loopAttach' }));
    const err = await LoopDevice.attach('/x').catch((e: unknown) => e);
    expect(isDeviceMapperError(err, 'EBUSY')).toBe(true);
  });
});

describe('block', () => {
  it('reads the size and discards aligned ranges', async () => {
    fake.binding.blockSize.mockResolvedValue(1 << 30);
    expect(await blockDeviceSize('/dev/mapper/thin1')).toBe(1 << 30);
    fake.binding.blockDiscard.mockResolvedValue(undefined);
    await discard('/dev/mapper/thin1', 65536, 1 << 20);
    expect(fake.binding.blockDiscard).toHaveBeenCalledWith('/dev/mapper/thin1', 65536, 1 << 20);
  });

  it('does nothing for a zero length', async () => {
    await discard('/dev/mapper/thin1', 0, 0);
    expect(fake.binding.blockDiscard).not.toHaveBeenCalled();
  });

  it('refuses unaligned, negative or unsafe ranges before calling the addon', async () => {
    for (const [offset, length] of [[1, 512], [0, 511], [-512, 512], [0, Number.NaN], [Number.MAX_SAFE_INTEGER - 511, 1024]] as const) {
      await expect(discard('/dev/x', offset, length)).rejects.toMatchObject({ code: 'EINVAL' });
    }
    expect(fake.native).not.toHaveBeenCalled();
  });
});
