/**
 * I/O faults under a live pool: its metadata device on dm-flakey failing
 * every write, or its data device swapped for dm-error. The pool turns
 * read-only or failed, the library raises pool events, refuses new work
 * while the pool is unhealthy with UnavailableError (the pool's
 * DeviceMapperError as cause), and its metastore stays
 * intact; once the fault is gone the operator's procedure (pool down,
 * thin_check, thin_repair when the check fails, clear needs_check, pool up)
 * brings everything back, and reconcile repairs what the failed calls left.
 */
import { once } from 'node:events';
import { truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import * as dm from '../../../src/dm/device-mapper.js';
import { LoopDevice } from '../../../src/dm/loop.js';
import { errorRow } from '../../../src/dm/targets/error.js';
import { flakeyRow } from '../../../src/dm/targets/flakey.js';
import { linearRow } from '../../../src/dm/targets/linear.js';
import { bytesToSectors } from '../../../src/dm/units.js';
import { DeviceMapperError, isDeviceMapperError } from '../../../src/dm/errors.js';
import { Snapshotter, isSnapshotterError, type SnapshotterOptions } from '../../../src/snapshotter/index.js';
import { Metastore } from '../../../src/snapshotter/metastore.js';
import { ThinPool } from '../../../src/thin/index.js';
import { cleanup, requireDeviceMapper, sh, tempDir, uniquePrefix } from '../support/kernel.js';
import { MiB, checkConsistency, reportFigure, writeDevice } from '../support/reliability.js';

const prefix = uniquePrefix('iofault');
const dirs: string[] = [];
let n = 0;
const META = 8 * MiB;
const DATA = 64 * MiB;
const OPTIONS = { fsType: 'none', minFreeSpace: 0, baseImageSize: '32MB' } satisfies Partial<SnapshotterOptions>;

interface Rig {
  dir: string;
  pool: ThinPool;
  poolName: string;
  meta: string;
  data: string;
  metaLoop: string;
  dataLoop: string;
  rootPath: string;
}

async function linear(name: string, device: string, bytes: number): Promise<void> {
  await dm.create({ name, table: [linearRow({ device, offset: bytesToSectors(0) }, { length: bytesToSectors(bytes) })] });
}

async function swapTable(name: string, table: Parameters<typeof dm.load>[0]['table']): Promise<void> {
  await dm.load({ name, table });
  await dm.suspend(name, { noFlush: true });
  await dm.resume(name);
}

/** A pool whose metadata and data devices are dm linear devices over loops, so faults can be swapped in. */
async function rig(): Promise<Rig> {
  const dir = await tempDir('iofault');
  dirs.push(dir);
  const tag = n++;
  const files = { meta: path.join(dir, 'meta.img'), data: path.join(dir, 'data.img') };
  await writeFile(files.meta, '');
  await truncate(files.meta, META);
  await writeFile(files.data, '');
  await truncate(files.data, DATA);
  const metaLoop = (await LoopDevice.attach(files.meta)).path;
  const dataLoop = (await LoopDevice.attach(files.data)).path;
  const meta = `${prefix}meta-${tag}`;
  const data = `${prefix}data-${tag}`;
  await linear(meta, metaLoop, META);
  await linear(data, dataLoop, DATA);
  const poolName = `${prefix}pool-${tag}`;
  const pool = await ThinPool.create({ name: poolName, metadataDevice: dm.devicePath(meta), dataDevice: dm.devicePath(data), minFreeSpacePercent: 0 });
  return { dir, pool, poolName, meta, data, metaLoop, dataLoop, rootPath: path.join(dir, 'root') };
}

/** A snapshotter call refused while the pool is unhealthy: UnavailableError, the pool's DeviceMapperError as cause; returns the cause's errno name. */
function unavailable(e: unknown): string {
  expect(isSnapshotterError(e, 'UNAVAILABLE'), `not an UnavailableError: ${String(e)}`).toBe(true);
  const cause = (e as Error).cause;
  expect(isDeviceMapperError(cause), `cause: ${String(cause)}`).toBe(true);
  return (cause as DeviceMapperError).code;
}

async function names(s: Snapshotter): Promise<string[]> {
  const out: string[] = [];
  for await (const info of s.walk()) out.push(info.name);
  return out.sort();
}

async function snapshotRecords(rootPath: string): Promise<Record<string, { kind: string; deviceState: string | undefined }>> {
  const store = await Metastore.open(rootPath);
  try {
    const out: Record<string, { kind: string; deviceState: string | undefined }> = {};
    for await (const [key, record] of store.snapshots()) out[key] = { kind: record.kind, deviceState: (await store.device(record.deviceId))?.state };
    return out;
  } finally {
    await store.close();
  }
}

beforeAll(() => requireDeviceMapper());
afterEach(async () => {
  await cleanup(prefix, dirs.splice(0));
});
afterAll(async () => {
  expect((await dm.list()).filter((d) => d.name.startsWith(prefix))).toEqual([]);
});

describe('metadata device fails every write (dm-flakey error_writes)', () => {
  test('the pool turns read-only or failed, events fire, new work is refused with typed errors, the metastore stays intact; thin_check/thin_repair bring it back', async () => {
    const r = await rig();
    let s = await Snapshotter.open({ ...OPTIONS, rootPath: r.rootPath, pool: r.pool });
    const [p] = await s.prepare('p');
    await writeDevice(p?.source ?? '', 0, MiB);
    await s.commit('P', 'p');
    await s.prepare('a', 'P');
    const before = await names(s);
    expect(before).toEqual(['P', 'a']);

    const events: string[] = [];
    for (const e of ['readOnly', 'failed', 'needsCheck'] as const) r.pool.on(e, () => events.push(e));
    const unhealthy = Promise.race([once(r.pool, 'readOnly'), once(r.pool, 'failed')]);
    // Let the watcher read the healthy status first.
    await once(r.pool, 'status');

    await swapTable(r.meta, [flakeyRow({ device: r.metaLoop, offset: bytesToSectors(0), upInterval: 0, downInterval: 3600, features: { errorWrites: true } }, { length: bytesToSectors(META) })]);
    const first = await s.prepare('b', 'P').catch((e: unknown) => e);
    const firstCode = unavailable(first);
    await unhealthy;
    const status = await r.pool.status();
    expect(['ro', 'fail']).toContain(status.mode);
    expect(events.some((e) => e === 'readOnly' || e === 'failed')).toBe(true);

    // New work is refused, typed, while the pool is unhealthy; nothing half-made shows.
    const refused: string[] = [firstCode];
    for (const attempt of [() => s.prepare('c', 'P'), () => s.view('w', 'P'), () => s.prepare('d')]) {
      refused.push(unavailable(await attempt().catch((e: unknown) => e)));
    }
    expect(await names(s)).toEqual(before);
    await s.close();
    // The metastore is readable and its snapshots unchanged.
    expect(await snapshotRecords(r.rootPath)).toEqual({ P: { kind: 'committed', deviceState: 'ready' }, a: { kind: 'active', deviceState: 'ready' } });

    // The fault goes; the operator's procedure: pool down, thin_check, thin_repair if needed, clear needs_check, pool up.
    await swapTable(r.meta, [linearRow({ device: r.metaLoop, offset: bytesToSectors(0) }, { length: bytesToSectors(META) })]);
    await r.pool.deactivate();
    const metaPath = dm.devicePath(r.meta);
    const check = await sh('thin_check', [metaPath], { allowFail: true });
    let repaired = false;
    if (check.code !== 0) {
      const repairFile = path.join(r.dir, 'meta-repaired.img');
      await writeFile(repairFile, '');
      await truncate(repairFile, META);
      const repairLoop = await LoopDevice.attach(repairFile);
      await sh('thin_repair', ['-i', metaPath, '-o', repairLoop.path]);
      await swapTable(r.meta, [linearRow({ device: repairLoop.path, offset: bytesToSectors(0) }, { length: bytesToSectors(META) })]);
      repaired = true;
    }
    await sh('thin_check', ['--clear-needs-check-flag', metaPath]);
    const pool = await ThinPool.create({ name: r.poolName, metadataDevice: metaPath, dataDevice: dm.devicePath(r.data), minFreeSpacePercent: 0, fresh: false });
    const healthy = await pool.status();
    expect(healthy.mode).toBe('rw');
    expect(healthy.needsCheck).toBe(false);

    s = await Snapshotter.open({ ...OPTIONS, rootPath: r.rootPath, pool });
    expect(s.reconcileReport.failed).toEqual([]);
    expect(s.reconcileReport.lost).toEqual([]);
    expect(s.reconcileReport.reactivated).toEqual(['a']);
    expect(await names(s)).toEqual(before);
    await s.prepare('after', 'P');
    await s.close();
    const c = await checkConsistency(r.rootPath, pool);
    expect({ leaked: c.leakedIds, dangling: c.danglingRecords, unfinished: c.unfinished, missing: c.missingDevices }).toEqual({ leaked: [], dangling: [], unfinished: [], missing: [] });
    await reportFigure(
      'io-faults',
      `metadata write fault: pool went ${status.mode}${status.needsCheck ? ' (needs_check)' : ''}, events [${[...new Set(events)].join(', ')}], ${refused.length} new operations refused with UnavailableError (causes [${[...new Set(refused)].join(', ')}]), metastore intact; thin_check ${check.code === 0 ? 'passed' : 'failed, thin_repair ran'}${repaired ? '' : ''}; after recovery 0 leaked ids, 0 dangling records`,
    );
    await pool.deactivate();
  });
});

describe('data device swapped for dm-error', () => {
  test('writes fail with EIO, metadata work goes on and stays consistent, and writes succeed once the device is back', async () => {
    const r = await rig();
    const s = await Snapshotter.open({ ...OPTIONS, rootPath: r.rootPath, pool: r.pool });
    const [p] = await s.prepare('p');
    await writeDevice(p?.source ?? '', 0, MiB);
    await s.commit('P', 'p');
    const [a] = await s.prepare('a', 'P');
    await swapTable(r.data, [errorRow({ length: bytesToSectors(DATA) })]);
    const failed = await writeDevice(a?.source ?? '', 4 * MiB, MiB).catch((e: unknown) => e);
    expect((failed as { code?: unknown }).code).toBe('EIO');
    const status = await r.pool.status();
    await swapTable(r.data, [linearRow({ device: r.dataLoop, offset: bytesToSectors(0) }, { length: bytesToSectors(DATA) })]);
    // The store and pool agree; the device works again.
    await s.close();
    const c = await checkConsistency(r.rootPath, r.pool);
    expect({ leaked: c.leakedIds, dangling: c.danglingRecords, unfinished: c.unfinished }).toEqual({ leaked: [], dangling: [], unfinished: [] });
    const s2 = await Snapshotter.open({ ...OPTIONS, rootPath: r.rootPath, pool: r.pool });
    const mode = (await r.pool.status()).mode;
    if (mode === 'rw') {
      await writeDevice(a?.source ?? '', 4 * MiB, MiB);
      await s2.commit('A', 'a');
      expect((await s2.usage('A')).size).toBe(MiB);
    } else {
      // The pool stays unhealthy after a data fault: new work is refused, typed.
      unavailable(await s2.prepare('x', 'P').catch((e: unknown) => e));
    }
    await s2.close();
    await reportFigure('io-faults', `data device on dm-error: writes failed with EIO, pool mode during the fault ${status.mode}, after ${mode}; metastore and pool consistent (0 leaked ids, 0 dangling records)`);
    await r.pool.deactivate();
  });
});
