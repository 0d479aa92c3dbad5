/**
 * The order between a pool's table reloads and its thin devices' table
 * loads. The kernel refuses to build a thin target while its pool is
 * suspended (dm-thin's thin_ctr: "unable to activate thin device while pool
 * is suspended", EINVAL), and a reload suspends the pool between loading
 * and resuming its new table. Thin table loads share the gate; a reload
 * holds it alone. FIFO: a waiting reload stops later loads from overtaking
 * it, so a busy pool still grows when autoextend asks.
 */

interface Waiter {
  exclusive: boolean;
  grant: () => void;
}

/** @internal A reader/writer gate for one pool, in this process. */
export class PoolGate {
  #shared = 0;
  #exclusive = false;
  readonly #queue: Waiter[] = [];

  /** Runs `fn` alongside other shared work, never during exclusive work. */
  async shared<T>(fn: () => Promise<T>): Promise<T> {
    return this.#run(false, fn);
  }

  /** Runs `fn` alone. */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.#run(true, fn);
  }

  /** Whether nothing holds or waits for the gate. */
  get idle(): boolean {
    return this.#shared === 0 && !this.#exclusive && this.#queue.length === 0;
  }

  async #run<T>(exclusive: boolean, fn: () => Promise<T>): Promise<T> {
    await this.#acquire(exclusive);
    try {
      return await fn();
    } finally {
      this.#release(exclusive);
    }
  }

  #canGrant(exclusive: boolean): boolean {
    return exclusive ? !this.#exclusive && this.#shared === 0 : !this.#exclusive;
  }

  #grant(exclusive: boolean): void {
    if (exclusive) this.#exclusive = true;
    else this.#shared++;
  }

  #acquire(exclusive: boolean): Promise<void> {
    if (this.#queue.length === 0 && this.#canGrant(exclusive)) {
      this.#grant(exclusive);
      return Promise.resolve();
    }
    return new Promise<void>((grant) => this.#queue.push({ exclusive, grant }));
  }

  #release(exclusive: boolean): void {
    if (exclusive) this.#exclusive = false;
    else this.#shared--;
    for (let next = this.#queue[0]; next && this.#canGrant(next.exclusive); next = this.#queue[0]) {
      this.#queue.shift();
      this.#grant(next.exclusive);
      next.grant();
    }
  }
}
