import { describe, expect, it } from 'vitest';
import { binarySize, dockerSize, percent, table } from '../../../src/cli/format.js';

describe('output formatting', () => {
  it('prints sizes as docker info did (decimal, four significant digits)', () => {
    expect(dockerSize(65536)).toBe('65.54 kB');
    expect(dockerSize(107374182400)).toBe('107.4 GB');
    expect(dockerSize(2147483648)).toBe('2.147 GB');
    expect(dockerSize(0)).toBe('0 B');
    expect(dockerSize(999)).toBe('999 B');
  });

  it('prints other sizes in binary units', () => {
    expect(binarySize(0)).toBe('0 B');
    expect(binarySize(1536)).toBe('1.5 KiB');
    expect(binarySize(64 * 1024 * 1024)).toBe('64 MiB');
    expect(binarySize(10 * 1024 ** 3)).toBe('10 GiB');
  });

  it('aligns table columns', () => {
    expect(table(['KEY', 'KIND'], [['a-long-key', 'active'], ['b', 'committed']])).toBe('KEY          KIND\na-long-key   active\nb            committed\n');
  });

  it('prints percentages with one decimal', () => {
    expect(percent(1, 3)).toBe('33.3%');
    expect(percent(0, 0)).toBe('0%');
  });
});
