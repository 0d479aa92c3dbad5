/**
 * The block accounting of the simulated thin pool: which data blocks each
 * thin id maps, how many ids share each data block (copy-on-write), and the
 * free data blocks. Pure bookkeeping: no activation state, no I/O.
 */

/** Why an allocation failed. */
export class OutOfDataSpace extends Error {}

/** The serialized form (see {@link BlockState.toJSON}). */
export interface BlockStateJson {
  dataBlocks: number;
  nextDataBlock: number;
  thins: Array<[id: number, mappings: Array<[virtualBlock: number, dataBlock: number]>]>;
}

/** Per-thin mappings from virtual block to data block, with reference counts. */
export class BlockState {
  readonly thins = new Map<number, Map<number, number>>();
  private readonly refcounts = new Map<number, number>();
  private readonly freeBlocks: number[] = [];
  private nextDataBlock = 0;
  // What each data block holds, as a stamp that every write changes (contents are not kept).
  private readonly stamps = new Map<number, number>();
  private nextStamp = 1;

  /** @param dataBlocks - How many data blocks the pool has. */
  constructor(readonly dataBlocks: number) {}

  /** Data blocks in use by at least one thin id. */
  get usedDataBlocks(): number {
    return this.refcounts.size;
  }

  /** Every mapping of every thin id (a proxy for metadata usage). */
  get totalMappings(): number {
    let n = 0;
    for (const m of this.thins.values()) n += m.size;
    return n;
  }

  /** Adds an empty thin id. */
  create(id: number): void {
    this.thins.set(id, new Map());
  }

  /** Adds `id` sharing every block of `origin`. */
  snapshot(id: number, origin: number): void {
    const source = this.thins.get(origin) ?? new Map<number, number>();
    this.thins.set(id, new Map(source));
    for (const block of source.values()) this.ref(block);
  }

  /** Removes `id`, freeing blocks nobody else maps. */
  delete(id: number): void {
    const mappings = this.thins.get(id);
    if (!mappings) return;
    for (const block of mappings.values()) this.unref(block);
    this.thins.delete(id);
  }

  /**
   * Writes virtual blocks [first, last] of `id`: unmapped blocks get a new
   * data block, shared ones are copied (a new block replaces the shared one).
   *
   * @throws OutOfDataSpace when the pool is full (blocks written before stay written).
   */
  write(id: number, first: number, last: number): void {
    const mappings = this.thins.get(id);
    if (!mappings) return;
    for (let vb = first; vb <= last; vb++) {
      const current = mappings.get(vb);
      if (current !== undefined && (this.refcounts.get(current) ?? 0) <= 1) {
        this.stamps.set(current, this.nextStamp++);
        continue;
      }
      const fresh = this.allocate();
      this.stamps.set(fresh, this.nextStamp++);
      if (current !== undefined) this.unref(current);
      mappings.set(vb, fresh);
    }
  }

  /** Unmaps virtual blocks [first, last] of `id` (a discard). */
  discard(id: number, first: number, last: number): void {
    const mappings = this.thins.get(id);
    if (!mappings) return;
    if (last - first + 1 >= mappings.size) {
      for (const [vb, block] of [...mappings]) {
        if (vb >= first && vb <= last) {
          this.unref(block);
          mappings.delete(vb);
        }
      }
      return;
    }
    for (let vb = first; vb <= last; vb++) {
      const block = mappings.get(vb);
      if (block === undefined) continue;
      this.unref(block);
      mappings.delete(vb);
    }
  }

  private allocate(): number {
    const reused = this.freeBlocks.pop();
    const block = reused ?? (this.nextDataBlock < this.dataBlocks ? this.nextDataBlock++ : undefined);
    if (block === undefined) throw new OutOfDataSpace('no free data blocks');
    this.refcounts.set(block, 1);
    return block;
  }

  private ref(block: number): void {
    this.refcounts.set(block, (this.refcounts.get(block) ?? 0) + 1);
  }

  private unref(block: number): void {
    const count = (this.refcounts.get(block) ?? 0) - 1;
    if (count > 0) {
      this.refcounts.set(block, count);
    } else {
      this.refcounts.delete(block);
      this.stamps.delete(block);
      this.freeBlocks.push(block);
    }
  }

  /**
   * What `id` holds, as a string that changes whenever data it maps is
   * written or unmapped (and not when another id copies a shared block
   * away); undefined when the id does not exist. Stamps are not persisted:
   * compare digests within one process.
   */
  digest(id: number): string | undefined {
    const mappings = this.thins.get(id);
    if (!mappings) return undefined;
    return [...mappings]
      .sort(([a], [b]) => a - b)
      .map(([vb, block]) => `${vb}:${block}:${this.stamps.get(block) ?? 0}`)
      .join(',');
  }

  /** The serialized form. */
  toJSON(): BlockStateJson {
    return {
      dataBlocks: this.dataBlocks,
      nextDataBlock: this.nextDataBlock,
      thins: [...this.thins].map(([id, m]) => [id, [...m]]),
    };
  }

  /** Rebuilds a state from its serialized form (reference counts and the free list are recomputed). */
  static fromJSON(json: BlockStateJson): BlockState {
    const state = new BlockState(json.dataBlocks);
    state.nextDataBlock = json.nextDataBlock;
    for (const [id, mappings] of json.thins) {
      state.thins.set(id, new Map(mappings));
      for (const [, block] of mappings) state.ref(block);
    }
    for (let block = state.nextDataBlock - 1; block >= 0; block--) {
      if (!state.refcounts.has(block)) state.freeBlocks.push(block);
    }
    return state;
  }
}
