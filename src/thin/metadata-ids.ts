/**
 * Reads the thin ids a pool holds from its metadata, through a metadata
 * snapshot (the kernel's reserve_metadata_snap) and thin-provisioning-tools'
 * thin_dump, so the live pool keeps running while it is read.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { DeviceMapperError } from '../dm/errors.js';

const run = promisify(execFile);

/** `/dev/<name>` of a block device number, from sysfs (no udev needed). */
export async function blockDevicePath(major: number, minor: number): Promise<string> {
  const uevent = await readFile(`/sys/dev/block/${major}:${minor}/uevent`, 'utf8');
  const name = /^DEVNAME=(.+)$/m.exec(uevent)?.[1];
  if (!name) throw new DeviceMapperError(`no device node for ${major}:${minor}`, { code: 'ENODEV', op: 'blockDevicePath' });
  return `/dev/${name}`;
}

/** Parses the device ids out of thin_dump's XML (`<device dev_id="N" ...>`). */
export function parseThinDumpIds(xml: string): number[] {
  const ids: number[] = [];
  for (const m of xml.matchAll(/<device dev_id="(\d+)"/g)) ids.push(Number(m[1]));
  return ids.sort((a, b) => a - b);
}

/**
 * Runs `thin_dump --metadata-snap --skip-mappings` on the metadata device
 * and returns the ids. The caller must hold a metadata snapshot.
 */
export async function dumpThinIds(metadataDevice: string): Promise<number[]> {
  try {
    const { stdout } = await run('thin_dump', ['--metadata-snap', '--skip-mappings', metadataDevice], { maxBuffer: 256 * 1024 * 1024 });
    return parseThinDumpIds(stdout);
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    const detail = e.code === 'ENOENT' ? 'thin_dump is not installed (Debian package thin-provisioning-tools)' : (e.stderr ?? e.message).trim();
    throw new DeviceMapperError(`thin_dump ${metadataDevice}: ${detail}`, { code: e.code === 'ENOENT' ? 'ENOENT' : 'EIO', op: 'thinIds', device: metadataDevice });
  }
}
