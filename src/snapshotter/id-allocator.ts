/**
 * Thin id allocation that costs the same at the millionth id as at the
 * first: a persisted counter of never-used ids plus a free list of released
 * ids, both in the metastore. Allocating takes the free list's lowest id
 * (from its in-memory mirror, see free-ids.ts) or reads the counter; nothing
 * scans every id ever used. Callers run
 * inside a metastore write transaction, which serializes allocations.
 */
import { FailedPreconditionError } from './errors.js';
import { IdClaims } from './id-claims.js';
import type { WriteTransaction } from './metastore.js';
import { keys } from './records.js';
import { MAX_THIN_ID } from '../thin/types.js';

/** The lowest thin id handed out (0 is left alone: some tools treat it specially). */
export const FIRST_THIN_ID = 1;

/**
 * Takes a free thin id and claims it: the lowest released one, else the
 * next never-used one, skipping foreign ids (found in the pool, made by
 * another writer), ids that have a device record and ids claimed by a running operation (a cleanup
 * still looking at an id it read before it was freed). The caller releases
 * the claim once the id's record is settled (or the transaction failed).
 *
 * @throws FailedPreconditionError when all 2^24 - 1 ids are in use.
 */
export async function allocateThinId(tx: WriteTransaction, claims: IdClaims = new IdClaims()): Promise<number> {
  const cursor = cursors.get(tx) ?? { after: undefined, freeListDone: false };
  cursors.set(tx, cursor);
  if (!cursor.freeListDone) {
    // Past the last free id this transaction took: a binary search in the mirror.
    let id = tx.freeIds.firstAfter(cursor.after);
    while (id !== undefined && claims.has(id)) id = tx.freeIds.firstAfter(id);
    if (id !== undefined) {
      cursor.after = id;
      tx.del(keys.free(id));
      claims.tryClaim(id);
      return id;
    }
    cursor.freeListDone = true;
  }
  let next = ((await tx.get(keys.allocNext)) as number | undefined) ?? FIRST_THIN_ID;
  const foreign = tx.foreignIds;
  for (;;) {
    // A run of foreign ids is skipped in one step.
    const foreignRunEnd = foreign.runEnd(next);
    if (foreignRunEnd !== undefined) next = foreignRunEnd + 1;
    else if (next <= MAX_THIN_ID && (claims.has(next) || (await tx.get(keys.device(next))) !== undefined)) next++;
    else break;
  }
  if (next > MAX_THIN_ID) throw new FailedPreconditionError('every thin id (1 to 2^24 - 1) is in use');
  tx.put(keys.allocNext, next + 1);
  claims.tryClaim(next);
  return next;
}

// Per transaction: where its walk of the free list stands. Ids it releases
// become visible to the next transaction, not to itself.
const cursors = new WeakMap<WriteTransaction, { after: number | undefined; freeListDone: boolean }>();

/** Returns a thin id to the free list (its device record must go in the same transaction). */
export function releaseThinId(tx: WriteTransaction, id: number): void {
  tx.put(keys.free(id), true);
}
