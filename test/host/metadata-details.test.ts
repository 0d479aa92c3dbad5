/**
 * The direct reader of a pool's thin ids against metadata written by
 * thin-provisioning-tools (thin_restore), the format's reference
 * implementation: the same ids as thin_dump, and corrupt blocks refused.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { METADATA_BLOCK_BYTES, readThinIds } from '../../src/thin/metadata-details.js';
import { parseThinDumpIds } from '../../src/thin/metadata-ids.js';

const run = promisify(execFile);
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'metadata-details-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Metadata holding `ids`, written by thin_restore into a 64 MiB file. */
async function metadataWith(ids: readonly number[]): Promise<string> {
  const devices = ids.map((id) => `<device dev_id="${id}" mapped_blocks="0" transaction="0" creation_time="0" snap_time="0"></device>`);
  const xml = path.join(dir, 'in.xml');
  await writeFile(xml, `<superblock uuid="" time="0" transaction="1" flags="0" version="2" data_block_size="128" nr_data_blocks="1024">${devices.join('')}</superblock>`);
  const file = path.join(dir, 'metadata');
  await run('truncate', ['-s', '64M', file]);
  await run('thin_restore', ['-i', xml, '-o', file]);
  return file;
}

const read = (file: string) => readThinIds(file, { metadataSnap: false, direct: false });

describe('readThinIds', () => {
  test.each([
    ['no ids', []],
    ['a few ids', [1, 7, 900, 16777215]],
    ['10,000 ids in a multi-level tree', Array.from({ length: 10000 }, (_, i) => 2000000 + 3 * i)],
  ])('reads the same ids as thin_dump: %s', async (_name, ids) => {
    const file = await metadataWith(ids);
    const dumped = parseThinDumpIds((await run('thin_dump', [file], { maxBuffer: 64 << 20 })).stdout);
    expect(dumped).toEqual(ids);
    expect(await read(file)).toEqual(ids);
  });

  test('refuses a superblock or node that fails its checksum', async () => {
    const file = await metadataWith(Array.from({ length: 500 }, (_, i) => i + 1));
    const handle = await open(file, 'r+');
    try {
      // Flip a byte of every block but the superblock: a tree node is among them.
      const block = Buffer.alloc(METADATA_BLOCK_BYTES);
      for (let b = 1; b < 64; b++) {
        await handle.read(block, 0, METADATA_BLOCK_BYTES, b * METADATA_BLOCK_BYTES);
        block[100] = (block[100] ?? 0) ^ 0xff;
        await handle.write(block, 0, METADATA_BLOCK_BYTES, b * METADATA_BLOCK_BYTES);
      }
    } finally {
      await handle.close();
    }
    await expect(read(file)).rejects.toMatchObject({ code: 'EIO', message: expect.stringMatching(/checksum/) });
  });

  test('refuses a device without a thin-pool superblock, and a missing metadata snapshot', async () => {
    const empty = path.join(dir, 'zeros');
    await run('truncate', ['-s', '1M', empty]);
    await expect(read(empty)).rejects.toMatchObject({ code: 'EIO', message: expect.stringMatching(/not a thin-pool superblock/) });
    const file = await metadataWith([1]);
    await expect(readThinIds(file, { direct: false })).rejects.toMatchObject({ code: 'EIO', message: expect.stringMatching(/no metadata snapshot/) });
  });
});
