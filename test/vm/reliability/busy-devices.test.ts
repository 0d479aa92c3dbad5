/**
 * Busy devices: a snapshot's device held by an open file descriptor or
 * mounted in another mount namespace (`unshare -m`). Removal retries a
 * bounded number of times, then fails typed without a change (remove) or
 * falls back to deferred removal (ThinDevice.deactivate); asyncRemove plus
 * cleanup() finishes the job once the holder lets go.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import * as dm from '../../../src/dm/device-mapper.js';
import { Snapshotter, isSnapshotterError } from '../../../src/snapshotter/index.js';
import type { ThinPool } from '../../../src/thin/index.js';
import { cleanup, requireDeviceMapper, tempDir, uniquePrefix } from '../support/kernel.js';
import { MiB, checkConsistency, reportFigure, smallPool } from '../support/reliability.js';

const prefix = uniquePrefix('busy');
const dirs: string[] = [];
const holders: Array<FileHandle | ChildProcess> = [];
let n = 0;
const figures: string[] = [];

async function rig(fsType: 'none' | 'ext4', asyncRemove = false): Promise<{ pool: ThinPool; s: Snapshotter; rootPath: string; dir: string }> {
  const dir = await tempDir('busy');
  dirs.push(dir);
  const pool = await smallPool(path.join(dir, 'pool'), `${prefix}p${n++}`);
  const rootPath = path.join(dir, 'root');
  const s = await Snapshotter.open({ rootPath, pool, baseImageSize: '32MB', fsType, minFreeSpace: 0, asyncRemove });
  return { pool, s, rootPath, dir };
}

async function holdOpen(device: string): Promise<FileHandle> {
  const fd = await open(device, 'r');
  holders.push(fd);
  return fd;
}

/** Mounts `device` in a new private mount namespace held by a shell; closing its stdin lets it go. */
async function mountElsewhere(device: string, target: string): Promise<ChildProcess> {
  await mkdir(target, { recursive: true });
  const child = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'mount -t ext4 "$1" "$2" && echo mounted && read _', 'sh', device, target], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  holders.push(child);
  const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
  expect(chunk.toString()).toContain('mounted');
  return child;
}

async function release(holder: FileHandle | ChildProcess): Promise<void> {
  if (!('pid' in holder)) {
    await (holder as FileHandle).close();
  } else {
    const child = holder as ChildProcess;
    const exited = once(child, 'exit');
    child.stdin?.end();
    await exited;
  }
}

/** The kernel finishes a deferred removal, and tears down a dead namespace's mounts, from a work queue: poll for it (bounded). */
async function eventually<T>(fn: () => Promise<T>, done: (v: T) => boolean): Promise<T> {
  let v = await fn();
  for (let i = 0; i < 100 && !done(v); i++) {
    await new Promise((r) => setTimeout(r, 100));
    v = await fn();
  }
  return v;
}

async function names(s: Snapshotter): Promise<string[]> {
  const out: string[] = [];
  for await (const info of s.walk()) out.push(info.name);
  return out.sort();
}

beforeAll(() => requireDeviceMapper());
afterEach(async () => {
  for (const h of holders.splice(0)) {
    if ('pid' in h) (h as ChildProcess).kill('SIGKILL');
    else await (h as FileHandle).close().catch(() => undefined);
  }
  await cleanup(prefix, dirs.splice(0));
});
afterAll(async () => {
  expect((await dm.list()).filter((d) => d.name.startsWith(prefix))).toEqual([]);
  await reportFigure('busy-devices', figures.join('; '));
});

