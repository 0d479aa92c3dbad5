/**
 * Test-only crash points. The snapshotter calls {@link crashPoint} between
 * every step of prepare, view, commit, remove, cleanup, resize and base creation.
 * When the environment variable DEVMAPPER_CRASH_POINT names the point, the
 * process kills itself with SIGKILL right there, leaving the metastore and
 * the pool exactly as a crash would. Tests then open the snapshotter again
 * and check that reconciliation repaired everything.
 *
 * In-process tests can instead install a handler with
 * {@link setCrashPointHandler} that throws {@link SimulatedCrash}: the
 * snapshotter lets that error through without any rollback, so the state
 * left behind is the same as after a kill (the test must then abandon the
 * instance, as a dead process would).
 */

/** The name of every crash point, in the order the operations pass them. */
export const CRASH_POINTS = [
  'base:after-intent',
  'base:after-create-thin',
  'base:after-activate',
  'base:after-format',
  'base:after-prepare-base',
  'base:after-deactivate',
  'prepare:after-intent',
  'prepare:after-create-snapshot',
  'prepare:after-activate',
  'prepare:after-grow',
  'prepare:after-record',
  'view:after-intent',
  'view:after-create-snapshot',
  'view:after-activate',
  'view:after-grow',
  'view:after-record',
  'commit:after-suspend',
  'commit:after-resume',
  'commit:after-record',
  'commit:after-deactivate',
  'remove:after-deactivate',
  'remove:after-record',
  'remove:after-discard',
  'remove:after-delete-thin',
  'remove:after-release',
  'remove:after-mark-removed',
  'remove:after-mark-busy',
  'remove:after-defer',
  'cleanup:after-deactivate',
  'cleanup:after-discard',
  'cleanup:after-delete-thin',
  'cleanup:after-release',
  'cleanup:after-defer',
  'resize:after-intent',
  'resize:after-device-grow',
  'resize:after-fs-grow',
] as const;

/** A crash point's name. */
export type CrashPointName = (typeof CRASH_POINTS)[number];

/** The environment variable that arms a crash point. */
export const CRASH_POINT_ENV = 'DEVMAPPER_CRASH_POINT';

/** The error a crash handler throws to stop an operation dead, without rollback. */
export class SimulatedCrash extends Error {
  /** The point where the crash happened. */
  readonly point: CrashPointName;

  /** @param point - The crash point. */
  constructor(point: CrashPointName) {
    super(`simulated crash at ${point}`);
    this.name = 'SimulatedCrash';
    this.point = point;
  }
}

let handler: ((point: CrashPointName) => void) | undefined;

// Read once: tests arm a point in a child's environment at spawn, and an
// environment lookup per step is measurable on the hot path.
const armedPoint = process.env[CRASH_POINT_ENV];

/**
 * Installs (or with undefined removes) an in-process crash handler, called
 * at every crash point. To stop at a point, throw a {@link SimulatedCrash}.
 * Test-only.
 */
export function setCrashPointHandler(fn: ((point: CrashPointName) => void) | undefined): void {
  handler = fn;
}

/**
 * Marks a crash point: SIGKILLs the process when DEVMAPPER_CRASH_POINT
 * equals `name`, else calls the installed handler, if any.
 */
export function crashPoint(name: CrashPointName): void {
  if (armedPoint === name) {
    process.kill(process.pid, 'SIGKILL');
    // Block until the signal lands so that not one more step runs.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
  }
  handler?.(name);
}

/** Whether `e` is a {@link SimulatedCrash}: such errors must pass through without rollback. */
export function isSimulatedCrash(e: unknown): e is SimulatedCrash {
  return e instanceof SimulatedCrash;
}
