/**
 * The bench keeps working: `node bench/run.mjs --smoke` (few iterations,
 * small N) runs on this kernel and produces a well-formed table and JSON
 * with every operation and both baselines. Nothing here is about time.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as dm from '../../src/dm/device-mapper.js';
import { requireDeviceMapper } from './support/kernel.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let dir = '';
let stdout = '';
let report: {
  operations: Array<{ key: string; name: string; library: { n: number; medianMs: number; p95Ms: number; opsPerSec: number } | null; dmsetup: unknown; floor: unknown }>;
  baselines: string[];
  targets: Array<{ target: string; value: number | null; met: boolean }>;
  scale: Record<string, { prepare: { medianMs: number }; remove: { medianMs: number } }>;
  concurrency: Record<string, { opsPerSec: number }>;
  memory: { kernel: { kernelRssMiB: number }; simulated: { rssMiB: number } | null };
  config: { containerdGo: boolean; ctr: boolean; coldStart: boolean };
  contenders: { library: string; libraryWait: string | null; containerdGo: string | null };
  ctr: unknown;
  coldStart: unknown;
};

beforeAll(async () => {
  requireDeviceMapper();
  dir = await mkdtemp(path.join(os.tmpdir(), 'bench-smoke-'));
  const out = path.join(dir, 'smoke.json');
  // Asynchronously: a blocked event loop would starve vitest's worker RPC for minutes.
  const child = spawn(process.execPath, [path.join(root, 'bench/run.mjs'), '--smoke', '--out', out], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const [code, signal] = (await once(child, 'close')) as [number | null, string | null];
  if (code !== 0) throw new Error(`bench/run.mjs --smoke exited with ${code ?? signal}:\n${stderr.slice(-4000)}`);
  report = JSON.parse(await readFile(out, 'utf8'));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const EVERY_OPERATION = ['prepareParent', 'prepareSized', 'prepareParentless', 'view', 'commit', 'remove', 'stat', 'usage', 'walk', 'poolSnapActivate', 'poolDeactivateDelete'];
const WITH_BOTH_BASELINES = ['prepareParent', 'prepareParentless', 'commit', 'remove', 'usage', 'poolSnapActivate', 'poolDeactivateDelete'];

describe('bench --smoke', () => {
  it('measures every operation with median, p95 and ops/s', () => {
    const keys = report.operations.map((o) => o.key);
    for (const k of EVERY_OPERATION) {
      expect(keys).toContain(k);
      const op = report.operations.find((o) => o.key === k)!;
      expect(op.library?.n).toBeGreaterThan(0);
      for (const field of ['medianMs', 'p95Ms', 'opsPerSec'] as const) expect(Number.isFinite(op.library?.[field])).toBe(true);
    }
  });

  it('measures both baselines, the dmsetup path and the C floor', () => {
    expect(report.baselines).toEqual(['dmsetup', 'floor']);
    for (const k of WITH_BOTH_BASELINES) {
      const op = report.operations.find((o) => o.key === k)!;
      expect(op.dmsetup, `${k} dmsetup`).toMatchObject({ n: expect.any(Number), medianMs: expect.any(Number) });
      expect(op.floor, `${k} floor`).toMatchObject({ n: expect.any(Number), medianMs: expect.any(Number) });
    }
  });

  it('reports scale, concurrency, memory and the targets', () => {
    expect(Object.keys(report.scale).length).toBeGreaterThanOrEqual(2);
    expect(Object.keys(report.concurrency).sort()).toEqual(['1', '16', '4']);
    expect(report.memory.kernel.kernelRssMiB).toBeGreaterThan(0);
    expect(report.targets.length).toBeGreaterThanOrEqual(5);
    for (const t of report.targets) expect(typeof t.met).toBe('boolean');
  });

  it("lists issue 16's targets, and leaves containerd's Go snapshotter, ctr and cold starts to the full bench", () => {
    // The smoke runs without udevd and without the Go toolchain (bench/setup.sh installs it on the host for `npm run bench`).
    expect(report.config).toMatchObject({ containerdGo: false, ctr: false, coldStart: false });
    expect(report.contenders.containerdGo).toBeNull();
    expect(report.ctr).toBeNull();
    expect(report.coldStart).toBeNull();
    const names = report.targets.map((t) => t.target).join('\n');
    for (const t of ["prepare from a parent ≥ 8× faster than containerd's devmapper", 'parentless prepare ≥ 20×', 'commit ≥ 5×', 'within 1.25× of the C floor', '16 concurrent prepares ≥ 4×', 'reopen with', 'cold start', 'ctr images import', 'ctr run --rm']) {
      expect(names).toContain(t);
    }
    // What the smoke did not measure has no value and is not met.
    for (const t of report.targets.filter((x) => x.target.includes('containerd') || x.target.startsWith('cold start'))) expect(t).toMatchObject({ value: null, met: false });
  });

  it('prints the table on stdout', () => {
    for (const header of ['operation', 'median ms', 'p95 ms', 'ops/s', 'dmsetup/lib', 'lib/floor']) expect(stdout).toContain(header);
    for (const op of report.operations) expect(stdout).toContain(op.name);
  });

  it('leaves no device behind', async () => {
    expect((await dm.list()).filter((d) => d.name.startsWith('bench'))).toEqual([]);
  });
});
