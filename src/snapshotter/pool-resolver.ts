/**
 * Opening a pool by name, for callers that configure the snapshotter the
 * containerd way (`poolName`) instead of passing a pool object.
 */
import { ThinPool } from '../thin/pool.js';
import type { ThinPoolApi } from '../thin/types.js';

/** Opens an existing thin pool by its device-mapper name. */
export type PoolResolver = (poolName: string) => Promise<ThinPoolApi>;

/**
 * The default resolver: {@link ThinPool.open} on the kernel's pool (a name,
 * a /dev/mapper path, or an LVM thin pool's `vg-pool`). The pool's own
 * free-space guard is turned off: the snapshotter's `minFreeSpace` governs.
 */
export const resolvePoolByName: PoolResolver = (poolName) => ThinPool.open(poolName, { minFreeSpacePercent: 0 });
