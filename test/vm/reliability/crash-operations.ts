/**
 * The operation each crash point interrupts, shared by the crash test and
 * its child process. The standing state before each run: a committed `P`,
 * an active `a` (with its own data) and `victim` on it, and a view `v`; for
 * cleanup points `victim` is already removed with asyncRemove; for the
 * points of a busy device the parent holds `victim`'s device open; for
 * resize points an active `g` at the base size is what grows.
 */
import type { Snapshotter, SnapshotterOptions } from '../../../src/snapshotter/index.js';
import type { CrashPointName } from '../../../src/snapshotter/crash-points.js';

export type CrashOperation = 'base' | 'prepare' | 'view' | 'commit' | 'remove' | 'cleanup' | 'resize';

/** The size grown snapshots get (the base is 64 MiB): a `-grow` point's new snapshot, and `g` for resize points. */
export const GROWN_SIZE = 128 * 1024 * 1024;

/** Whether the point's operation makes a snapshot larger than its parent. */
export function growsOnCreate(point: CrashPointName): boolean {
  return point.endsWith('-grow');
}

export function operationOf(point: CrashPointName): CrashOperation {
  return point.split(':')[0] as CrashOperation;
}

/** Whether the point lies on the path of a device held open: `victim`'s device must be held during the run. */
export function holdsVictim(point: CrashPointName): boolean {
  return point === 'remove:after-mark-busy' || point === 'remove:after-defer' || point === 'cleanup:after-defer';
}

/** Options for the run that crashes and the reopen after it. `index` gives each base point a new base size. */
export function optionsFor(point: CrashPointName, index: number): Partial<SnapshotterOptions> {
  const common: Partial<SnapshotterOptions> = { fsType: 'none', minFreeSpace: 0, baseImageSize: '64MB' };
  switch (operationOf(point)) {
    case 'base':
      return { ...common, baseImageSize: `${65 + index}MB` };
    case 'remove':
      return { ...common, asyncRemove: point === 'remove:after-mark-removed', discardBlocks: true };
    case 'cleanup':
      return { ...common, asyncRemove: true, discardBlocks: true };
    default:
      return common;
  }
}

export async function runOperation(s: Snapshotter, op: CrashOperation, sized = false): Promise<void> {
  const options = sized ? { labels: { 'containerd.io/snapshot/max-size': String(GROWN_SIZE) } } : undefined;
  switch (op) {
    case 'base':
      await s.prepare('fresh');
      return;
    case 'prepare':
      await s.prepare('new', 'P', options);
      return;
    case 'view':
      await s.view('new', 'P', options);
      return;
    case 'commit':
      await s.commit('A', 'a');
      return;
    case 'remove':
      await s.remove('victim');
      return;
    case 'cleanup':
      await s.cleanup();
      return;
    case 'resize':
      await s.resize('g', GROWN_SIZE);
      return;
  }
}
