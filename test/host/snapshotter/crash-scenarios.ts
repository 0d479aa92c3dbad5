/**
 * One scenario per crash point: the state to build first (without crash
 * points armed), the operation that passes the point, and how to retry it
 * once the store has been reopened. Shared by the in-process crash test and
 * the child process that SIGKILLs itself (crash-child.ts).
 */
import { CRASH_POINTS, type CrashPointName } from '../../../src/snapshotter/crash-points.js';
import { MAX_SIZE_LABEL, type Snapshotter, type SnapshotterOptions } from '../../../src/snapshotter/index.js';

/** What to do around one crash point. */
export interface CrashScenario {
  point: CrashPointName;
  /** Options for the run that crashes (and everything after). */
  options: Partial<SnapshotterOptions>;
  /** The operation that passes `point`. */
  run(s: Snapshotter): Promise<void>;
  /** Runs the operation again if the crash left it undone (after reopening). */
  retry(s: Snapshotter): Promise<void>;
}

/** The size of grown snapshots (the base is 64 MiB). */
export const GROWN_SIZE = 128 * 1024 * 1024;

/** Options of the setup run. */
export const SETUP_OPTIONS: Partial<SnapshotterOptions> = { baseImageSize: '64MB', fsType: 'none', minFreeSpace: 0 };

async function exists(s: Snapshotter, key: string): Promise<boolean> {
  return s.stat(key).then(
    () => true,
    () => false,
  );
}

/**
 * The state every scenario starts from: a committed parent P (from the
 * base), an active child `a` with data, an active `victim`, and a view `v`.
 * With `hold`, `victim`'s device is held open (as by a mount elsewhere).
 * With `asyncRemove`, `victim` is removed (marked) too, for cleanup().
 */
export async function setUp(
  s: Snapshotter,
  write: (source: string, offset: number, bytes: number) => void,
  asyncRemove: boolean,
  hold?: (source: string) => void,
): Promise<void> {
  const [p] = await s.prepare('p');
  write(p?.source ?? '', 0, 1024 * 1024);
  await s.commit('P', 'p');
  const [a] = await s.prepare('a', 'P', { labels: { role: 'a' } });
  // Past the parent's data: new blocks, so `a` uses 512 KiB of its own.
  write(a?.source ?? '', 4 * 1024 * 1024, 512 * 1024);
  const [victim] = await s.prepare('victim', 'P');
  if (hold) hold(victim?.source ?? '');
  await s.view('v', 'P');
  if (asyncRemove) await s.remove('victim');
}

/** The scenario of `point`. */
export function scenarioFor(point: CrashPointName): CrashScenario {
  const [op] = point.split(':');
  const base = { ...SETUP_OPTIONS };
  switch (op) {
    case 'base':
      // A new size needs a new base.
      return {
        point,
        options: { ...base, baseImageSize: '128MB' },
        run: async (s) => void (await s.prepare('fresh')),
        retry: async (s) => void ((await exists(s, 'fresh')) || (await s.prepare('fresh'))),
      };
    case 'prepare':
    case 'view': {
      // A grow point needs a snapshot larger than its parent.
      const options = point.endsWith('-grow') ? { labels: { [MAX_SIZE_LABEL]: String(GROWN_SIZE) } } : undefined;
      const create = (s: Snapshotter) => (op === 'view' ? s.view('new', 'P', options) : s.prepare('new', 'P', options));
      return {
        point,
        options: base,
        run: async (s) => void (await create(s)),
        retry: async (s) => void ((await exists(s, 'new')) || (await create(s))),
      };
    }
    case 'resize':
      return {
        point,
        options: base,
        run: async (s) => void (await s.resize('a', GROWN_SIZE)),
        retry: async (s) => void (await s.resize('a', GROWN_SIZE)),
      };
    case 'commit':
      return {
        point,
        options: base,
        run: (s) => s.commit('A', 'a'),
        retry: async (s) => {
          if (await exists(s, 'a')) await s.commit('A', 'a');
        },
      };
    case 'remove':
      return {
        point,
        options: { ...base, asyncRemove: point === 'remove:after-mark-removed', discardBlocks: true },
        run: (s) => s.remove('victim'),
        retry: async (s) => {
          if (await exists(s, 'victim')) await s.remove('victim');
          await s.cleanup();
        },
      };
    case 'cleanup':
      return {
        point,
        options: { ...base, asyncRemove: true, discardBlocks: true },
        run: (s) => s.cleanup(),
        retry: (s) => s.cleanup(),
      };
    default:
      throw new Error(`no scenario for ${point}`);
  }
}

/** Whether the point lies on the path of a device held open: the setup holds `victim`'s device. */
export function holdsVictim(point: CrashPointName): boolean {
  return point === 'remove:after-mark-busy' || point === 'remove:after-defer' || point === 'cleanup:after-defer';
}

/** Whether the setup marks `victim` removed (cleanup scenarios need a device waiting). */
export function setupUsesAsyncRemove(point: CrashPointName): boolean {
  return point.startsWith('cleanup:');
}

export { CRASH_POINTS };
