import { describe, expect, it } from 'vitest';
import { MAX_SECTORS, SECTOR_SIZE, bytesToSectors, sectors, sectorsToBytes, type Sectors } from '../../src/dm/index.js';
import { code } from './support/error-code.js';


describe('units', () => {
  it('converts whole sectors both ways', () => {
    expect(SECTOR_SIZE).toBe(512);
    expect(bytesToSectors(0)).toBe(0);
    expect(bytesToSectors(512)).toBe(1);
    expect(bytesToSectors(1024 * 1024 * 1024)).toBe(2_097_152);
    expect(sectorsToBytes(sectors(2_097_152))).toBe(1024 * 1024 * 1024);
  });

  it('never rounds: bytes that are not a multiple of 512 are refused with EINVAL', () => {
    for (const bad of [1, 511, 513, 4097, 1024 * 1024 + 1]) expect(code(() => bytesToSectors(bad))).toBe('EINVAL');
  });

  it('refuses negative, fractional, NaN, infinite and unsafe byte counts', () => {
    for (const bad of [-512, -1, 0.5, 512.5, Number.NaN, Number.POSITIVE_INFINITY, Number.MAX_SAFE_INTEGER + 1, 2 ** 60]) {
      expect(code(() => bytesToSectors(bad))).toBe('EINVAL');
    }
    expect(code(() => bytesToSectors('512' as unknown as number))).toBe('EINVAL');
  });

  it('sectors() accepts exactly the non-negative integers whose byte size is safe', () => {
    expect(sectors(0)).toBe(0);
    expect(sectors(MAX_SECTORS)).toBe(MAX_SECTORS);
    expect(sectorsToBytes(sectors(MAX_SECTORS))).toBeLessThanOrEqual(Number.MAX_SAFE_INTEGER);
    for (const bad of [-1, 1.5, Number.NaN, MAX_SECTORS + 1, Number.MAX_SAFE_INTEGER]) expect(code(() => sectors(bad))).toBe('EINVAL');
  });

  it('sectorsToBytes refuses a value forced past the brand', () => {
    expect(code(() => sectorsToBytes(-1 as Sectors))).toBe('EINVAL');
  });
});
