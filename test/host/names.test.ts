import { describe, expect, it } from 'vitest';
import {
  MAX_DEVICE_NAME_LENGTH,
  MAX_UUID_LENGTH,
  isDeviceMapperError,
  isValidDeviceName,
  isValidUuid,
  validateDeviceName,
  validateUuid,
} from '../../src/dm/index.js';
import { code } from './support/error-code.js';


describe('device names', () => {
  it('accepts ordinary names, returning them unchanged', () => {
    for (const ok of ['pool', 'docker-8:1-123-pool', 'a', 'thin_1.snap@x', '...', '.a', 'a..b']) expect(validateDeviceName(ok)).toBe(ok);
  });

  it('accepts 127 characters and refuses 128 (DM_NAME_LEN)', () => {
    expect(MAX_DEVICE_NAME_LENGTH).toBe(127);
    expect(validateDeviceName('x'.repeat(127))).toHaveLength(127);
    expect(code(() => validateDeviceName('x'.repeat(128)))).toBe('EINVAL');
  });

  it.each([
    ['empty', ''],
    ['slash', 'a/b'],
    ['leading slash', '/dev/mapper/a'],
    ['dot', '.'],
    ['dot dot', '..'],
    ['space', 'a b'],
    ['tab', 'a\tb'],
    ['newline', 'a\nb'],
    ['NUL', 'a\0b'],
    ['DEL', 'a\x7fb'],
    ['control', '\x01'],
    ['non-ASCII', 'pööl'],
    ['emoji', 'pool\u{1f600}'],
    ['non-breaking space', 'a\u00a0b'],
    ['exclamation mark (udev would rename it)', 'a!b'],
    ['backslash (a mangled-looking name)', 'a\\x21b'],
    ['tilde', 'a~b'],
    ['the control node', 'control'],
  ])('refuses %s with EINVAL', (_, name) => {
    expect(code(() => validateDeviceName(name))).toBe('EINVAL');
    expect(isValidDeviceName(name)).toBe(false);
  });

  it('accepts exactly the characters udev and libdevmapper keep as they are', () => {
    const kept = new Set('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789#+-.:=@_');
    for (let code = 0; code < 256; code++) {
      const c = String.fromCharCode(code);
      expect(isValidDeviceName(`a${c}b`), `character 0x${code.toString(16)}`).toBe(kept.has(c));
    }
  });

  it('refuses a non-string', () => {
    expect(code(() => validateDeviceName(42 as unknown as string))).toBe('EINVAL');
  });

  it('names the operation and the bad name in the error', () => {
    try {
      validateDeviceName('a/b', 'remove');
      expect.unreachable();
    } catch (e) {
      expect(isDeviceMapperError(e, 'EINVAL')).toBe(true);
      if (isDeviceMapperError(e)) {
        expect(e.op).toBe('remove');
        expect(e.message).toContain('"a/b"');
      }
    }
  });
});

describe('uuids', () => {
  it('accepts up to 128 printable ASCII characters, including "/" ', () => {
    expect(MAX_UUID_LENGTH).toBe(128);
    expect(validateUuid('LVM-abc/def')).toBe('LVM-abc/def');
    expect(validateUuid('u'.repeat(128))).toHaveLength(128);
    expect(isValidUuid('devmapper-pool-1')).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['129 characters', 'u'.repeat(129)],
    ['space', 'a b'],
    ['newline', 'a\n'],
    ['non-ASCII', 'é'],
  ])('refuses %s with EINVAL', (_, uuid) => {
    expect(code(() => validateUuid(uuid))).toBe('EINVAL');
  });
});
