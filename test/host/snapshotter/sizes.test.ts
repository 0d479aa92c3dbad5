import { describe, expect, test } from 'vitest';
import { parseFreeSpace, parseSize } from '../../../src/snapshotter/sizes.js';

describe('parseSize (go-units RAMInBytes: binary units)', () => {
  test.each([
    [1073741824, 1073741824],
    ['8192MB', 8192 * 1024 ** 2],
    ['10GB', 10 * 1024 ** 3],
    ['10G', 10 * 1024 ** 3],
    ['10g', 10 * 1024 ** 3],
    ['10GiB', 10 * 1024 ** 3],
    ['10 GB', 10 * 1024 ** 3],
    ['512k', 512 * 1024],
    ['1.5M', 1.5 * 1024 ** 2],
    ['1T', 1024 ** 4],
    ['2PB', 2 * 1024 ** 5],
    ['100', 100],
    ['100b', 100],
    ['100B', 100],
    [' 20G ', 20 * 1024 ** 3],
    [0, 0],
  ])('%j → %d', (input, bytes) => {
    expect(parseSize(input)).toBe(bytes);
  });

  test.each(['', 'G', '10X', '-1G', '10GBB', '1.2.3G', 'ten', '10 G B', '1e3', '0x10'])('%j is refused', (input) => {
    expect(() => parseSize(input)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  test.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60])('number %d is refused', (input) => {
    expect(() => parseSize(input)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  test('a size beyond 2^53 bytes is refused', () => {
    expect(() => parseSize('100000P')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});

describe('parseFreeSpace', () => {
  test('percentages and sizes', () => {
    expect(parseFreeSpace('10%')).toEqual({ percent: 10 });
    expect(parseFreeSpace(' 2.5 % ')).toEqual({ percent: 2.5 });
    expect(parseFreeSpace('0%')).toEqual({ percent: 0 });
    expect(parseFreeSpace('1G')).toEqual({ bytes: 1024 ** 3 });
    expect(parseFreeSpace(0)).toEqual({ bytes: 0 });
  });

  test.each(['100%', '-1%', 'x%', '%', '1e2%'])('%j is refused', (input) => {
    expect(() => parseFreeSpace(input)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});
