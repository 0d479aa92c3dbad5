/**
 * Crash safety on the simulated pool, two ways:
 *
 * - SIGKILL: a child process runs an operation with DEVMAPPER_CRASH_POINT
 *   set and really dies there (the point's process.kill path). The pool
 *   persists every change synchronously and LevelDB's log is in the page
 *   cache, so the files left are what a killed process leaves (not what a
 *   power cut leaves: that would also need the kernel's and LevelDB's own
 *   durability, which the VM tests cover with the real pool).
 * - in-process: a handler throws SimulatedCrash at the point; the
 *   snapshotter lets it through without rollback and the instance is
 *   abandoned.
 *
 * Either way, the store is then reopened (reconcile runs) and checked: the
 * pool's thin ids and the device records match one for one, no record is
 * left mid-operation, active snapshots have resumed devices, committed ones
 * none; the interrupted operation either happened entirely or not at all;
 * retrying it works; and everything can be removed down to the base.
 */
import { spawn } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CRASH_POINTS, SimulatedCrash, setCrashPointHandler, type CrashPointName } from '../../../src/snapshotter/crash-points.js';
import { MAX_SIZE_LABEL, Snapshotter, type SnapshotterOptions } from '../../../src/snapshotter/index.js';
import { Metastore } from '../../../src/snapshotter/metastore.js';
import { SimulatedThinPool } from '../../../src/thin/simulated.js';
import { GROWN_SIZE, SETUP_OPTIONS, holdsVictim, scenarioFor, setUp, setupUsesAsyncRemove } from './crash-scenarios.js';
import { temporaryDirectory } from './simulated-env.js';

let workDir: string;
let childScript: string;

beforeAll(async () => {
  workDir = await temporaryDirectory('crash-');
  // Inside the repository so that the bundle's bare imports (level) resolve from node_modules.
  const cacheDir = path.resolve(import.meta.dirname, '../../../node_modules/.cache/devmapper-tests');
  await mkdir(cacheDir, { recursive: true });
  childScript = path.join(cacheDir, `crash-child-${process.pid}.mjs`);
  // Bundle the TypeScript child once; dependencies (level) stay external.
  await build({
    entryPoints: [path.join(import.meta.dirname, 'crash-child.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    outfile: childScript,
    logLevel: 'silent',
  });
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
  await rm(childScript, { force: true });
});

async function prepareState(point: CrashPointName): Promise<{ rootPath: string; poolDir: string }> {
  const dir = path.join(workDir, point.replace(':', '-') + '-' + Math.random().toString(36).slice(2));
  const rootPath = path.join(dir, 'root');
  const poolDir = path.join(dir, 'pool');
  await mkdir(poolDir, { recursive: true });
  const pool = await SimulatedThinPool.open({ directory: poolDir, name: 'crashpool', dataSizeBytes: 512 * 1024 * 1024 });
  const asyncRemove = setupUsesAsyncRemove(point);
  const s = await Snapshotter.open({ rootPath, pool, baseImageSize: '64MB', ...SETUP_OPTIONS, asyncRemove });
  const hold = holdsVictim(point) ? (source: string) => pool.simulateOpen(source.replace('/dev/mapper/', '')) : undefined;
  await setUp(s, (source, offset, bytes) => pool.simulateWriteToPath(source, offset, bytes), asyncRemove, hold);
  await s.close();
  await pool.close();
  return { rootPath, poolDir };
}

function runChild(point: CrashPointName, rootPath: string, poolDir: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [childScript, rootPath, poolDir], {
      cwd: path.resolve(import.meta.dirname, '../../..'),
      env: { ...process.env, DEVMAPPER_CRASH_POINT: point },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, stderr }));
  });
}

/** Checks the invariants after reconcile, retries the operation, and tears everything down. */
async function verifyAfterCrash(point: CrashPointName, rootPath: string, poolDir: string): Promise<void> {
  const scenario = scenarioFor(point);
  const pool = await SimulatedThinPool.open({ directory: poolDir });
  const options = { rootPath, pool, baseImageSize: '64MB', ...scenario.options };
  let s = await Snapshotter.open(options);
  expect(s.reconcileReport.failed).toEqual([]);
  expect(s.reconcileReport.grown).toEqual(point.startsWith('resize:') ? ['a'] : []);
  expect(s.reconcileReport.lost).toEqual([]);
  expect(s.reconcileReport.foreign).toEqual([]);
  s = await checkConsistency(s, pool, options);

  // All or nothing for the interrupted operation.
  const names = await allNames(s);
  switch (point.split(':')[0]) {
    case 'prepare':
    case 'view':
      if (names.includes('new')) expect((await s.stat('new')).kind).toBe(point.startsWith('view') ? 'view' : 'active');
      // A grow point's snapshot is made whole with its size, or not at all.
      if (names.includes('new') && point.endsWith('-grow')) expect((await s.stat('new')).labels[MAX_SIZE_LABEL]).toBe(String(GROWN_SIZE));
      break;
    case 'commit':
      expect(names.includes('a') !== names.includes('A')).toBe(true);
      if (names.includes('A')) expect(await s.usage('A')).toEqual({ size: 512 * 1024, inodes: 0 });
      break;
    case 'remove':
      break;
    case 'resize':
      // Reconcile finished the grow, wherever it stopped.
      expect((await s.stat('a')).labels[MAX_SIZE_LABEL]).toBe(String(GROWN_SIZE));
      break;
  }

  await scenario.retry(s);
  s = await checkConsistency(s, pool, options);

  // The holder lets go (the kernel then finishes a deferred removal); everything goes, down to the base devices.
  for (const held of pool.activeDevices()) for (let i = 0; i < held.openCount; i++) pool.simulateClose(held.name);
  for (const key of ['new', 'fresh', 'a', 'A', 'victim', 'v', 'P']) {
    if ((await allNames(s)).includes(key)) await s.remove(key);
  }
  await s.cleanup();
  expect(await allNames(s)).toEqual([]);
  expect(pool.activeDevices()).toEqual([]);
  await s.close();
  const store = await Metastore.open(rootPath);
  try {
    const devices = await store.devices();
    expect(devices.every((d) => d.role === 'base' && d.state === 'ready')).toBe(true);
    expect((await pool.thinIds()).sort()).toEqual(devices.map((d) => d.id).sort());
  } finally {
    await store.close();
  }
  await pool.close();
}

