import { rm } from 'node:fs/promises';
import { afterEach, describe, expect, test } from 'vitest';
import {
  Snapshotter,
  formatterNames,
  getFormatter,
  optionsFromContainerdConfig,
  registerFormatter,
  type Formatter,
} from '../../../src/snapshotter/index.js';
import { formatterArguments } from '../../../src/snapshotter/formatters/index.js';
import { Metastore } from '../../../src/snapshotter/metastore.js';
import { keys } from '../../../src/snapshotter/records.js';
import { inspectStore, metastoreWriteCount } from '../../../src/snapshotter/testing.js';
import { SimulatedThinPool } from '../../../src/thin/simulated.js';
import { recordingPool } from './recording-pool.js';
import { openSimulated, temporaryDirectory } from './simulated-env.js';

const MiB = 1024 * 1024;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function open(...args: Parameters<typeof openSimulated>) {
  const opened = await openSimulated(...args);
  cleanups.push(async () => {
    await opened.snapshotter.close();
    await rm(opened.rootPath, { recursive: true, force: true });
  });
  return opened;
}

describe('options', () => {
  test('required options and bad values are INVALID_ARGUMENT', async () => {
    const rootPath = await temporaryDirectory();
    cleanups.push(() => rm(rootPath, { recursive: true, force: true }));
    const pool = new SimulatedThinPool();
    const bad = [
      { rootPath, pool, baseImageSize: 'huge' },
      { rootPath, pool, baseImageSize: 0 },
      { rootPath: '', pool, baseImageSize: '1G' },
      { rootPath, pool, baseImageSize: '1G', fsType: 'zfs' },
      { rootPath, pool, baseImageSize: '1G', minFreeSpace: '150%' },
      { rootPath, pool, baseImageSize: '1G', mountOptions: ['a,b'] },
      { rootPath, baseImageSize: '1G' },
      { rootPath, pool, poolName: 'other', baseImageSize: '1G' },
    ];
    for (const options of bad) {
      await expect(Snapshotter.open(options as never), JSON.stringify({ ...options, pool: undefined })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
  });

  test('poolName goes through the resolver hook (the default asks the kernel), and the snapshotter then owns the pool', async () => {
    const rootPath = await temporaryDirectory();
    cleanups.push(() => rm(rootPath, { recursive: true, force: true }));
    const pool = new SimulatedThinPool({ name: 'named' });
    const s = await Snapshotter.open({ rootPath, poolName: 'named', resolvePool: async (n) => (n === 'named' ? pool : Promise.reject(new Error(n))), baseImageSize: '1G', fsType: 'none' });
    expect(s.pool).toBe(pool);
    await s.close();
    await expect(pool.thinIds()).rejects.toMatchObject({ code: 'EBADF' });
  });

  test('containerd config keys map to options', () => {
    expect(
      optionsFromContainerdConfig({
        root_path: '/var/lib/x',
        pool_name: 'devpool',
        base_image_size: '8192MB',
        async_remove: true,
        discard_blocks: true,
        fs_type: 'xfs',
        fs_options: '-m crc=1',
      }),
    ).toEqual({ rootPath: '/var/lib/x', poolName: 'devpool', baseImageSize: '8192MB', asyncRemove: true, discardBlocks: true, fsType: 'xfs', fsOptions: '-m crc=1' });
    expect(() => optionsFromContainerdConfig({ root_path: '/x' })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  test('formatters: registry, mkfs arguments, mount options', () => {
    expect(formatterNames()).toEqual(expect.arrayContaining(['ext4', 'xfs', 'none']));
    const ext4 = getFormatter('ext4') as Formatter;
    expect(formatterArguments(ext4, undefined)).toEqual(['-E', 'nodiscard,lazy_itable_init=0,lazy_journal_init=0']);
    expect(formatterArguments(ext4, '')).toEqual(['-E', 'nodiscard,lazy_itable_init=0,lazy_journal_init=0']);
    expect(formatterArguments(ext4, 'nodiscard,lazy_itable_init=1')).toEqual(['-E', 'nodiscard,lazy_itable_init=1']);
    expect(formatterArguments(ext4, '-O ^has_journal')).toEqual(['-O', '^has_journal']);
    expect(formatterArguments(ext4, ['-b', '4096'])).toEqual(['-b', '4096']);
    expect(ext4.mountOptions(true)).toEqual(['ro']);
    expect(getFormatter('xfs')?.mountOptions(false)).toEqual(['nouuid']);
    expect(getFormatter('xfs')?.mountOptions(true)).toEqual(['nouuid', 'ro']);
    expect(getFormatter('none')?.mountType).toBe('bind');
    const custom: Formatter = { name: 'custom-test', mountType: 'ext2', defaultOptions: [], format: async () => undefined, mountOptions: () => [] };
    registerFormatter(custom);
    registerFormatter(custom);
    expect(() => registerFormatter({ ...custom })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    registerFormatter({ ...custom }, { replace: true });
  });
});

describe('base device', () => {
  test('one base per spec, formatted and prepared once, whatever the number of parentless snapshots', async () => {
    const calls: string[] = [];
    const formatter: Formatter = {
      name: 'counting-test',
      mountType: 'ext4',
      defaultOptions: ['-x'],
      format: async (device, options) => void calls.push(`format ${device} ${options.join(' ')}`),
      prepareBase: async (device) => void calls.push(`prepareBase ${device}`),
      mountOptions: (ro) => (ro ? ['ro'] : []),
    };
    const log: string[] = [];
    const pool = new SimulatedThinPool({ name: 'bp' });
    const { snapshotter: s } = await open({ fsType: formatter, pool: recordingPool(pool, log), mountOptions: ['noatime'] });
    const mounts = await Promise.all(Array.from({ length: 10 }, (_, i) => s.prepare(`k${i}`)));
    expect(calls).toEqual(['format /dev/mapper/bp-snap-1 -x', 'prepareBase /dev/mapper/bp-snap-1']);
    expect(log.filter((l) => l.startsWith('createThin'))).toEqual(['createThin 1']);
    // Each snapshot is made and activated in one pool call.
    const snapshots = log.filter((l) => l.startsWith('snapshotAndActivate'));
    expect(snapshots).toHaveLength(10);
    expect(snapshots.every((l) => l.endsWith(' 1'))).toBe(true);
    expect(mounts[0]?.[0]).toEqual({ type: 'ext4', source: expect.stringMatching(/^\/dev\/mapper\/bp-snap-\d+$/), options: ['noatime'] });
    // The base is not active; the snapshots are.
    expect(pool.activeDevices().map((d) => d.id).sort((a, b) => a - b)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });

  test('a formatter failure rolls back: no thin id, no record, id reused', async () => {
    let fail = true;
    const formatter: Formatter = {
      name: 'flaky-test',
      mountType: 'ext4',
      defaultOptions: [],
      format: async () => {
        if (fail) throw new Error('mkfs failed');
      },
      mountOptions: () => [],
    };
    const { snapshotter: s, pool } = await open({ fsType: formatter });
    await expect(s.prepare('a')).rejects.toThrow('mkfs failed');
    expect(await pool.thinIds()).toEqual([]);
    expect(pool.activeDevices()).toEqual([]);
    fail = false;
    await s.prepare('a');
    expect(await pool.thinIds()).toEqual([1, 2]);
  });

  test('a base of earlier options is retired by cleanup()', async () => {
    const rootPath = await temporaryDirectory();
    const pool = new SimulatedThinPool();
    const first = await Snapshotter.open({ rootPath, pool, baseImageSize: '64MB', fsType: 'none' });
    await first.prepare('a');
    await first.close();
    const second = await Snapshotter.open({ rootPath, pool, baseImageSize: '128MB', fsType: 'none' });
    cleanups.push(async () => {
      await second.close();
      await rm(rootPath, { recursive: true, force: true });
    });
    await second.prepare('b');
    expect(await pool.thinIds()).toEqual([1, 2, 3, 4]);
    await second.cleanup();
    expect(await pool.thinIds()).toEqual([2, 3, 4]);
    expect((await second.stat('a')).kind).toBe('active');
  });
});

describe('commit, remove and cleanup against the pool', () => {
  test('commit reads usage, then deactivates; children snapshot the inactive parent', async () => {
    const log: string[] = [];
    const pool = new SimulatedThinPool({ name: 'cp' });
    const { snapshotter: s } = await open({ pool: recordingPool(pool, log) });
    await s.prepare('a');
    log.length = 0;
    await s.commit('A', 'a');
    // Nobody holds the device open: nothing in flight to flush, no suspend.
    expect(log.filter((l) => l.startsWith('device'))).toEqual(['device 2 isOpen', 'device 2 status', 'device 2 deactivate {"deferred":true}']);
    expect(pool.activeDevices()).toEqual([]);
    await s.prepare('b', 'A');
    expect(log.some((l) => l.startsWith('snapshotAndActivate {"id":3,') && l.endsWith(' 2'))).toBe(true);
  });

  test('commit of a device held open flushes it first (suspend, resume), then deactivates it deferred', async () => {
    const log: string[] = [];
    const pool = new SimulatedThinPool({ name: 'cp' });
    const { snapshotter: s } = await open({ pool: recordingPool(pool, log) });
    const [m] = await s.prepare('a');
    const name = (m?.source ?? '').replace('/dev/mapper/', '');
    pool.simulateOpen(name);
    log.length = 0;
    await s.commit('A', 'a');
    expect(log.filter((l) => l.startsWith('device'))).toEqual([
      'device 2 isOpen',
      'device 2 suspend',
      'device 2 resume',
      'device 2 status',
      'device 2 deactivate {"deferred":true}',
    ]);
    expect((await s.stat('A')).kind).toBe('committed');
    // The kernel removes it when the holder lets go.
    pool.simulateClose(name);
    expect(pool.activeDevices()).toEqual([]);
  });

  test('remove of a device still open resolves with a deferred removal; cleanup() deletes the id once the holder lets go', async () => {
    const log: string[] = [];
    const pool = new SimulatedThinPool();
    const { snapshotter: s, rootPath } = await open({ pool: recordingPool(pool, log) });
    const [m] = await s.prepare('busy');
    const name = (m?.source ?? '').replace('/dev/mapper/', '');
    pool.simulateOpen(name);
    log.length = 0;
    await s.remove('busy');
    expect(log.filter((l) => l.startsWith('device'))).toEqual(['device 2 deactivate {"deferred":false}', 'device 2 deactivate {"deferred":true}']);
    await expect(s.stat('busy')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    // Held: the device stays with its removal pending, and so does the thin id.
    expect(pool.activeDevices()).toMatchObject([{ name, openCount: 1, deferredRemove: true }]);
    expect(await pool.thinIds()).toEqual([1, 2]);
    await s.cleanup();
    expect(await pool.thinIds()).toEqual([1, 2]);
    // The key is free again; the new snapshot gets another id.
    await s.prepare('busy');
    expect(await pool.thinIds()).toEqual([1, 2, 3]);
    pool.simulateClose(name);
    await s.cleanup();
    expect(await pool.thinIds()).toEqual([1, 3]);
    await s.close();
    const store = await Metastore.open(rootPath);
    try {
      expect((await store.devices()).map((d) => [d.id, d.state])).toEqual([
        [1, 'ready'],
        [3, 'ready'],
      ]);
    } finally {
      await store.close();
    }
  });

  test('a reopen leaves a device removed while held to cleanup(), without a failure', async () => {
    const rootPath = await temporaryDirectory();
    cleanups.push(() => rm(rootPath, { recursive: true, force: true }));
    const pool = new SimulatedThinPool();
    const s = await Snapshotter.open({ rootPath, pool, baseImageSize: '64MB', fsType: 'none' });
    const [m] = await s.prepare('busy');
    const name = (m?.source ?? '').replace('/dev/mapper/', '');
    pool.simulateOpen(name);
    await s.remove('busy');
    await s.close();
    const again = await Snapshotter.open({ rootPath, pool, baseImageSize: '64MB', fsType: 'none' });
    cleanups.push(() => again.close());
    expect(again.reconcileReport).toMatchObject({ failed: [], rolledForward: [], deferred: [] });
    expect(await pool.thinIds()).toEqual([1, 2]);
    pool.simulateClose(name);
    await again.cleanup();
    expect(await pool.thinIds()).toEqual([1]);
  });

  test('discardBlocks discards before deleting; the device is deactivated once', async () => {
    const log: string[] = [];
    const pool = new SimulatedThinPool();
    const { snapshotter: s } = await open({ pool: recordingPool(pool, log), discardBlocks: true });
    await s.prepare('a');
    log.length = 0;
    await s.remove('a');
    const steps = log.filter((l) => l.startsWith('device') || l.startsWith('deleteThin'));
    expect(steps).toEqual(['device 2 deactivate {"deferred":false}', 'device 2 discardAll', 'deleteThin 2']);
  });

  test('asyncRemove marks; cleanup() deletes, leaving busy devices to a deferred removal for a later call', async () => {
    const { snapshotter: s, pool } = await open({ asyncRemove: true });
    await s.prepare('a');
    const [m] = await s.prepare('b');
    await s.remove('a');
    await s.remove('b');
    await expect(s.stat('a')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await pool.thinIds()).toEqual([1, 2, 3]);
    const name = (m?.source ?? '').replace('/dev/mapper/', '');
    pool.simulateOpen(name);
    await s.cleanup();
    expect(await pool.thinIds()).toEqual([1, 3]);
    expect(pool.activeDevices()).toMatchObject([{ name, deferredRemove: true }]);
    // Pending: skipped at once, not retried, not a failure.
    await s.cleanup();
    expect(await pool.thinIds()).toEqual([1, 3]);
    pool.simulateClose(name);
    await s.cleanup();
    expect(await pool.thinIds()).toEqual([1]);
    // Released ids are reused.
    await s.prepare('c');
    expect(await pool.thinIds()).toEqual([1, 2]);
  });

  test('minFreeSpace refuses new snapshots when the pool is nearly full', async () => {
    const { snapshotter: s, pool } = await open({ minFreeSpace: '50%' }, { dataSizeBytes: 16 * MiB });
    const [m] = await s.prepare('a');
    pool.simulateWriteToPath(m?.source ?? '', 0, 9 * MiB);
    await expect(s.prepare('b')).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    await s.commit('A', 'a');
    await expect(s.prepare('c', 'A')).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    const { snapshotter: byBytes, pool: pool2 } = await open({ minFreeSpace: '8M' }, { dataSizeBytes: 16 * MiB });
    const [m2] = await byBytes.prepare('x');
    pool2.simulateWriteToPath(m2?.source ?? '', 0, 9 * MiB);
    await expect(byBytes.prepare('y')).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
  });

  test('a full pool surfaces ENOSPC from the pool', async () => {
    const { snapshotter: s, pool } = await open({ minFreeSpace: 0 }, { dataSizeBytes: 1 * MiB });
    const [m] = await s.prepare('a');
    expect(() => pool.simulateWriteToPath(m?.source ?? '', 0, 2 * MiB)).toThrow(expect.objectContaining({ code: 'ENOSPC' }));
  });
});

describe('open and reconcile', () => {
  test('a reopen after a reboot activates active snapshots and views again, not committed ones', async () => {
    const rootPath = await temporaryDirectory();
    cleanups.push(() => rm(rootPath, { recursive: true, force: true }));
    const pool = new SimulatedThinPool();
    const s = await Snapshotter.open({ rootPath, pool, baseImageSize: '64MB', fsType: 'none' });
    await s.prepare('a');
    await s.commit('A', 'a');
    await s.prepare('b', 'A');
    await s.view('v', 'A');
    await s.close();
    pool.simulateReboot();
    const again = await Snapshotter.open({ rootPath, pool, baseImageSize: '64MB', fsType: 'none' });
    cleanups.push(() => again.close());
    expect(again.reconcileReport.reactivated.sort()).toEqual(['b', 'v']);
    expect(pool.activeDevices().map((d) => d.name).sort()).toEqual(['simulated-pool-snap-3', 'simulated-pool-snap-4']);
  });

  test('a metastore of another pool is refused; a pool whose transaction id went back is UNAVAILABLE', async () => {
    const rootPath = await temporaryDirectory();
    cleanups.push(() => rm(rootPath, { recursive: true, force: true }));
    const pool = new SimulatedThinPool({ name: 'one' });
    const s = await Snapshotter.open({ rootPath, pool, baseImageSize: '64MB', fsType: 'none' });
    await s.prepare('a');
    await s.close();
    await expect(Snapshotter.open({ rootPath, pool: new SimulatedThinPool({ name: 'two' }), baseImageSize: '64MB', fsType: 'none' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(Snapshotter.open({ rootPath, pool: new SimulatedThinPool({ name: 'one' }), baseImageSize: '64MB', fsType: 'none' })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  test('a second snapshotter on the same root is UNAVAILABLE', async () => {
    const { rootPath, pool } = await open();
    await expect(Snapshotter.open({ rootPath, pool, baseImageSize: '64MB', fsType: 'none' })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  test('thin ids made by someone else are recorded as foreign and never used', async () => {
    const pool = new SimulatedThinPool();
    await pool.createThin(1);
    await pool.createThin(3);
    const { snapshotter: s } = await open({ pool });
    expect(s.reconcileReport.foreign).toEqual([1, 3]);
    await s.prepare('a');
    await s.prepare('b');
    expect(await pool.thinIds()).toEqual([1, 2, 3, 4, 5]);
    await s.remove('b');
    await s.remove('a');
    expect(await pool.thinIds()).toEqual([1, 2, 3]);
  });

  test('foreign ids are one record: rewritten only when the pool changes, vanished ids freed, new ones recorded', async () => {
    const pool = new SimulatedThinPool();
    for (const id of [1, 2, 3, 10, 11]) await pool.createThin(id);
    const { snapshotter: first, rootPath } = await open({ pool });
    expect(first.reconcileReport.foreign).toEqual([1, 2, 3, 10, 11]);
    await first.prepare('a');
    let store = await inspectStore(first);
    expect(store.foreignIds).toEqual([1, 2, 3, 10, 11]);
    expect(store.devices.map((d) => d.id)).toEqual([4, 5]);
    await first.close();

    // The same pool: the reopen finds nothing new and writes only its pool record.
    const writes = metastoreWriteCount();
    const same = await Snapshotter.open({ rootPath, pool, baseImageSize: '64MB', fsType: 'none' });
    expect(metastoreWriteCount() - writes).toBe(1);
    expect(same.reconcileReport.foreign).toEqual([]);
    await same.close();

    // Another writer deleted 2 and made 12: 2 is freed (and reused), 12 recorded and skipped.
    await pool.deleteThin(2);
    await pool.createThin(12);
    const changed = await Snapshotter.open({ rootPath, pool, baseImageSize: '64MB', fsType: 'none' });
    cleanups.push(() => changed.close());
    expect(changed.reconcileReport.foreign).toEqual([12]);
    store = await inspectStore(changed);
    expect(store.foreignIds).toEqual([1, 3, 10, 11, 12]);
    expect(store.freeIds).toEqual([2]);
    await changed.prepare('b');
    await changed.prepare('c');
    await changed.prepare('d');
    const ids = (await inspectStore(changed)).snapshots.map(([, r]) => r.deviceId).sort((x, y) => x - y);
    expect(ids).toEqual([2, 5, 6, 7]);
    expect(await pool.thinIds()).toEqual([1, 2, 3, 4, 5, 6, 7, 10, 11, 12]);
  });

  test('foreign device records written by older code are folded into the foreign record', async () => {
    const pool = new SimulatedThinPool();
    await pool.createThin(1);
    const { snapshotter: s, rootPath } = await open({ pool });
    await s.close();
    await pool.createThin(7);
    // What an older version leaves: one dev/ record per foreign id, one of them gone from the pool since.
    const store = await Metastore.open(rootPath);
    await store.transaction(async (tx) => {
      tx.del(keys.foreign);
      for (const id of [1, 7, 9]) tx.put(keys.device(id), { id, state: 'foreign', role: 'foreign', name: '', sizeBytes: 0 });
    });
    await store.close();
    const again = await Snapshotter.open({ rootPath, pool, baseImageSize: '64MB', fsType: 'none' });
    cleanups.push(() => again.close());
    expect(again.reconcileReport.foreign).toEqual([]);
    const contents = await inspectStore(again);
    expect(contents.devices).toEqual([]);
    expect(contents.foreignIds).toEqual([1, 7]);
    expect(contents.freeIds).toEqual([9]);
    await again.prepare('a');
    expect((await inspectStore(again)).devices.map((d) => d.id)).toEqual([2, 9]);
  });

  test('another writer changing the transaction id makes the snapshotter UNAVAILABLE', async () => {
    const { snapshotter: s, pool } = await open();
    await s.prepare('a');
    const id = await pool.transactionId();
    await pool.setTransactionId(id, id + 100);
    await expect(s.prepare('b')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await expect(s.stat('a')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });
});
