/**
 * A size per snapshot on the simulated pool: the max-size label, inheritance,
 * refusals that change nothing, the default size, resize, formatter
 * minimums, and the free-space guard with mixed sizes. A registered test
 * formatter records its grow calls (the simulated pool has no filesystem).
 */
import { rm } from 'node:fs/promises';
import { afterEach, describe, expect, test } from 'vitest';
import { MAX_SIZE_LABEL, Snapshotter, registerFormatter, xfsFormatter, type Formatter, type Info } from '../../../src/snapshotter/index.js';
import { SimulatedThinPool } from '../../../src/thin/simulated.js';
import { openSimulated, temporaryDirectory } from './simulated-env.js';

const MiB = 1024 * 1024;
const BASE = 64 * MiB;

const grows: Array<{ path: string; sizeBytes: number }> = [];
const growing: Formatter = {
  name: 'size-test-grow',
  mountType: 'size-test',
  defaultOptions: [],
  minimumSizeBytes: 32 * MiB,
  async format() {},
  mountOptions: (readOnly) => (readOnly ? ['ro'] : []),
  async grow(path, sizeBytes) {
    grows.push({ path, sizeBytes });
  },
};
registerFormatter(growing);

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  grows.length = 0;
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function open(...args: Parameters<typeof openSimulated>) {
  const [overrides = {}, poolOptions] = args;
  const opened = await openSimulated({ fsType: growing.name, ...overrides }, poolOptions);
  cleanups.push(async () => {
    await opened.snapshotter.close();
    await rm(opened.rootPath, { recursive: true, force: true });
  });
  return opened;
}

const sized = (bytes: number) => ({ labels: { [MAX_SIZE_LABEL]: String(bytes) } });

function activeSize(pool: SimulatedThinPool, source: string | undefined): number | undefined {
  return pool.activationOf((source ?? '').replace('/dev/mapper/', ''))?.sizeBytes;
}

/** Everything a refused call must leave as it was. */
async function state(s: Snapshotter, pool: SimulatedThinPool): Promise<unknown> {
  const infos: Info[] = [];
  for await (const info of s.walk()) infos.push(info);
  return { infos: infos.sort((a, b) => a.name.localeCompare(b.name)), ids: await pool.thinIds(), active: pool.activeDevices(), grows: [...grows] };
}

