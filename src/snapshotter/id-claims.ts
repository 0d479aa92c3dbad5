/**
 * Claims on thin ids: the one rule that keeps operations from acting on a
 * device another operation is changing. Whoever moves a device record into
 * a transient state (`creating`, `removing`, `removed`) or deletes its thin
 * id holds the id's claim from before that record is written until the
 * record is settled (ready with an owner, or dropped and the id freed).
 * The allocator claims an id in the same transaction that hands it out and
 * never hands out a claimed id; cleanup() only acts on an id it could claim,
 * and decides on the record it reads after claiming, never on an earlier list.
 */

/** Claims on thin ids, FIFO per id. */
export class IdClaims {
  private readonly waiters = new Map<number, Array<() => void>>();

  /** Whether `id` is claimed. */
  has(id: number): boolean {
    return this.waiters.has(id);
  }

  /** Claims `id` when free; resolves false, claiming nothing, when someone holds it. */
  tryClaim(id: number): boolean {
    if (this.waiters.has(id)) return false;
    this.waiters.set(id, []);
    return true;
  }

  /** Claims `id`, waiting for its holder to release it first. */
  async claim(id: number): Promise<void> {
    const queue = this.waiters.get(id);
    if (queue === undefined) {
      this.waiters.set(id, []);
      return;
    }
    // release() hands the claim straight to the first waiter.
    await new Promise<void>((resolve) => queue.push(resolve));
  }

  /** Releases `id` (to its next waiter, if any). */
  release(id: number): void {
    const queue = this.waiters.get(id);
    if (queue === undefined) return;
    const next = queue.shift();
    if (next) next();
    else this.waiters.delete(id);
  }

  /** Runs `fn` holding the claim on `id`. */
  async with<T>(id: number, fn: () => Promise<T>): Promise<T> {
    await this.claim(id);
    try {
      return await fn();
    } finally {
      this.release(id);
    }
  }

  /** How many ids are claimed (0 when idle). */
  get size(): number {
    return this.waiters.size;
  }
}
