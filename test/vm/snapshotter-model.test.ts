/**
 * The model-based concurrency test on the real kernel: a loopback thin pool,
 * ext4 on every snapshot. Steps are batches of client calls run at once
 * (prepare, view, commit, remove, cleanup, update, stat, walk, usage,
 * mounts, holders opening and closing devices), writes of files through a
 * real mount, crashes at the nth crash point reached, and reopens (with or
 * without asyncRemove). After every step: every snapshot has its thin id in
 * the pool's metadata under the id its record names, no id is shared, every
 * active snapshot's and view's device is active (no removal pending) at its
 * mount source. At the end of a sequence every snapshot is mounted and its
 * files compared with what was written (committed ones through a view), then
 * everything is removed and nothing may be leaked.
 *
 * Bounded in time (DEVMAPPER_MODEL_VM_SECONDS, default 150 s of sequences);
 * DEVMAPPER_MODEL_VM_RUNS caps the sequences (default 400).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, test } from 'vitest';
import * as dm from '../../src/dm/device-mapper.js';
import { deviceName } from '../../src/snapshotter/core.js';
import { Snapshotter, isSnapshotterError, type Mount } from '../../src/snapshotter/index.js';
import { SimulatedCrash, inspectStore, setCrashPointHandler } from '../../src/snapshotter/testing.js';
import { createLoopbackPool, type ThinPool } from '../../src/thin/index.js';
import { holdByOpening, mountWithCommand, withMounted } from '../conformance/real-devices.js';
import { cleanup, requireDeviceMapper, tempDir, uniquePrefix } from './support/kernel.js';

const MiB = 1024 * 1024;
const SECONDS = Number(process.env.DEVMAPPER_MODEL_VM_SECONDS ?? 150);
const RUNS = Number(process.env.DEVMAPPER_MODEL_VM_RUNS ?? 400);
const ACTIVE_KEYS = ['a0', 'a1', 'a2'] as const;
const NAMES = ['C0', 'C1'] as const;
const EXPECTED_CODES = new Set(['NOT_FOUND', 'ALREADY_EXISTS', 'FAILED_PRECONDITION', 'INVALID_ARGUMENT']);
const prefix = uniquePrefix('model');

type Op =
  | { t: 'prepare' | 'view'; key: string; parent: string | undefined }
  | { t: 'commit'; name: string; key: string }
  | { t: 'remove' | 'stat' | 'usage' | 'mounts' | 'hold'; key: string }
  | { t: 'update'; key: string }
  | { t: 'cleanup' | 'walk' | 'release' };

interface Real {
  s: Snapshotter;
  asyncRemove: boolean;
  /** Files (name → sha256) each thin id holds, as written. */
  files: Map<number, Map<string, string>>;
  /** Closers of held devices. */
  held: Array<() => Promise<void>>;
}

const counts = { sequences: 0, steps: 0, calls: 0, crashes: 0, writes: 0, verified: 0 };
let dir: string;
let pool: ThinPool;

async function open(asyncRemove: boolean): Promise<Snapshotter> {
  return Snapshotter.open({ rootPath: path.join(dir, 'meta'), pool, baseImageSize: '64MB', fsType: 'ext4', minFreeSpace: 0, asyncRemove });
}

async function call(r: Real, op: Op): Promise<void> {
  const { s } = r;
  switch (op.t) {
    case 'prepare':
      await s.prepare(op.key, op.parent);
      return;
    case 'view':
      await s.view(op.key, op.parent);
      return;
    case 'commit':
      await s.commit(op.name, op.key);
      return;
    case 'remove':
      await s.remove(op.key);
      return;
    case 'cleanup':
      await s.cleanup();
      return;
    case 'update':
      await s.update({ name: op.key, labels: { step: String(counts.steps) } }, 'labels.step');
      return;
    case 'stat':
      await s.stat(op.key);
      return;
    case 'walk':
      for await (const _ of s.walk()) void _;
      return;
    case 'usage':
      await s.usage(op.key);
      return;
    case 'mounts':
      await s.mounts(op.key);
      return;
    case 'hold':
      r.held.push(await holdByOpening(await s.mounts(op.key)));
      return;
    case 'release':
      await r.held.pop()?.();
      return;
  }
}

