/**
 * Turns a pool's status into typed pool events. A loop waits on the pool's
 * event number (DM_DEV_ARM_POLL in the addon), never on a timer, and runs
 * only while the pool has listeners; every other status the pool reads
 * (`status()`, the free-space guard's) goes through the same condition
 * tracking, so a condition is heard as soon as any read shows it, not only
 * when the kernel raises an event (its metadata threshold is far below the
 * guard's minimum, so its event would come after the guard's refusals).
 */
import type { EventEmitter } from 'node:events';
import * as dm from '../dm/device-mapper.js';
import { isDeviceMapperError } from '../dm/errors.js';
import type { ThinPoolStatus } from '../dm/targets/thin-pool.js';
import { freePercent } from './guard.js';
import type { ThinPool } from './pool.js';
import type { ThinPoolEvents } from './types.js';

/**
 * A condition event's name: every {@link ThinPoolEvents} key but 'status'.
 *
 * @inline
 */
type Condition = Exclude<keyof ThinPoolEvents, 'status'>;

/**
 * The conditions a status shows; each event fires when its condition turns
 * true. 'lowWater' and 'metadataLow' also hold below `warnFreePercent` of
 * free data or metadata space (the pool passes its warning margin).
 */
export function conditions(status: ThinPoolStatus, lowWaterBlocks: number, warnFreePercent: number): Set<Condition> {
  const set = new Set<Condition>();
  const freeBlocks = status.totalDataBlocks - status.usedDataBlocks;
  // The kernel raises its event once free blocks reach the mark, so 'at the mark' counts.
  const atMark = lowWaterBlocks > 0 && freeBlocks <= lowWaterBlocks;
  if (status.mode !== 'fail' && status.mode !== 'error' && (atMark || freePercent(status.data) < warnFreePercent)) set.add('lowWater');
  if (status.mode === 'out_of_data_space') set.add('outOfDataSpace');
  if (status.mode === 'ro') set.add('readOnly');
  if (status.mode === 'fail' || status.mode === 'error') set.add('failed');
  if (status.needsCheck) set.add('needsCheck');
  const metaFreeBlocks = status.totalMetadataBlocks - status.usedMetadataBlocks;
  const kernelLow = status.metadataLowWatermark !== null && metaFreeBlocks <= status.metadataLowWatermark;
  if (status.mode !== 'fail' && (kernelLow || freePercent(status.metadata) < warnFreePercent)) set.add('metadataLow');
  return set;
}

/** @internal The loop behind a pool's events. */
export class PoolEventWatcher {
  readonly #pool: ThinPool;
  #wait: dm.EventWait | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;
  // The conditions listeners have heard of, from whichever read saw them.
  #heard = new Set<Condition>();

  constructor(pool: ThinPool) {
    this.#pool = pool;
  }

  /** Starts when the pool has listeners, stops when it has none. */
  #listening(): boolean {
    return (this.#pool as EventEmitter).eventNames().some((e) => e !== 'newListener' && e !== 'removeListener');
  }

  update(): void {
    const listening = this.#listening();
    if (listening && !this.#running && !this.#stopped && !this.#pool.closed) {
      this.#running = this.#loop().finally(() => {
        this.#running = undefined;
      });
    } else if (!listening) {
      this.#wait?.cancel();
    }
  }

  /**
   * Emits the conditions `status` shows that were not true at the last
   * read. A listener that throws is reported on 'error' (when someone
   * listens there), so that it cannot fail the read that fed it.
   */
  observe(status: ThinPoolStatus): void {
    const pool = this.#pool;
    const now = conditions(status, pool.lowWaterMarkBlocks, pool.warnFreeSpacePercent);
    const fresh = [...now].filter((c) => !this.#heard.has(c));
    // Set first: a listener that reads the status again must not hear the same condition twice.
    this.#heard = now;
    for (const c of fresh) {
      try {
        pool.emit(c, status);
      } catch (e) {
        if (pool.listenerCount('error') > 0) pool.emit('error', e instanceof Error ? e : new Error(String(e)));
      }
    }
  }

  async #loop(): Promise<void> {
    const pool = this.#pool;
    // Listeners that just arrived hear the conditions that already hold.
    this.#heard = new Set();
    try {
      let eventNr = (await dm.info(pool.name))?.eventNr ?? 0;
      for (;;) {
        // status() feeds observe(), which emits the conditions that turned true.
        const status = await pool.status();
        pool.emit('status', status);
        if (this.#stopped || pool.closed || !this.#listening()) return;
        this.#wait = dm.waitEvent(pool.name, eventNr);
        eventNr = await this.#wait.promise;
        this.#wait = undefined;
      }
    } catch (e) {
      // Cancelled (no listeners left or closed) or the pool went away: stop quietly.
      if (isDeviceMapperError(e, 'ECANCELED') || isDeviceMapperError(e, 'ENXIO')) return;
      if (pool.listenerCount('error') > 0) pool.emit('error', e instanceof Error ? e : new Error(String(e)));
    } finally {
      this.#wait = undefined;
    }
  }

  /** Stops for good. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wait?.cancel();
    await this.#running;
  }
}
