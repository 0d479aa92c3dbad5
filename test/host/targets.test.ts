import { describe, expect, it } from 'vitest';
import {
  PoolMessages,
  bytesToSectors,
  delayRow,
  errorRow,
  flakeyRow,
  formatFlakeyParams,
  formatThinPoolParams,
  isPoolMessage,
  linearRow,
  parseDelayParams,
  parseErrorParams,
  parseFlakeyParams,
  parseLinearParams,
  parseThinParams,
  parseThinPoolParams,
  parseZeroParams,
  sectors,
  thinPoolRow,
  thinRow,
  validateDataBlockSectors,
  zeroRow,
  type Sectors,
} from '../../src/dm/index.js';
import { code } from './support/error-code.js';


const s = sectors;
const len = { length: s(2048) };

describe('linear', () => {
  it('builds `<dev> <offset>` and parses it back', () => {
    const row = linearRow({ device: '/dev/loop0', offset: s(2048) }, { start: s(8), length: s(100) });
    expect(row).toEqual({ start: 8, length: 100, targetType: 'linear', params: '/dev/loop0 2048' });
    expect(parseLinearParams(row.params)).toEqual({ device: '/dev/loop0', offset: 2048 });
    expect(parseLinearParams('7:3 0')).toEqual({ device: '7:3', offset: 0 });
  });

  it('refuses bad devices and offsets', () => {
    for (const device of ['', 'loop0', 'dev/loop0', '/dev/my disk', '/dev/a\\b', '/dev/pööl', '4096:0', '1:1048576', '1:', ':1']) {
      expect(code(() => linearRow({ device, offset: s(0) }, len))).toBe('EINVAL');
    }
    expect(code(() => linearRow({ device: '/dev/sda', offset: -1 as Sectors }, len))).toBe('EINVAL');
    expect(code(() => linearRow({ device: '/dev/sda', offset: 1.5 as Sectors }, len))).toBe('EINVAL');
    for (const bad of ['', '/dev/sda', '/dev/sda x', '/dev/sda 0 1', 'sda 0', '/dev/sda -1']) {
      expect(code(() => parseLinearParams(bad))).toBe('EINVAL');
    }
  });
});

describe('zero and error', () => {
  it('take no params', () => {
    expect(zeroRow(len)).toEqual({ start: 0, length: 2048, targetType: 'zero', params: '' });
    expect(errorRow(len)).toEqual({ start: 0, length: 2048, targetType: 'error', params: '' });
    expect(parseZeroParams('')).toEqual({});
    expect(parseErrorParams('  ')).toEqual({});
    expect(code(() => parseZeroParams('x'))).toBe('EINVAL');
    expect(code(() => parseErrorParams('1'))).toBe('EINVAL');
  });
});

describe('thin-pool table', () => {
  const base = { metadataDevice: '/dev/loop1', dataDevice: '/dev/loop0', dataBlockSize: s(128), lowWaterMark: 32768 };

  it('builds params with features in the kernel order and parses them back', () => {
    const row = thinPoolRow({ ...base, features: ['error_if_no_space', 'skip_block_zeroing', 'skip_block_zeroing'] }, len);
    expect(row.targetType).toBe('thin-pool');
    expect(row.params).toBe('/dev/loop1 /dev/loop0 128 32768 2 skip_block_zeroing error_if_no_space');
    expect(parseThinPoolParams(row.params)).toEqual({ ...base, features: ['skip_block_zeroing', 'error_if_no_space'] });
    expect(formatThinPoolParams(base)).toBe('/dev/loop1 /dev/loop0 128 32768');
    expect(parseThinPoolParams('/dev/loop1 /dev/loop0 128 32768')).toEqual({ ...base, features: [] });
  });

  it('parses the table as the kernel prints it (major:minor, "0" feature count, trailing space)', () => {
    expect(parseThinPoolParams('7:1 7:0 2048 0 0 ')).toEqual({
      metadataDevice: '7:1',
      dataDevice: '7:0',
      dataBlockSize: 2048,
      lowWaterMark: 0,
      features: [],
    });
    expect(parseThinPoolParams('7:1 7:0 128 10 3 ignore_discard no_discard_passdown read_only').features).toEqual([
      'ignore_discard',
      'no_discard_passdown',
      'read_only',
    ]);
  });

  it('accepts block sizes 64 KiB .. 1 GiB in 64 KiB steps only', () => {
    expect(validateDataBlockSectors(128)).toBe(128);
    expect(validateDataBlockSectors(bytesToSectors(1024 * 1024 * 1024))).toBe(2_097_152);
    for (const bad of [0, 64, 127, 129, 192, 2_097_152 + 128, 4_194_304]) {
      expect(code(() => thinPoolRow({ ...base, dataBlockSize: s(bad) }, len))).toBe('EINVAL');
    }
    expect(code(() => parseThinPoolParams('7:1 7:0 100 0'))).toBe('EINVAL');
  });

  it('refuses unknown features, wrong counts, bad low water marks', () => {
    expect(code(() => thinPoolRow({ ...base, features: ['zero_blocks' as 'read_only'] }, len))).toBe('EINVAL');
    expect(code(() => thinPoolRow({ ...base, lowWaterMark: -1 }, len))).toBe('EINVAL');
    expect(code(() => parseThinPoolParams('7:1 7:0 128 0 2 skip_block_zeroing'))).toBe('EINVAL');
    expect(code(() => parseThinPoolParams('7:1 7:0 128 0 1 frobnicate'))).toBe('EINVAL');
    expect(code(() => parseThinPoolParams('7:1 7:0 128'))).toBe('EINVAL');
  });
});

