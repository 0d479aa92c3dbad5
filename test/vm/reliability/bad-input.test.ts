/**
 * Bad input and hostile neighbours on a real pool. Every bad call gets a
 * typed error and leaves the metastore, the pool's thin ids and the
 * kernel's devices exactly as they were: keys that are empty, too long or
 * hold control characters; bad sizes; labels over the limit; unknown
 * parents; wrong kinds; double commit; calls after close; a metastore
 * locked by another process or corrupted. And ownership: thin ids and
 * devices made by someone else in the same pool are recorded as foreign and
 * never touched, another writer changing the pool stops the snapshotter,
 * and no caller string reaches a kernel message.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as dm from '../../../src/dm/device-mapper.js';
import { isDeviceMapperError } from '../../../src/dm/errors.js';
import { thinRow } from '../../../src/dm/targets/thin.js';
import { bytesToSectors } from '../../../src/dm/units.js';
import { METASTORE_DIRECTORY } from '../../../src/snapshotter/metastore.js';
import { Snapshotter, isSnapshotterError, type SnapshotterErrorCode, type SnapshotterOptions } from '../../../src/snapshotter/index.js';
import type { ThinPool } from '../../../src/thin/index.js';
import { cleanup, requireDeviceMapper, tempDir, uniquePrefix } from '../support/kernel.js';
import { MiB, checkConsistency, repoRoot, reportFigure, smallPool } from '../support/reliability.js';

const prefix = uniquePrefix('badin');
const OPTIONS = { fsType: 'none', minFreeSpace: 0, baseImageSize: '16MB' } satisfies Partial<SnapshotterOptions>;
let dir: string;
let pool: ThinPool;
let rootPath: string;
let s: Snapshotter;
let cases = 0;

interface World {
  snapshots: string[];
  ids: number[];
  devices: string[];
}

async function world(): Promise<World> {
  const snapshots: string[] = [];
  for await (const info of s.walk()) snapshots.push(`${info.name}:${info.kind}:${JSON.stringify(info.labels)}:${info.updated.toISOString()}`);
  return { snapshots: snapshots.sort(), ids: await pool.thinIds(), devices: (await dm.list()).map((d) => d.name).filter((n) => n.startsWith(prefix)).sort() };
}

/** Runs a bad call: it must fail with a SnapshotterError of `code` and change nothing. */
async function refused(code: SnapshotterErrorCode, call: () => Promise<unknown>): Promise<void> {
  const before = await world();
  const e = await call().then(
    () => new Error('the call succeeded'),
    (err: unknown) => err,
  );
  expect(isSnapshotterError(e, code), `expected ${code}, got ${String(e)}`).toBe(true);
  expect(await world()).toEqual(before);
  cases++;
}

beforeAll(async () => {
  requireDeviceMapper();
  dir = await tempDir('badin');
  pool = await smallPool(path.join(dir, 'pool'), `${prefix}pool`);
  rootPath = path.join(dir, 'root');
  s = await Snapshotter.open({ ...OPTIONS, rootPath, pool });
  await s.prepare('p');
  await s.commit('P', 'p');
  await s.prepare('a', 'P');
  await s.view('v', 'P');
});

afterAll(async () => {
  try {
    await s?.close();
    await pool?.close();
  } finally {
    await cleanup(prefix, dir ? [dir] : []);
  }
  expect((await dm.list()).filter((d) => d.name.startsWith(prefix))).toEqual([]);
});

