import { describe, expect, it } from 'vitest';
import { DeviceMapper, LoopDevice, discard, isDeviceMapperError } from '../../src/dm/index.js';

// No mock here: with or without the addon built, bad input must fail with
// EINVAL (an unbuilt addon would otherwise surface as ELIBACC).
describe('validation needs no addon', () => {
  it.each([
    ['remove', () => DeviceMapper.remove('../x')],
    ['create', () => DeviceMapper.create({ name: 'x'.repeat(128), table: [] })],
    ['info', () => DeviceMapper.info('has space')],
    ['loop attach', () => LoopDevice.attach('')],
    ['discard', () => discard('/dev/x', 1, 1)],
  ])('%s rejects with EINVAL', async (_, run) => {
    const e = await run().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(isDeviceMapperError(e, 'EINVAL')).toBe(true);
  });
});
