/** The test image the containerd VM test imports: a valid tar, a valid OCI layout, digests that match. */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { buildBusyboxImage, tar, type BuiltImage } from '../../fixtures/image/busybox-image.js';
import { tempDir } from './support.js';

const run = promisify(execFile);
let dir: string;
let image: BuiltImage;

beforeAll(async () => {
  dir = await tempDir();
  image = await buildBusyboxImage(path.join(dir, 'image.tar'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const hex = (digest: string) => digest.slice('sha256:'.length);
const sha = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

test('GNU tar reads the archive and the layer, with modes, types and owners', async () => {
  const out = path.join(dir, 'out');
  await mkdir(out);
  await run('tar', ['-xf', image.file, '-C', out]);
  expect((await readdir(path.join(out, 'blobs', 'sha256'))).sort()).toEqual([hex(image.configDigest), hex(image.layerDigest), hex(image.manifestDigest)].sort());
  const listing = (await run('tar', ['-tvf', path.join(out, 'blobs', 'sha256', hex(image.layerDigest))])).stdout.trim().split('\n');
  expect(listing).toEqual([
    expect.stringMatching(/^drwxr-xr-x root\/root +0 .* bin\/$/),
    expect.stringMatching(/^-rwxr-xr-x root\/root +\d+ .* bin\/busybox$/),
    expect.stringMatching(/^lrwxrwxrwx root\/root +0 .* bin\/sh -> busybox$/),
    expect.stringMatching(/^drwxrwxrwt root\/root +0 .* tmp\/$/),
  ]);
  const layerDir = path.join(dir, 'layer');
  await mkdir(layerDir);
  await run('tar', ['-xf', path.join(out, 'blobs', 'sha256', hex(image.layerDigest)), '-C', layerDir]);
  // Compared as a boolean: a deep equality of 2 MB buffers is slow.
  expect((await readFile(path.join(layerDir, 'bin', 'busybox'))).equals(await readFile('/bin/busybox'))).toBe(true);
});

test('the OCI layout: index → manifest (linux/amd64, named) → config and layer, digests and sizes match', async () => {
  const out = path.join(dir, 'layout');
  await mkdir(out);
  await run('tar', ['-xf', image.file, '-C', out]);
  const blob = (digest: string) => readFile(path.join(out, 'blobs', 'sha256', hex(digest)));
  expect(JSON.parse(await readFile(path.join(out, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
  const index = JSON.parse(await readFile(path.join(out, 'index.json'), 'utf8'));
  expect(index.manifests).toEqual([
    expect.objectContaining({ digest: image.manifestDigest, platform: { architecture: 'amd64', os: 'linux' }, annotations: expect.objectContaining({ 'io.containerd.image.name': image.name }) }),
  ]);
  const manifestBytes = await blob(image.manifestDigest);
  expect(sha(manifestBytes)).toBe(image.manifestDigest);
  expect(manifestBytes.length).toBe(index.manifests[0].size);
  const manifest = JSON.parse(manifestBytes.toString());
  for (const d of [manifest.config, ...manifest.layers]) {
    const data = await blob(d.digest);
    expect(sha(data)).toBe(d.digest);
    expect(data.length).toBe(d.size);
  }
  const config = JSON.parse((await blob(image.configDigest)).toString());
  expect(config.rootfs.diff_ids).toEqual([image.layerDigest]);
  expect(config).toMatchObject({ architecture: 'amd64', os: 'linux' });
});

test('the bytes are stable: the same input gives the same digests', async () => {
  const again = await buildBusyboxImage(path.join(dir, 'again.tar'));
  expect(again.manifestDigest).toBe(image.manifestDigest);
  expect(tar([{ type: 'file', name: 'a', data: Buffer.from('x') }])).toHaveLength(512 * 4);
  await writeFile(path.join(dir, 'small.tar'), tar([{ type: 'file', name: 'a', data: Buffer.from('x') }]));
  expect((await run('tar', ['-xOf', path.join(dir, 'small.tar'), 'a'])).stdout).toBe('x');
});
