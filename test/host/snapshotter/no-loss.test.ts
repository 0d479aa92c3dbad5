/**
 * Defects that could lose a live snapshot's device: cleanup() deciding on a
 * stale list, commit and remove letting go of a device before (or despite) a
 * failed metastore write, raw device errors from remove, and a held origin
 * snapshotted without a suspend. Each runs on the simulated pool, with its
 * calls held or failed at the chosen point.
 */
import { rm } from 'node:fs/promises';
import { afterEach, describe, expect, test } from 'vitest';
import { isDeviceMapperError } from '../../../src/dm/errors.js';
import { FailedPreconditionError, Snapshotter } from '../../../src/snapshotter/index.js';
import { failNthMetastoreWrite, setMetastoreWriteFault } from '../../../src/snapshotter/metastore-faults.js';
import { SimulatedThinPool } from '../../../src/thin/simulated.js';
import type { SimulatedCall } from '../../../src/thin/simulated/faults.js';
import { temporaryDirectory } from './simulated-env.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  setMetastoreWriteFault(undefined);
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Fault = (call: SimulatedCall) => string | undefined | Promise<string | undefined>;

/** A snapshotter on a simulated pool whose calls go through `fault` (swappable at any time). */
async function open(options: { asyncRemove?: boolean } = {}) {
  const rootPath = await temporaryDirectory();
  const control: { fault: Fault | undefined } = { fault: undefined };
  const pool = new SimulatedThinPool({ faults: { fail: (call) => control.fault?.(call) } });
  const s = await Snapshotter.open({ rootPath, pool, baseImageSize: '64MB', fsType: 'none', ...options });
  let current = s;
  cleanups.push(async () => {
    await current.close();
    await rm(rootPath, { recursive: true, force: true });
  });
  const reopen = async (): Promise<Snapshotter> => {
    await current.close();
    current = await Snapshotter.open({ rootPath, pool, baseImageSize: '64MB', fsType: 'none', ...options });
    return current;
  };
  return { s, pool, control, rootPath, reopen };
}

/** A gate: `wait()` blocks until `open()`. */
function gate(): { wait: () => Promise<void>; open: () => void; reached: Promise<void> } {
  let release!: () => void;
  let arrive!: () => void;
  const opened = new Promise<void>((resolve) => (release = resolve));
  const reached = new Promise<void>((resolve) => (arrive = resolve));
  return {
    wait: () => {
      arrive();
      return opened;
    },
    open: () => release(),
    reached,
  };
}

function nameOf(source: string | undefined): string {
  return (source ?? '').replace('/dev/mapper/', '');
}

/** The snapshot's device is active under its mount source, with the thin id its record names, and no removal pending. */
async function expectLive(s: Snapshotter, pool: SimulatedThinPool, key: string): Promise<void> {
  const [mount] = await s.mounts(key);
  const active = pool.activeDevices().find((d) => d.name === nameOf(mount?.source));
  expect(active, `${key}'s device is active`).toBeDefined();
  expect(active?.deferredRemove).toBe(false);
  expect(await pool.thinIds()).toContain(active?.id);
}

describe('cleanup() acts only on what it reads under the id claim', () => {
  test('a prepare that finishes while cleanup() walks its list keeps its device and thin id', async () => {
    const { s, pool, control } = await open();
    await s.prepare('held');
    const heldName = nameOf((await s.mounts('held'))[0]?.source);
    pool.simulateOpen(heldName);
    await s.remove('held'); // deferred: a `removed` record that cleanup() visits first (lowest id)

    const create = gate();
    const visit = gate();
    control.fault = async (call) => {
      if (call.op === 'createSnapshot') await create.wait();
      if (call.op === 'deferredRemovalPending' && call.device === heldName) await visit.wait();
      return undefined;
    };
    const preparing = s.prepare('victim');
    await create.reached; // its record says `creating`
    const cleaning = s.cleanup();
    await visit.reached; // cleanup() has read its list
    control.fault = undefined;
    create.open();
    await preparing;
    visit.open();
    await cleaning;

    await expectLive(s, pool, 'victim');
    // A later prepare gets a thin id of its own.
    await s.prepare('next');
    const ids = await Promise.all(['victim', 'next'].map(async (k) => nameOf((await s.mounts(k))[0]?.source)));
    expect(new Set(ids).size).toBe(2);
    await expectLive(s, pool, 'next');
  });

  test('an id freed by a remove while cleanup() walks its list is not deleted again under its next owner', async () => {
    const { s, pool, control } = await open();
    await s.prepare('held');
    const heldName = nameOf((await s.mounts('held'))[0]?.source);
    pool.simulateOpen(heldName);
    await s.remove('held');
    await s.prepare('gone');
    const goneName = nameOf((await s.mounts('gone'))[0]?.source);
    const goneId = Number(goneName.slice(goneName.lastIndexOf('-') + 1));

    const deleting = gate();
    const visit = gate();
    control.fault = async (call) => {
      if (call.op === 'deleteThin' && call.id === goneId) await deleting.wait();
      if (call.op === 'deferredRemovalPending' && call.device === heldName) await visit.wait();
      return undefined;
    };
    const removing = s.remove('gone');
    await deleting.reached; // its record says `removing`
    const cleaning = s.cleanup();
    await visit.reached; // cleanup() has read its list
    control.fault = undefined;
    deleting.open();
    await removing;
    await s.prepare('reuser'); // takes the freed id
    expect(nameOf((await s.mounts('reuser'))[0]?.source)).toBe(goneName);
    visit.open();
    await cleaning;
    await expectLive(s, pool, 'reuser');
  });
});

