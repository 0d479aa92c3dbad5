/**
 * A failed metastore write at every write of every operation: each
 * operation is run once to count its write batches, then again from the
 * same start once per batch with that batch failing. After each failure the
 * invariants hold at once, and after the holders let go, a reopen and a
 * cleanup() nothing is leaked.
 */
import { rm } from 'node:fs/promises';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { Snapshotter, type SnapshotterOptions } from '../../../src/snapshotter/index.js';
import { inspectStore, metastoreWriteCount, setMetastoreWriteFault } from '../../../src/snapshotter/testing.js';
import { SimulatedThinPool } from '../../../src/thin/simulated.js';
import { checkInvariants, checkNoLeak, type CommittedData } from './invariants.js';
import { temporaryDirectory } from './simulated-env.js';

interface World {
  s: Snapshotter;
  pool: SimulatedThinPool;
  committed: CommittedData;
  /** Device names the scenario holds open (mounted). */
  held: string[];
}

interface Scenario {
  options?: Partial<SnapshotterOptions>;
  setup: (w: World) => Promise<void>;
  run: (w: World) => Promise<unknown>;
}

function nameOf(source: string | undefined): string {
  return (source ?? '').replace('/dev/mapper/', '');
}

async function hold(w: World, key: string): Promise<void> {
  const name = nameOf((await w.s.mounts(key))[0]?.source);
  w.pool.simulateOpen(name);
  w.held.push(name);
}

async function commit(w: World, name: string, key: string): Promise<void> {
  await w.s.commit(name, key);
}

const withParent = async (w: World): Promise<void> => {
  await w.s.prepare('p');
  w.pool.simulateWriteToPath((await w.s.mounts('p'))[0]?.source ?? '', 0, 1 << 20);
  await commit(w, 'P', 'p');
};

const SCENARIOS: Record<string, Scenario> = {
  'prepare (making the base)': { setup: async () => undefined, run: (w) => w.s.prepare('x') },
  'prepare of a child': { setup: withParent, run: (w) => w.s.prepare('x', 'P') },
  view: { setup: withParent, run: (w) => w.s.view('v', 'P') },
  commit: {
    setup: async (w) => {
      await withParent(w);
      await w.s.prepare('a', 'P');
    },
    run: (w) => w.s.commit('A', 'a'),
  },
  'commit of a held snapshot': {
    setup: async (w) => {
      await withParent(w);
      await w.s.prepare('a', 'P');
      await hold(w, 'a');
    },
    run: (w) => w.s.commit('A', 'a'),
  },
  'remove of an active snapshot': {
    setup: async (w) => {
      await withParent(w);
      await w.s.prepare('a', 'P');
    },
    run: (w) => w.s.remove('a'),
  },
  'remove of a held snapshot': {
    setup: async (w) => {
      await withParent(w);
      await w.s.prepare('a', 'P');
      await hold(w, 'a');
    },
    run: (w) => w.s.remove('a'),
  },
  'remove of a committed snapshot': { setup: withParent, run: (w) => w.s.remove('P') },
  'asyncRemove remove': {
    options: { asyncRemove: true },
    setup: async (w) => {
      await withParent(w);
      await w.s.prepare('a', 'P');
    },
    run: (w) => w.s.remove('a'),
  },
  'cleanup of removed devices': {
    options: { asyncRemove: true },
    setup: async (w) => {
      await withParent(w);
      await w.s.prepare('a', 'P');
      await w.s.prepare('b');
      await w.s.remove('a');
      await w.s.remove('b');
    },
    run: (w) => w.s.cleanup(),
  },
  update: {
    setup: withParent,
    run: (w) => w.s.update({ name: 'P', labels: { 'containerd.io/gc.root': 'x' } }, 'labels.containerd.io/gc.root'),
  },
};

let totalRuns = 0;
let totalWrites = 0;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  setMetastoreWriteFault(undefined);
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(() => {
  console.log(`metastore fault injection: ${totalRuns} runs, one per write batch of ${Object.keys(SCENARIOS).length} operations (${totalWrites} batches)`);
});

async function start(scenario: Scenario): Promise<World & { reopen: () => Promise<void> }> {
  const rootPath = await temporaryDirectory();
  const pool = new SimulatedThinPool();
  const options = { rootPath, pool, baseImageSize: '64MB', fsType: 'none', ...scenario.options };
  const world = { s: await Snapshotter.open(options), pool, committed: new Map(), held: [] as string[] };
  cleanups.push(async () => {
    await world.s.close();
    await rm(rootPath, { recursive: true, force: true });
  });
  await scenario.setup(world);
  const reopen = async (): Promise<void> => {
    await world.s.close();
    world.s = await Snapshotter.open(options);
  };
  return Object.assign(world, { reopen });
}

/** Records the data digest of every committed snapshot (nothing may change it later). */
async function recordCommitted(w: World): Promise<void> {
  for (const [key, record] of (await inspectStore(w.s)).snapshots) {
    if (record.kind === 'committed') w.committed.set(key, { id: record.deviceId, digest: w.pool.contentDigest(record.deviceId) });
  }
}

describe('a failed metastore write at every write of every operation', () => {
  test.each(Object.entries(SCENARIOS))('%s', async (_name, scenario) => {
    // Count the operation's write batches.
    const counting = await start(scenario);
    setMetastoreWriteFault(() => false);
    await scenario.run(counting);
    const writes = metastoreWriteCount();
    setMetastoreWriteFault(undefined);
    expect(writes).toBeGreaterThan(0);
    totalWrites += writes;

    for (let nth = 1; nth <= writes; nth++) {
      const w = await start(scenario);
      await recordCommitted(w);
      setMetastoreWriteFault((write) => write.count === nth);
      const outcome = await scenario.run(w).then(
        () => 'resolved',
        (e: unknown) => e,
      );
      setMetastoreWriteFault(undefined);
      if (outcome !== 'resolved') {
        const errors = outcome instanceof AggregateError ? outcome.errors : [outcome];
        for (const e of errors) expect(String(e)).toMatch(/injected metastore write failure/);
      }
      await checkInvariants(w.s, w.pool, w.committed);
      // Everything let go, a restart, a cleanup: nothing is leaked.
      for (const name of w.held.splice(0)) w.pool.simulateClose(name);
      await w.reopen();
      await w.s.cleanup();
      await checkInvariants(w.s, w.pool, w.committed);
      await checkNoLeak(w.s, w.pool);
      totalRuns++;
    }
  });
});
