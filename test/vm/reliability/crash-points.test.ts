/**
 * Crash safety on a real kernel pool: a child process SIGKILLs itself at
 * each named crash point of base creation, prepare, view, commit, remove,
 * cleanup and resize (DEVMAPPER_CRASH_POINT), then the snapshotter is reopened and
 * checked against the pool's real device list (thin_dump on a metadata
 * snapshot): every record has its thin id, every thin id its record, the
 * interrupted operation is rolled back or finished, active snapshots have
 * resumed devices, and the snapshotter keeps working. Then a "reboot": all
 * dm devices and loop devices torn down under a live metastore (once after
 * a kill mid-prepare), and everything reopened from the files.
 *
 * One pool and one metastore serve every point in turn (a pool per point
 * would cost minutes in the emulated guest); each point starts from the
 * same standing state, rebuilt after the previous one. Formatter 'none'.
 */
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as dm from '../../../src/dm/device-mapper.js';
import { LoopDevice } from '../../../src/dm/loop.js';
import { CRASH_POINTS, CRASH_POINT_ENV, type CrashPointName } from '../../../src/snapshotter/crash-points.js';
import { MAX_SIZE_LABEL, Snapshotter, type SnapshotterOptions } from '../../../src/snapshotter/index.js';
import { createLoopbackPool, type ThinPool } from '../../../src/thin/index.js';
import { cleanup, requireDeviceMapper, tempDir, uniquePrefix } from '../support/kernel.js';
import { MiB, bundleChild, checkConsistency, progress, reportFigure, runChild, smallPool, writeDevice, type Consistency } from '../support/reliability.js';
import { GROWN_SIZE, growsOnCreate, holdsVictim, operationOf, optionsFor } from './crash-operations.js';

const prefix = uniquePrefix('crash');
const poolName = `${prefix}pool`;
const OWN_DATA = 512 * 1024;
let dir: string;
let poolDir: string;
let rootPath: string;
let pool: ThinPool;
let child: Awaited<ReturnType<typeof bundleChild>>;
const tally = new Map<string, { leaked: number; dangling: number }>();

const COMMON: Partial<SnapshotterOptions> = { fsType: 'none', minFreeSpace: 0, baseImageSize: '64MB' };

async function openSnapshotter(options: Partial<SnapshotterOptions>): Promise<Snapshotter> {
  return Snapshotter.open({ baseImageSize: '64MB', ...options, rootPath, pool });
}

async function names(s: Snapshotter): Promise<string[]> {
  const out: string[] = [];
  for await (const info of s.walk()) out.push(info.name);
  return out.sort();
}

async function has(s: Snapshotter, key: string): Promise<boolean> {
  return (await names(s)).includes(key);
}

async function prepareWithData(s: Snapshotter, key: string): Promise<void> {
  const [m] = await s.prepare(key, 'P');
  // Past the parent's data: blocks of its own.
  await writeDevice(m?.source ?? '', 4 * MiB, OWN_DATA);
}

/**
 * Rebuilds the standing state: P committed; a (with data), victim active; v
 * a view; nothing else. For the points of a busy device, victim's device is
 * held open by this process: the returned handle, for the test to close.
 */
async function standingState(point: CrashPointName | undefined, options: Partial<SnapshotterOptions>): Promise<FileHandle | undefined> {
  const s = await openSnapshotter(options);
  let holder: FileHandle | undefined;
  try {
    for (const key of ['new', 'fresh', 'probe', 'A', 'g']) if (await has(s, key)) await s.remove(key);
    await s.cleanup();
    if (!(await has(s, 'a'))) await prepareWithData(s, 'a');
    if (!(await has(s, 'victim'))) await s.prepare('victim', 'P');
    if (!(await has(s, 'v'))) await s.view('v', 'P');
    if (point?.startsWith('resize:')) await s.prepare('g', 'P');
    if (point && holdsVictim(point)) holder = await open((await s.mounts('victim'))[0]?.source ?? '', 'r');
    if (point?.startsWith('cleanup:')) await s.remove('victim'); // asyncRemove: only marked
  } catch (e) {
    await holder?.close();
    throw e;
  } finally {
    await s.close();
  }
  return holder;
}

function problems(c: Consistency): Omit<Consistency, 'snapshots' | 'thinIds' | 'transactionIds'> {
  const { snapshots: _s, thinIds: _t, transactionIds: _x, ...rest } = c;
  return rest;
}

const CLEAN = { leakedIds: [], danglingRecords: [], unfinished: [], missingDevices: [], strayActive: [] };

