/**
 * Child process of crash-points.test.ts: opens the snapshotter on a real
 * kernel pool and runs one operation with DEVMAPPER_CRASH_POINT set, so it
 * SIGKILLs itself partway. Exits 0 only when the point was never reached.
 * Usage: node child.mjs '<json {rootPath, poolName, options, op}>'
 */
import { Snapshotter, type SnapshotterOptions } from '../../../src/snapshotter/index.js';
import { ThinPool } from '../../../src/thin/index.js';
import { runOperation, type CrashOperation } from './crash-operations.js';

const spec = JSON.parse(process.argv[2] ?? '{}') as { rootPath: string; poolName: string; options: Partial<SnapshotterOptions>; op: CrashOperation; sized?: boolean };
const pool = await ThinPool.open(spec.poolName, { minFreeSpacePercent: 0 });
const snapshotter = await Snapshotter.open({ baseImageSize: '64MB', ...spec.options, rootPath: spec.rootPath, pool });
await runOperation(snapshotter, spec.op, spec.sized === true);
await snapshotter.close();
await pool.close();