describe('thin-pool messages', () => {
  it('builds the kernel message text', () => {
    expect(PoolMessages.createThin(0)).toBe('create_thin 0');
    expect(PoolMessages.createSnap(2, 1)).toBe('create_snap 2 1');
    expect(PoolMessages.deleteThin(0xffffff)).toBe('delete 16777215');
    expect(PoolMessages.setTransactionId(4, 5)).toBe('set_transaction_id 4 5');
    expect(PoolMessages.reserveMetadataSnap()).toBe('reserve_metadata_snap');
    expect(PoolMessages.releaseMetadataSnap()).toBe('release_metadata_snap');
  });

  it('refuses ids outside 24 bits and transaction ids outside safe integers', () => {
    for (const bad of [-1, 0x1000000, 1.5, Number.NaN]) {
      expect(code(() => PoolMessages.createThin(bad))).toBe('EINVAL');
      expect(code(() => PoolMessages.createSnap(1, bad))).toBe('EINVAL');
      expect(code(() => PoolMessages.deleteThin(bad))).toBe('EINVAL');
    }
    expect(code(() => PoolMessages.setTransactionId(0, Number.MAX_SAFE_INTEGER + 1))).toBe('EINVAL');
  });

  it('recognises exactly the builders’ output', () => {
    expect(isPoolMessage(PoolMessages.createSnap(7, 3))).toBe(true);
    for (const forged of ['create_thin 1 ; delete 0', 'create_thin  1', 'create_thin 16777216', 'delete -1', 'delete 01', '@cancel_deferred_remove', 'create_thin 1\n']) {
      expect(isPoolMessage(forged)).toBe(false);
    }
  });
});

describe('thin table', () => {
  it('builds `<pool> <id> [<origin>]` and parses it back', () => {
    const row = thinRow({ poolDevice: '/dev/mapper/pool', deviceId: 5 }, len);
    expect(row).toMatchObject({ targetType: 'thin', params: '/dev/mapper/pool 5' });
    expect(parseThinParams(row.params)).toEqual({ poolDevice: '/dev/mapper/pool', deviceId: 5 });
    const ext = thinRow({ poolDevice: '253:0', deviceId: 0xffffff, externalOrigin: '/dev/loop9' }, len);
    expect(ext.params).toBe('253:0 16777215 /dev/loop9');
    expect(parseThinParams(ext.params)).toEqual({ poolDevice: '253:0', deviceId: 0xffffff, externalOrigin: '/dev/loop9' });
  });

  it('refuses ids outside 24 bits and extra words', () => {
    expect(code(() => thinRow({ poolDevice: '253:0', deviceId: 0x1000000 }, len))).toBe('EINVAL');
    expect(code(() => thinRow({ poolDevice: '253:0', deviceId: -1 }, len))).toBe('EINVAL');
    expect(code(() => parseThinParams('253:0 16777216'))).toBe('EINVAL');
    expect(code(() => parseThinParams('253:0 1 7:0 extra'))).toBe('EINVAL');
    expect(code(() => parseThinParams('253:0'))).toBe('EINVAL');
  });
});

