/**
 * direct-lvm: an LVM thin pool on given block devices, made with lvm2's own
 * commands (lvm2 has no library API). Arguments are passed as arrays, never
 * through a shell, and reports are read as JSON.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { DeviceMapperError } from '../dm/errors.js';
import { validateDataBlockSize } from './sizing.js';

const run = promisify(execFile);

/** How to make an LVM thin pool, as Docker's direct-lvm guide does. */
export interface LvmThinPoolOptions {
  /** Block devices to turn into physical volumes. */
  devices: string[];
  /** Volume group name (Docker's guide: 'docker'). */
  volumeGroup: string;
  /** Thin pool logical volume name (default 'thinpool'). */
  poolName?: string;
  /** Percent of the volume group for data (default 95). */
  dataPercent?: number;
  /** Percent of the volume group for metadata (default 1). */
  metadataPercent?: number;
  /** Chunk (data block) size in bytes (default 512 KiB). */
  chunkSizeBytes?: number;
  /** LVM autoextend threshold percent (default 80); 100 disables it. */
  autoextendThreshold?: number;
  /** LVM autoextend percent (default 20). */
  autoextendPercent?: number;
  /**
   * LVM's configuration directory (LVM_SYSTEM_DIR). The metadata profile is
   * written to `<dir>/profile/`. Default /etc/lvm.
   */
  systemDir?: string;
  /** Extra `--config` text for every lvm command (e.g. to turn udev sync off). */
  config?: string;
}

/** What the setup made. */
export interface LvmThinPool {
  /** The volume group. */
  volumeGroup: string;
  /** The thin pool logical volume. */
  poolName: string;
  /** The device-mapper name of the thin-pool device, for ThinPool.open(). */
  dmName: string;
  /** The LVM metadata profile holding the autoextend settings. */
  profile: string;
}

/** Runs one lvm2 command and returns its stdout; failures keep lvm's own message. */
export async function lvm(command: string, args: string[], options: { systemDir?: string; config?: string } = {}): Promise<string> {
  const env: NodeJS.ProcessEnv = { ...process.env, LVM_SUPPRESS_FD_WARNINGS: '1' };
  if (options.systemDir) env.LVM_SYSTEM_DIR = options.systemDir;
  // Without udevd, LVM must make its own /dev nodes or it waits for links that never come.
  const noUdev = existsSync('/run/udev/control') ? '' : 'activation { udev_sync=0 udev_rules=0 verify_udev_operations=1 } devices { obtain_device_list_from_udev=0 }';
  const config = [options.config, noUdev].filter(Boolean).join(' ');
  const full = config ? [...args, '--config', config] : args;
  try {
    const { stdout } = await run(command, full, { env, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    const code = e.code === 'ENOENT' ? 'ENOENT' : 'EIO';
    const detail = e.code === 'ENOENT' ? `${command} is not installed (Debian package lvm2)` : (e.stderr ?? e.message).trim();
    throw new DeviceMapperError({ code, errno: 0, op: `lvm ${command}`, message: `${command} ${full.join(' ')}: ${detail}` });
  }
}

/** Reads `lvs` as JSON for one volume group. */
export async function listLogicalVolumes(
  volumeGroup: string,
  options: { systemDir?: string; config?: string } = {},
): Promise<Array<Record<string, string>>> {
  const out = await lvm('lvs', ['--reportformat', 'json', '--units', 'b', '--nosuffix', '-o', 'lv_name,vg_name,lv_attr,lv_size,data_percent,metadata_percent,lv_dm_path,seg_monitor,lv_profile', volumeGroup], options);
  const report = JSON.parse(out) as { report: Array<{ lv?: Array<Record<string, string>> }> };
  return report.report[0]?.lv ?? [];
}

/** The dm name LVM gives a logical volume: '-' doubled inside each part. */
export function lvmDmName(volumeGroup: string, logicalVolume: string): string {
  return `${volumeGroup.replaceAll('-', '--')}-${logicalVolume.replaceAll('-', '--')}`;
}

function percent(value: number | undefined, fallback: number, name: string): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1 || v > 100) throw DeviceMapperError.invalid('lvm', `${name} must be an integer percent from 1 to 100`);
  return v;
}

/**
 * Makes an LVM thin pool as Docker's direct-lvm guide does: pvcreate,
 * vgcreate, two linear volumes, lvconvert into a thin pool without zeroing,
 * and a metadata profile with autoextend settings.
 */
export async function createLvmThinPool(options: LvmThinPoolOptions): Promise<LvmThinPool> {
  const poolName = options.poolName ?? 'thinpool';
  const metaName = `${poolName}meta`;
  const dataPercent = percent(options.dataPercent, 95, 'dataPercent');
  const metadataPercent = percent(options.metadataPercent, 1, 'metadataPercent');
  const threshold = percent(options.autoextendThreshold, 80, 'autoextendThreshold');
  const extend = percent(options.autoextendPercent, 20, 'autoextendPercent');
  const chunk = options.chunkSizeBytes ?? 512 * 1024;
  validateDataBlockSize(chunk);
  if (options.devices.length === 0) throw DeviceMapperError.invalid('lvm', 'at least one block device is needed');
  for (const name of [options.volumeGroup, poolName]) {
    if (!/^[A-Za-z0-9+_.][A-Za-z0-9+_.-]*$/.test(name) || name.length > 64) {
      throw DeviceMapperError.invalid('lvm', `'${name}' is not a valid LVM name`);
    }
  }
  const o = { systemDir: options.systemDir, config: options.config };
  const vg = options.volumeGroup;

  await lvm('pvcreate', ['-y', ...options.devices], o);
  await lvm('vgcreate', [vg, ...options.devices], o);
  await lvm('lvcreate', ['-y', '--wipesignatures', 'y', '-n', poolName, vg, '-l', `${dataPercent}%VG`], o);
  await lvm('lvcreate', ['-y', '--wipesignatures', 'y', '-n', metaName, vg, '-l', `${metadataPercent}%VG`], o);
  await lvm('lvconvert', ['-y', '--zero', 'n', '-c', `${chunk / 1024}K`, '--thinpool', `${vg}/${poolName}`, '--poolmetadata', `${vg}/${metaName}`], o);

  const profile = `${vg}-${poolName}`;
  const profileDir = path.join(options.systemDir ?? '/etc/lvm', 'profile');
  await mkdir(profileDir, { recursive: true });
  await writeFile(
    path.join(profileDir, `${profile}.profile`),
    `activation {\n\tthin_pool_autoextend_threshold=${threshold}\n\tthin_pool_autoextend_percent=${extend}\n}\n`,
  );
  await lvm('lvchange', ['--metadataprofile', profile, `${vg}/${poolName}`], o);
  return { volumeGroup: vg, poolName, dmName: lvmDmName(vg, poolName), profile };
}

/** Removes the volume group made by {@link createLvmThinPool} and its physical volumes. */
export async function removeLvmThinPool(pool: LvmThinPool, devices: string[], options: { systemDir?: string; config?: string } = {}): Promise<void> {
  await lvm('vgremove', ['-y', '-f', pool.volumeGroup], options);
  await lvm('pvremove', ['-y', ...devices], options);
}
