// Test scaffolding for VM tests that touch real device-mapper and loop devices:
// unique names, sparse backing files, and cleanup of everything a test made,
// even when the test failed half way.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { native, type NativeBinding, type NativeInfo, type NativeLoopInfo } from '../../../src/dm/native.js';

/** Whether udevd runs (what libudev checks; scripts/vm.sh --udev starts it). */
export const withUdev = existsSync('/run/udev/control');

/** These tests never skip: without a device-mapper they fail, saying why. */
export function requireDeviceMapper(): void {
  if (!existsSync('/dev/mapper/control') || !existsSync('/sys/module/dm_mod')) {
    throw new Error('no device-mapper here: run the vm tests through scripts/vm.sh');
  }
}

/** Every device name made by this process starts with this. */
export const namePrefix = `dmtest-${process.pid}-`;
let counter = 0;
export function uniqueName(tag: string): string {
  counter += 1;
  return `${namePrefix}${tag}-${counter}`;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns true, for udev work that finishes after the call. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > end) return false;
    await sleep(50);
  }
}

/** Major and minor of a Linux dev_t as node reports it. */
export function splitDev(dev: number): { major: number; minor: number } {
  const big = BigInt(dev);
  const major = Number(((big >> 8n) & 0xfffn) | ((big >> 32n) & ~0xfffn));
  const minor = Number((big & 0xffn) | ((big >> 12n) & ~0xffn));
  return { major, minor };
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch {
    return false;
  }
}

/** The things one test made; `cleanup()` removes them in reverse order. */
export class Scratch {
  readonly dm: NativeBinding = native();
  private devices: string[] = [];
  private loops: string[] = [];
  private handles: fs.FileHandle[] = [];

  private constructor(readonly dir: string) {}

  static async create(): Promise<Scratch> {
    return new Scratch(await fs.mkdtemp(path.join(os.tmpdir(), 'dmtest-')));
  }

  /** A sparse file of `bytes` in this scratch dir. */
  async file(name: string, bytes: number): Promise<string> {
    const file = path.join(this.dir, name);
    await fs.writeFile(file, '');
    await fs.truncate(file, bytes);
    return file;
  }

  async loop(file: string, options?: Parameters<NativeBinding['loopAttach']>[1]): Promise<NativeLoopInfo> {
    const loop = await this.dm.loopAttach(file, options);
    this.loops.push(loop.path);
    return loop;
  }

  /** A sparse file attached to a loop device. */
  async loopFile(name: string, bytes: number, options?: Parameters<NativeBinding['loopAttach']>[1]): Promise<NativeLoopInfo> {
    return this.loop(await this.file(name, bytes), options);
  }

  async create(options: Parameters<NativeBinding['create']>[0]): Promise<NativeInfo> {
    this.devices.push(options.name);
    return this.dm.create(options);
  }

  /** Keeps track of a device made or renamed outside `create`. */
  track(name: string): void {
    this.devices.push(name);
  }

  /** An open handle closed at cleanup (before devices are removed). */
  async open(p: string, flags: string): Promise<fs.FileHandle> {
    const handle = await fs.open(p, flags);
    this.handles.push(handle);
    return handle;
  }

  async cleanup(): Promise<void> {
    const problems: string[] = [];
    for (const handle of this.handles.splice(0)) await handle.close().catch(() => undefined);
    for (const name of this.devices.splice(0).reverse()) {
      try {
        const info = await this.dm.info(name);
        if (!info.exists) continue;
        if (info.suspended) await this.dm.resume(name);
        await this.dm.remove(name, { retries: 50, retryDelayMs: 100 });
      } catch (error) {
        problems.push(`${name}: ${(error as Error).message}`);
        try {
          execFileSync('dmsetup', ['remove', '--force', '--retry', name], { stdio: 'ignore' });
        } catch {
          // reported above
        }
      }
    }
    // Every loop device on a file of this dir, including ones a failed test
    // lost track of.
    const files = await fs.readdir(this.dir).catch(() => [] as string[]);
    const loops = new Set(this.loops.splice(0));
    for (const file of files) {
      for (const loop of await this.dm.loopFind(path.join(this.dir, file)).catch(() => [])) loops.add(loop.path);
    }
    for (const loop of loops) {
      await this.dm.loopDetach(loop).catch((error: NodeJS.ErrnoException & { code?: string }) => {
        if (error.code !== 'ENXIO') problems.push(`${loop}: ${error.message}`);
      });
    }
    await fs.rm(this.dir, { recursive: true, force: true });
    if (problems.length > 0) throw new Error(`cleanup failed:\n${problems.join('\n')}`);
  }
}

/** Removes every device of this process still there (a safety net for afterAll). */
export async function removeLeftoverDevices(dm: NativeBinding = native()): Promise<string[]> {
  const left: string[] = [];
  for (const entry of await dm.list()) {
    if (!entry.name.startsWith(namePrefix)) continue;
    left.push(entry.name);
    await dm.remove(entry.name, { retries: 50, retryDelayMs: 100 }).catch(() => undefined);
  }
  return left;
}
