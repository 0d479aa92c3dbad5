/**
 * The base device: one empty thin device per pool, filesystem, size and
 * mkfs options, formatted once. Every snapshot without a parent is a thin
 * snapshot of it, so no layer pays for mkfs (containerd formats a new
 * device for every parentless snapshot).
 */
import { crashPoint, isSimulatedCrash } from './crash-points.js';
import type { SnapshotterCore } from './core.js';
import { createDevice, rollbackDevice } from './device-lifecycle.js';
import { keys, type BaseRecord } from './records.js';

/** The key of a base: what makes two bases interchangeable. */
export function baseSpec(core: SnapshotterCore): string {
  const { formatter, baseImageSizeBytes, fsArguments } = core.options;
  return JSON.stringify([formatter.name, baseImageSizeBytes, fsArguments]);
}

/**
 * The base for the current options, made when missing: create an empty
 * thin device → activate → format → prepareBase (e.g. drop lost+found) →
 * measure its mapped bytes → deactivate → record it. The caller serializes
 * calls (one base is made once, however many prepares ask at once).
 */
export async function ensureBase(core: SnapshotterCore): Promise<BaseRecord> {
  const spec = baseSpec(core);
  const existing = await core.store.base(spec);
  if (existing) return existing;
  const { formatter, baseImageSizeBytes, fsArguments } = core.options;
  const { record, device } = await createDevice(core, { phase: 'base', sizeBytes: baseImageSizeBytes, baseSpec: spec });
  try {
    await formatter.format(device.path, fsArguments);
    crashPoint('base:after-format');
    await formatter.prepareBase?.(device.path);
    crashPoint('base:after-prepare-base');
    const { mappedBytes } = await device.status();
    await device.deactivate({ deferred: false });
    crashPoint('base:after-deactivate');
    const base: BaseRecord = { spec, deviceId: record.id, fsType: formatter.name, sizeBytes: baseImageSizeBytes, mappedBytes };
    await core.store.transaction(async (tx) => {
      tx.put(keys.device(record.id), { ...record, state: 'ready' });
      tx.put(keys.base(spec), base);
    });
    return base;
  } catch (e) {
    if (isSimulatedCrash(e)) throw e;
    await rollbackDevice(core, record, true).catch(() => undefined);
    throw e;
  } finally {
    core.claims.release(record.id);
  }
}
