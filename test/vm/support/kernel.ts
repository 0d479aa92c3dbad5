/**
 * Support for tests on a real kernel: a unique name prefix per test file,
 * temporary directories, shell helpers, and a cleanup that removes every
 * device, loop device and mount a test made, also when it fails.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as dm from '../../../src/dm/device-mapper.js';
import { LoopDevice } from '../../../src/dm/loop.js';

const exec = promisify(execFile);

/** Fails loudly when the kernel has no device-mapper: these tests never skip. */
export function requireDeviceMapper(): void {
  // libdevmapper mknods /dev/mapper/control itself, so the module is the real sign.
  if (!existsSync('/dev/mapper/control') || !existsSync('/sys/module/dm_mod')) {
    throw new Error('no /dev/mapper/control: run the vm tests through scripts/vm.sh (npm test)');
  }
}

/** A prefix unique to this process, for device names. */
export function uniquePrefix(tag: string): string {
  return `dmt-${tag}-${process.pid}-`;
}

/** Runs a command (no shell) and returns stdout; rejects with stderr in the message. */
export async function sh(cmd: string, args: string[], options: { allowFail?: boolean } = {}): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await exec(cmd, args, { maxBuffer: 64 * 1024 * 1024 });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; code?: number; message: string };
    if (options.allowFail) return { stdout: e.stdout ?? '', stderr: e.stderr ?? '', code: typeof e.code === 'number' ? e.code : 1 };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
  }
}

/** A fresh temporary directory. */
export async function tempDir(tag: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), `dmt-${tag}-`));
}

/** Mount points under `dir`, deepest first. */
async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mounts', 'utf8');
  return text
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/**
 * Removes whatever a test left behind: mounts under `dirs`, dm devices
 * whose names start with `prefix` (thin devices before the pools under them),
 * loop devices over files in `dirs`, then the directories.
 */
export async function cleanup(prefix: string, dirs: string[]): Promise<void> {
  for (const dir of dirs) for (const m of await mountsUnder(dir)) await sh('umount', ['-l', m], { allowFail: true });
  for (let pass = 0; pass < 4; pass++) {
    const mine = (await dm.list()).filter((d) => d.name.startsWith(prefix) || d.name.includes(prefix));
    if (mine.length === 0) break;
    // Devices with the fewest holders go first: thin devices before their pool.
    for (const d of mine) {
      const info = await dm.info(d.name).catch(() => null);
      if (info && info.openCount > 0 && pass < 3) continue;
      await dm.remove(d.name, { retries: 5, retryDelayMs: 20 }).catch(() => undefined);
    }
  }
  for (const dir of dirs) {
    const out = await sh('losetup', ['-a', '-O', 'NAME,BACK-FILE', '-n'], { allowFail: true });
    for (const line of out.stdout.split('\n')) {
      const [name, file] = line.trim().split(/\s+/);
      if (name && file?.startsWith(dir)) {
        const loop = await LoopDevice.open(name).catch(() => null);
        await loop?.detach().catch(() => undefined);
      }
    }
    await rm(dir, { recursive: true, force: true });
  }
}

/** Writes `bytes` of random data to a block device at `offsetBytes`, with O_DIRECT, via dd. */
export async function ddWrite(device: string, offsetMiB: number, sizeMiB: number, options: { allowFail?: boolean } = {}): Promise<{ code: number; stderr: string }> {
  const r = await sh('dd', ['if=/dev/urandom', `of=${device}`, 'bs=1M', `count=${sizeMiB}`, `seek=${offsetMiB}`, 'oflag=direct', 'conv=fsync'], options);
  return { code: r.code, stderr: r.stderr };
}

/** sha256 of the first `sizeMiB` MiB of a device. */
export async function checksum(device: string, sizeMiB: number): Promise<string> {
  const r = await sh('sh', ['-c', `dd if="$1" bs=1M count="$2" iflag=direct 2>/dev/null | sha256sum`, 'sh', device, String(sizeMiB)]);
  return r.stdout.split(' ')[0] ?? '';
}

/** Whether udevd runs in this guest (scripts/vm.sh --udev). */
export const withUdev = process.env.DEVMAPPER_VM_UDEV === '1';
