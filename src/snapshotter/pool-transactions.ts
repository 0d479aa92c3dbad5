/**
 * Pool metadata changes fenced by the pool's transaction id.
 *
 * The first change after open claims the pool with `set_transaction_id n
 * n+1`, a compare-and-swap: it fails if another writer moved the id since
 * open. Every later change checks, in a status read without a metadata
 * commit just before it, that the id is still the claimed one; for
 * creations that is the status the pool's own free-space guard reads (see
 * ThinCreateOptions.check), so the fence costs no extra call. Another
 * writer that claims the pool the same way is thus seen before this
 * store's next change, and the snapshotter stops writing rather than
 * trusting ids it may no longer own. The metastore records the claimed id,
 * so a pool whose metadata went back to before the claim is refused at open.
 *
 * (Advancing the id after every change costs one more metadata commit per
 * change, about as much as the change itself, and detects nothing more:
 * a writer that does not use the id is not seen either way.)
 */
import type { ThinPoolStatus } from '../dm/targets/thin-pool.js';
import type { ThinPoolApi } from '../thin/types.js';
import { crashPoint, type CrashPointName } from './crash-points.js';
import { UnavailableError, errorCode } from './errors.js';
import { Mutex } from './locks.js';

/** Checks a pool status just before a change; throws to refuse it. */
export type StatusCheck = (status: ThinPoolStatus) => void;

/** One pool change for {@link PoolTransactions.apply}. */
export interface PoolChange {
  /**
   * Makes the change. When `checkedByPool`, it must hand `check` to the
   * pool call (ThinCreateOptions.check) so the pool runs it on the status
   * it reads first; otherwise `check` has already run.
   */
  run: (check: StatusCheck) => Promise<unknown>;
  /** Whether the pool call runs `check` itself (creations do). */
  checkedByPool: boolean;
  /** The caller's own check of the same status (e.g. its free-space floor). */
  precheck?: StatusCheck;
  /** The crash point right after the change. */
  afterChange?: CrashPointName;
}

/** Serialized pool changes behind a transaction-id fence. */
export class PoolTransactions {
  private readonly lock = new Mutex();
  private claimed = false;

  /**
   * @param pool - The pool.
   * @param currentId - The pool's transaction id now.
   * @param onConflict - Called once another writer is seen: the snapshotter stops.
   */
  constructor(
    private readonly pool: ThinPoolApi,
    private currentId: number,
    private readonly onConflict: (error: UnavailableError) => void,
  ) {}

  /** The transaction id this store expects the pool to have. */
  get current(): number {
    return this.currentId;
  }

  /**
   * Runs one pool change (create, snapshot, delete) behind the fence;
   * changes run one at a time.
   *
   * @throws UnavailableError when another writer moved the transaction id.
   */
  async apply(change: PoolChange): Promise<void> {
    await this.lock.run(async () => {
      await this.claim();
      let checked = false;
      const check: StatusCheck = (status) => {
        checked = true;
        if (status.transactionId !== this.currentId) throw this.conflict(undefined);
        change.precheck?.(status);
      };
      if (!change.checkedByPool) check(await this.pool.status({ noFlush: true }));
      await change.run(check);
      // A pool implementation that ignored the check: verify late rather than never.
      if (!checked) check(await this.pool.status({ noFlush: true }));
      if (change.afterChange) crashPoint(change.afterChange);
    });
  }

  private async claim(): Promise<void> {
    if (this.claimed) return;
    try {
      await this.pool.setTransactionId(this.currentId, this.currentId + 1);
    } catch (cause) {
      if (errorCode(cause) !== 'EINVAL') throw cause;
      throw this.conflict(cause);
    }
    this.currentId++;
    this.claimed = true;
  }

  private conflict(cause: unknown): UnavailableError {
    const error = new UnavailableError(
      `pool ${this.pool.name}: its transaction id is no longer ${this.currentId}: another writer changed the pool`,
      cause === undefined ? undefined : { cause },
    );
    this.onConflict(error);
    return error;
  }
}
