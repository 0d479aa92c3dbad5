/**
 * Shared pieces of the reliability tests (test/vm/reliability/): small
 * loopback pools, the consistency check that compares a metastore with the
 * pool's real device list (thin_dump on a metadata snapshot, compared with ThinPool.thinIds()'s own reader), a
 * bundler for child processes, and the figures each test prints.
 */
import { appendFile, mkdir, open, rm } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { build } from 'esbuild';
import * as dm from '../../../src/dm/device-mapper.js';
import { deviceName } from '../../../src/snapshotter/core.js';
import { Metastore } from '../../../src/snapshotter/metastore.js';
import { createLoopbackPool, type LoopbackPoolOptions, type ThinPool } from '../../../src/thin/index.js';
import { blockDevicePath, dumpThinIds } from '../../../src/thin/metadata-ids.js';
import { parseThinPoolParams, PoolMessages } from '../../../src/dm/targets/thin-pool.js';

export const MiB = 1024 * 1024;
export const repoRoot = path.resolve(import.meta.dirname, '../../..');

/** A small loopback pool (64 MiB data, 8 MiB metadata by default; guard off unless asked). */
export function smallPool(directory: string, name: string, options: Partial<LoopbackPoolOptions> = {}): Promise<ThinPool> {
  return createLoopbackPool({ directory, name, dataSizeBytes: 64 * MiB, metadataSizeBytes: 8 * MiB, minFreeSpacePercent: 0, ...options });
}

/** What the metastore and the pool disagree on. Every list empty means consistent. */
export interface Consistency {
  /** Thin ids in the pool without a device record. */
  leakedIds: number[];
  /** Device records whose thin id is not in the pool, and snapshots whose device record is missing or not theirs. */
  danglingRecords: string[];
  /** Device records left mid-operation (creating, removing). */
  unfinished: string[];
  /** Active snapshots and views without an active, resumed device. */
  missingDevices: string[];
  /** Active dm devices of the pool that no active snapshot, view or removed-but-busy record explains. */
  strayActive: string[];
  /** Number of snapshot records and thin ids compared. */
  snapshots: number;
  thinIds: number;
  /** The metastore's recorded transaction id and the pool's. */
  transactionIds: [number | undefined, number];
}

/**
 * Compares a closed snapshotter's metastore in `rootPath` with the pool:
 * thin ids (read from a metadata snapshot) against device records and the foreign record,
 * snapshot records against their device records, and the kernel's active
 * devices against the snapshots that need one.
 */
export async function checkConsistency(rootPath: string, pool: ThinPool): Promise<Consistency> {
  const store = await Metastore.open(rootPath);
  try {
    const devices = await store.devices();
    const ids = await kernelThinIds(pool);
    // The library's direct metadata reader must agree with the reference tool.
    const libraryIds = await pool.thinIds();
    if (JSON.stringify(libraryIds) !== JSON.stringify(ids)) throw new Error(`ThinPool.thinIds() ${JSON.stringify(libraryIds)} differs from thin_dump's ${JSON.stringify(ids)}`);
    const recorded = new Map(devices.map((d) => [d.id, d]));
    const inPool = new Set(ids);
    const result: Consistency = {
      leakedIds: ids.filter((id) => !recorded.has(id) && !store.foreignIds.has(id)),
      danglingRecords: [
        ...devices.filter((d) => !inPool.has(d.id)).map((d) => `dev ${d.id} (${d.state})`),
        ...[...store.foreignIds.ids()].filter((id) => !inPool.has(id) || recorded.has(id)).map((id) => `foreign ${id}`),
      ],
      unfinished: devices.filter((d) => d.state === 'creating' || d.state === 'removing' || d.state === 'growing').map((d) => `dev ${d.id} (${d.state})`),
      missingDevices: [],
      strayActive: [],
      snapshots: 0,
      thinIds: ids.length,
      transactionIds: [(await store.pool())?.transactionId, await pool.transactionId()],
    };
    const expectedActive = new Set<string>();
    for await (const [key, snapshot] of store.snapshots()) {
      result.snapshots++;
      const device = await store.device(snapshot.deviceId);
      if (!device || device.state !== 'ready' || device.snapshot !== key) {
        result.danglingRecords.push(`snap ${key} -> dev ${snapshot.deviceId} (${device?.state ?? 'missing'})`);
        continue;
      }
      if (snapshot.kind === 'committed') continue;
      const info = await dm.info(device.name);
      if (!info || info.suspended) result.missingDevices.push(`${key} (${info ? 'suspended' : 'inactive'})`);
      expectedActive.add(device.name);
    }
    for (const d of devices) if (d.state === 'removed') expectedActive.add(d.name);
    const poolPrefix = deviceName(pool.name, 0).slice(0, -1);
    for (const entry of await dm.list()) {
      if (entry.name.startsWith(poolPrefix) && !expectedActive.has(entry.name)) result.strayActive.push(entry.name);
    }
    return result;
  } finally {
    await store.close();
  }
}