describe('bad arguments', () => {
  const badKeys: Array<[string, unknown]> = [
    ['empty', ''],
    ['4097 bytes', 'k'.repeat(4097)],
    ['a newline', 'a\nb'],
    ['a carriage return', 'a\rb'],
    ['a NUL', 'a\0b'],
    ['an escape', 'a\u001bb'],
    ['DEL', 'a\u007fb'],
    ['a lone surrogate', 'a\ud800b'],
    ['not a string', 42],
  ];
  test.each(badKeys)('a key with %s is refused by every call, nothing changes', async (_what, key) => {
    const k = key as string;
    await refused('INVALID_ARGUMENT', () => s.prepare(k, 'P'));
    await refused('INVALID_ARGUMENT', () => s.view(k, 'P'));
    // An empty parent means "no parent" (containerd's rule), so only non-empty bad keys are bad parents.
    if (k !== '') await refused('INVALID_ARGUMENT', () => s.prepare('fine', k));
    await refused('INVALID_ARGUMENT', () => s.commit(k, 'a'));
    await refused('INVALID_ARGUMENT', () => s.commit('fine', k));
    await refused('INVALID_ARGUMENT', () => s.remove(k));
    await refused('INVALID_ARGUMENT', () => s.stat(k));
    await refused('INVALID_ARGUMENT', () => s.mounts(k));
    await refused('INVALID_ARGUMENT', () => s.usage(k));
    await refused('INVALID_ARGUMENT', () => s.update({ name: k, labels: {} }));
  });

  test('labels over the limit or not strings are refused', async () => {
    await refused('INVALID_ARGUMENT', () => s.prepare('l1', 'P', { labels: { big: 'x'.repeat(4094) } }));
    await refused('INVALID_ARGUMENT', () => s.prepare('l2', 'P', { labels: { '': 'x' } }));
    await refused('INVALID_ARGUMENT', () => s.prepare('l3', 'P', { labels: { n: 5 as unknown as string } }));
    await refused('INVALID_ARGUMENT', () => s.prepare('l4', 'P', { labels: 'x' as unknown as Record<string, string> }));
    await refused('INVALID_ARGUMENT', () => s.commit('L', 'a', { labels: { big: 'x'.repeat(5000) } }));
    await refused('INVALID_ARGUMENT', () => s.update({ name: 'a', labels: { big: 'y'.repeat(5000) } }));
    await refused('INVALID_ARGUMENT', () => s.update({ name: 'a', labels: {} }, 'parent'));
  });

  test('unknown parents, wrong kinds, taken names and double commit are refused', async () => {
    await refused('NOT_FOUND', () => s.prepare('x', 'no-such-parent'));
    await refused('NOT_FOUND', () => s.view('x', 'no-such-parent'));
    await refused('INVALID_ARGUMENT', () => s.prepare('x', 'a')); // parent is active
    await refused('INVALID_ARGUMENT', () => s.prepare('x', 'v')); // parent is a view
    await refused('FAILED_PRECONDITION', () => s.commit('V', 'v')); // a view
    await refused('FAILED_PRECONDITION', () => s.commit('PP', 'P')); // committed
    await refused('FAILED_PRECONDITION', () => s.mounts('P'));
    await refused('FAILED_PRECONDITION', () => s.remove('P')); // has children
    await refused('ALREADY_EXISTS', () => s.prepare('a', 'P'));
    await refused('ALREADY_EXISTS', () => s.view('P', 'P'));
    await refused('ALREADY_EXISTS', () => s.commit('v', 'a')); // name taken
    await refused('NOT_FOUND', () => s.remove('ghost'));
    await refused('NOT_FOUND', () => s.commit('G', 'ghost'));
    await s.prepare('twice', 'P');
    await s.commit('Twice', 'twice');
    await refused('NOT_FOUND', () => s.commit('Twice2', 'twice'));
    await refused('ALREADY_EXISTS', () => s.commit('Twice', 'a'));
    await s.remove('Twice');
  });

  test('bad sizes: zero, negative, malformed and unsafe are refused before anything is made; a size not in whole sectors is rounded up', async () => {
    for (const baseImageSize of [0, -1, '0', '-5MB', '1.5.5G', 'lots', 2 ** 60 * 1024, Number.NaN]) {
      const e = await Snapshotter.open({ ...OPTIONS, baseImageSize, rootPath: path.join(dir, 'never'), pool }).catch((err: unknown) => err);
      expect(isSnapshotterError(e, 'INVALID_ARGUMENT'), `baseImageSize ${String(baseImageSize)}`).toBe(true);
      cases++;
    }
    expect(await readdir(dir)).not.toContain('never');
    // The thin layer refuses bad device sizes too, typed.
    for (const sizeBytes of [0, -512, 1000, 2 ** 70]) {
      expect(() => pool.device({ id: 99999, name: `${prefix}bad`, sizeBytes })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      cases++;
    }
    // 1,000,000 bytes is not whole sectors: rounded up to 1,000,448 (containerd rounds the same way).
    const odd = await Snapshotter.open({ ...OPTIONS, baseImageSize: 1_000_000, rootPath: path.join(dir, 'odd'), pool });
    const [m] = await odd.prepare('odd');
    const table = await dm.table((m?.source ?? '').replace('/dev/mapper/', ''));
    expect(table[0]?.length).toBe(1_000_448 / 512);
    await odd.remove('odd');
    await odd.cleanup();
    await odd.close();
  });
});

describe('a broken or busy metastore', () => {
  test('a metastore held by another process: UnavailableError, and the pool is not touched', async () => {
    await s.close();
    const ids = await pool.thinIds();
    const location = path.join(rootPath, METASTORE_DIRECTORY);
    const holder = spawn(
      process.execPath,
      ['--input-type=module', '-e', "const { Level } = await import('level'); const db = new Level(process.argv[1]); await db.open(); console.log('held'); process.stdin.on('end', async () => { await db.close(); process.exit(0); }); process.stdin.resume();", location],
      { cwd: repoRoot, stdio: ['pipe', 'pipe', 'inherit'] },
    );
    try {
      const [chunk] = (await once(holder.stdout, 'data')) as [Buffer];
      expect(chunk.toString()).toContain('held');
      const e = await Snapshotter.open({ ...OPTIONS, rootPath, pool }).catch((err: unknown) => err);
      expect(isSnapshotterError(e, 'UNAVAILABLE')).toBe(true);
      expect((e as Error).message).toMatch(/in use by another process/);
      expect(await pool.thinIds()).toEqual(ids);
      cases++;
    } finally {
      const exited = once(holder, 'exit');
      holder.stdin.end();
      await exited;
    }
    s = await Snapshotter.open({ ...OPTIONS, rootPath, pool });
    expect((await world()).snapshots.length).toBe(3);
  });

  test('a corrupted metastore: UnavailableError at open, pool and devices untouched', async () => {
    const corruptRoot = path.join(dir, 'corrupt');
    const c = await Snapshotter.open({ ...OPTIONS, rootPath: corruptRoot, pool });
    await c.prepare('c1', 'P').catch(() => undefined); // P belongs to the other store: NotFound, harmless
    await c.close();
    const location = path.join(corruptRoot, METASTORE_DIRECTORY);
    const before = { ids: await pool.thinIds(), devices: (await dm.list()).map((d) => d.name).sort() };
    // CURRENT names the manifest: garbage there makes the database unreadable.
    await writeFile(path.join(location, 'CURRENT'), 'MANIFEST-\u0001garbage\n');
    const e = await Snapshotter.open({ ...OPTIONS, rootPath: corruptRoot, pool }).catch((err: unknown) => err);
    expect(isSnapshotterError(e, 'UNAVAILABLE')).toBe(true);
    expect({ ids: await pool.thinIds(), devices: (await dm.list()).map((d) => d.name).sort() }).toEqual(before);
    cases++;
  });

  test('calls after close are refused with UnavailableError', async () => {
    const other = await Snapshotter.open({ ...OPTIONS, rootPath: path.join(dir, 'closing'), pool });
    await other.close();
    for (const call of [() => other.prepare('x'), () => other.stat('x'), () => other.remove('x'), () => other.cleanup(), () => other.commit('X', 'x')]) {
      const e = await call().catch((err: unknown) => err);
      expect(isSnapshotterError(e, 'UNAVAILABLE')).toBe(true);
      cases++;
    }
  });
});

describe('ownership in a shared pool', () => {
  test('thin ids and devices made by someone else are recorded foreign and never touched; caller strings never reach the kernel', async () => {
    await s.close();
    // Another user of the pool: thin id 900, active under its own name and uuid.
    await pool.createThin(900);
    const foreignName = `${prefix}lvm-like`;
    await dm.create({ name: foreignName, uuid: 'LVM-not-ours-0123456789', table: [thinRow({ poolDevice: pool.deviceNumber, deviceId: 900 }, { length: bytesToSectors(8 * MiB) })] });
    s = await Snapshotter.open({ ...OPTIONS, rootPath, pool });
    expect(s.reconcileReport.foreign).toContain(900);
    // Keys that look like pool messages or device names are just keys.
    for (const key of ['delete 900', 'create_thin 900', '900', `${prefix}lvm-like`, '../../dev/mapper/control', 'a b c']) {
      const [m] = await s.prepare(key, 'P');
      expect(m?.source).toMatch(/-snap-\d+$/);
      expect(m?.source).not.toMatch(/-snap-900$/);
      await s.remove(key);
    }
    await s.cleanup();
    expect(await pool.thinIds()).toContain(900);
    const info = await dm.info(foreignName);
    expect(info?.uuid).toBe('LVM-not-ours-0123456789');
    expect(info?.suspended).toBe(false);
    // The thin layer refuses to change a device whose uuid it did not give.
    await expect(pool.device({ id: 900, name: foreignName, sizeBytes: 8 * MiB }).deactivate()).rejects.toMatchObject({ code: 'EPERM' });
    await s.close();
    const c = await checkConsistency(rootPath, pool);
    expect([c.leakedIds, c.danglingRecords, c.unfinished]).toEqual([[], [], []]);
    await dm.remove(foreignName);
    await pool.deleteThin(900);
    s = await Snapshotter.open({ ...OPTIONS, rootPath, pool });
  });

  test('another writer changing the transaction id stops the snapshotter: UnavailableError, nothing half-made', async () => {
    const tx = await pool.transactionId();
    await pool.setTransactionId(tx, tx + 10);
    const e = await s.prepare('racy', 'P').catch((err: unknown) => err);
    expect(isSnapshotterError(e, 'UNAVAILABLE')).toBe(true);
    const again = await s.prepare('racy2', 'P').catch((err: unknown) => err);
    expect(isSnapshotterError(again, 'UNAVAILABLE')).toBe(true);
    expect(isDeviceMapperError(again)).toBe(false);
    cases += 2;
    await s.close();
    // Reopening adopts the pool's new id; what the failed prepare made is rolled back.
    s = await Snapshotter.open({ ...OPTIONS, rootPath, pool });
    expect(s.reconcileReport.failed).toEqual([]);
    await s.close();
    const c = await checkConsistency(rootPath, pool);
    expect([c.leakedIds, c.danglingRecords, c.unfinished]).toEqual([[], [], []]);
    s = await Snapshotter.open({ ...OPTIONS, rootPath, pool });
    await reportFigure('bad-input', `${cases} bad calls refused with typed errors, each leaving metastore, thin ids and devices unchanged; foreign thin id and device in the shared pool untouched`);
  });
});
