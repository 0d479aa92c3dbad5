/**
 * `devmapper/testing`: what users' tests need and production code does not.
 *
 * - {@link SimulatedThinPool}: the thin pool API in plain TypeScript, no root
 *   and no kernel, persisted in a directory when asked; it passes the same
 *   conformance suite as a kernel pool, so code tested on it runs on one.
 * - Crash points: the snapshotter passes a named point between every step of
 *   its operations. Set {@link CRASH_POINT_ENV} in a child process's
 *   environment to kill it with SIGKILL at that point, or install a handler
 *   with {@link setCrashPointHandler} that throws {@link SimulatedCrash} to
 *   stop an operation in process; then open the snapshotter again and check
 *   that nothing was lost or leaked.
 *
 * @example
 * ```ts
 * import { Snapshotter } from 'devmapper';
 * import { SimulatedThinPool, SimulatedCrash, setCrashPointHandler } from 'devmapper/testing';
 *
 * const pool = new SimulatedThinPool({ name: 'test-pool' });
 * const snapshotter = await Snapshotter.open({ rootPath: dir, pool, fsType: 'none', baseImageSize: '64MB' });
 * setCrashPointHandler((point) => { if (point === 'prepare:after-activate') throw new SimulatedCrash(point); });
 * await snapshotter.prepare('k').catch(() => undefined); // stops dead at the point
 * setCrashPointHandler(undefined);
 * ```
 *
 * @module devmapper/testing
 */
export { SimulatedThinPool, type SimulatedThinPoolOptions } from './thin/simulated.js';
export { CRASH_POINTS, CRASH_POINT_ENV, SimulatedCrash, setCrashPointHandler, type CrashPointName } from './snapshotter/crash-points.js';
export { failNthCall, type SimulatedCall, type SimulatedFaultOptions, type SimulatedOperation } from './thin/simulated/faults.js';
export {
  InjectedWriteError,
  failNthMetastoreWrite,
  metastoreWriteCount,
  setMetastoreWriteFault,
  type MetastoreWrite,
} from './snapshotter/metastore-faults.js';
