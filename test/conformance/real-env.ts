/**
 * A ready-made conformance environment for a kernel-backed pool (the VM
 * run): a snapshotter with a real filesystem on a fresh root per test,
 * mounting with the `mount` command. `dispose` removes every snapshot and
 * the test's base device so that the shared pool does not fill up.
 *
 * ```ts
 * defineSnapshotterConformance('kernel pool, ext4', realEnvFactory({ pool, fsType: 'ext4' }));
 * ```
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Snapshotter, type SizeInput } from '../../src/snapshotter/index.js';
import { Metastore } from '../../src/snapshotter/metastore.js';
import { deviceName } from '../../src/snapshotter/core.js';
import type { ThinPoolApi } from '../../src/thin/types.js';
import type { MakeConformanceEnv } from './env.js';
import { growByWriting, holdByOpening, mountWithCommand } from './real-devices.js';

/** Options of {@link realEnvFactory}. */
export interface RealEnvOptions {
  pool: ThinPoolApi;
  /** 'ext4' or 'xfs' (or another registered formatter). */
  fsType: string;
  /** Default '256MB'. */
  baseImageSize?: SizeInput;
  /** A local POSIX directory for metastores and reference trees (default os.tmpdir()). */
  scratchDirectory?: string;
}

/** Removes every snapshot of `s`, children first. */
export async function removeAllSnapshots(s: Snapshotter): Promise<void> {
  for (;;) {
    const all: Array<{ name: string; parent?: string }> = [];
    for await (const info of s.walk()) all.push(info);
    if (all.length === 0) return;
    const parents = new Set(all.map((i) => i.parent).filter((p): p is string => p !== undefined));
    for (const info of all) if (!parents.has(info.name)) await s.remove(info.name);
  }
}

/** Makes {@link MakeConformanceEnv} for a real pool. */
export function realEnvFactory(options: RealEnvOptions): MakeConformanceEnv {
  return async () => {
    const scratch = options.scratchDirectory ?? tmpdir();
    const rootPath = await mkdtemp(path.join(scratch, 'conformance-root-'));
    const snapshotter = await Snapshotter.open({
      rootPath,
      pool: options.pool,
      fsType: options.fsType,
      baseImageSize: options.baseImageSize ?? '256MB',
      minFreeSpace: 0,
    });
    const capabilities = { realDevices: true, mount: mountWithCommand, grow: growByWriting(mountWithCommand), hold: holdByOpening, scratchDirectory: scratch };
    return {
      snapshotter,
      capabilities,
      async dispose() {
        // A test may have closed it already: reopen to tidy up.
        const s = snapshotter.closed
          ? await Snapshotter.open({ rootPath, pool: options.pool, fsType: options.fsType, baseImageSize: options.baseImageSize ?? '256MB', minFreeSpace: 0 })
          : snapshotter;
        await removeAllSnapshots(s);
        await s.cleanup();
        await s.close();
        // The base devices (and anything left) go straight to the pool.
        const store = await Metastore.open(rootPath);
        try {
          for (const device of await store.devices()) {
            if (device.role === 'foreign') continue;
            await options.pool.device({ id: device.id, name: deviceName(options.pool.name, device.id), sizeBytes: device.sizeBytes }).deactivate({ deferred: false });
            await options.pool.deleteThin(device.id).catch(() => undefined);
          }
        } finally {
          await store.close();
        }
        await rm(rootPath, { recursive: true, force: true });
      },
    };
  };
}
