/**
 * Turns the kernel's dm events on a pool into typed pool events. It waits
 * on the pool's event number (DM_DEV_ARM_POLL in the addon), never on a timer,
 * and runs only while the pool has listeners.
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

/** The conditions a status shows; each event fires when its condition turns true. */
export function conditions(status: ThinPoolStatus, lowWaterBlocks: number, minFreePercent: number): Set<Condition> {
  const set = new Set<Condition>();
  const freeBlocks = status.totalDataBlocks - status.usedDataBlocks;
  // The kernel raises its event once free blocks reach the mark, so 'at the mark' counts.
  if (status.mode !== 'fail' && status.mode !== 'error' && lowWaterBlocks > 0 && freeBlocks <= lowWaterBlocks) set.add('lowWater');
  if (status.mode === 'out_of_data_space') set.add('outOfDataSpace');
  if (status.mode === 'ro') set.add('readOnly');
  if (status.mode === 'fail' || status.mode === 'error') set.add('failed');
  if (status.needsCheck) set.add('needsCheck');
  const metaFreeBlocks = status.totalMetadataBlocks - status.usedMetadataBlocks;
  const kernelLow = status.metadataLowWatermark !== null && metaFreeBlocks <= status.metadataLowWatermark;
  if (status.mode !== 'fail' && (kernelLow || freePercent(status.metadata) < minFreePercent)) set.add('metadataLow');
  return set;
}

/** @internal The loop behind a pool's events. */
export class PoolEventWatcher {
  readonly #pool: ThinPool;
  #wait: dm.EventWait | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

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

  async #loop(): Promise<void> {
    const pool = this.#pool;
    let previous = new Set<Condition>();
    try {
      let eventNr = (await dm.info(pool.name))?.eventNr ?? 0;
      for (;;) {
        const status = await pool.status();
        const now = conditions(status, pool.lowWaterMarkBlocks, pool.minFreeSpacePercent);
        pool.emit('status', status);
        for (const c of now) if (!previous.has(c)) pool.emit(c, status);
        previous = now;
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
