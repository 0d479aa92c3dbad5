/**
 * An opt-in autoextend policy like LVM's thin_pool_autoextend_threshold and
 * thin_pool_autoextend_percent, driven by the pool's kernel events: the low
 * water mark is set at the threshold, and each crossing grows the pool.
 */
import { DeviceMapperError } from '../dm/errors.js';
import type { ThinPoolStatus } from '../dm/targets/thin-pool.js';
import { resizeLoopbackPool } from './loopback.js';
import type { ThinPool } from './pool.js';

/** When and how much to grow. */
export interface AutoextendPolicy {
  /** Grow when data use reaches this percent (LVM's default 80; 1 to 99). */
  thresholdPercent?: number;
  /** Grow by this percent of the current size (LVM's default 20). */
  extendPercent?: number;
  /** Never grow past this many bytes. */
  maxDataSizeBytes?: number;
  /**
   * How to grow the data device to a size; default: the loopback file for
   * loopback pools. For block devices, extend the device here (e.g. lvextend).
   */
  grow?: (pool: ThinPool, dataSizeBytes: number) => Promise<void>;
  /** Called after each growth, and with the error when growing fails. */
  onExtend?: (result: { fromBytes: number; toBytes: number } | { error: Error }) => void;
}

/** A running policy. */
export interface Autoextend {
  /** Stops listening to the pool's events. */
  stop(): void;
}

/** Starts an autoextend policy on a pool. */
export async function enableAutoextend(pool: ThinPool, policy: AutoextendPolicy = {}): Promise<Autoextend> {
  const threshold = policy.thresholdPercent ?? 80;
  const extend = policy.extendPercent ?? 20;
  if (!Number.isFinite(threshold) || threshold < 1 || threshold > 99) throw DeviceMapperError.invalid('autoextend', 'thresholdPercent must be from 1 to 99', pool.name);
  if (!Number.isFinite(extend) || extend <= 0) throw DeviceMapperError.invalid('autoextend', 'extendPercent must be above 0', pool.name);
  const grow = policy.grow ?? (pool.loopback ? resizeLoopbackPool : undefined);
  if (!grow) throw DeviceMapperError.invalid('autoextend', 'a pool on block devices needs a grow() callback', pool.name);

  const lowWaterFor = (dataBytes: number): number => Math.floor((dataBytes * (100 - threshold)) / 100 / pool.dataBlockSizeBytes) * pool.dataBlockSizeBytes;
  await pool.setLowWaterMark(lowWaterFor(pool.dataSizeBytes));

  let busy = false;
  const onStatus = (status: ThinPoolStatus): void => {
    const usedPercent = status.data.totalBytes === 0 ? 0 : (100 * status.data.usedBytes) / status.data.totalBytes;
    if (busy || usedPercent < threshold) return;
    const from = pool.dataSizeBytes;
    const wanted = Math.ceil((from * (100 + extend)) / 100 / pool.dataBlockSizeBytes) * pool.dataBlockSizeBytes;
    const to = Math.min(wanted, policy.maxDataSizeBytes ?? wanted);
    if (to <= from) return;
    busy = true;
    void (async () => {
      try {
        await grow(pool, to);
        await pool.setLowWaterMark(lowWaterFor(pool.dataSizeBytes));
        policy.onExtend?.({ fromBytes: from, toBytes: pool.dataSizeBytes });
      } catch (e) {
        policy.onExtend?.({ error: e instanceof Error ? e : new Error(String(e)) });
      } finally {
        busy = false;
      }
    })();
  };
  pool.on('status', onStatus);
  return { stop: () => void pool.off('status', onStatus) };
}
