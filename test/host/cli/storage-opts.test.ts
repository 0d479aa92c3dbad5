import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/cli/errors.js';
import { STORAGE_OPTION_NAMES, minFreePercent, parseGoBool, parseStorageOptions } from '../../../src/cli/storage-opts.js';

const GiB = 1024 ** 3;

describe('--storage-opt dm.* parsing', () => {
  it("reads every option of Docker's list with Docker's units and booleans", () => {
    const o = parseStorageOptions([
      'dm.loopdatasize=10G',
      'dm.loopmetadatasize=1GB',
      'dm.basesize=20G',
      'dm.blocksize=512K',
      'dm.fs=xfs',
      'dm.mkfsarg=-O ^has_journal',
      'dm.mkfsarg=-m 0',
      'dm.mountopt=nodiscard,noatime',
      'dm.mountopt=nosuid',
      'dm.blkdiscard=false',
      'dm.min_free_space=15%',
      'dm.use_deferred_removal=true',
      'dm.use_deferred_deletion=1',
      'dm.thinpooldev=/dev/mapper/thin-pool',
    ]);
    expect(o).toEqual({
      loopDataSizeBytes: 10 * GiB,
      loopMetadataSizeBytes: GiB,
      baseSize: '20G',
      blockSizeBytes: 512 * 1024,
      fs: 'xfs',
      mkfsArgs: ['-O', '^has_journal', '-m', '0'],
      mountOptions: ['nodiscard', 'noatime', 'nosuid'],
      blkDiscard: false,
      minFreeSpace: '15%',
      deferredRemoval: true,
      deferredDeletion: true,
      thinPoolDev: '/dev/mapper/thin-pool',
    });
  });

  it('reads the direct-lvm options', () => {
    expect(
      parseStorageOptions([
        'dm.directlvm_device=/dev/xvdf',
        'dm.directlvm_device=/dev/xvdg',
        'dm.thinp_percent=95',
        'dm.thinp_metapercent=1',
        'dm.thinp_autoextend_threshold=80',
        'dm.thinp_autoextend_percent=20',
        'dm.directlvm_device_force=false',
      ]),
    ).toEqual({
      directLvmDevices: ['/dev/xvdf', '/dev/xvdg'],
      thinpPercent: 95,
      thinpMetaPercent: 1,
      thinpAutoextendThreshold: 80,
      thinpAutoextendPercent: 20,
      directLvmDeviceForce: false,
    });
  });

  it('accepts keys in any case, as Docker does', () => {
    expect(parseStorageOptions(['DM.LoopDataSize=1G']).loopDataSizeBytes).toBe(GiB);
  });

  it('names the problem for unknown keys, missing values and bad values', () => {
    expect(() => parseStorageOptions(['dm.nosuch=1'])).toThrow(/unknown option "dm.nosuch".*dm.loopdatasize/);
    expect(() => parseStorageOptions(['dm.basesize'])).toThrow(/expected dm.KEY=VALUE/);
    expect(() => parseStorageOptions(['dm.loopdatasize=lots'])).toThrow(/invalid size "lots"/);
    expect(() => parseStorageOptions(['dm.blkdiscard=yes'])).toThrow(/not a boolean/);
    expect(() => parseStorageOptions(['dm.min_free_space=150%'])).toThrow(/percentage/);
    expect(() => parseStorageOptions(['dm.thinp_percent=0'])).toThrow(/whole percent/);
    expect(() => parseStorageOptions(['dm.nosuch=1'])).toThrow(UsageError);
  });

  it('lists the twelve options the issue names', () => {
    for (const name of ['dm.loopdatasize', 'dm.loopmetadatasize', 'dm.basesize', 'dm.blocksize', 'dm.fs', 'dm.mkfsarg', 'dm.mountopt', 'dm.blkdiscard', 'dm.min_free_space', 'dm.use_deferred_removal', 'dm.use_deferred_deletion', 'dm.thinpooldev']) {
      expect(STORAGE_OPTION_NAMES).toContain(name);
    }
  });

  it("parses booleans as Go's strconv.ParseBool", () => {
    for (const t of ['1', 't', 'T', 'TRUE', 'true', 'True']) expect(parseGoBool(t, 'x')).toBe(true);
    for (const f of ['0', 'f', 'F', 'FALSE', 'false', 'False']) expect(parseGoBool(f, 'x')).toBe(false);
    expect(() => parseGoBool('tRUE', 'x')).toThrow(UsageError);
  });

  it("turns a minimum free space into the pool guard's percent", () => {
    expect(minFreePercent(undefined)).toBe(10);
    expect(minFreePercent('25%')).toBe(25);
    expect(minFreePercent('0')).toBe(0);
    expect(minFreePercent('1G')).toBe(0);
  });
});
