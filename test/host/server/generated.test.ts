/**
 * The committed gRPC code is what the generator makes from proto/ today:
 * regenerating into a temporary folder gives the same files, byte for byte.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, test } from 'vitest';

const root = path.resolve(import.meta.dirname, '../../..');
const committed = path.join(root, 'src/server/generated');
let fresh: string | undefined;

afterAll(async () => {
  if (fresh) await rm(fresh, { recursive: true, force: true });
});

async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();
}

test('src/server/generated is current (npm run gen:proto)', async () => {
  fresh = await mkdtemp(path.join(tmpdir(), 'dm-gen-'));
  await promisify(execFile)(path.join(root, 'scripts/gen-proto.sh'), [fresh], { cwd: root });
  const names = await files(fresh);
  expect(await files(committed)).toEqual(names);
  for (const name of names) {
    expect(await readFile(path.join(committed, name), 'utf8'), `${name} differs: run npm run gen:proto`).toBe(await readFile(path.join(fresh, name), 'utf8'));
  }
}, 60_000);
