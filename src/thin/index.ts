/**
 * Thin provisioning: kernel pools on block devices, loop files or LVM, thin
 * devices and snapshots, status, events and growth.
 *
 * @module
 */
export * from './types.js';
export { ThinPool, type ThinPoolCreateOptions, type ThinPoolFeatures, type ThinPoolInfo, type ThinPoolRuntimeOptions, type LoopbackBacking } from './pool.js';
export { ThinDevice } from './device.js';
export { createLoopbackPool, resizeLoopbackPool, destroyLoopbackPool, loopbackPoolName, loopbackHostFreeBytes, type LoopbackPoolOptions } from './loopback.js';
export { createLvmThinPool, removeLvmThinPool, listLogicalVolumes, lvmDmName, type LvmThinPool, type LvmThinPoolOptions } from './lvm.js';
export { enableAutoextend, type Autoextend, type AutoextendPolicy } from './autoextend.js';
export { conditions as poolConditions } from './events.js';
export { freePercent } from './guard.js';
export { recommendedMetadataSize, validateDataBlockSize, validateMetadataSize, MIN_DATA_BLOCK_BYTES, MAX_DATA_BLOCK_BYTES } from './sizing.js';
export { LIBRARY_UUID_PREFIX, thinUuidPrefix } from './ownership.js';
export { SimulatedThinPool, type SimulatedThinPoolOptions } from './simulated.js';
export { failNthCall, type SimulatedCall, type SimulatedFaultOptions, type SimulatedOperation } from './simulated/faults.js';