/** Reopens (reconcile), closes, compares the store with the pool; expects no disagreement. */
async function reopenAndCheck(options: Partial<SnapshotterOptions>): Promise<{ report: Snapshotter['reconcileReport']; consistency: Consistency }> {
  const s = await openSnapshotter(options);
  const report = s.reconcileReport;
  await s.close();
  const consistency = await checkConsistency(rootPath, pool);
  return { report, consistency };
}

beforeAll(async () => {
  requireDeviceMapper();
  dir = await tempDir('crash');
  poolDir = path.join(dir, 'pool');
  rootPath = path.join(dir, 'meta');
  child = await bundleChild(path.join(import.meta.dirname, 'crash-child.ts'), 'crash');
  pool = await smallPool(poolDir, poolName, { dataSizeBytes: 128 * MiB });
  const s = await openSnapshotter(COMMON);
  const [p] = await s.prepare('p');
  await writeDevice(p?.source ?? '', 0, MiB);
  await s.commit('P', 'p');
  await s.close();
});

afterAll(async () => {
  try {
    await pool?.close();
    await child?.dispose();
  } finally {
    await cleanup(prefix, dir ? [dir] : []);
  }
  expect((await dm.list()).filter((d) => d.name.startsWith(prefix))).toEqual([]);
});

describe('SIGKILL at each crash point on a real pool, then reopen', () => {
  test('there are at least 20 distinct points, from before the first metastore write to after the last kernel call', () => {
    expect(new Set(CRASH_POINTS).size).toBe(CRASH_POINTS.length);
    expect(CRASH_POINTS.length).toBeGreaterThanOrEqual(20);
    for (const op of ['prepare', 'view', 'commit', 'remove', 'cleanup']) expect(CRASH_POINTS.some((p) => p.startsWith(`${op}:`))).toBe(true);
  });

  test.each(CRASH_POINTS.map((point, index) => [point, index] as const))('%s', async (point, index) => {
    const options = optionsFor(point, index);
    const holder = await standingState(point, options);
    try {
      await crashAndCheck(point, options);
    } finally {
      await holder?.close();
    }
    await progress('crash-points', `${point} ok`);
  });

  /** Runs the operation to `point` in a child, then reopens and checks everything (victim may be held open meanwhile). */
  async function crashAndCheck(point: CrashPointName, options: Partial<SnapshotterOptions>): Promise<void> {
    const op = operationOf(point);
    const sized = growsOnCreate(point);
    const result = await runChild(child.script, [JSON.stringify({ rootPath, poolName, options, op, sized })], { [CRASH_POINT_ENV]: point });
    expect(result.stderr).toBe('');
    expect(result.signal, `the child died at ${point}`).toBe('SIGKILL');

    const { report, consistency } = await reopenAndCheck(options);
    tally.set(point, { leaked: consistency.leakedIds.length, dangling: consistency.danglingRecords.length + consistency.missingDevices.length });
    expect(report.failed).toEqual([]);
    expect(report.lost).toEqual([]);
    expect(report.foreign).toEqual([]);
    // An interrupted resize is finished by the reopen, wherever it stopped.
    expect(report.grown).toEqual(op === 'resize' ? ['g'] : []);
    expect(problems(consistency)).toEqual(CLEAN);
    expect(consistency.transactionIds[0]).toBe(consistency.transactionIds[1]);

    // The interrupted operation happened entirely or not at all, and can be retried.
    const s = await openSnapshotter(options);
    try {
      const present = await names(s);
      switch (op) {
        case 'base':
          if (present.includes('fresh')) expect((await s.stat('fresh')).kind).toBe('active');
          else await s.prepare('fresh');
          break;
        case 'prepare':
        case 'view': {
          const labels: Record<string, string> = sized ? { [MAX_SIZE_LABEL]: String(GROWN_SIZE) } : {};
          if (present.includes('new')) expect(await s.stat('new')).toMatchObject({ kind: op === 'view' ? 'view' : 'active', labels });
          else await (op === 'view' ? s.view('new', 'P', { labels }) : s.prepare('new', 'P', { labels }));
          break;
        }
        case 'resize':
          expect((await s.stat('g')).labels[MAX_SIZE_LABEL]).toBe(String(GROWN_SIZE));
          // The kernel's table has the new length.
          expect((await dm.table((await s.mounts('g'))[0]?.source.replace('/dev/mapper/', '') ?? ''))[0]?.length).toBe(GROWN_SIZE / 512);
          break;
        case 'commit':
          expect(present.includes('a') !== present.includes('A')).toBe(true);
          if (present.includes('A')) expect(await s.usage('A')).toEqual({ size: OWN_DATA, inodes: 0 });
          else await s.commit('A', 'a');
          break;
        case 'remove':
          if (present.includes('victim')) await s.remove('victim');
          await s.cleanup();
          break;
        case 'cleanup':
          expect(present.includes('victim')).toBe(false);
          await s.cleanup();
          break;
      }
      if (op === 'remove' || op === 'cleanup') expect(await names(s)).not.toContain('victim');
      // It keeps working: a new snapshot on the committed parent, committed and removed.
      await prepareWithData(s, 'probe');
      await s.commit('Probe', 'probe');
      expect(await s.usage('Probe')).toEqual({ size: OWN_DATA, inodes: 0 });
      await s.remove('Probe');
      await s.cleanup();
    } finally {
      await s.close();
    }
    const after = await reopenAndCheck(options);
    expect(after.report).toMatchObject({ rolledBack: [], rolledForward: [], reactivated: [], deactivated: [], deferred: [], failed: [], foreign: [], lost: [] });
    expect(problems(after.consistency)).toEqual(CLEAN);
    const t = tally.get(point);
    if (t) tally.set(point, { leaked: t.leaked + after.consistency.leakedIds.length, dangling: t.dangling + after.consistency.danglingRecords.length });
  }
});