describe('commit and remove keep an active snapshot’s device when their write fails', () => {
  test('a failed commit write leaves no deferred removal armed on the held device', async () => {
    const { s, pool } = await open();
    await s.prepare('a');
    const name = nameOf((await s.mounts('a'))[0]?.source);
    pool.simulateOpen(name); // mounted
    failNthMetastoreWrite(1);
    await expect(s.commit('A', 'a')).rejects.toThrow(/injected metastore write failure/);
    setMetastoreWriteFault(undefined);
    expect((await s.stat('a')).kind).toBe('active');
    pool.simulateClose(name); // unmounted: the device must stay
    await expectLive(s, pool, 'a');
  });

  test('reopening cancels a deferred removal pending on an active snapshot’s device', async () => {
    const { s, pool, reopen } = await open();
    await s.prepare('a');
    const name = nameOf((await s.mounts('a'))[0]?.source);
    pool.simulateOpen(name);
    // What a commit of an older version left when its record never landed.
    const active = pool.activeDevices().find((d) => d.name === name);
    await pool.device({ id: active?.id ?? -1, name, sizeBytes: active?.sizeBytes ?? 0 }).deactivate({ deferred: true });
    const again = await reopen();
    pool.simulateClose(name);
    await expectLive(again, pool, 'a');
  });

  test('a failed remove write leaves the active snapshot with its device', async () => {
    const { s, pool } = await open();
    await s.prepare('a');
    failNthMetastoreWrite(1);
    await expect(s.remove('a')).rejects.toThrow(/injected metastore write failure/);
    setMetastoreWriteFault(undefined);
    expect((await s.stat('a')).kind).toBe('active');
    await expectLive(s, pool, 'a');
  });
});

describe('remove() and device errors', () => {
  test.each(['EPERM', 'EINVAL', 'ENOMEM'])('a deactivation failing with %s is FailedPrecondition with the device error as cause; the snapshot stays', async (code) => {
    const { s, pool, control } = await open();
    await s.prepare('a');
    control.fault = (call) => (call.op === 'deactivate' ? code : undefined);
    const error: unknown = await s.remove('a').catch((e: unknown) => e);
    control.fault = undefined;
    expect(error).toBeInstanceOf(FailedPreconditionError);
    const cause = (error as Error).cause;
    expect(isDeviceMapperError(cause) && cause.code).toBe(code);
    expect((await s.stat('a')).kind).toBe('active');
    await expectLive(s, pool, 'a');
    await s.remove('a');
  });
});

describe('a committed parent still held open', () => {
  test('is suspended around the create_snap of a child', async () => {
    const { s, pool, control } = await open();
    await s.prepare('p');
    const name = nameOf((await s.mounts('p'))[0]?.source);
    pool.simulateOpen(name);
    await s.commit('P', 'p'); // the device stays until its holder closes it
    expect(pool.activeDevices().find((d) => d.name === name)?.deferredRemove).toBe(true);
    const log: string[] = [];
    control.fault = (call) => {
      if (call.op === 'createSnapshot') log.push(`createSnapshot suspended=${pool.activeDevices().find((d) => d.name === name)?.suspended}`);
      if ((call.op === 'suspend' || call.op === 'resume') && call.device === name) log.push(call.op);
      return undefined;
    };
    await s.prepare('c', 'P');
    control.fault = undefined;
    expect(log.filter((l) => l.startsWith('createSnapshot'))).toEqual(['createSnapshot suspended=true']);
    expect(pool.activeDevices().find((d) => d.name === name)?.suspended).toBe(false);
    pool.simulateClose(name);
    await expectLive(s, pool, 'c');
  });
});
