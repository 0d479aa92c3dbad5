/** A conformance environment on the simulated pool, with the 'none' formatter (nothing to mkfs or mount). */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Snapshotter, type SnapshotterOptions } from '../../../src/snapshotter/index.js';
import { SimulatedThinPool, type SimulatedThinPoolOptions } from '../../../src/thin/simulated.js';
import type { ConformanceEnv } from '../../conformance/index.js';

/** Makes a temporary directory that `dispose` removes. */
export async function temporaryDirectory(prefix = 'snapshotter-'): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix));
}

/** Opens a snapshotter on a fresh simulated pool. */
export async function openSimulated(
  overrides: Partial<SnapshotterOptions> = {},
  poolOptions: SimulatedThinPoolOptions = {},
): Promise<{ snapshotter: Snapshotter; pool: SimulatedThinPool; rootPath: string }> {
  const rootPath = overrides.rootPath ?? (await temporaryDirectory());
  const pool = new SimulatedThinPool(poolOptions);
  const snapshotter = await Snapshotter.open({ rootPath, pool, baseImageSize: '64MB', fsType: 'none', ...overrides });
  return { snapshotter, pool, rootPath };
}

/**
 * The conformance environment: grows snapshots with simulateWrite at
 * offsets never written before on any device (as a filesystem puts a new
 * file in free blocks), so a child's writes do not overwrite blocks it shares.
 */
export async function makeSimulatedEnv(): Promise<ConformanceEnv> {
  const { snapshotter, pool, rootPath } = await openSimulated();
  let nextOffset = 0;
  return {
    snapshotter,
    capabilities: {
      realDevices: false,
      async grow(mounts, bytes) {
        pool.simulateWriteToPath(mounts[0]?.source ?? '', nextOffset, bytes);
        nextOffset += bytes;
      },
      async hold(mounts) {
        const name = (mounts[0]?.source ?? '').replace('/dev/mapper/', '');
        pool.simulateOpen(name);
        return async () => pool.simulateClose(name);
      },
    },
    async dispose() {
      await snapshotter.close();
      await pool.close();
      await rm(rootPath, { recursive: true, force: true });
    },
  };
}