/** Bundles a TypeScript child script into the repository (so its imports and the addon resolve) and returns its path. */
export async function bundleChild(entry: string, tag: string): Promise<{ script: string; dispose(): Promise<void> }> {
  // One level under the repository, like every module of the package (src/package-root.ts takes the
  // package root as the parent of a module's directory): the addon in build/ resolves from there, and the
  // external packages from the repository's node_modules.
  const dir = path.join(repoRoot, `.dm-reliability-${tag}-${process.pid}`);
  await mkdir(dir, { recursive: true });
  const script = path.join(dir, 'child.mjs');
  await build({ entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', outfile: script, logLevel: 'silent' });
  return { script, dispose: () => rm(dir, { recursive: true, force: true }) };
}

/** Runs a bundled child with `args` and extra environment; resolves with how it ended. */
export function runChild(script: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Prints a figure for the reliability section and appends it to .vitest-results/reliability-figures.txt. */
export async function reportFigure(file: string, line: string): Promise<void> {
  const text = `[reliability] ${file}: ${line}`;
  console.log(text);
  const dir = path.join(repoRoot, '.vitest-results');
  await mkdir(dir, { recursive: true });
  await appendFile(path.join(dir, 'reliability-figures.txt'), `${new Date().toISOString()} ${text}\n`);
}

/** Appends a progress line to .vitest-results/reliability-progress.txt (the guest's console shows results only per file). */
export async function progress(file: string, line: string): Promise<void> {
  const dir = path.join(repoRoot, '.vitest-results');
  await mkdir(dir, { recursive: true });
  await appendFile(path.join(dir, 'reliability-progress.txt'), `${new Date().toISOString()} ${file}: ${line}\n`);
}

/** Writes `bytes` of a pattern at `offset` of a block device and flushes it. */
export async function writeDevice(devicePath: string, offset: number, bytes: number, fill = 0xa5): Promise<void> {
  const fd = await open(devicePath, 'r+');
  try {
    await fd.write(Buffer.alloc(bytes, fill), 0, bytes, offset);
    await fd.sync();
  } finally {
    await fd.close();
  }
}

/**
 * The pool's thin ids as thin_dump reads them from a metadata snapshot:
 * the reference reader, independent of the library's own (ThinPool.thinIds()).
 */
export async function kernelThinIds(pool: ThinPool): Promise<number[]> {
  const [row] = await dm.table(pool.name);
  const m = /^(\d+):(\d+)$/.exec(parseThinPoolParams(row!.params).metadataDevice);
  if (!m) throw new Error(`pool ${pool.name}: metadata device is not major:minor`);
  const metadataDevice = await blockDevicePath(Number(m[1]), Number(m[2]));
  await dm.message(pool.name, PoolMessages.reserveMetadataSnap());
  try {
    return await dumpThinIds(metadataDevice);
  } finally {
    await dm.message(pool.name, PoolMessages.releaseMetadataSnap());
  }
}
