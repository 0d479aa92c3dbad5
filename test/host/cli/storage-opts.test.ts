import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/cli/errors.js';
import { NO_EFFECT, STORAGE_OPTION_NAMES, minFreePercent, parseGoBool, parseStorageOptions, readDaemonJson, type StorageOptionWarning } from '../../../src/cli/storage-opts.js';
import { cli } from './helpers.js';

/** Every dm.* key Docker's devicemapper driver accepted, with a valid value. */
const DOCKER_DAEMON_JSON_OPTS = [
  'dm.basesize=20G',
  'dm.loopdatasize=200G',
  'dm.loopmetadatasize=4G',
  'dm.fs=xfs',
  'dm.mkfsarg=-m 0',
  'dm.mountopt=nodiscard',
  'dm.datadev=/dev/sdb1',
  'dm.metadatadev=/dev/sdc1',
  'dm.thinpooldev=/dev/mapper/thin-pool',
  'dm.blkdiscard=false',
  'dm.blocksize=512K',
  'dm.override_udev_sync_check=true',
  'dm.use_deferred_removal=true',
  'dm.use_deferred_deletion=true',
  'dm.min_free_space=10%',
  'dm.xfs_nospace_max_retries=0',
  'dm.libdm_log_level=7',
  'dm.directlvm_device=/dev/xvdf',
  'dm.directlvm_device_force=false',
  'dm.thinp_percent=95',
  'dm.thinp_metapercent=1',
  'dm.thinp_autoextend_threshold=80',
  'dm.thinp_autoextend_percent=20',
  'dm.no_warn_on_loop_devices=true',
];

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

  it("accepts every key Docker accepted: applied, or a warning that names why it has no effect here", () => {
    const warnings: StorageOptionWarning[] = [];
    const o = parseStorageOptions(DOCKER_DAEMON_JSON_OPTS, (w) => warnings.push(w));
    expect(o).toMatchObject({ dataDev: '/dev/sdb1', metadataDev: '/dev/sdc1', thinPoolDev: '/dev/mapper/thin-pool', blockSizeBytes: 512 * 1024 });
    expect(warnings.map((w) => w.option).sort()).toEqual(
      ['dm.directlvm_device_force', 'dm.libdm_log_level', 'dm.no_warn_on_loop_devices', 'dm.override_udev_sync_check', 'dm.xfs_nospace_max_retries'].sort(),
    );
    for (const w of warnings) expect(w.message.length).toBeGreaterThan(20);
    for (const item of DOCKER_DAEMON_JSON_OPTS) expect(STORAGE_OPTION_NAMES).toContain(item.slice(0, item.indexOf('=')));
    // Settings that match what the library always does need no warning.
    const none: StorageOptionWarning[] = [];
    parseStorageOptions(['dm.use_deferred_removal=true', 'dm.directlvm_device_force=true'], (w) => none.push(w));
    expect(none).toEqual([]);
    parseStorageOptions(['dm.use_deferred_removal=false'], (w) => none.push(w));
    expect(none).toEqual([{ option: 'dm.use_deferred_removal', message: NO_EFFECT['dm.use_deferred_removal=false'] }]);
  });

  it('still checks the values of options it does not apply', () => {
    expect(() => parseStorageOptions(['dm.libdm_log_level=9'])).toThrow(/from 2 to 7/);
    expect(() => parseStorageOptions(['dm.override_udev_sync_check=maybe'])).toThrow(/not a boolean/);
    expect(() => parseStorageOptions(['dm.xfs_nospace_max_retries=-1'])).toThrow(/whole number/);
    expect(() => parseStorageOptions(['dm.datadev='])).toThrow(/block device path/);
  });

  it("reads a daemon.json's storage-opts, and refuses another driver's", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'daemon-json-'));
    try {
      const file = path.join(dir, 'daemon.json');
      await writeFile(file, JSON.stringify({ 'storage-driver': 'devicemapper', 'storage-opts': DOCKER_DAEMON_JSON_OPTS, 'log-level': 'debug' }));
      expect(await readDaemonJson(file)).toEqual(DOCKER_DAEMON_JSON_OPTS);
      await writeFile(file, JSON.stringify({ 'storage-driver': 'overlay2', 'storage-opts': ['overlay2.size=1G'] }));
      await expect(readDaemonJson(file)).rejects.toThrow(/"overlay2", not "devicemapper"/);
      await writeFile(file, '{ nope');
      await expect(readDaemonJson(file)).rejects.toThrow(/not valid JSON/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('prints the warnings on the command line, as text or JSON lines, and fails only on unknown keys', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'daemon-json-'));
    try {
      const file = path.join(dir, 'daemon.json');
      await writeFile(file, JSON.stringify({ 'storage-driver': 'devicemapper', 'storage-opts': ['dm.override_udev_sync_check=true', 'dm.basesize=1G'] }));
      // No pool is named, so the command stops at its usage error, after the options were read.
      const text = await cli(['pool', 'status', '--daemon-json', file]);
      expect(text.stderr).toContain('devmapper: warning: dm.override_udev_sync_check has no effect here: there is no udev sync check to override');
      expect(text.code).toBe(2);
      const json = await cli(['pool', 'status', '--daemon-json', file, '--json']);
      const lines = json.stderr.trim().split('\n');
      expect(JSON.parse(lines[0] ?? '')).toEqual({ warning: { option: 'dm.override_udev_sync_check', message: NO_EFFECT['dm.override_udev_sync_check'] } });
      const unknown = await cli(['pool', 'status', '--storage-opt', 'dm.frobnicate=1', '--json']);
      expect(unknown.code).toBe(2);
      const report = JSON.parse(unknown.stderr) as { error: { code: string; message: string } };
      expect(report.error.code).toBe('USAGE');
      for (const name of STORAGE_OPTION_NAMES) expect(report.error.message).toContain(name);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
