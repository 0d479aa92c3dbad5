/** The device-mapper layer's udev counters: which calls count, and a udev timeout (ETIMEDOUT) counted as one. */
import { expect, test } from 'vitest';
import { countCall, countDeviceMapper, deviceMapperCounters } from '../../src/dm/counters.js';

test('calls that wait on udev count, with their time; ETIMEDOUT counts as a timeout; other calls do not count', () => {
  const before = deviceMapperCounters();
  countCall('create', 0.25);
  countCall('remove', 0.5, 'EBUSY');
  countCall('resume', 1, 'ETIMEDOUT');
  countCall('list', 3);
  countCall('status', 3, 'ETIMEDOUT');
  const after = deviceMapperCounters();
  expect(after.udevWaits - before.udevWaits).toBe(3);
  expect(after.udevWaitSeconds - before.udevWaitSeconds).toBeCloseTo(1.75);
  expect(after.udevTimeouts - before.udevTimeouts).toBe(1);
});

test('countDeviceMapper adds; nothing negative or not finite; the read is a copy', () => {
  const before = deviceMapperCounters();
  countDeviceMapper('udevTimeouts');
  countDeviceMapper('udevTimeouts', -5);
  countDeviceMapper('udevTimeouts', Number.NaN);
  const read = deviceMapperCounters();
  read.udevTimeouts = 1000;
  expect(deviceMapperCounters().udevTimeouts - before.udevTimeouts).toBe(1);
});
