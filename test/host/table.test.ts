import { describe, expect, it } from 'vitest';
import {
  formatTable,
  parseTable,
  sectors,
  tableLength,
  tableRow,
  validateTable,
} from '../../src/dm/index.js';
import { code } from './support/error-code.js';
import { fromNativeRow, toNativeRow } from '../../src/dm/table.js';


const s = sectors;

describe('table rows', () => {
  it('formats and parses dmsetup text, zero/error rows without params', () => {
    const rows = [
      tableRow('linear', { length: s(2048) }, '7:0 0'),
      tableRow('zero', { start: s(2048), length: s(1024) }, ''),
      tableRow('thin-pool', { start: s(3072), length: s(128) }, '253:0 253:1 128 0 1 skip_block_zeroing'),
    ];
    const text = formatTable(rows);
    expect(text).toBe('0 2048 linear 7:0 0\n2048 1024 zero\n3072 128 thin-pool 253:0 253:1 128 0 1 skip_block_zeroing');
    expect(parseTable(text)).toEqual(rows);
    expect(tableLength(rows)).toBe(3200);
  });

  it('parses what dmsetup prints: blank lines, tabs, trailing spaces', () => {
    expect(parseTable('\n0 20971520 thin-pool 7:1 7:0 128 32768 1 skip_block_zeroing \n\n')).toEqual([
      { start: 0, length: 20971520, targetType: 'thin-pool', params: '7:1 7:0 128 32768 1 skip_block_zeroing' },
    ]);
    expect(parseTable('0\t8\terror')).toEqual([{ start: 0, length: 8, targetType: 'error', params: '' }]);
  });

  it('refuses malformed lines with EINVAL', () => {
    for (const bad of ['0 8', 'x 8 linear', '0 -8 zero', '0 8.5 zero', '99999999999999999999 8 zero']) {
      expect(code(() => parseTable(bad))).toBe('EINVAL');
    }
  });

  it('converts to and from the addon rows', () => {
    const row = tableRow('thin', { length: s(8) }, '253:2 1');
    expect(toNativeRow(row)).toEqual({ start: 0, length: 8, targetType: 'thin', params: '253:2 1' });
    expect(fromNativeRow({ start: 0, length: 8, targetType: 'thin', params: '253:2 1' })).toEqual(row);
    expect(code(() => fromNativeRow({ start: -1, length: 8, targetType: 'x', params: '' }))).toBe('EINVAL');
  });

  it('refuses rows the kernel would refuse: zero length, bad type, line breaks in params', () => {
    expect(code(() => tableRow('zero', { length: s(0) }, ''))).toBe('EINVAL');
    expect(code(() => tableRow('', { length: s(8) }, ''))).toBe('EINVAL');
    expect(code(() => tableRow('thin pool', { length: s(8) }, ''))).toBe('EINVAL');
    expect(code(() => tableRow('a-very-long-target-name', { length: s(8) }, ''))).toBe('EINVAL');
    expect(code(() => tableRow('linear', { length: s(8) }, '7:0 0\n0 8 error'))).toBe('EINVAL');
    expect(code(() => tableRow('linear', { length: s(8) }, '7:0\0'))).toBe('EINVAL');
  });

  it('validateTable requires contiguous rows from sector 0', () => {
    const a = tableRow('zero', { length: s(8) }, '');
    const b = tableRow('zero', { start: s(8), length: s(8) }, '');
    const gap = tableRow('zero', { start: s(9), length: s(8) }, '');
    expect(() => validateTable([a, b])).not.toThrow();
    expect(() => validateTable([])).not.toThrow();
    expect(code(() => validateTable([b]))).toBe('EINVAL');
    expect(code(() => validateTable([a, gap]))).toBe('EINVAL');
    expect(code(() => validateTable([a, a]))).toBe('EINVAL');
  });
});