describe('a device held by an open file descriptor', () => {
  test('remove fails with FailedPreconditionError after bounded retries and changes nothing; it succeeds once the holder closes', async () => {
    const { pool, s, rootPath } = await rig('none');
    const [m] = await s.prepare('held');
    const fd = await holdOpen(m?.source ?? '');
    const e = await s.remove('held').catch((err: unknown) => err);
    expect(isSnapshotterError(e, 'FAILED_PRECONDITION')).toBe(true);
    expect((e as Error).message).toMatch(/busy/);
    expect(((e as Error).cause as { code?: string }).code).toBe('EBUSY');
    expect(await names(s)).toEqual(['held']);
    expect(await dm.info(m?.source.replace('/dev/mapper/', '') ?? '')).not.toBeNull();
    await release(fd);
    await s.remove('held');
    await s.cleanup();
    expect(await names(s)).toEqual([]);
    await s.close();
    const c = await checkConsistency(rootPath, pool);
    expect([c.leakedIds, c.danglingRecords, c.unfinished, c.strayActive]).toEqual([[], [], [], []]);
    figures.push('open fd: remove → FailedPreconditionError (cause EBUSY), nothing changed, removed after close');
    await pool.destroy();
  });

  test('asyncRemove: remove marks it, cleanup() reports it typed and keeps it, then deletes it once the holder closes', async () => {
    const { pool, s, rootPath } = await rig('none', true);
    const [m] = await s.prepare('held');
    const fd = await holdOpen(m?.source ?? '');
    await s.remove('held');
    expect(await names(s)).toEqual([]);
    const e = await s.cleanup().catch((err: unknown) => err);
    expect(e).toBeInstanceOf(AggregateError);
    const inner = (e as AggregateError).errors;
    expect(inner).toHaveLength(1);
    expect((inner[0] as { code?: string }).code).toBe('EBUSY');
    expect((await pool.thinIds()).length).toBe(2); // base + the held one
    await release(fd);
    await s.cleanup();
    await s.close();
    const c = await checkConsistency(rootPath, pool);
    expect([c.leakedIds, c.danglingRecords, c.unfinished, c.strayActive]).toEqual([[], [], [], []]);
    expect(c.thinIds).toBe(1); // only the base
    figures.push('open fd + asyncRemove: cleanup → AggregateError of EBUSY, device kept; cleanup after close deletes it');
    await pool.destroy();
  });

  test('ThinDevice.deactivate retries, then falls back to deferred removal; the kernel removes the device when the holder closes', async () => {
    const { pool, s } = await rig('none');
    await s.close();
    await pool.createThin(100);
    const dev = await pool.activate({ id: 100, name: `${pool.name}-held`, sizeBytes: 8 * MiB });
    const fd = await holdOpen(dev.path);
    await dev.deactivate();
    const info = await dm.info(dev.name);
    expect(info?.deferredRemove).toBe(true);
    await release(fd);
    expect(await eventually(() => dm.info(dev.name), (i) => i === null)).toBeNull();
    // The name goes first; the pool lets the thin id go once the kernel's removal work has closed it.
    expect(await eventually(() => pool.deleteThin(100).then(() => null, (err: unknown) => err), (err) => err === null)).toBeNull();
    figures.push('open fd: ThinDevice.deactivate → deferred removal, device gone when the fd closed');
    await pool.destroy();
  });
});

describe('a device mounted in another mount namespace (unshare -m)', () => {
  test('remove is refused typed and changes nothing while it is mounted there; with asyncRemove, cleanup() keeps it until the namespace is gone', async () => {
    const r = await rig('ext4');
    let s = r.s;
    const { pool, rootPath, dir } = r;
    const [m] = await s.prepare('mounted');
    const holder = await mountElsewhere(m?.source ?? '', path.join(dir, 'mnt'));
    // Not mounted in this namespace: only the kernel's open count shows the holder.
    const refusedRemove = await s.remove('mounted').catch((err: unknown) => err);
    expect(isSnapshotterError(refusedRemove, 'FAILED_PRECONDITION')).toBe(true);
    expect(((refusedRemove as Error).cause as { code?: string }).code).toBe('EBUSY');
    expect(await names(s)).toEqual(['mounted']);
    await s.close();
    s = await Snapshotter.open({ rootPath, pool, baseImageSize: '32MB', fsType: 'ext4', minFreeSpace: 0, asyncRemove: true });
    await s.remove('mounted');
    const e = await s.cleanup().catch((err: unknown) => err);
    expect(e).toBeInstanceOf(AggregateError);
    expect(((e as AggregateError).errors[0] as { code?: string }).code).toBe('EBUSY');
    expect(await dm.info(m?.source.replace('/dev/mapper/', '') ?? '')).not.toBeNull();
    await release(holder);
    // The namespace's mount goes with its last process; the device is free once the kernel has torn it down.
    const last = await eventually(
      () => s.cleanup().then(() => null, (err: unknown) => err),
      (err) => err === null,
    );
    expect(last).toBeNull();
    await s.close();
    const c = await checkConsistency(rootPath, pool);
    expect([c.leakedIds, c.danglingRecords, c.unfinished, c.strayActive]).toEqual([[], [], [], []]);
    figures.push('ext4 mounted in another mount namespace: remove → FailedPreconditionError (cause EBUSY), nothing changed; with asyncRemove cleanup → AggregateError of EBUSY, finished after the namespace exited');
    await pool.destroy();
  });
});
