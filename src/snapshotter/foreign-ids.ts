/**
 * The thin ids in the pool that this store did not make, as sorted runs of
 * consecutive ids: another writer's 10,000 ids are one small record (often
 * one run) instead of 10,000 device records, so reopening a busy shared
 * pool reads and writes next to nothing for them. Immutable.
 */

/** `[first, last]`, inclusive. */
export type IdRun = [first: number, last: number];

/** A set of thin ids stored as ascending, non-touching runs. */
export class ForeignIds {
  /** The empty set. */
  static readonly none = new ForeignIds([]);

  private constructor(private readonly runs: readonly IdRun[]) {}

  /** From ascending ids (duplicates allowed), leaving out those in `except`. */
  static fromSorted(ids: readonly number[], except?: ReadonlySet<number>): ForeignIds {
    const runs: IdRun[] = [];
    let first = -1;
    let last = -2;
    for (const id of ids) {
      if (except?.has(id) === true || id === last) continue;
      if (id === last + 1) {
        last = id;
        continue;
      }
      if (first >= 0) runs.push([first, last]);
      first = last = id;
    }
    if (first >= 0) runs.push([first, last]);
    return new ForeignIds(runs);
  }

  /** From a stored record; refuses anything but ascending, non-touching runs of integers. */
  static fromRecord(runs: unknown): ForeignIds {
    if (!Array.isArray(runs)) throw new TypeError('foreign ids: not a list of runs');
    let last = -2;
    for (const run of runs as unknown[]) {
      const valid = Array.isArray(run) && run.length === 2 && run.every((n) => Number.isSafeInteger(n)) && (run[0] as number) > last + 1 && (run[1] as number) >= (run[0] as number);
      if (!valid) throw new TypeError(`foreign ids: invalid run ${JSON.stringify(run)}`);
      last = run[1] as number;
    }
    return new ForeignIds(runs as IdRun[]);
  }

  /** The runs, as stored. */
  toRecord(): IdRun[] {
    return this.runs.map(([a, b]) => [a, b]);
  }

  /** How many ids. */
  get size(): number {
    let n = 0;
    for (const [a, b] of this.runs) n += b - a + 1;
    return n;
  }

  /** The last id of the run holding `id`, or undefined when `id` is not in the set. */
  runEnd(id: number): number | undefined {
    let lo = 0;
    let hi = this.runs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const run = this.runs[mid]!;
      if (run[1] < id) lo = mid + 1;
      else if (run[0] > id) hi = mid;
      else return run[1];
    }
    return undefined;
  }

  /** Whether `id` is in the set. */
  has(id: number): boolean {
    return this.runEnd(id) !== undefined;
  }

  /** Every id, ascending. */
  *ids(): Generator<number> {
    for (const [a, b] of this.runs) for (let id = a; id <= b; id++) yield id;
  }

  /** This set with `id` added. */
  with(id: number): ForeignIds {
    if (this.has(id)) return this;
    return ForeignIds.fromSorted([...this.ids(), id].sort((a, b) => a - b));
  }

  /** The ids of this set that `other` lacks, ascending (one pass over both runs). */
  minus(other: ForeignIds): number[] {
    const out: number[] = [];
    let j = 0;
    for (const [first, last] of this.runs) {
      let id = first;
      while (id <= last) {
        while (j < other.runs.length && other.runs[j]![1] < id) j++;
        const cover = other.runs[j];
        if (cover !== undefined && cover[0] <= id) {
          id = cover[1] + 1;
          continue;
        }
        const end = cover === undefined ? last : Math.min(last, cover[0] - 1);
        for (; id <= end; id++) out.push(id);
      }
    }
    return out;
  }

  /** Whether both hold the same ids. */
  equals(other: ForeignIds): boolean {
    return this.runs.length === other.runs.length && this.runs.every(([a, b], i) => other.runs[i]![0] === a && other.runs[i]![1] === b);
  }
}