describe('flakey', () => {
  const base = { device: '/dev/loop0', offset: s(0), upInterval: 5, downInterval: 1 };

  it('builds params without features and parses the kernel form with its "0" count', () => {
    expect(formatFlakeyParams(base)).toBe('/dev/loop0 0 5 1');
    expect(parseFlakeyParams('7:0 0 5 1 0')).toEqual({ ...base, device: '7:0', features: {} });
    expect(parseFlakeyParams('7:0 0 5 1 0 ')).toEqual({ ...base, device: '7:0', features: {} });
  });

  it('round-trips features, counting corrupt_bio_byte as 5 words', () => {
    const params = { ...base, features: { dropWrites: true, corruptBioByte: { nthByte: 32, direction: 'r' as const, value: 1, flags: 0 } } };
    const row = flakeyRow(params, len);
    expect(row.params).toBe('/dev/loop0 0 5 1 6 drop_writes corrupt_bio_byte 32 r 1 0');
    expect(parseFlakeyParams(row.params)).toEqual(params);
    const newer = { ...base, features: { errorReads: true, errorWrites: true } };
    expect(parseFlakeyParams('7:0 0 5 1 2 error_reads error_writes').features).toEqual(newer.features);
    const random = { ...base, features: { randomReadCorrupt: 500, randomWriteCorrupt: 1_000_000_000 } };
    expect(parseFlakeyParams(formatFlakeyParams(random))).toEqual(random);
    expect(parseFlakeyParams(formatFlakeyParams(newer))).toEqual(newer);
  });

  it('refuses what the kernel refuses', () => {
    expect(code(() => flakeyRow({ ...base, upInterval: 0, downInterval: 0 }, len))).toBe('EINVAL');
    expect(code(() => flakeyRow({ ...base, upInterval: 2 ** 32 - 1, downInterval: 1 }, len))).toBe('EINVAL');
    expect(code(() => flakeyRow({ ...base, features: { dropWrites: true, errorWrites: true } }, len))).toBe('EINVAL');
    expect(code(() => flakeyRow({ ...base, features: { errorWrites: true, corruptBioByte: { nthByte: 1, direction: 'w', value: 0, flags: 0 } } }, len))).toBe('EINVAL');
    expect(code(() => flakeyRow({ ...base, features: { corruptBioByte: { nthByte: 0, direction: 'r', value: 0, flags: 0 } } }, len))).toBe('EINVAL');
    expect(code(() => flakeyRow({ ...base, features: { corruptBioByte: { nthByte: 1, direction: 'r', value: 256, flags: 0 } } }, len))).toBe('EINVAL');
    expect(code(() => flakeyRow({ ...base, features: { dropWrites: true, randomWriteCorrupt: 1 } }, len))).toBe('EINVAL');
    expect(code(() => flakeyRow({ ...base, features: { errorReads: true, randomReadCorrupt: 1 } }, len))).toBe('EINVAL');
    expect(code(() => flakeyRow({ ...base, features: { errorReads: true, corruptBioByte: { nthByte: 1, direction: 'r', value: 0, flags: 0 } } }, len))).toBe('EINVAL');
    expect(code(() => parseFlakeyParams('7:0 0 5 1 1 corrupt_bio_byte 1 r 0 0'))).toBe('EINVAL');
    expect(code(() => parseFlakeyParams('7:0 0 5 1 5 corrupt_bio_byte 1 x 0 0'))).toBe('EINVAL');
    expect(code(() => parseFlakeyParams('7:0 0 5 1 1 explode'))).toBe('EINVAL');
    expect(code(() => parseFlakeyParams('7:0 0 5 1 2 drop_writes drop_writes'))).toBe('EINVAL');
  });
});

describe('delay', () => {
  const read = { device: '/dev/loop0', offset: s(0), delayMs: 500 };
  const write = { device: '/dev/loop1', offset: s(8), delayMs: 0 };
  const flush = { device: '7:2', offset: s(16), delayMs: 100 };

  it('builds 3, 6 or 9 words and parses them back', () => {
    expect(delayRow({ read }, len).params).toBe('/dev/loop0 0 500');
    expect(delayRow({ read, write }, len).params).toBe('/dev/loop0 0 500 /dev/loop1 8 0');
    const row = delayRow({ read, write, flush }, len);
    expect(row.params).toBe('/dev/loop0 0 500 /dev/loop1 8 0 7:2 16 100');
    expect(parseDelayParams(row.params)).toEqual({ read, write, flush });
    expect(parseDelayParams('/dev/loop0 0 500')).toEqual({ read });
  });

  it('refuses flush without write, other word counts and bad delays', () => {
    expect(code(() => delayRow({ read, flush }, len))).toBe('EINVAL');
    expect(code(() => delayRow({ read: { ...read, delayMs: -1 } }, len))).toBe('EINVAL');
    expect(code(() => delayRow({ read: { ...read, delayMs: 2 ** 32 } }, len))).toBe('EINVAL');
    for (const bad of ['', '/dev/loop0 0', '/dev/loop0 0 500 /dev/loop1', '/dev/loop0 0 5.5', '/dev/loop0 0 4294967296']) {
      expect(code(() => parseDelayParams(bad))).toBe('EINVAL');
    }
  });
});
