/** The built library (dist/), as the bench uses it. */
export { Snapshotter, SimulatedThinPool, ThinPool, createLoopbackPool } from '../../dist/index.js';
export * as dm from '../../dist/dm/device-mapper.js';
