/** The shared snapshotter conformance suite and its helpers. */
export { defineSnapshotterConformance, type ConformanceOptions } from './define.js';
export type { ConformanceCapabilities, ConformanceEnv, MakeConformanceEnv } from './env.js';
export { mountWithCommand, withMounted, growByWriting, holdByOpening } from './real-devices.js';
export { readTree, applyOps, layerOps, type Tree, type TreeEntry, type TreeOp } from './fs-tree.js';
export { realEnvFactory, removeAllSnapshots, type RealEnvOptions } from './real-env.js';