describe('the max-size label on prepare and view', () => {
  test('gives the device that size, grows its filesystem once, and shows the size in stat', async () => {
    const { snapshotter: s, pool } = await open();
    const [m] = await s.prepare('big', '', sized(2 * BASE));
    expect(activeSize(pool, m?.source)).toBe(2 * BASE);
    expect(grows).toEqual([{ path: m?.source, sizeBytes: 2 * BASE }]);
    expect((await s.stat('big')).labels).toEqual({ [MAX_SIZE_LABEL]: String(2 * BASE) });
    // Writes past the base size land.
    pool.simulateWriteToPath(m?.source ?? '', BASE + MiB, MiB);
    expect(await s.usage('big')).toEqual({ size: MiB, inodes: 0 });
    // A plain one keeps the base size and no label.
    const [plain] = await s.prepare('plain', '', { labels: { other: 'x' } });
    expect(activeSize(pool, plain?.source)).toBe(BASE);
    expect((await s.stat('plain')).labels).toEqual({ other: 'x' });
    expect(grows).toHaveLength(1);
  });

  test('sizes are rounded up to whole sectors', async () => {
    const { snapshotter: s, pool } = await open();
    const [m] = await s.prepare('odd', '', sized(BASE + 1));
    expect(activeSize(pool, m?.source)).toBe(BASE + 512);
    expect((await s.stat('odd')).labels[MAX_SIZE_LABEL]).toBe(String(BASE + 512));
  });

  test('children inherit the size: a view, a child of the commit, a view of the commit; asking for more grows', async () => {
    const { snapshotter: s, pool } = await open();
    await s.prepare('p', '', sized(10 * BASE));
    await s.commit('P', 'p');
    expect((await s.stat('P')).labels[MAX_SIZE_LABEL]).toBe(String(10 * BASE));
    grows.length = 0;
    const [child] = await s.prepare('child', 'P');
    const [view] = await s.view('view', 'P');
    expect(activeSize(pool, child?.source)).toBe(10 * BASE);
    expect(activeSize(pool, view?.source)).toBe(10 * BASE);
    expect((await s.stat('child')).labels[MAX_SIZE_LABEL]).toBe(String(10 * BASE));
    expect(grows).toEqual([]);
    const [bigger] = await s.view('bigger', 'P', sized(20 * BASE));
    expect(activeSize(pool, bigger?.source)).toBe(20 * BASE);
    expect(grows).toEqual([{ path: bigger?.source, sizeBytes: 20 * BASE }]);
    // The same size as the parent's is accepted and grows nothing.
    await s.prepare('same', 'P', sized(10 * BASE));
    expect(grows).toHaveLength(1);
  });

  test('a size below the parent or the base, or a malformed one, is INVALID_ARGUMENT and changes nothing', async () => {
    const { snapshotter: s, pool } = await open();
    // Before any base exists: a refusal must not make one.
    const empty = await state(s, pool);
    for (const value of [String(BASE - 512), '0', '-1', '1G', '1.5', ' 1', '0x100', '99999999999999999999']) {
      await expect(s.prepare('x', '', { labels: { [MAX_SIZE_LABEL]: value } }), value).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
    expect(await state(s, pool)).toEqual(empty);
    // An empty value is no label (containerd drops empty labels).
    await s.prepare('p0', '', { labels: { [MAX_SIZE_LABEL]: '' } });
    await s.remove('p0');
    await s.prepare('p', '', sized(4 * BASE));
    await s.commit('P', 'p');
    const before = await state(s, pool);
    const below = s.prepare('c', 'P', sized(2 * BASE));
    await expect(below).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(below).rejects.toThrow(/below the parent's size/);
    await expect(s.view('v', 'P', sized(2 * BASE))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await state(s, pool)).toEqual(before);
  });
});

describe('defaultSnapshotSize', () => {
  test('sizes snapshots that ask for none; a label may ask for less, down to the base', async () => {
    const { snapshotter: s, pool } = await open({ defaultSnapshotSize: '256MB' });
    const [m] = await s.prepare('a');
    expect(activeSize(pool, m?.source)).toBe(256 * MiB);
    expect((await s.stat('a')).labels[MAX_SIZE_LABEL]).toBe(String(256 * MiB));
    await s.commit('A', 'a');
    const [child] = await s.prepare('child', 'A');
    expect(activeSize(pool, child?.source)).toBe(256 * MiB);
    const [small] = await s.prepare('small', '', sized(128 * MiB));
    expect(activeSize(pool, small?.source)).toBe(128 * MiB);
    expect(grows.map((g) => g.sizeBytes)).toEqual([256 * MiB, 128 * MiB]);
  });

  test('a default below the formatter minimum or malformed is refused at open', async () => {
    for (const defaultSnapshotSize of ['16MB', 'lots', -1]) {
      const rootPath = await temporaryDirectory();
      cleanups.push(() => rm(rootPath, { recursive: true, force: true }));
      await expect(
        Snapshotter.open({ rootPath, pool: new SimulatedThinPool(), baseImageSize: '64MB', fsType: growing.name, defaultSnapshotSize }),
      ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('defaultSnapshotSize') });
    }
  });
});

describe('formatter minimums', () => {
  test('xfs below 300 MiB is refused at open, naming the filesystem, the minimum and the option', async () => {
    expect(xfsFormatter.minimumSizeBytes).toBe(300 * MiB);
    const rootPath = await temporaryDirectory();
    cleanups.push(() => rm(rootPath, { recursive: true, force: true }));
    const pool = new SimulatedThinPool();
    const opening = Snapshotter.open({ rootPath, pool, baseImageSize: '64MB', fsType: 'xfs' });
    await expect(opening).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(opening).rejects.toThrow(/baseImageSize: 67108864 bytes is below the smallest xfs filesystem, 314572800 bytes \(300 MiB\)/);
    // Nothing was made: the pool is untouched and so is the directory.
    expect(await pool.thinIds()).toEqual([]);
    const s = await Snapshotter.open({ rootPath, pool, baseImageSize: '300MB', fsType: 'xfs' });
    await s.close();
  });

  test('a custom formatter object below its own minimum is refused before it is registered', async () => {
    const rootPath = await temporaryDirectory();
    cleanups.push(() => rm(rootPath, { recursive: true, force: true }));
    const tiny: Formatter = { ...growing, name: 'size-test-unregistered', minimumSizeBytes: 128 * MiB };
    await expect(Snapshotter.open({ rootPath, pool: new SimulatedThinPool(), baseImageSize: '64MB', fsType: tiny })).rejects.toThrow(
      /size-test-unregistered filesystem, 134217728 bytes/,
    );
    const { getFormatter } = await import('../../../src/snapshotter/index.js');
    expect(getFormatter('size-test-unregistered')).toBeUndefined();
  });
});

describe('resize', () => {
  test('grows an active snapshot: device, filesystem, record and label; the same size is a no-op', async () => {
    const { snapshotter: s, pool, rootPath } = await open();
    const [m] = await s.prepare('a');
    pool.simulateWriteToPath(m?.source ?? '', 0, MiB);
    const info = await s.resize('a', '1G');
    expect(info.labels[MAX_SIZE_LABEL]).toBe(String(1024 * MiB));
    expect(activeSize(pool, m?.source)).toBe(1024 * MiB);
    expect(grows).toEqual([{ path: m?.source, sizeBytes: 1024 * MiB }]);
    expect(await s.mounts('a')).toEqual([m]);
    await s.resize('a', 1024 * MiB);
    expect(grows).toHaveLength(1);
    pool.simulateWriteToPath(m?.source ?? '', 900 * MiB, MiB);
    expect(await s.usage('a')).toEqual({ size: 2 * MiB, inodes: 0 });
    // Its commit and the commit's children carry the size.
    await s.commit('A', 'a');
    const [child] = await s.prepare('child', 'A');
    expect(activeSize(pool, child?.source)).toBe(1024 * MiB);
    // The size survives a reopen, with nothing to repair.
    await s.close();
    const again = await Snapshotter.open({ rootPath, pool, baseImageSize: '64MB', fsType: growing.name });
    cleanups.push(() => again.close());
    expect(again.reconcileReport.grown).toEqual([]);
    expect((await again.stat('child')).labels[MAX_SIZE_LABEL]).toBe(String(1024 * MiB));
  });

  test('shrinking, a committed snapshot, a view, a bad size and a missing key are refused and change nothing', async () => {
    const { snapshotter: s, pool } = await open();
    await s.prepare('a', '', sized(2 * BASE));
    await s.prepare('p');
    await s.commit('P', 'p');
    await s.view('v', 'P');
    const before = await state(s, pool);
    await expect(s.resize('a', BASE)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('shrinking') });
    await expect(s.resize('a', 'big')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(s.resize('a', -5)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(s.resize('P', '1G')).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    await expect(s.resize('v', '1G')).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    await expect(s.resize('nope', '1G')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await state(s, pool)).toEqual(before);
  });

  test('a filesystem grow that fails leaves the resize recorded: commit waits, the next resize or open finishes it', async () => {
    let failing = true;
    const flaky: Formatter = {
      ...growing,
      name: 'size-test-flaky',
      async grow(path, sizeBytes) {
        if (failing) throw new Error('grow failed');
        grows.push({ path, sizeBytes });
      },
    };
    registerFormatter(flaky);
    const { snapshotter: s, pool, rootPath } = await open({ fsType: flaky.name });
    const [m] = await s.prepare('a');
    await expect(s.resize('a', 2 * BASE)).rejects.toThrow('grow failed');
    expect((await s.stat('a')).labels).toEqual({});
    await expect(s.commit('A', 'a')).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', message: expect.stringContaining('resize') });
    await s.close();
    failing = false;
    const again = await Snapshotter.open({ rootPath, pool, baseImageSize: '64MB', fsType: flaky.name });
    cleanups.push(() => again.close());
    expect(again.reconcileReport.grown).toEqual(['a']);
    expect(again.reconcileReport.failed).toEqual([]);
    expect(activeSize(pool, m?.source)).toBe(2 * BASE);
    expect(grows).toEqual([{ path: m?.source, sizeBytes: 2 * BASE }]);
    expect((await again.stat('a')).labels[MAX_SIZE_LABEL]).toBe(String(2 * BASE));
    await again.commit('A', 'a');
  });
});

describe('the free-space guard with mixed sizes', () => {
  test('a snapshot larger than the pool is allowed (thin provisioning); only free space below minFreeSpace refuses', async () => {
    const { snapshotter: s, pool } = await open({ minFreeSpace: '50%' }, { dataSizeBytes: 16 * MiB });
    // 64 GiB virtual on a 16 MiB pool.
    const [big] = await s.prepare('big', '', sized(64 * 1024 * MiB));
    expect(activeSize(pool, big?.source)).toBe(64 * 1024 * MiB);
    await s.resize('big', 128 * 1024 * MiB);
    pool.simulateWriteToPath(big?.source ?? '', 100 * 1024 * MiB, 9 * MiB);
    // Usage counts mapped bytes only, whatever the sizes.
    expect(await s.usage('big')).toEqual({ size: 9 * MiB, inodes: 0 });
    const before = await state(s, pool);
    await expect(s.prepare('small')).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    await expect(s.prepare('large', '', sized(2 * BASE))).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    await expect(s.resize('big', 256 * 1024 * MiB)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', message: expect.stringContaining('minFreeSpace') });
    expect(await state(s, pool)).toEqual(before);
  });
});