async function runBatch(r: Real, ops: readonly Op[], crashing: () => boolean): Promise<void> {
  const results = await Promise.allSettled(ops.map((op) => call(r, op)));
  counts.calls += ops.length;
  results.forEach((result, i) => {
    if (result.status === 'fulfilled') return;
    const e: unknown = result.reason;
    if (e instanceof SimulatedCrash) return;
    if (crashing() && isSnapshotterError(e, 'UNAVAILABLE')) return;
    if (isSnapshotterError(e) && EXPECTED_CODES.has(e.code)) return;
    throw new Error(`${JSON.stringify(ops[i])} failed unexpectedly: ${String(e)}`, { cause: e });
  });
}

function broken(message: string): never {
  throw new Error(`invariant broken: ${message}`);
}

/** The invariants after a step; also gives new thin ids the files of their origin. */
async function afterStep(r: Real): Promise<void> {
  counts.steps++;
  const store = await inspectStore(r.s);
  const thinIds = new Set(await pool.thinIds());
  const devices = new Map(store.devices.map((d) => [d.id, d]));
  const records = new Map(store.snapshots);
  const owners = new Map<number, string>();
  for (const [key, record] of store.snapshots) {
    const device = devices.get(record.deviceId);
    if (!device || device.state !== 'ready' || device.snapshot !== key) broken(`snapshot ${key}: device record ${JSON.stringify(device)}`);
    if (!thinIds.has(record.deviceId)) broken(`snapshot ${key}: thin id ${record.deviceId} is not in the pool`);
    const other = owners.get(record.deviceId);
    if (other !== undefined) broken(`snapshots ${other} and ${key} share thin id ${record.deviceId}`);
    owners.set(record.deviceId, key);
    if (record.kind !== 'committed') {
      const name = deviceName(pool.name, record.deviceId);
      const handle = pool.device({ id: record.deviceId, name, sizeBytes: record.sizeBytes });
      if (!(await handle.isActive()) || (await handle.deferredRemovalPending())) broken(`${record.kind} ${key}: device ${name} is not active`);
      const [mount] = await r.s.mounts(key);
      if (mount?.source !== `/dev/mapper/${name}` || !existsSync(mount.source)) broken(`mounts(${key}) gives ${mount?.source}, which does not exist`);
    }
    if (!r.files.has(record.deviceId)) {
      const origin = record.parent === undefined ? undefined : records.get(record.parent)?.deviceId;
      r.files.set(record.deviceId, new Map(origin === undefined ? [] : r.files.get(origin)));
    }
  }
  for (const id of [...r.files.keys()]) if (!owners.has(id)) r.files.delete(id);
  const walked: string[] = [];
  for await (const info of r.s.walk()) walked.push(info.name);
  if (walked.join('\n') !== store.snapshots.map(([k]) => k).join('\n')) broken('walk disagrees with the store');
  for (const id of store.freeIds) if (devices.has(id) || thinIds.has(id)) broken(`free thin id ${id} is in use`);
  for (const id of thinIds) if (!devices.has(id)) broken(`thin id ${id} in the pool has no record`);
  if (store.claimedIds !== 0) broken(`${store.claimedIds} thin id(s) claimed while idle`);
}

async function filesIn(mounts: Mount[]): Promise<Map<string, string>> {
  return withMounted(mountWithCommand, mounts, async (root) => {
    const found = new Map<string, string>();
    for (const name of await readdir(root)) {
      if (name === 'lost+found') continue;
      found.set(name, createHash('sha256').update(await readFile(path.join(root, name))).digest('hex'));
    }
    return found;
  });
}

