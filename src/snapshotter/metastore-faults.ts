/**
 * Test-only fault injection in the metastore: a hook that makes a chosen
 * write batch fail before anything of it is stored, as a full disk or an
 * I/O error makes LevelDB's write fail. Not part of the public API; tests
 * (this library's and, through the testing entry point, users') use it to
 * check that a failed write at any point changes nothing and leaks nothing.
 */

/** One write batch, as a fault predicate sees it. */
export interface MetastoreWrite {
  /** Batches written (or attempted) since the hook was installed, this one included (1 for the first). */
  count: number;
  /** The keys the batch puts or deletes. */
  keys: readonly string[];
}

/** The error an injected write failure raises. */
export class InjectedWriteError extends Error {
  /** The errno-style code LevelDB's own I/O failures carry. */
  readonly code = 'LEVEL_IO_ERROR';

  /** @param count - The failing batch's number. */
  constructor(count: number) {
    super(`injected metastore write failure (batch ${count})`);
    this.name = 'InjectedWriteError';
  }
}

let predicate: ((write: MetastoreWrite) => boolean) | undefined;
let count = 0;

/**
 * Installs (or with undefined removes) a predicate called before every
 * metastore write batch of every open metastore in this process; when it
 * returns true, the batch fails with {@link InjectedWriteError} and nothing
 * of it is written. Resets the batch count.
 */
export function setMetastoreWriteFault(fn: ((write: MetastoreWrite) => boolean) | undefined): void {
  predicate = fn;
  count = 0;
}

/** Makes the `nth` write batch (1-based) from now fail, and only that one. */
export function failNthMetastoreWrite(nth: number): void {
  setMetastoreWriteFault((write) => write.count === nth);
}

/** How many batches were written (or attempted) since the hook was last installed. */
export function metastoreWriteCount(): number {
  return count;
}

/** @internal Called by the metastore before each batch: throws when the installed predicate says so. */
export function checkMetastoreWrite(keys: readonly string[]): void {
  count++;
  if (predicate?.({ count, keys })) throw new InjectedWriteError(count);
}
