/**
 * In-process locks: a tiny mutex for the id allocator and metastore batches,
 * and per-key reader/writer locks so that operations on unrelated snapshots
 * never wait for each other (many children of one parent are prepared at
 * once: each holds the parent for reading).
 */

/** A FIFO mutex. */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();

  /** Runs `fn` alone: calls queue in arrival order. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    let release!: () => void;
    const previous = this.tail;
    this.tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    await previous;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

/** How a key is held. */
export type LockMode = 'read' | 'write';

interface KeyState {
  readers: number;
  writer: boolean;
  queue: Array<{ mode: LockMode; grant: () => void }>;
}

/**
 * Reader/writer locks per string key, FIFO per key (a waiting writer stops
 * later readers from overtaking it). Several keys are always taken in sorted
 * order, so two operations locking overlapping sets cannot deadlock.
 */
export class KeyLocks {
  private readonly states = new Map<string, KeyState>();

  /**
   * Runs `fn` while holding every listed key. A key listed twice is held
   * once, for writing if either asks for it.
   */
  async run<T>(wanted: ReadonlyArray<readonly [key: string, mode: LockMode]>, fn: () => Promise<T>): Promise<T> {
    const merged = new Map<string, LockMode>();
    for (const [key, mode] of wanted) {
      merged.set(key, merged.get(key) === 'write' ? 'write' : mode);
    }
    const ordered = [...merged.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const held: Array<[string, LockMode]> = [];
    try {
      for (const [key, mode] of ordered) {
        await this.acquire(key, mode);
        held.push([key, mode]);
      }
      return await fn();
    } finally {
      for (const [key, mode] of held.reverse()) this.release(key, mode);
    }
  }

  /** How many keys have holders or waiters (for tests: 0 when idle). */
  get size(): number {
    return this.states.size;
  }

  private acquire(key: string, mode: LockMode): Promise<void> {
    let state = this.states.get(key);
    if (!state) {
      state = { readers: 0, writer: false, queue: [] };
      this.states.set(key, state);
    }
    if (state.queue.length === 0 && this.canGrant(state, mode)) {
      this.grant(state, mode);
      return Promise.resolve();
    }
    const s = state;
    return new Promise<void>((resolve) => {
      s.queue.push({ mode, grant: resolve });
    });
  }

  private canGrant(state: KeyState, mode: LockMode): boolean {
    return mode === 'read' ? !state.writer : !state.writer && state.readers === 0;
  }

  private grant(state: KeyState, mode: LockMode): void {
    if (mode === 'read') state.readers++;
    else state.writer = true;
  }

  private release(key: string, mode: LockMode): void {
    const state = this.states.get(key);
    if (!state) return;
    if (mode === 'read') state.readers--;
    else state.writer = false;
    while (state.queue.length > 0) {
      const next = state.queue[0];
      if (!next || !this.canGrant(state, next.mode)) break;
      state.queue.shift();
      this.grant(state, next.mode);
      next.grant();
    }
    if (state.readers === 0 && !state.writer && state.queue.length === 0) this.states.delete(key);
  }
}
