import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { DeviceMapperError, fromNative, isDeviceMapperError } from '../../src/dm/index.js';

/** An error shaped like the addon's rejections. */
function nativeError(fields: Record<string, unknown>, message = 'device-mapper: remove ioctl on pool failed: Device or resource busy'): Error {
  return Object.assign(new Error(message), fields);
}

describe('fromNative', () => {
  it('keeps code, errno, op, device and dmLog of an addon rejection, with the original as cause', () => {
    const raw = nativeError({ code: 'EBUSY', errno: 16, op: 'remove', device: 'pool', dmLog: ['line 1', 'line 2'] });
    const e = fromNative(raw, 'fallback-op', 'fallback-dev');
    expect(e).toBeInstanceOf(DeviceMapperError);
    expect(e).toBeInstanceOf(Error);
    expect(e).toMatchObject({ name: 'DeviceMapperError', code: 'EBUSY', errno: 16, op: 'remove', device: 'pool', dmLog: ['line 1', 'line 2'] });
    expect(e.cause).toBe(raw);
    expect(e.message).toContain('Device or resource busy');
    expect(isDeviceMapperError(e, 'EBUSY')).toBe(true);
    expect(isDeviceMapperError(e, 'ENXIO')).toBe(false);
  });

  it('fills op and device from the arguments when the addon gave none', () => {
    const e = fromNative(nativeError({ code: 'ENXIO', errno: 6 }), 'info', 'thin1');
    expect(e).toMatchObject({ code: 'ENXIO', errno: 6, op: 'info', device: 'thin1', dmLog: [] });
  });

  it('looks up the errno number when the addon gave 0', () => {
    const e = fromNative(nativeError({ code: 'ENODATA', errno: 0, op: 'message' }), 'message');
    expect(e.errno).toBe(constants.errno.ENODATA);
    expect(fromNative(nativeError({ code: 'EEXIST' }), 'create').errno).toBe(constants.errno.EEXIST);
  });

  it("turns Node's negative errno into a positive one", () => {
    expect(fromNative(nativeError({ code: 'ENOSPC', errno: -28 }), 'loopAttach').errno).toBe(28);
  });

  it('copes with non-errors: strings, null, objects without code', () => {
    expect(fromNative('boom', 'list')).toMatchObject({ code: 'UNKNOWN', errno: 0, op: 'list', message: 'list: boom' });
    expect(fromNative(null, 'list').code).toBe('UNKNOWN');
    expect(fromNative({ dmLog: 'not an array', code: 7 }, 'list')).toMatchObject({ code: 'UNKNOWN', dmLog: [] });
    expect(fromNative(nativeError({ dmLog: ['ok', 3, null] }), 'x').dmLog).toEqual(['ok']);
  });

  it('returns a DeviceMapperError unchanged', () => {
    const e = new DeviceMapperError('x', { code: 'EINVAL', op: 'create' });
    expect(fromNative(e, 'other')).toBe(e);
  });
});

describe('DeviceMapperError', () => {
  it('takes (message, options) or ({ message, ...options }) and looks up errno', () => {
    const a = new DeviceMapperError('gone', { code: 'ENXIO', op: 'info', device: 'x' });
    const b = new DeviceMapperError({ message: 'gone', code: 'ENXIO', op: 'info', device: 'x' });
    for (const e of [a, b]) expect(e).toMatchObject({ message: 'gone', code: 'ENXIO', errno: constants.errno.ENXIO, op: 'info', device: 'x', dmLog: [] });
    expect(DeviceMapperError.invalid('lvm', 'bad')).toMatchObject({ code: 'EINVAL', op: 'lvm', message: 'lvm: bad' });
  });

  it('isDeviceMapperError refuses look-alikes', () => {
    expect(isDeviceMapperError(Object.assign(new Error('x'), { code: 'EBUSY' }))).toBe(false);
    expect(isDeviceMapperError(undefined)).toBe(false);
  });
});