/** Every snapshot holds exactly the files written to it or its ancestors (committed ones are read through a view). */
async function verifyData(r: Real): Promise<void> {
  const { snapshots } = await inspectStore(r.s);
  for (const [key, record] of snapshots) {
    const expected = r.files.get(record.deviceId) ?? new Map<string, string>();
    let mounts: Mount[];
    const viewKey = `verify-${key}`;
    if (record.kind === 'committed') mounts = await r.s.view(viewKey, key);
    else mounts = await r.s.mounts(key);
    try {
      const found = await filesIn(mounts);
      expect([...found].sort(), `the files of ${key}`).toEqual([...expected].sort());
      counts.verified++;
    } finally {
      if (record.kind === 'committed') await r.s.remove(viewKey);
    }
  }
}

class Batch implements fc.AsyncCommand<object, Real> {
  constructor(readonly ops: readonly Op[]) {}
  check = (): boolean => true;
  async run(_m: object, r: Real): Promise<void> {
    await runBatch(r, this.ops, () => false);
    await afterStep(r);
  }
  toString = (): string => `batch(${this.ops.map((o) => JSON.stringify(o)).join(', ')})`;
}

class Write implements fc.AsyncCommand<object, Real> {
  constructor(readonly key: string) {}
  check = (): boolean => true;
  async run(_m: object, r: Real): Promise<void> {
    const record = (await inspectStore(r.s)).snapshots.find(([k]) => k === this.key)?.[1];
    if (record?.kind === 'active') {
      const data = randomBytes(4096 + Math.floor(Math.random() * 60_000));
      const name = `f-${counts.writes++}`;
      await withMounted(mountWithCommand, await r.s.mounts(this.key), async (root) => {
        await writeFile(path.join(root, name), data, { flush: true });
      });
      r.files.get(record.deviceId)?.set(name, createHash('sha256').update(data).digest('hex'));
    }
    await afterStep(r);
  }
  toString = (): string => `write(${this.key})`;
}

class Crash implements fc.AsyncCommand<object, Real> {
  constructor(
    readonly nth: number,
    readonly ops: readonly Op[],
  ) {}
  check = (): boolean => true;
  async run(_m: object, r: Real): Promise<void> {
    let reached = 0;
    let crashed = false;
    setCrashPointHandler((point) => {
      if (!crashed && ++reached === this.nth) crashed = true;
      if (crashed) throw new SimulatedCrash(point);
    });
    try {
      await runBatch(r, this.ops, () => crashed);
      if (crashed) counts.crashes++;
      crashed = true;
      await r.s.close();
    } finally {
      setCrashPointHandler(undefined);
    }
    r.s = await open(r.asyncRemove);
    await afterStep(r);
  }
  toString = (): string => `crash(#${this.nth}: ${this.ops.map((o) => JSON.stringify(o)).join(', ')})`;
}

class Reopen implements fc.AsyncCommand<object, Real> {
  constructor(readonly asyncRemove: boolean) {}
  check = (): boolean => true;
  async run(_m: object, r: Real): Promise<void> {
    await r.s.close();
    r.asyncRemove = this.asyncRemove;
    r.s = await open(r.asyncRemove);
    await afterStep(r);
  }
  toString = (): string => `reopen(asyncRemove=${this.asyncRemove})`;
}

