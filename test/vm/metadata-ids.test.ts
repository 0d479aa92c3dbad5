/**
 * Reading a live pool's thin ids straight from its metadata device (a
 * metadata snapshot, O_DIRECT) against thin_dump on the same snapshot, as
 * the pool changes; and after the device's page cache holds old blocks,
 * which a buffered read would return.
 */
import { execFile } from 'node:child_process';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import * as dm from '../../src/dm/device-mapper.js';
import { PoolMessages } from '../../src/dm/targets/thin-pool.js';
import { readThinIds } from '../../src/thin/metadata-details.js';
import { blockDevicePath, parseThinDumpIds } from '../../src/thin/metadata-ids.js';
import { createLoopbackPool, type ThinPool } from '../../src/thin/index.js';
import { cleanup, requireDeviceMapper, tempDir, uniquePrefix } from './support/kernel.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const prefix = uniquePrefix('mdids');
const dirs: string[] = [];

beforeAll(() => requireDeviceMapper());
afterEach(async () => {
  await cleanup(prefix, dirs.splice(0));
});
afterAll(async () => {
  expect((await dm.list()).filter((d) => d.name.startsWith(prefix))).toEqual([]);
});

async function metadataDeviceOf(pool: ThinPool): Promise<string> {
  const params = (await dm.table(pool.name))[0]!.params.split(' ')[0]!;
  const [major, minor] = params.split(':').map(Number);
  return blockDevicePath(major!, minor!);
}

/** The ids read both ways from one metadata snapshot. */
async function bothWays(pool: ThinPool, metadata: string): Promise<{ direct: number[]; dumped: number[] }> {
  await dm.message(pool.name, PoolMessages.reserveMetadataSnap());
  try {
    const direct = await readThinIds(metadata);
    const { stdout } = await run('thin_dump', ['--metadata-snap', '--skip-mappings', metadata], { maxBuffer: 64 * MiB });
    return { direct, dumped: parseThinDumpIds(stdout) };
  } finally {
    await dm.message(pool.name, PoolMessages.releaseMetadataSnap());
  }
}

test('the direct read of a live pool agrees with thin_dump as ids come and go, page cache or not', async () => {
  const dir = await tempDir('mdids');
  dirs.push(dir);
  const pool = await createLoopbackPool({ directory: path.join(dir, 'pool'), name: `${prefix}pool`, dataSizeBytes: 256 * MiB, metadataSizeBytes: 16 * MiB, minFreeSpacePercent: 0 });
  const metadata = await metadataDeviceOf(pool);
  const expected = new Set<number>();
  const check = async (): Promise<void> => {
    const { direct, dumped } = await bothWays(pool, metadata);
    expect(dumped).toEqual([...expected].sort((a, b) => a - b));
    expect(direct).toEqual(dumped);
    expect(await pool.thinIds()).toEqual(dumped);
  };
  await check();
  // Enough ids for a two-level tree, then snapshots and deletes.
  for (let id = 1; id <= 400; id++) {
    await pool.createThin(id * 7);
    expected.add(id * 7);
  }
  await check();
  // Fill the page cache of the metadata device with what it holds now.
  const buffered = await open(metadata, 'r');
  const whole = Buffer.alloc(16 * MiB);
  await buffered.read(whole, 0, whole.length, 0);
  for (let id = 1; id <= 50; id++) {
    await pool.deleteThin(id * 7);
    expected.delete(id * 7);
    await pool.createSnapshot(10000 + id, 400 * 7);
    expected.add(10000 + id);
  }
  // Whatever the page cache now holds of the old blocks, the direct read sees the pool as it is.
  await check();
  await buffered.close();
  await pool.destroy();
}, 600_000);
