/**
 * Test-only hooks of the snapshotter, gathered for a testing entry point:
 * crash points, metastore write faults and a view of the stored records.
 * Not part of the public root API.
 */
export { CRASH_POINTS, SimulatedCrash, isSimulatedCrash, setCrashPointHandler, type CrashPointName } from './crash-points.js';
export { inspectStore, type StoreContents } from './introspection.js';
export {
  InjectedWriteError,
  failNthMetastoreWrite,
  metastoreWriteCount,
  setMetastoreWriteFault,
  type MetastoreWrite,
} from './metastore-faults.js';
