/**
 * What a backend hands the shared snapshotter conformance suite: a fresh
 * snapshotter and what it can do with the snapshots' devices.
 */
import type { Mount, Snapshotter } from '../../src/snapshotter/index.js';

/** What a backend supports. */
export interface ConformanceCapabilities {
  /** True when mounts are real block devices that can be mounted (the VM); false for the simulated pool. */
  realDevices: boolean;
  /**
   * Mounts `mounts` on the existing directory `target` and resolves with a
   * function that unmounts. Required when `realDevices`.
   */
  mount?(mounts: Mount[], target: string): Promise<() => Promise<void>>;
  /**
   * Makes an active snapshot's device map about `bytes` more: on real
   * devices writes (and syncs) a new file through a mount, on the
   * simulated pool calls simulateWrite at fresh offsets.
   */
  grow(mounts: Mount[], bytes: number): Promise<void>;
  /**
   * Holds an active snapshot's device open, as a mount in another mount
   * namespace or a process would (on real devices an open file descriptor,
   * on the simulated pool simulateOpen), and resolves with the release.
   */
  hold(mounts: Mount[]): Promise<() => Promise<void>>;
  /**
   * Where the (real) cases build flat reference trees: a local POSIX
   * filesystem that keeps modes, owners and hard links (e.g. a tmpfs; not a
   * 9p root). Default: os.tmpdir().
   */
  scratchDirectory?: string;
}

/** One test's environment. */
export interface ConformanceEnv {
  snapshotter: Snapshotter;
  capabilities: ConformanceCapabilities;
  /** Closes the snapshotter and removes whatever the environment made. */
  dispose(): Promise<void>;
}

/** Makes a fresh environment for one test. */
export type MakeConformanceEnv = () => Promise<ConformanceEnv>;
