/**
 * Full pools: data space exhausted under both no-space policies
 * (error_if_no_space fails writes with ENOSPC at once; queue mode fails
 * them once dm_thin_pool's no_space_timeout runs out), metadata space
 * exhausted, and the minimum-free-space guard that stops new devices
 * before the pool is full, strictly after the events that warn operators
 * (they fire at the warning margin, twice the guard's minimum). Snapshotter
 * refusals are FailedPreconditionError with the pool's ENOSPC as cause.
 */
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import * as dm from '../../../src/dm/device-mapper.js';
import { isDeviceMapperError } from '../../../src/dm/errors.js';
import { Snapshotter, isSnapshotterError } from '../../../src/snapshotter/index.js';
import { ThinPool } from '../../../src/thin/index.js';
import { cleanup, ddWrite, requireDeviceMapper, tempDir, uniquePrefix } from '../support/kernel.js';
import { MiB, checkConsistency, progress, reportFigure, smallPool, writeDevice } from '../support/reliability.js';

const prefix = uniquePrefix('full');
const dirs: string[] = [];
let n = 0;
const TIMEOUT_PARAM = '/sys/module/dm_thin_pool/parameters/no_space_timeout';

async function pool(options: Parameters<typeof smallPool>[2] = {}): Promise<{ pool: ThinPool; dir: string }> {
  const dir = await tempDir('full');
  dirs.push(dir);
  return { pool: await smallPool(path.join(dir, 'pool'), `${prefix}p${n++}`, options), dir };
}

function code(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string' ? (e as { code: string }).code : undefined;
}

/** A refusal for want of space, as the snapshotter raises it: FailedPreconditionError, the pool's DeviceMapperError (ENOSPC) as cause. */
function expectSpaceRefusal(e: unknown): void {
  expect(isSnapshotterError(e, 'FAILED_PRECONDITION'), `not a FailedPreconditionError: ${String(e)}`).toBe(true);
  expect(isDeviceMapperError((e as Error).cause, 'ENOSPC'), `cause: ${String((e as Error).cause)}`).toBe(true);
}

beforeAll(() => requireDeviceMapper());
afterEach(async () => {
  await cleanup(prefix, dirs.splice(0));
});
afterAll(async () => {
  expect((await dm.list()).filter((d) => d.name.startsWith(prefix))).toEqual([]);
});

/** Fills a snapshot of the pool past its data space; returns the pool's status and the refused prepare's error. */
/** Growing the pool brings it back to rw, a prepare works again, and nothing leaked or dangles. */
async function expectRecovers(p: ThinPool, s: Snapshotter, dir: string): Promise<void> {
  await p.grow(64 * MiB);
  expect((await p.status()).mode).toBe('rw');
  await s.prepare('more');
  await s.close();
  const c = await checkConsistency(path.join(dir, 'root'), p);
  expect([c.leakedIds, c.danglingRecords, c.unfinished]).toEqual([[], [], []]);
}

async function fillAndProbe(p: ThinPool, dir: string): Promise<{ status: Awaited<ReturnType<ThinPool['status']>>; writeError: string; refused: unknown; s: Snapshotter }> {
  const s = await Snapshotter.open({ rootPath: path.join(dir, 'root'), pool: p, baseImageSize: '64MB', fsType: 'none', minFreeSpace: 0 });
  const [m] = await s.prepare('filler');
  const r = await ddWrite(m?.source ?? '', 0, 48, { allowFail: true });
  expect(r.code).not.toBe(0);
  const status = await p.status();
  const refused = await s.prepare('more').catch((e: unknown) => e);
  return { status, writeError: r.stderr.trim().split('\n').find((l) => /error|No space|Input/.test(l)) ?? r.stderr.trim(), refused, s };
}