const activeKey = fc.constantFrom(...ACTIVE_KEYS);
const anyKey = fc.constantFrom(...ACTIVE_KEYS, ...NAMES);
const parent = fc.option(fc.constantFrom(...NAMES), { nil: undefined });
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant('prepare' as const), key: activeKey, parent }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('view' as const), key: activeKey, parent }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('commit' as const), name: fc.constantFrom(...NAMES), key: activeKey }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('remove' as const), key: anyKey }) },
  { weight: 2, arbitrary: fc.constant({ t: 'cleanup' as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('update' as const), key: anyKey }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constantFrom('stat' as const, 'usage' as const, 'mounts' as const), key: anyKey }) },
  { weight: 1, arbitrary: fc.constant({ t: 'walk' as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('hold' as const), key: activeKey }) },
  { weight: 1, arbitrary: fc.constant({ t: 'release' as const }) },
);
const ops = fc.array(op, { minLength: 1, maxLength: 4 });
const commands = fc.commands(
  [
    ops.map((o) => new Batch(o)),
    ops.map((o) => new Batch(o)),
    activeKey.map((k) => new Write(k)),
    fc.tuple(fc.integer({ min: 1, max: 6 }), ops).map(([nth, o]) => new Crash(nth, o)),
    fc.boolean().map((a) => new Reopen(a)),
  ],
  { maxCommands: 10 },
);

/** Removes every snapshot (children first) and deletes every device: only the base is left. */
async function removeAll(r: Real): Promise<void> {
  for (let pass = 0; pass < 8; pass++) {
    const { snapshots } = await inspectStore(r.s);
    if (snapshots.length === 0) break;
    const parents = new Set(snapshots.map(([, rec]) => rec.parent));
    for (const [key] of snapshots) if (!parents.has(key)) await r.s.remove(key);
  }
  await r.s.cleanup();
  const store = await inspectStore(r.s);
  expect(store.snapshots).toEqual([]);
  expect(store.devices.filter((d) => d.role !== 'base' || d.state !== 'ready')).toEqual([]);
  expect((await pool.thinIds()).sort()).toEqual(store.devices.map((d) => d.id).sort());
  const active = (await dm.list()).filter((d) => d.name.startsWith(`${pool.name}-snap-`));
  expect(active).toEqual([]);
}

beforeAll(async () => {
  requireDeviceMapper();
  dir = await tempDir('model');
  pool = await createLoopbackPool({ directory: path.join(dir, 'pool'), name: `${prefix}pool`, dataSizeBytes: 1024 * MiB, metadataSizeBytes: 16 * MiB, minFreeSpacePercent: 0 });
});

afterAll(async () => {
  setCrashPointHandler(undefined);
  try {
    await pool.destroy();
  } finally {
    await cleanup(prefix, [dir]);
  }
  expect((await dm.list()).filter((d) => d.name.startsWith(prefix))).toEqual([]);
});

test('model on the real kernel: concurrent clients, writes through mounts, crashes and reopens keep every invariant', async () => {
  const real: Real = { s: await open(false), asyncRemove: false, files: new Map(), held: [] };
  try {
    await fc.assert(
      fc.asyncProperty(commands, fc.boolean(), async (cmds, asyncRemove) => {
        if (real.asyncRemove !== asyncRemove) {
          await real.s.close();
          real.asyncRemove = asyncRemove;
          real.s = await open(asyncRemove);
        }
        try {
          await fc.asyncModelRun(() => ({ model: {}, real }), cmds);
          await verifyData(real);
          for (const close of real.held.splice(0)) await close();
          await real.s.close();
          real.s = await open(real.asyncRemove);
          await afterStep(real);
          await verifyData(real);
          counts.sequences++;
        } finally {
          setCrashPointHandler(undefined);
          for (const close of real.held.splice(0)) await close();
          // The next sequence starts empty (the base stays).
          if (real.s.closed) real.s = await open(real.asyncRemove);
          await removeAll(real);
          real.files.clear();
        }
      }),
      { numRuns: RUNS, interruptAfterTimeLimit: SECONDS * 1000, markInterruptAsFailure: false },
    );
  } finally {
    await real.s.close();
  }
  console.log(
    `model-based test (kernel): ${counts.sequences} sequences, ${counts.steps} steps, ${counts.calls} client calls, ` +
      `${counts.crashes} crashes, ${counts.writes} files written, ${counts.verified} snapshots' files verified`,
  );
  expect(counts.sequences).toBeGreaterThan(0);
  expect(counts.steps).toBeGreaterThan(0);
}, 900_000);
