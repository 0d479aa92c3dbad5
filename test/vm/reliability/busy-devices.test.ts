/**
 * Busy devices: a snapshot's device held by an open file descriptor or
 * mounted in another mount namespace (`unshare -m`). Removal retries a
 * bounded number of times, then falls back to a deferred removal: remove
 * resolves and frees the key, the thin id stays while the device is held,
 * and cleanup() deletes it once the holder lets go. No EBUSY reaches the
 * caller, and the metastore and the pool's thin ids agree throughout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import * as dm from '../../../src/dm/device-mapper.js';
import { Snapshotter } from '../../../src/snapshotter/index.js';
import { Metastore } from '../../../src/snapshotter/metastore.js';
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

/** The thin ids the metastore records (any state) and the pool's, for an equality check. */
async function idsOnBothSides(rootPath: string, pool: ThinPool): Promise<{ store: number[]; pool: number[] }> {
  const store = await Metastore.open(rootPath);
  try {
    return { store: (await store.devices()).map((d) => d.id).sort((a, b) => a - b), pool: (await pool.thinIds()).sort((a, b) => a - b) };
  } finally {
    await store.close();
  }
}

/** Runs cleanup() until the pool is down to `count` thin ids (the kernel finishes a deferred removal from a work queue). */
/** The pool's thin ids equal the metastore's, nothing leaked or dangling; with `thinIds`, that many are left. */
async function expectConsistent(rootPath: string, pool: ThinPool, thinIds?: number): Promise<void> {
  const both = await idsOnBothSides(rootPath, pool);
  expect(both.pool).toEqual(both.store);
  const c = await checkConsistency(rootPath, pool);
  expect([c.leakedIds, c.danglingRecords, c.unfinished, c.strayActive]).toEqual([[], [], [], []]);
  if (thinIds !== undefined) expect(c.thinIds).toBe(thinIds);
}

async function cleanupUntil(s: Snapshotter, pool: ThinPool, count: number): Promise<number[]> {
  return eventually(
    async () => {
      await s.cleanup();
      return pool.thinIds();
    },
    (ids) => ids.length === count,
  );
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
  test('remove resolves after bounded retries with a deferred removal: the key is free, the thin id stays while held, cleanup() deletes it after the close', async () => {
    const { pool, s, rootPath } = await rig('none');
    const [m] = await s.prepare('held');
    const name = m?.source.replace('/dev/mapper/', '') ?? '';
    const fd = await holdOpen(m?.source ?? '');
    const started = Date.now();
    await s.remove('held');
    const took = Date.now() - started;
    await expect(s.stat('held')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await names(s)).toEqual([]);
    // The kernel keeps the device for its holder, removal pending; the thin id stays.
    expect(await dm.info(name)).toMatchObject({ deferredRemove: true, openCount: 1 });
    expect(await pool.thinIds()).toHaveLength(2);
    // cleanup() skips it without a failure while it is held.
    await s.cleanup();
    expect(await pool.thinIds()).toHaveLength(2);
    // The key is free again.
    await s.prepare('held');
    await s.remove('held');
    await release(fd);
    expect(await eventually(() => dm.info(name), (i) => i === null)).toBeNull();
    expect(await cleanupUntil(s, pool, 1)).toHaveLength(1);
    await s.close();
    await expectConsistent(rootPath, pool, 1);
    figures.push(`open fd: remove resolved after ${took} ms of retries with a deferred removal, key free, thin id kept while held; cleanup after the close deleted it; 0 leaked ids, 0 dangling records`);
    await pool.destroy();
  });

  test('asyncRemove: remove marks it; cleanup() hands the held device to a deferred removal without a failure, and deletes it once the holder closes', async () => {
    const { pool, s, rootPath } = await rig('none', true);
    const [m] = await s.prepare('held');
    const name = m?.source.replace('/dev/mapper/', '') ?? '';
    const fd = await holdOpen(m?.source ?? '');
    await s.remove('held');
    expect(await names(s)).toEqual([]);
    await s.cleanup();
    expect(await dm.info(name)).toMatchObject({ deferredRemove: true });
    expect(await pool.thinIds()).toHaveLength(2); // base + the held one
    // Pending: skipped again, still no failure.
    await s.cleanup();
    expect(await pool.thinIds()).toHaveLength(2);
    await release(fd);
    expect(await cleanupUntil(s, pool, 1)).toHaveLength(1);
    await s.close();
    await expectConsistent(rootPath, pool, 1);
    figures.push('open fd + asyncRemove: cleanup → deferred removal, no failure, device kept while held; cleanup after the close deleted it');
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
    // The name goes first; deleteThin retries (bounded) until the kernel's removal work has let the id go.
    await pool.deleteThin(100);
    expect(await pool.thinIds()).not.toContain(100);
    figures.push('open fd: ThinDevice.deactivate → deferred removal, device gone when the fd closed, thin id deleted at once');
    await pool.destroy();
  });
});

describe('a device mounted in another mount namespace (unshare -m)', () => {
  test('remove resolves while it is mounted there (deferred removal); cleanup() deletes the thin id once the namespace is gone', async () => {
    const { pool, s, rootPath, dir } = await rig('ext4');
    const [m] = await s.prepare('mounted');
    const name = m?.source.replace('/dev/mapper/', '') ?? '';
    const holder = await mountElsewhere(m?.source ?? '', path.join(dir, 'mnt'));
    // Not mounted in this namespace: only the kernel's open count shows the holder.
    await s.remove('mounted');
    await expect(s.stat('mounted')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await dm.info(name)).toMatchObject({ deferredRemove: true });
    expect(await pool.thinIds()).toHaveLength(2);
    await s.cleanup();
    expect(await pool.thinIds()).toHaveLength(2);
    // A reopen while it is held: nothing to repair, nothing failed.
    await s.close();
    const again = await Snapshotter.open({ rootPath, pool, baseImageSize: '32MB', fsType: 'ext4', minFreeSpace: 0 });
    expect(again.reconcileReport).toMatchObject({ failed: [], rolledForward: [], rolledBack: [] });
    await release(holder);
    // The namespace's mount goes with its last process; the kernel then removes the device.
    expect(await cleanupUntil(again, pool, 1)).toHaveLength(1);
    expect(await dm.info(name)).toBeNull();
    await again.close();
    await expectConsistent(rootPath, pool);
    figures.push('ext4 mounted in another mount namespace: remove → deferred removal, key free, thin id kept while mounted, survived a reopen; cleanup after the namespace exited deleted it; 0 leaked ids, 0 dangling records');
    await pool.destroy();
  });
});
