/**
 * Load: 1,000 mixed operations (prepare, view, commit, remove, stat,
 * update, usage, mounts, walk) from 16 concurrent async callers across
 * several committed parents, in 4 rounds on one real pool. After every
 * round the metastore is compared with the pool's device list (thin_dump),
 * no thin id was ever handed to two live snapshots, every failure was a
 * typed SnapshotterError, and the heap (after a forced GC) stays flat
 * across rounds. Formatter 'none' (no mkfs or mounts): the emulated guest
 * could not do 1,000 mkfs runs in a few minutes.
 */
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, expect, test } from 'vitest';
import * as dm from '../../../src/dm/device-mapper.js';
import { Snapshotter, isSnapshotterError, type SnapshotterOptions } from '../../../src/snapshotter/index.js';
import type { ThinPool } from '../../../src/thin/index.js';
import { cleanup, requireDeviceMapper, tempDir, uniquePrefix } from '../support/kernel.js';
import { MiB, checkConsistency, progress, reportFigure, smallPool } from '../support/reliability.js';

const prefix = uniquePrefix('load');
const TOTAL = 1000;
const ROUNDS = 4;
const CALLERS = 16;
const PARENTS = 4;
const OPTIONS = { fsType: 'none', minFreeSpace: 0, baseImageSize: '16MB' } satisfies Partial<SnapshotterOptions>;
let dir: string;
let pool: ThinPool;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** A small deterministic PRNG (mulberry32), so a failing run can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

beforeAll(async () => {
  requireDeviceMapper();
  dir = await tempDir('load');
  pool = await smallPool(path.join(dir, 'pool'), `${prefix}pool`, { dataSizeBytes: 256 * MiB, metadataSizeBytes: 16 * MiB });
});

afterAll(async () => {
  try {
    await pool?.close();
  } finally {
    await cleanup(prefix, dir ? [dir] : []);
  }
  expect((await dm.list()).filter((d) => d.name.startsWith(prefix))).toEqual([]);
});