describe('data space exhausted', () => {
  test('error_if_no_space: writes fail with ENOSPC at once, the event fires, new snapshots are refused typed; growing the pool recovers', async () => {
    const { pool: p, dir } = await pool({ dataSizeBytes: 32 * MiB, noSpacePolicy: 'error' });
    const out = once(p, 'outOfDataSpace');
    const { status, writeError, refused, s } = await fillAndProbe(p, dir);
    expect(writeError).toMatch(/No space left on device/);
    expect(status.mode).toBe('out_of_data_space');
    await out;
    expectSpaceRefusal(refused);
    expect((await s.stat('filler')).kind).toBe('active');
    await expect(s.stat('more')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expectRecovers(p, s, dir);
    await reportFigure('full-pool', `error_if_no_space: write failed "${writeError}", pool ${status.mode}, prepare refused with ${(refused as Error).name} (cause ${code((refused as Error).cause)}); grown, prepare works; 0 leaked ids, 0 dangling records`);
    await p.destroy();
  });

  test('queue_if_no_space with a short no_space_timeout: writes queue, then fail; new snapshots are refused; growing the pool recovers', async () => {
    const saved = (await readFile(TIMEOUT_PARAM, 'utf8')).trim();
    await writeFile(TIMEOUT_PARAM, '3');
    try {
      const { pool: p, dir } = await pool({ dataSizeBytes: 32 * MiB, noSpacePolicy: 'queue' });
      expect((await p.status()).noSpacePolicy).toBe('queue');
      const { status, writeError, refused, s } = await fillAndProbe(p, dir);
      // After the timeout the kernel errors the queued writes and the pool reports out of data space.
      expect(writeError).toMatch(/Input\/output error|No space left on device/);
      expect(status.mode).toBe('out_of_data_space');
      expectSpaceRefusal(refused);
      await expectRecovers(p, s, dir);
      await reportFigure('full-pool', `queue_if_no_space, no_space_timeout=3: queued write failed "${writeError}", pool ${status.mode}, prepare refused with ${(refused as Error).name} (cause ${code((refused as Error).cause)}); grown, prepare works`);
      await p.destroy();
    } finally {
      await writeFile(TIMEOUT_PARAM, saved);
    }
  });

  test('the minimum-free-space guard refuses new snapshots before the pool is full, strictly after the lowWater warning', async () => {
    const { pool: p, dir } = await pool({ dataSizeBytes: 64 * MiB, minFreeSpacePercent: 25 });
    expect(p.warnFreeSpacePercent).toBe(50);
    const events: string[] = [];
    let warnedAtUsed = 0;
    p.on('lowWater', (st) => {
      events.push('lowWater');
      warnedAtUsed ||= st.data.usedBytes;
    });
    p.on('outOfDataSpace', () => events.push('outOfDataSpace'));
    await once(p, 'status');
    const s = await Snapshotter.open({ rootPath: path.join(dir, 'root'), pool: p, baseImageSize: '64MB', fsType: 'none', minFreeSpace: '25%' });
    const [m] = await s.prepare('filler');
    let written = 0;
    let refused: unknown;
    let eventsBeforeRefusal: string[] = [];
    for (let i = 0; i < 16 && refused === undefined; i++) {
      await writeDevice(m?.source ?? '', written, 4 * MiB);
      written += 4 * MiB;
      eventsBeforeRefusal = [...events];
      refused = await s.prepare(`s${i}`).then(() => undefined, (e: unknown) => e);
    }
    const status = await p.status();
    expect(isSnapshotterError(refused, 'FAILED_PRECONDITION'), `refused with ${String(refused)}`).toBe(true);
    expect(status.mode).toBe('rw');
    expect(status.data.availableBytes).toBeGreaterThan(0);
    // The warning came with a status read before the call that was refused, not with the refusal.
    expect(eventsBeforeRefusal).toContain('lowWater');
    expect(warnedAtUsed).toBeGreaterThanOrEqual(status.data.totalBytes / 2);
    expect(warnedAtUsed).toBeLessThan(status.data.usedBytes);
    expect(events).not.toContain('outOfDataSpace');
    await s.close();
    const c = await checkConsistency(path.join(dir, 'root'), p);
    expect([c.leakedIds, c.danglingRecords, c.unfinished]).toEqual([[], [], []]);
    await reportFigure(
      'full-pool',
      `guard (25%): lowWater at ${((100 * warnedAtUsed) / status.data.totalBytes).toFixed(0)}% used (warning margin 50% free); new snapshots refused at ${((100 * status.data.usedBytes) / status.data.totalBytes).toFixed(0)}% used with ${(refused as Error).name}, pool still rw; events seen first: [${eventsBeforeRefusal.join(', ')}]`,
    );
    await p.close();
    await p.destroy();
  });
});

describe('metadata space exhausted', () => {
  test('metadataLow comes strictly before the guard stops new devices; without the guard the kernel refuses with a typed error', async () => {
    // Each new thin id costs at least one metadata block (the root of its mapping tree): 2 MiB is 512 blocks.
    const { pool: p } = await pool({ dataSizeBytes: 256 * MiB, metadataSizeBytes: 2 * MiB, minFreeSpacePercent: 20 });
    expect(p.warnFreeSpacePercent).toBe(40);
    const events: string[] = [];
    let id = 1;
    let warnedAt: { id: number; freePercent: number } | undefined;
    p.on('metadataLow', (st) => {
      events.push('metadataLow');
      warnedAt ??= { id, freePercent: (100 * st.metadata.availableBytes) / st.metadata.totalBytes };
    });
    await once(p, 'status');
    let guardError: unknown;
    let metadataLowFirst = false;
    for (; id < 2000; id++) {
      metadataLowFirst ||= events.includes('metadataLow');
      const e = await p.createThin(id).then(() => undefined, (err: unknown) => err);
      if (e) {
        guardError = e;
        break;
      }
      if (id % 50 === 0) await progress('full-pool', `metadata: ${id} thin ids, ${(await p.status()).metadata.usedBytes} bytes used`);
    }
    expect(isDeviceMapperError(guardError, 'ENOSPC')).toBe(true);
    expect(String((guardError as Error).message)).toMatch(/metadata space is free/);
    const atGuard = await p.status();
    expect(atGuard.mode).toBe('rw');
    const guardedAt = id;
    // Heard at the warning margin (40% free) from the guard's own status reads, calls before the refusal.
    expect(metadataLowFirst).toBe(true);
    expect(warnedAt?.id).toBeLessThan(guardedAt);
    expect(warnedAt?.freePercent).toBeLessThan(40);
    expect(warnedAt?.freePercent).toBeGreaterThan(20);
    await p.close();

    // Without the guard: until the kernel itself says no.
    const raw = await ThinPool.open(p.name, { minFreeSpacePercent: 0 });
    let kernelError: unknown;
    for (; id < 6000; id++) {
      const e = await raw.createThin(id).then(() => undefined, (err: unknown) => err);
      if (e) {
        kernelError = e;
        break;
      }
      if (id % 50 === 0) await progress('full-pool', `metadata (no guard): ${id} thin ids`);
    }
    expect(kernelError, 'the metadata ran out').toBeDefined();
    expect(typeof code(kernelError)).toBe('string');
    const full = await raw.status();
    await reportFigure(
      'full-pool',
      `metadata (2 MiB): metadataLow at thin id ${warnedAt?.id} (${warnedAt?.freePercent.toFixed(1)}% free), then the guard (20%) refused thin id ${guardedAt} with ENOSPC while the pool was rw; without the guard the kernel refused thin id ${id} with ${code(kernelError)}, pool then ${full.mode}${full.needsCheck ? ' (needs_check)' : ''}, metadata ${full.metadata.usedBytes}/${full.metadata.totalBytes} bytes used`,
    );
    await raw.close();
  });
});
