import { describe, expect, it } from 'vitest';
import { parseThinPoolStatus, parseThinStatus } from '../../src/dm/index.js';
import { code } from './support/error-code.js';


const KiB64 = 64 * 1024;

describe('thin-pool status', () => {
  it('parses a healthy pool with byte figures from the block sizes', () => {
    const st = parseThinPoolStatus('1 12/4096 30/1600 - rw discard_passdown queue_if_no_space - 1024', { dataBlockSizeBytes: KiB64 });
    expect(st).toEqual({
      transactionId: 1,
      metadataBlockSizeBytes: 4096,
      usedMetadataBlocks: 12,
      totalMetadataBlocks: 4096,
      dataBlockSizeBytes: KiB64,
      usedDataBlocks: 30,
      totalDataBlocks: 1600,
      data: { usedBytes: 30 * KiB64, totalBytes: 1600 * KiB64, availableBytes: 1570 * KiB64 },
      metadata: { usedBytes: 12 * 4096, totalBytes: 4096 * 4096, availableBytes: 4084 * 4096 },
      heldMetadataRoot: null,
      mode: 'rw',
      discard: 'discard_passdown',
      noSpacePolicy: 'queue',
      needsCheck: false,
      metadataLowWatermark: 1024,
    });
  });

  it('parses a pool out of data space that errors I/O', () => {
    const st = parseThinPoolStatus('0 5/512 100/100 - out_of_data_space no_discard_passdown error_if_no_space - 1024', { dataBlockSizeBytes: KiB64 });
    expect(st).toMatchObject({ mode: 'out_of_data_space', discard: 'no_discard_passdown', noSpacePolicy: 'error', usedDataBlocks: 100, totalDataBlocks: 100 });
    expect(st.data.availableBytes).toBe(0);
  });

  it('reports needs_check, a read-only mode and a held metadata root', () => {
    const st = parseThinPoolStatus('7 20/512 10/100 4321 ro discard_passdown queue_if_no_space needs_check 128', { dataBlockSizeBytes: 1024 * 1024 });
    expect(st).toMatchObject({ transactionId: 7, heldMetadataRoot: 4321, mode: 'ro', needsCheck: true, metadataLowWatermark: 128 });
    expect(st.data.totalBytes).toBe(100 * 1024 * 1024);
  });

  it('reads ignore_discard from the status or from the table features', () => {
    expect(parseThinPoolStatus('0 1/2 0/10 - rw ignore_discard queue_if_no_space - 1', { dataBlockSizeBytes: KiB64 }).discard).toBe('ignore_discard');
    expect(
      parseThinPoolStatus('0 1/2 0/10 - rw no_discard_passdown queue_if_no_space - 1', { dataBlockSizeBytes: KiB64, features: ['ignore_discard'] }).discard,
    ).toBe('ignore_discard');
  });

  it('accepts older kernels without needs_check / watermark, and trailing space', () => {
    const st = parseThinPoolStatus('3 1/2 0/10 - rw discard_passdown queue_if_no_space ', { dataBlockSizeBytes: KiB64 });
    expect(st).toMatchObject({ transactionId: 3, needsCheck: false, metadataLowWatermark: null });
  });

  it('reports a failed pool as mode fail with zero counts, policy and discard from the table features', () => {
    const st = parseThinPoolStatus('Fail', { dataBlockSizeBytes: KiB64, features: ['error_if_no_space', 'no_discard_passdown'] });
    expect(st).toMatchObject({
      mode: 'fail',
      transactionId: 0,
      usedDataBlocks: 0,
      totalDataBlocks: 0,
      heldMetadataRoot: null,
      noSpacePolicy: 'error',
      discard: 'no_discard_passdown',
      dataBlockSizeBytes: KiB64,
      metadataLowWatermark: null,
    });
    expect(st.data).toEqual({ usedBytes: 0, totalBytes: 0, availableBytes: 0 });
  });

  it('reports Error as mode error without throwing', () => {
    const st = parseThinPoolStatus('Error', { dataBlockSizeBytes: KiB64 });
    expect(st).toMatchObject({ mode: 'error', transactionId: 0, noSpacePolicy: 'queue', discard: 'discard_passdown' });
  });

  it('refuses malformed lines and a bad block size with EINVAL', () => {
    const ctx = { dataBlockSizeBytes: KiB64 };
    for (const bad of [
      '',
      'fail',
      '1 12/4096 30/1600 - rw discard_passdown',
      '1 12-4096 30/1600 - rw discard_passdown queue_if_no_space',
      '1 12/4096 1601/1600 - rw discard_passdown queue_if_no_space',
      '1 12/4096 30/1600 - wr discard_passdown queue_if_no_space',
      '1 12/4096 30/1600 - rw passdown queue_if_no_space',
      '1 12/4096 30/1600 - rw discard_passdown queue',
      '1 12/4096 30/1600 - rw discard_passdown queue_if_no_space check',
      '18446744073709551615 12/4096 30/1600 - rw discard_passdown queue_if_no_space',
      '1 12/4096 30/1600 x rw discard_passdown queue_if_no_space',
    ]) {
      expect(code(() => parseThinPoolStatus(bad, ctx)), bad).toBe('EINVAL');
    }
    for (const size of [0, -65536, 1000, Number.NaN]) {
      expect(code(() => parseThinPoolStatus('Fail', { dataBlockSizeBytes: size }))).toBe('EINVAL');
    }
    expect(code(() => parseThinPoolStatus('1 1/2 2/3 - rw discard_passdown queue_if_no_space', { dataBlockSizeBytes: KiB64, features: ['bogus' as 'read_only'] }))).toBe('EINVAL');
  });
});

describe('thin status', () => {
  it('reports mapped bytes and the highest mapped sector', () => {
    expect(parseThinStatus('2048 4095')).toEqual({ mappedBytes: 2048 * 512, highestMappedSector: 4095, failed: false });
  });

  it('reports nothing mapped as highest null', () => {
    expect(parseThinStatus('0 -')).toEqual({ mappedBytes: 0, highestMappedSector: null, failed: false });
    expect(parseThinStatus('-')).toEqual({ mappedBytes: 0, highestMappedSector: null, failed: false });
  });

  it('reports Fail and Error as failed', () => {
    expect(parseThinStatus('Fail')).toEqual({ mappedBytes: 0, highestMappedSector: null, failed: true });
    expect(parseThinStatus('Error').failed).toBe(true);
  });

  it('refuses malformed lines with EINVAL', () => {
    for (const bad of ['', '12', '12 13 14', 'a b', '-1 5', '1.5 2', '99999999999999999 1']) {
      expect(code(() => parseThinStatus(bad)), bad).toBe('EINVAL');
    }
  });
});

describe('thin-pool status beyond safe integers', () => {
  it('refuses a pool whose byte size does not fit a safe integer', () => {
    expect(code(() => parseThinPoolStatus('0 1/10 0/9000000 - rw discard_passdown queue_if_no_space - 1', { dataBlockSizeBytes: 1 << 30 }))).toBe('EINVAL');
  });
});
