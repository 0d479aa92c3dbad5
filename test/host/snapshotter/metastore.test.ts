import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { ForeignIds } from '../../../src/snapshotter/foreign-ids.js';
import { allocateThinId, releaseThinId } from '../../../src/snapshotter/id-allocator.js';
import { METASTORE_DIRECTORY, Metastore } from '../../../src/snapshotter/metastore.js';
import { keys, type DeviceRecord } from '../../../src/snapshotter/records.js';
import { temporaryDirectory } from './simulated-env.js';

const dirs: string[] = [];
const stores: Metastore[] = [];

async function openStore(): Promise<{ store: Metastore; dir: string }> {
  const dir = path.join(await temporaryDirectory('metastore-'), 'root');
  dirs.push(path.dirname(dir));
  const store = await Metastore.open(dir);
  stores.push(store);
  return { store, dir };
}

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const device = (id: number, state: DeviceRecord['state'] = 'ready'): DeviceRecord => ({ id, state, role: 'snapshot', name: `p-snap-${id}`, sizeBytes: 512 });

describe('Metastore', () => {
  test('creates its directories 0700 and writes the schema version', async () => {
    const { store, dir } = await openStore();
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(path.join(dir, METASTORE_DIRECTORY))).mode & 0o777).toBe(0o700);
    expect(await store.pool()).toBeUndefined();
  });

  test('a second open of the same directory is refused as UNAVAILABLE', async () => {
    const { dir } = await openStore();
    await expect(Metastore.open(dir)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  test('a transaction that throws writes nothing; one that returns writes everything at once', async () => {
    const { store } = await openStore();
    await expect(
      store.transaction(async (tx) => {
        tx.put(keys.device(1), device(1));
        tx.put(keys.snapshot('a'), { kind: 'active' });
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await store.device(1)).toBeUndefined();
    expect(await store.snapshot('a')).toBeUndefined();
    await store.transaction(async (tx) => {
      tx.put(keys.device(1), device(1));
      expect(await tx.get(keys.device(1))).toEqual(device(1));
      tx.put(keys.child('p', 'a'), true);
      tx.del(keys.device(1));
      expect(await tx.get(keys.device(1))).toBeUndefined();
      tx.put(keys.device(2), device(2));
    });
    expect(await store.device(1)).toBeUndefined();
    expect(await store.device(2)).toEqual(device(2));
    expect(await store.hasChildren('p')).toBe(true);
    expect(await store.hasChildren('q')).toBe(false);
    expect(await store.children('p')).toEqual(['a']);
  });

  test('the children index does not confuse parents that prefix each other', async () => {
    const { store } = await openStore();
    await store.transaction(async (tx) => {
      tx.put(keys.child('ab', 'x'), true);
      tx.put(keys.child('a b', 'y'), true);
    });
    expect(await store.hasChildren('a')).toBe(false);
    expect(await store.children('ab')).toEqual(['x']);
    expect(await store.children('a b')).toEqual(['y']);
  });

  test('records survive a reopen; close is safe twice; a closed store is UNAVAILABLE', async () => {
    const { store, dir } = await openStore();
    await store.transaction(async (tx) => tx.put(keys.device(7), device(7)));
    await store.close();
    await store.close();
    await expect(store.device(7)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    const again = await Metastore.open(dir);
    stores.push(again);
    expect(await again.device(7)).toEqual(device(7));
  });
});

describe('thin id allocator', () => {
  test('hands out 1, 2, 3 ..., reuses the lowest released id first, skips foreign ids', async () => {
    const { store } = await openStore();
    const take = () => store.transaction((tx) => allocateThinId(tx));
    expect([await take(), await take(), await take()]).toEqual([1, 2, 3]);
    await store.transaction(async (tx) => {
      releaseThinId(tx, 3);
      releaseThinId(tx, 2);
    });
    expect(await take()).toBe(2);
    expect(await take()).toBe(3);
    await store.transaction(async (tx) => {
      tx.put(keys.device(4), { ...device(4), state: 'foreign', role: 'foreign' });
      tx.put(keys.device(5), { ...device(5), state: 'foreign', role: 'foreign' });
    });
    expect(await take()).toBe(6);
  });

  test('skips a run of foreign ids in one step, and the foreign record survives a reopen', async () => {
    const { store, dir } = await openStore();
    const take = () => store.transaction((tx) => allocateThinId(tx));
    await store.transaction(async (tx) => tx.put(keys.foreign, ForeignIds.fromSorted([2, 3, 4, 6, ...Array.from({ length: 100_000 }, (_, i) => 8 + i)]).toRecord()));
    expect(store.foreignIds.toRecord()).toEqual([[2, 4], [6, 6], [8, 100_007]]);
    expect([await take(), await take(), await take(), await take()]).toEqual([1, 5, 7, 100_008]);
    await store.close();
    const again = await Metastore.open(dir);
    try {
      expect(again.foreignIds.toRecord()).toEqual([[2, 4], [6, 6], [8, 100_007]]);
    } finally {
      await again.close();
    }
  });

  test('several ids in one transaction are distinct: released ones in order, then new ones', async () => {
    const { store } = await openStore();
    for (let i = 0; i < 10; i++) await store.transaction((tx) => allocateThinId(tx));
    await store.transaction(async (tx) => {
      for (const id of [9, 5, 2]) releaseThinId(tx, id);
    });
    const ids = await store.transaction(async (tx) => {
      const out: number[] = [];
      for (let i = 0; i < 5; i++) out.push(await allocateThinId(tx));
      return out;
    });
    expect(ids).toEqual([2, 5, 9, 11, 12]);
  });

  test('100,000 ids: all distinct, released ones reused, counter continues', async () => {
    const { store } = await openStore();
    const N = 100_000;
    const BATCH = 1000;
    const seen = new Set<number>();
    for (let i = 0; i < N / BATCH; i++) {
      const ids = await store.transaction(async (tx) => {
        const out: number[] = [];
        for (let j = 0; j < BATCH; j++) out.push(await allocateThinId(tx));
        return out;
      });
      for (const id of ids) seen.add(id);
    }
    expect(seen.size).toBe(N);
    expect(Math.min(...seen)).toBe(1);
    expect(Math.max(...seen)).toBe(N);
    // Release every tenth id, then allocate that many again: exactly those come back, lowest first.
    const released = [...seen].filter((id) => id % 10 === 0);
    await store.transaction(async (tx) => {
      for (const id of released) releaseThinId(tx, id);
    });
    const again: number[] = [];
    for (let i = 0; i < released.length / BATCH; i++) {
      again.push(
        ...(await store.transaction(async (tx) => {
          const out: number[] = [];
          for (let j = 0; j < BATCH; j++) out.push(await allocateThinId(tx));
          return out;
        })),
      );
    }
    expect(again).toEqual(released);
    expect(await store.transaction((tx) => allocateThinId(tx))).toBe(N + 1);
  }, 120_000);
});
