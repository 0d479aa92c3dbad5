import { defineSnapshotterConformance } from '../../conformance/index.js';
import { makeSimulatedEnv } from './simulated-env.js';

defineSnapshotterConformance('simulated pool, no filesystem', makeSimulatedEnv, { realDevices: false });