test(`${TOTAL} mixed operations from ${CALLERS} concurrent callers across ${PARENTS}+ parents: no duplicate ids, no lost records, pool equals metastore, heap flat`, async () => {
  const rootPath = path.join(dir, 'root');
  const random = rng(0x5eed);
  let s = await Snapshotter.open({ ...OPTIONS, rootPath, pool });
  const parents: string[] = [];
  for (let i = 0; i < PARENTS; i++) {
    await s.prepare(`seed-${i}`);
    await s.commit(`P${i}`, `seed-${i}`);
    parents.push(`P${i}`);
  }
  // What the test believes exists; a key is claimed (taken out) while an operation works on it.
  const active = new Set<string>();
  const views = new Set<string>();
  const committed = new Set<string>();
  const liveSources = new Map<string, string>();
  const counts: Record<string, number> = {};
  const failures: Record<string, number> = {};
  const untyped: unknown[] = [];
  const duplicates: string[] = [];
  let issued = 0;
  let keyNo = 0;
  const heap: number[] = [];

  const pick = (set: Set<string>): string | undefined => {
    if (set.size === 0) return undefined;
    const items = [...set];
    const item = items[Math.floor(random() * items.length)];
    if (item !== undefined) set.delete(item);
    return item;
  };
  const anyParent = (): string => {
    const all = [...parents, ...committed];
    return all[Math.floor(random() * all.length)] ?? 'P0';
  };
  const created = (key: string, source: string | undefined): void => {
    const other = [...liveSources].find(([, src]) => src === source);
    if (other) duplicates.push(`${key} got ${source}, live for ${other[0]}`);
    liveSources.set(key, source ?? '');
  };

  async function one(): Promise<void> {
    const r = random();
    let kind: string;
    let run: () => Promise<unknown>;
    let undo: () => void = () => undefined;
    if (r < 0.3) {
      kind = 'prepare';
      const key = `k${keyNo++}`;
      const parent = anyParent();
      run = async () => {
        const [m] = await s.prepare(key, parent, { labels: { round: 'x' } });
        created(key, m?.source);
        active.add(key);
      };
    } else if (r < 0.4) {
      kind = 'view';
      const key = `v${keyNo++}`;
      const parent = anyParent();
      run = async () => {
        const [m] = await s.view(key, parent);
        created(key, m?.source);
        views.add(key);
      };
    } else if (r < 0.55 && active.size > 0) {
      kind = 'commit';
      const key = pick(active) ?? '';
      const name = `c${keyNo++}`;
      run = async () => {
        await s.commit(name, key);
        const src = liveSources.get(key);
        liveSources.delete(key);
        liveSources.set(name, src ?? '');
        committed.add(name);
      };
      undo = () => active.add(key);
    } else if (r < 0.8 && active.size + views.size + committed.size > 0) {
      kind = 'remove';
      const from = [active, views, committed].filter((x) => x.size > 0);
      const set = from[Math.floor(random() * from.length)] ?? active;
      const key = pick(set) ?? '';
      run = async () => {
        await s.remove(key);
        liveSources.delete(key);
      };
      undo = () => set.add(key);
    } else {
      const reads = ['stat', 'update', 'usage', 'mounts', 'walk'] as const;
      kind = reads[Math.floor(random() * reads.length)] ?? 'stat';
      const key = [...active][Math.floor(random() * active.size)] ?? 'P0';
      run = async () => {
        if (kind === 'stat') await s.stat(key);
        else if (kind === 'update') await s.update({ name: key, labels: { touched: String(issued) } }, 'labels.touched');
        else if (kind === 'usage') await s.usage(key);
        else if (kind === 'mounts') {
          if (key !== 'P0') await s.mounts(key);
        } else for await (const _ of s.walk('labels.round==x')) void _;
      };
    }
    issued++;
    try {
      await run();
      counts[kind] = (counts[kind] ?? 0) + 1;
    } catch (e) {
      undo();
      // Expected under concurrency: a committed snapshot that got a child is refused removal, a key that went away.
      if (isSnapshotterError(e)) failures[`${kind}:${e.code}`] = (failures[`${kind}:${e.code}`] ?? 0) + 1;
      else untyped.push(e);
    }
  }

  const perRound = TOTAL / ROUNDS;
  for (let round = 0; round < ROUNDS; round++) {
    let left = perRound;
    await Promise.all(
      Array.from({ length: CALLERS }, async () => {
        while (left > 0) {
          left--;
          await one();
        }
      }),
    );
    await s.close();
    const c = await checkConsistency(rootPath, pool);
    expect({ leaked: c.leakedIds, dangling: c.danglingRecords, unfinished: c.unfinished, missing: c.missingDevices, stray: c.strayActive }).toEqual({
      leaked: [],
      dangling: [],
      unfinished: [],
      missing: [],
      stray: [],
    });
    expect(c.transactionIds[0]).toBe(c.transactionIds[1]);
    // Every snapshot the test believes in is recorded, and nothing else.
    expect(c.snapshots).toBe(parents.length + active.size + views.size + committed.size);
    s = await Snapshotter.open({ ...OPTIONS, rootPath, pool });
    expect(s.reconcileReport).toMatchObject({ rolledBack: [], rolledForward: [], failed: [], foreign: [], lost: [] });
    gc();
    gc();
    heap.push(process.memoryUsage().heapUsed);
    await progress('load', `round ${round + 1}: ${issued} issued, heap ${(heap.at(-1)! / MiB).toFixed(1)} MiB`);
  }
  await s.close();
  const final = await checkConsistency(rootPath, pool);

  expect(issued).toBe(TOTAL);
  expect(untyped).toEqual([]);
  expect(duplicates).toEqual([]);
  // Heap flat: after the first round (warm-up), no round grows it by more than 8 MiB.
  const growth = Math.max(...heap.slice(1)) - (heap[1] ?? 0);
  expect(growth).toBeLessThan(8 * MiB);
  await reportFigure(
    'load',
    `${issued} operations (${Object.entries(counts)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}; refused as expected: ${Object.entries(failures)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || 'none'}) from ${CALLERS} callers over ${ROUNDS} rounds: 0 duplicate ids, 0 lost records, ${final.thinIds} thin ids in the pool = ${final.thinIds} device records, heap after GC per round ${heap.map((h) => (h / MiB).toFixed(1)).join(' / ')} MiB`,
  );
});
