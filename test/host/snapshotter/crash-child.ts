/**
 * The child process of the SIGKILL crash test: opens the snapshotter on a
 * persisted simulated pool and runs the scenario of the crash point named
 * in DEVMAPPER_CRASH_POINT, which kills this process with SIGKILL partway.
 * Exits 0 only if the point was never reached. Usage:
 * node crash-child.mjs <rootPath> <poolDirectory>
 */
import { CRASH_POINT_ENV, type CrashPointName } from '../../../src/snapshotter/crash-points.js';
import { Snapshotter } from '../../../src/snapshotter/index.js';
import { SimulatedThinPool } from '../../../src/thin/simulated.js';
import { scenarioFor } from './crash-scenarios.js';

const [rootPath, directory] = process.argv.slice(2);
const point = process.env[CRASH_POINT_ENV] as CrashPointName;
if (!rootPath || !directory || !point) throw new Error('usage: crash-child <rootPath> <poolDirectory> with DEVMAPPER_CRASH_POINT set');
const scenario = scenarioFor(point);
const pool = await SimulatedThinPool.open({ directory });
const snapshotter = await Snapshotter.open({ rootPath, pool, baseImageSize: '64MB', ...scenario.options });
await scenario.run(snapshotter);
await snapshotter.close();
await pool.close();
