/**
 * Model-based concurrency test: sequences of steps, each a batch of client
 * calls run at once (prepare, view, commit, remove, cleanup, update, stat,
 * walk, usage, mounts, writes to active snapshots, holders opening and
 * closing devices), or a crash at a chosen crash point, or a reopen (with or
 * without asyncRemove, after a reboot or not), against SimulatedThinPool
 * with random latency in every call so that the calls interleave
 * differently in every run; some steps run with a failing metastore write
 * or a failing pool call (EPERM, EINVAL, ENOMEM). After every step the invariants of
 * invariants.ts hold; at the end of a sequence, after holders let go, a
 * reopen and cleanup(), nothing is leaked. A failure shrinks to a minimal sequence.
 *
 * DEVMAPPER_MODEL_RUNS sets how many sequences run (default 2000).
 */
import { rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, expect, test } from 'vitest';
import { isDeviceMapperError } from '../../../src/dm/errors.js';
import { Snapshotter, isSnapshotterError } from '../../../src/snapshotter/index.js';
import {
  InjectedWriteError,
  SimulatedCrash,
  inspectStore,
  setCrashPointHandler,
  setMetastoreWriteFault,
  type CrashPointName,
} from '../../../src/snapshotter/testing.js';
import { SimulatedThinPool } from '../../../src/thin/simulated.js';
import { failNthCall, type SimulatedCall, type SimulatedOperation } from '../../../src/thin/simulated/faults.js';
import { checkInvariants, checkNoLeak, type CommittedData } from './invariants.js';

const RUNS = Number(process.env.DEVMAPPER_MODEL_RUNS ?? 2000);
const ACTIVE_KEYS = ['a0', 'a1', 'a2', 'a3'] as const;
const NAMES = ['C0', 'C1', 'C2'] as const;
const ANY_KEY = [...ACTIVE_KEYS, ...NAMES];
const EXPECTED_CODES = new Set(['NOT_FOUND', 'ALREADY_EXISTS', 'FAILED_PRECONDITION', 'INVALID_ARGUMENT']);

type Op =
  | { t: 'prepare' | 'view'; key: string; parent: string | undefined }
  | { t: 'commit'; name: string; key: string }
  | { t: 'remove' | 'stat' | 'usage' | 'mounts' | 'write' | 'hold'; key: string }
  | { t: 'update'; key: string; value: string }
  | { t: 'cleanup' | 'walk' | 'release' };

interface Real {
  s: Snapshotter;
  pool: SimulatedThinPool;
  rootPath: string;
  asyncRemove: boolean;
  committed: CommittedData;
  /** Device names held open, one entry per holder. */
  held: string[];
  offset: number;
  /** The pool fault armed for the current step, if any. */
  poolFault: ((call: SimulatedCall) => string | undefined) | undefined;
}

const counts = { sequences: 0, steps: 0, calls: 0, crashes: 0, poolFaults: 0, writeFaults: 0 };

function nameOf(source: string | undefined): string {
  return (source ?? '').replace('/dev/mapper/', '');
}

async function open(r: Pick<Real, 'rootPath' | 'pool' | 'asyncRemove'>): Promise<Snapshotter> {
  return Snapshotter.open({ rootPath: r.rootPath, pool: r.pool, baseImageSize: '64MB', fsType: 'none', asyncRemove: r.asyncRemove });
}

async function call(r: Real, op: Op): Promise<void> {
  const { s, pool } = r;
  switch (op.t) {
    case 'prepare':
      await s.prepare(op.key, op.parent, { labels: { step: String(counts.steps) } });
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
      await s.update({ name: op.key, labels: { note: op.value } }, 'labels.note');
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
    case 'write': {
      const [mount] = await s.mounts(op.key);
      if ((mount?.options ?? []).includes('ro')) return;
      r.offset = (r.offset + 3 * 65536) % (60 * 1024 * 1024);
      // The device may be suspended by a commit running now: the writer would wait; here it just gives up.
      try {
        pool.simulateWriteToPath(mount?.source ?? '', r.offset, 65536);
      } catch (e) {
        if (!isDeviceMapperError(e)) throw e;
      }
      return;
    }
    case 'hold': {
      const [mount] = await s.mounts(op.key);
      const name = nameOf(mount?.source);
      pool.simulateOpen(name);
      r.held.push(name);
      return;
    }
    case 'release': {
      const name = r.held.pop();
      if (name !== undefined) pool.simulateClose(name);
      return;
    }
  }
}

// Whether `e` (or its cause, or one of an AggregateError's errors) is an injected fault.
function injected(e: unknown): boolean {
  if (e instanceof AggregateError) return e.errors.length > 0 && e.errors.every(injected);
  if (e instanceof InjectedWriteError) return true;
  if (isDeviceMapperError(e) && e.message.includes('injected fault')) return true;
  return e instanceof Error && e.cause !== undefined && injected(e.cause);
}

