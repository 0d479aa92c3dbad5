/**
 * Pool metadata changes paired with the pool's transaction id. Each change
 * (create, snapshot, delete) is followed by `set_transaction_id n n+1`, a
 * compare-and-swap: if another writer touched the pool, the swap fails and
 * the snapshotter stops writing rather than trusting ids it no longer owns.
 * Changes run one at a time (the kernel serializes pool messages anyway),
 * so the id counts this store's completed changes.
 */
import type { ThinPoolApi } from '../thin/types.js';
import { crashPoint, type CrashPointName } from './crash-points.js';
import { UnavailableError, errorCode } from './errors.js';
import { Mutex } from './locks.js';

/** Serialized pool changes with transaction-id compare-and-swap. */
export class PoolTransactions {
  private readonly lock = new Mutex();

  /**
   * @param pool - The pool.
   * @param current - The pool's transaction id now.
   * @param onConflict - Called once the swap fails: another writer changed the pool.
   */
  constructor(
    private readonly pool: ThinPoolApi,
    private currentId: number,
    private readonly onConflict: (error: UnavailableError) => void,
  ) {}

  /** The transaction id after the last change. */
  get current(): number {
    return this.currentId;
  }

  /**
   * Runs one pool change, then advances the transaction id. `change`
   * returns false when it found nothing to change (no advance then).
   *
   * @param change - The pool call.
   * @param afterChange - The crash point between the change and the swap.
   * @throws UnavailableError when the swap fails.
   */
  async apply(change: () => Promise<boolean | void>, afterChange: CrashPointName | undefined): Promise<void> {
    await this.lock.run(async () => {
      if ((await change()) === false) return;
      if (afterChange) crashPoint(afterChange);
      try {
        await this.pool.setTransactionId(this.currentId, this.currentId + 1);
      } catch (cause) {
        if (errorCode(cause) !== 'EINVAL') throw cause;
        const error = new UnavailableError(
          `pool ${this.pool.name}: its transaction id is no longer ${this.currentId}: another writer changed the pool`,
          { cause },
        );
        this.onConflict(error);
        throw error;
      }
      this.currentId++;
    });
  }
}
