/**
 * An in-memory mirror of the metastore's free list (`alloc/free/…`), kept
 * in step with every committed batch, so that allocating a released id is a
 * binary search instead of a database iterator. The process holds the
 * database's lock, so no other writer can change the list behind it.
 */

/** The free thin ids in ascending order. */
export class FreeIds {
  private readonly ids: number[] = [];

  /** @param initial - The ids on the free list at open, any order. */
  constructor(initial: Iterable<number>) {
    this.ids.push(...initial);
    this.ids.sort((a, b) => a - b);
  }

  /** How many ids are free. */
  get size(): number {
    return this.ids.length;
  }

  /** The lowest free id above `after` (or the lowest of all), if any. */
  firstAfter(after: number | undefined): number | undefined {
    if (after === undefined) return this.ids[0];
    return this.ids[this.indexAbove(after)];
  }

  /** The free ids, ascending. */
  values(): readonly number[] {
    return this.ids;
  }

  /** Marks `id` free. */
  add(id: number): void {
    const i = this.indexAbove(id - 1);
    if (this.ids[i] !== id) this.ids.splice(i, 0, id);
  }

  /** Marks `id` taken. */
  delete(id: number): void {
    const i = this.indexAbove(id - 1);
    if (this.ids[i] === id) this.ids.splice(i, 1);
  }

  // The index of the first id greater than `value`.
  private indexAbove(value: number): number {
    let lo = 0;
    let hi = this.ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.ids[mid] ?? 0) <= value) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