/**
 * Runs the ops at once. Errors other than the snapshotter's expected
 * refusals fail the step, except, while faults are injected, errors caused
 * by them; remove must answer a device fault with a snapshotter error, never a raw one.
 */
async function runBatch(r: Real, ops: readonly Op[], crashing: () => boolean, faulty = false): Promise<void> {
  const results = await Promise.allSettled(ops.map((op) => call(r, op)));
  counts.calls += ops.length;
  results.forEach((result, i) => {
    if (result.status === 'fulfilled') return;
    const e: unknown = result.reason;
    if (e instanceof SimulatedCrash) return;
    if (crashing() && isSnapshotterError(e, 'UNAVAILABLE')) return;
    if (isSnapshotterError(e) && EXPECTED_CODES.has(e.code)) return;
    if (faulty && injected(e) && !(ops[i]?.t === 'remove' && isDeviceMapperError(e))) return;
    throw new Error(`${JSON.stringify(ops[i])} failed unexpectedly: ${String(e)}`, { cause: e });
  });
}

/** Notes the data of committed snapshots: it must never change while they exist. */
async function noteCommitted(r: Real): Promise<void> {
  const { snapshots } = await inspectStore(r.s);
  const present = new Set<string>();
  for (const [key, record] of snapshots) {
    if (record.kind !== 'committed') continue;
    present.add(key);
    if (r.committed.get(key)?.id !== record.deviceId) r.committed.set(key, { id: record.deviceId, digest: r.pool.contentDigest(record.deviceId) });
  }
  for (const key of [...r.committed.keys()]) if (!present.has(key)) r.committed.delete(key);
}

async function afterStep(r: Real): Promise<void> {
  counts.steps++;
  await checkInvariants(r.s, r.pool, r.committed);
  await noteCommitted(r);
}

class Batch implements fc.AsyncCommand<object, Real> {
  constructor(readonly ops: readonly Op[]) {}
  check(): boolean {
    return true;
  }
  async run(_m: object, r: Real): Promise<void> {
    await runBatch(r, this.ops, () => false);
    await afterStep(r);
  }
  toString(): string {
    return `batch(${this.ops.map((o) => JSON.stringify(o)).join(', ')})`;
  }
}

class Crash implements fc.AsyncCommand<object, Real> {
  point: CrashPointName | undefined;
  constructor(
    /** Crash at the nth crash point the batch reaches. */
    readonly nth: number,
    readonly ops: readonly Op[],
    readonly reboot: boolean,
  ) {}
  check(): boolean {
    return true;
  }
  async run(_m: object, r: Real): Promise<void> {
    // From then on every operation dies at its next crash point, as in a killed process.
    let reached = 0;
    let crashed = false;
    setCrashPointHandler((point) => {
      if (!crashed && ++reached === this.nth) {
        crashed = true;
        this.point = point;
      }
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
    if (this.reboot) {
      r.pool.simulateReboot();
      r.held = [];
    }
    r.s = await open(r);
    await afterStep(r);
  }
  toString(): string {
    return `crash(at point #${this.nth}${this.point ? ` = ${this.point}` : ''}${this.reboot ? ', reboot' : ''}: ${this.ops.map((o) => JSON.stringify(o)).join(', ')})`;
  }
}

const FAULT_OPS = ['activate', 'deactivate', 'createSnapshot', 'deleteThin', 'suspend', 'resume', 'deviceStatus', 'isOpen', 'deferredRemovalPending'] as const;

class Faulty implements fc.AsyncCommand<object, Real> {
  constructor(
    readonly ops: readonly Op[],
    /** Fail the nth metastore write batch of the step, if set. */
    readonly nthWrite: number | undefined,
    /** Fail the nth call of a pool operation with an errno, if set. */
    readonly poolFault: { op: SimulatedOperation; nth: number; code: string } | undefined,
  ) {}
  check(): boolean {
    return true;
  }
  async run(_m: object, r: Real): Promise<void> {
    const nthWrite = this.nthWrite;
    if (nthWrite !== undefined) {
      setMetastoreWriteFault((write) => {
        if (write.count !== nthWrite) return false;
        counts.writeFaults++;
        return true;
      });
    }
    const fault = this.poolFault;
    if (fault) {
      const nth = failNthCall(fault.op, fault.nth, fault.code);
      let base: number | undefined;
      r.poolFault = (c) => {
        // Count from this step on.
        base ??= c.count - 1;
        const code = c.op === fault.op ? nth({ ...c, count: c.count - (base ?? 0) }) : undefined;
        if (code !== undefined) counts.poolFaults++;
        return code;
      };
    }
    try {
      await runBatch(r, this.ops, () => false, true);
    } finally {
      setMetastoreWriteFault(undefined);
      r.poolFault = undefined;
    }
    await afterStep(r);
  }
  toString(): string {
    return `faulty(write #${this.nthWrite ?? '-'}, pool ${JSON.stringify(this.poolFault)}: ${this.ops.map((o) => JSON.stringify(o)).join(', ')})`;
  }
}

class Reopen implements fc.AsyncCommand<object, Real> {
  constructor(
    readonly asyncRemove: boolean,
    readonly reboot: boolean,
  ) {}
  check(): boolean {
    return true;
  }
  async run(_m: object, r: Real): Promise<void> {
    await r.s.close();
    if (this.reboot) {
      r.pool.simulateReboot();
      r.held = [];
    }
    r.asyncRemove = this.asyncRemove;
    r.s = await open(r);
    await afterStep(r);
  }
  toString(): string {
    return `reopen(asyncRemove=${this.asyncRemove}${this.reboot ? ', reboot' : ''})`;
  }
}

const activeKey = fc.constantFrom(...ACTIVE_KEYS);
const anyKey = fc.constantFrom(...ANY_KEY);
const parent = fc.option(fc.constantFrom(...NAMES), { nil: undefined });
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant('prepare' as const), key: activeKey, parent }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('view' as const), key: activeKey, parent }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('commit' as const), name: fc.constantFrom(...NAMES), key: activeKey }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('remove' as const), key: anyKey }) },
  { weight: 2, arbitrary: fc.constant({ t: 'cleanup' as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('update' as const), key: anyKey, value: fc.constantFrom('', 'x', 'y') }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constantFrom('stat' as const, 'usage' as const, 'mounts' as const), key: anyKey }) },
  { weight: 1, arbitrary: fc.constant({ t: 'walk' as const }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('write' as const), key: activeKey }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('hold' as const), key: activeKey }) },
  { weight: 1, arbitrary: fc.constant({ t: 'release' as const }) },
);
const ops = fc.array(op, { minLength: 1, maxLength: 5 });
const faulty = fc
  .tuple(
    ops,
    fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
    fc.option(fc.record({ op: fc.constantFrom(...FAULT_OPS), nth: fc.integer({ min: 1, max: 2 }), code: fc.constantFrom('EPERM', 'EINVAL', 'ENOMEM') }), {
      nil: undefined,
      freq: 5,
    }),
  )
  .map(([o, nthWrite, poolFault]) => new Faulty(o, nthWrite, poolFault));