async function allNames(s: Snapshotter): Promise<string[]> {
  const out: string[] = [];
  for await (const info of s.walk()) out.push(info.name);
  return out.sort();
}

/**
 * Checks the invariants, closing `s` to read the metastore directly, and
 * returns the snapshotter reopened with `options` (whose reconcile must
 * then find nothing to do).
 */
async function checkConsistency(s: Snapshotter, pool: SimulatedThinPool, options: SnapshotterOptions & { rootPath: string }): Promise<Snapshotter> {
  const { rootPath } = options;
  const active = new Map(pool.activeDevices().map((d) => [d.name, d]));
  const expectedActive = new Set<string>();
  for (const name of await allNames(s)) {
    const info = await s.stat(name);
    if (info.kind === 'committed') continue;
    const [m] = await s.mounts(name);
    const device = active.get((m?.source ?? '').replace('/dev/mapper/', ''));
    expect(device, `${name} has an active device`).toBeDefined();
    expect(device?.suspended).toBe(false);
    expectedActive.add(device?.name ?? '');
  }
  // The pool's ids and the device records match one for one, with nothing mid-operation.
  await s.close();
  const store = await Metastore.open(rootPath);
  try {
    const devices = await store.devices();
    // Nothing else is active: committed snapshots and bases are deactivated. (Devices of
    // async-removed snapshots stay as they were until cleanup(), as in containerd.)
    for (const d of devices) if (d.state === 'removed' && active.has(d.name)) expectedActive.add(d.name);
    expect([...active.keys()].sort()).toEqual([...expectedActive].sort());
    expect(devices.filter((d) => d.state !== 'ready' && d.state !== 'removed')).toEqual([]);
    expect((await pool.thinIds()).sort((a, b) => a - b)).toEqual(devices.map((d) => d.id).sort((a, b) => a - b));
    const pooled = await store.pool();
    expect(pooled?.transactionId).toBe(await pool.transactionId());
    for await (const [key, snapshot] of store.snapshots()) {
      const device = await store.device(snapshot.deviceId);
      expect(device, `device of ${key}`).toMatchObject({ state: 'ready', snapshot: key });
    }
  } finally {
    await store.close();
  }
  const reopened = await Snapshotter.open(options);
  expect(reopened.reconcileReport).toMatchObject({ rolledBack: [], rolledForward: [], reactivated: [], deactivated: [], failed: [] });
  return reopened;
}

describe('crash points', () => {
  test('there are at least 20 distinct named points', () => {
    expect(new Set(CRASH_POINTS).size).toBe(CRASH_POINTS.length);
    expect(CRASH_POINTS.length).toBeGreaterThanOrEqual(20);
  });

  test('every point is reached by its scenario (in-process handler records them)', async () => {
    const reached = new Set<string>();
    setCrashPointHandler((p) => void reached.add(p));
    try {
      for (const point of CRASH_POINTS) {
        const { rootPath, poolDir } = await prepareState(point);
        const scenario = scenarioFor(point);
        const pool = await SimulatedThinPool.open({ directory: poolDir });
        const s = await Snapshotter.open({ rootPath, pool, baseImageSize: '64MB', ...scenario.options });
        await scenario.run(s);
        await s.close();
      }
    } finally {
      setCrashPointHandler(undefined);
    }
    expect(CRASH_POINTS.filter((p) => !reached.has(p))).toEqual([]);
  });
});

describe('SIGKILL at each crash point, then reopen', () => {
  // Concurrent: each case has its own directories, and most of the time is the child process.
  test.concurrent.each([...CRASH_POINTS])('%s', async (point) => {
    const { rootPath, poolDir } = await prepareState(point);
    const result = await runChild(point, rootPath, poolDir);
    expect(result.stderr).toBe('');
    expect(result.signal, `the child died at ${point}`).toBe('SIGKILL');
    await verifyAfterCrash(point, rootPath, poolDir);
  });
});

describe('simulated crash (thrown) at each crash point, then reopen', () => {
  test.each([...CRASH_POINTS])('%s', async (point) => {
    const { rootPath, poolDir } = await prepareState(point);
    const scenario = scenarioFor(point);
    const pool = await SimulatedThinPool.open({ directory: poolDir });
    const s = await Snapshotter.open({ rootPath, pool, baseImageSize: '64MB', ...scenario.options });
    setCrashPointHandler((p) => {
      if (p === point) throw new SimulatedCrash(p);
    });
    try {
      await expect(scenario.run(s)).rejects.toBeInstanceOf(SimulatedCrash);
    } finally {
      setCrashPointHandler(undefined);
    }
    // The dead "process": its database handle goes, its memory is dropped; the pool file stays as written.
    await s.close();
    await verifyAfterCrash(point, rootPath, poolDir);
  });
});
