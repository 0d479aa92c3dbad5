/**
 * The invariants a snapshotter on a simulated pool keeps after every step,
 * whatever ran, failed or crashed before: checked by the model-based and the
 * fault-injection tests.
 */
import { deviceName } from '../../../src/snapshotter/core.js';
import type { Snapshotter } from '../../../src/snapshotter/index.js';
import { inspectStore } from '../../../src/snapshotter/testing.js';
import type { SimulatedThinPool } from '../../../src/thin/simulated.js';

/** Digests of committed snapshots' data, by name and thin id, recorded at commit. */
export type CommittedData = Map<string, { id: number; digest: string | undefined }>;

function fail(message: string): never {
  throw new Error(`invariant broken: ${message}`);
}

/**
 * Every snapshot has its ready device record (or, for an active one whose
 * resize failed partway, a growing one) and its thin id in the pool; its
 * active device has the recorded size;
 * no two share an id; an active snapshot or view has its device active
 * (no removal pending) where mounts() points; stat and walk agree with the
 * records; committed data is unchanged; the free list holds no id in use;
 * every thin id in the pool has a record. With `idle` (nothing running),
 * no id is claimed either.
 */
export async function checkInvariants(s: Snapshotter, pool: SimulatedThinPool, committed: CommittedData, idle = true): Promise<void> {
  const store = await inspectStore(s);
  const thinIds = new Set(await pool.thinIds());
  const activations = new Map(pool.activeDevices().map((d) => [d.name, d]));
  const devices = new Map(store.devices.map((d) => [d.id, d]));
  const owners = new Map<number, string>();
  for (const [key, record] of store.snapshots) {
    const device = devices.get(record.deviceId);
    // An active snapshot may be mid-resize (a grow that failed waits for the next resize or open).
    const growing = device?.state === 'growing' && record.kind === 'active';
    if (!device || (device.state !== 'ready' && !growing) || device.snapshot !== key) {
      fail(`snapshot ${key} names thin id ${record.deviceId}, whose record is ${JSON.stringify(device)}`);
    }
    if (!thinIds.has(record.deviceId)) fail(`snapshot ${key}: thin id ${record.deviceId} is not in the pool`);
    const other = owners.get(record.deviceId);
    if (other !== undefined) fail(`snapshots ${other} and ${key} share thin id ${record.deviceId}`);
    owners.set(record.deviceId, key);
    if (record.kind !== 'committed') {
      const name = deviceName(pool.name, record.deviceId);
      const active = activations.get(name);
      if (!active || active.id !== record.deviceId || active.deferredRemove) {
        fail(`${record.kind} snapshot ${key}: device ${name} is ${JSON.stringify(active)}`);
      }
      const [mount] = await s.mounts(key);
      if (mount?.source !== `/dev/mapper/${name}`) fail(`mounts(${key}) gives ${mount?.source}`);
      // The device is at least the recorded size (larger only while a resize is unfinished).
      if (active.sizeBytes < record.sizeBytes || (!growing && active.sizeBytes !== record.sizeBytes)) {
        fail(`${record.kind} snapshot ${key}: device ${name} has ${active.sizeBytes} bytes, the record ${record.sizeBytes}`);
      }
    } else {
      const data = committed.get(key);
      if (data && data.id === record.deviceId && pool.contentDigest(record.deviceId) !== data.digest) {
        fail(`committed snapshot ${key}: its data changed`);
      }
    }
    const info = await s.stat(key);
    if (info.kind !== record.kind || info.parent !== record.parent) fail(`stat(${key}) disagrees with its record`);
  }
  const walked: string[] = [];
  for await (const info of s.walk()) walked.push(info.name);
  const stored = store.snapshots.map(([key]) => key);
  if (walked.join('\n') !== stored.join('\n')) fail(`walk gives ${JSON.stringify(walked)}, the store ${JSON.stringify(stored)}`);
  for (const id of store.freeIds) {
    if (devices.has(id)) fail(`free thin id ${id} has a device record`);
    if (thinIds.has(id)) fail(`free thin id ${id} is in the pool`);
  }
  const foreign = new Set(store.foreignIds);
  for (const id of foreign) if (devices.has(id)) fail(`foreign thin id ${id} has a device record`);
  for (const id of store.freeIds) if (foreign.has(id)) fail(`free thin id ${id} is recorded foreign`);
  for (const id of thinIds) if (!devices.has(id) && !foreign.has(id)) fail(`thin id ${id} in the pool has no record`);
  if (idle && store.claimedIds !== 0) fail(`${store.claimedIds} thin id(s) still claimed while idle`);
}

/**
 * After everything is let go and cleanup() ran: nothing is leaked. Every
 * device record is ready or foreign, every ready one belongs to a snapshot
 * or a base, and the only active devices are those of active snapshots and views.
 */
export async function checkNoLeak(s: Snapshotter, pool: SimulatedThinPool): Promise<void> {
  const store = await inspectStore(s);
  const owned = new Set(store.snapshots.map(([, r]) => r.deviceId));
  for (const device of store.devices) {
    if (device.state === 'foreign') continue;
    if (device.state !== 'ready') fail(`thin id ${device.id} left in state ${device.state}`);
    if (device.role === 'snapshot' && !owned.has(device.id)) fail(`thin id ${device.id} has no snapshot`);
  }
  const live = new Set(store.snapshots.filter(([, r]) => r.kind !== 'committed').map(([, r]) => deviceName(pool.name, r.deviceId)));
  for (const active of pool.activeDevices()) if (!live.has(active.name)) fail(`device ${active.name} is active without a live snapshot`);
}