const commands = fc.commands(
  [
    ops.map((o) => new Batch(o)),
    fc.tuple(fc.integer({ min: 1, max: 8 }), ops, fc.boolean()).map(([nth, o, reboot]) => new Crash(nth, o, reboot)),
    fc.tuple(fc.boolean(), fc.boolean()).map(([a, reboot]) => new Reopen(a, reboot)),
    faulty,
    faulty,
  ],
  { maxCommands: 20, size: '+1' },
);

// LevelDB syncs every batch: on tmpfs when there is one, so the runs are bounded by the code, not the disk.
const scratch = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
const roots: string[] = [];

afterEach(() => {
  setCrashPointHandler(undefined);
  setMetastoreWriteFault(undefined);
});
afterAll(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

test(`model: concurrent clients, crashes and reopens keep every invariant (${RUNS} sequences)`, async () => {
  await fc.assert(
    fc.asyncProperty(commands, fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.boolean(), async (cmds, seed, asyncRemove) => {
      const rootPath = await mkdtemp(path.join(scratch, 'model-'));
      roots.push(rootPath);
      const control: { fault: ((call: SimulatedCall) => string | undefined) | undefined } = { fault: undefined };
      const pool = new SimulatedThinPool({ faults: { latency: { maxMs: 0.99, seed }, fail: (c) => control.fault?.(c) } });
      const real: Real = {
        s: await open({ rootPath, pool, asyncRemove }),
        pool,
        rootPath,
        asyncRemove,
        committed: new Map(),
        held: [],
        offset: 0,
        get poolFault() {
          return control.fault;
        },
        set poolFault(f) {
          control.fault = f;
        },
      };
      try {
        await fc.asyncModelRun(() => ({ model: {}, real }), cmds);
        // Everything let go, a restart, a cleanup: nothing is leaked.
        for (const name of real.held.splice(0)) pool.simulateClose(name);
        await real.s.close();
        real.s = await open(real);
        await real.s.cleanup();
        await checkInvariants(real.s, pool, real.committed);
        await checkNoLeak(real.s, pool);
        counts.sequences++;
      } finally {
        setCrashPointHandler(undefined);
        setMetastoreWriteFault(undefined);
        control.fault = undefined;
        await real.s.close();
        await rm(rootPath, { recursive: true, force: true });
      }
    }),
    { numRuns: RUNS },
  );
  console.log(
    `model-based test: ${counts.sequences} sequences, ${counts.steps} steps, ${counts.calls} client calls, ` +
      `${counts.crashes} crashes, ${counts.writeFaults} failed metastore writes, ${counts.poolFaults} failed pool calls (DEVMAPPER_MODEL_RUNS=${RUNS})`,
  );
  expect(counts.sequences).toBeGreaterThan(0);
  expect(counts.steps).toBeGreaterThan(0);
}, 600_000);