describe('reboot: every dm device and loop device torn down under a live metastore', () => {
  async function reboot(): Promise<void> {
    await pool.deactivate();
    for (const f of ['data', 'metadata']) for (const l of await LoopDevice.find(path.join(poolDir, f))) await l.detach();
    expect((await dm.list()).filter((d) => d.name.startsWith(prefix))).toEqual([]);
    pool = await createLoopbackPool({ directory: poolDir, name: poolName, minFreeSpacePercent: 0 });
  }

  test('after a clean stop: active snapshots and views come back with their data', async () => {
    await standingState(undefined, COMMON);
    await reboot();
    const { report, consistency } = await reopenAndCheck(COMMON);
    expect(report.reactivated.sort()).toEqual(['a', 'v', 'victim']);
    expect(report.failed).toEqual([]);
    expect(problems(consistency)).toEqual(CLEAN);
    const s = await openSnapshotter(COMMON);
    try {
      expect(await s.usage('a')).toEqual({ size: OWN_DATA, inodes: 0 });
      await s.commit('A', 'a');
      expect(await s.usage('A')).toEqual({ size: OWN_DATA, inodes: 0 });
    } finally {
      await s.close();
    }
    expect(problems(await checkConsistency(rootPath, pool))).toEqual(CLEAN);
  });

  test.each(['prepare:after-activate', 'remove:after-record'] as const)('after a SIGKILL at %s: the interrupted operation is repaired on the rebooted pool', async (point) => {
    const options = optionsFor(point, 0);
    await standingState(point, options);
    const result = await runChild(child.script, [JSON.stringify({ rootPath, poolName, options, op: operationOf(point) })], { [CRASH_POINT_ENV]: point });
    expect(result.signal).toBe('SIGKILL');
    await reboot();
    const { report, consistency } = await reopenAndCheck(options);
    expect(report.failed).toEqual([]);
    if (point === 'prepare:after-activate') expect(report.rolledBack).toHaveLength(1);
    else expect(report.rolledForward).toHaveLength(1);
    expect(problems(consistency)).toEqual(CLEAN);
    tally.set(`reboot+${point}`, { leaked: consistency.leakedIds.length, dangling: consistency.danglingRecords.length + consistency.missingDevices.length });
    const s = await openSnapshotter(options);
    try {
      await s.prepare('probe', 'P');
      await s.remove('probe');
    } finally {
      await s.close();
    }
    expect(problems(await checkConsistency(rootPath, pool))).toEqual(CLEAN);
  });

  test('prints the figures', async () => {
    const points = CRASH_POINTS.filter((p) => tally.has(p));
    const operations = new Set(points.map((p) => operationOf(p)));
    let leaked = 0;
    let dangling = 0;
    for (const t of tally.values()) {
      leaked += t.leaked;
      dangling += t.dangling;
    }
    await reportFigure(
      'crash-points',
      `${points.length} crash points × ${operations.size} operations (${[...operations].join(', ')}), plus ${tally.size - points.length} crash+reboot runs and 1 clean reboot: ${leaked} leaked ids, ${dangling} dangling records`,
    );
    expect(points).toEqual([...CRASH_POINTS]);
    expect(leaked).toBe(0);
    expect(dangling).toBe(0);
  });
});
