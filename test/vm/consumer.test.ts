/**
 * The package as users get it: scripts/pack-consumer.sh (run on the host,
 * which reaches the npm registry) packs the main package and this machine's
 * platform package, installs both tarballs into .consumer/x64 with
 * `npm install --ignore-scripts` and no compiler on PATH, and compiles the
 * quick start there against the shipped types. Here, in the guest, that
 * installed copy runs it on a real kernel: an ESM import of 'devmapper', the
 * prebuilt addon of @devmapper/linux-x64-gnu, libdevmapper loaded at run time.
 */
import { execFile } from 'node:child_process';
import { constants, existsSync } from 'node:fs';
import { access, readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as dm from '../../src/dm/device-mapper.js';
import { cleanup, requireDeviceMapper, tempDir, uniquePrefix } from './support/kernel.js';

const exec = promisify(execFile);
const consumer = path.resolve(import.meta.dirname, '../../.consumer/x64');
const installed = path.join(consumer, 'node_modules', 'devmapper');
const prefix = uniquePrefix('consumer');
const dirs: string[] = [];

beforeAll(() => {
  requireDeviceMapper();
  if (!existsSync(path.join(consumer, 'run-quick-start.mjs')) || !existsSync(path.join(consumer, 'quick-start.js'))) {
    throw new Error(`${consumer} is not prepared: run scripts/pack-consumer.sh on the host first`);
  }
});
afterEach(async () => {
  await cleanup(prefix, dirs.splice(0));
});
afterAll(async () => {
  expect((await dm.list()).filter((d) => d.name.startsWith(prefix))).toEqual([]);
});

describe('the packed package in a consumer project', () => {
  it('was installed without any install script: nothing compiled, the platform package brought the addon', async () => {
    expect(existsSync(path.join(installed, 'build'))).toBe(false);
    expect(existsSync(path.join(installed, 'dist', 'index.d.ts'))).toBe(true);
    expect(existsSync(path.join(consumer, 'node_modules', '@devmapper', 'linux-x64-gnu', 'devmapper.node'))).toBe(true);
    const pkg = JSON.parse(await readFile(path.join(installed, 'package.json'), 'utf8')) as { bin: Record<string, string>; scripts: Record<string, string>; gypfile: boolean };
    expect(pkg.scripts.install).toBeUndefined();
    expect(pkg.scripts.postinstall).toBeUndefined();
    expect(pkg.gypfile).toBe(false);
    // The bin `npx devmapper` runs: linked, executable, a node script.
    const bin = path.join(consumer, 'node_modules', '.bin', 'devmapper');
    await access(bin, constants.X_OK);
    expect(await realpath(bin)).toBe(path.join(await realpath(installed), pkg.bin.devmapper ?? ''));
    expect((await readFile(bin, 'utf8')).startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it('runs the quick start (compiled by the consumer against the shipped types): a pool, snapshots, mounts, all removed', async () => {
    const dir = await tempDir('consumer');
    dirs.push(dir);
    const { stdout, stderr } = await exec(process.execPath, [path.join(consumer, 'run-quick-start.mjs'), dir, `${prefix}qs`], { cwd: consumer });
    const out = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as { addon: string; result: { layers: string[]; containerFiles: string[]; cleanedUp: boolean; usage: Record<string, number> } };
    expect(out.addon).toBe(path.join(consumer, 'node_modules', '@devmapper', 'linux-x64-gnu', 'devmapper.node'));
    expect(out.result.layers).toEqual(['layer-1', 'layer-2', 'layer-3']);
    expect(out.result.containerFiles).toEqual(['container.data', 'container.txt', 'layer-1.data', 'layer-1.txt', 'layer-2.data', 'layer-2.txt', 'layer-3.data', 'layer-3.txt']);
    // Each wrote 256 KiB of new data: most of it in blocks its parent never mapped.
    for (const key of ['layer-1', 'layer-2', 'layer-3', 'container-1']) expect(out.result.usage[key]).toBeGreaterThanOrEqual(128 * 1024);
    expect(out.result.cleanedUp).toBe(true);
    expect(stderr).toContain('1. A loopback thin pool');
  });
});
