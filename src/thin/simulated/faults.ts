/**
 * Latency and fault injection for the {@link SimulatedThinPool}: users'
 * tests (and this library's own) make its calls slow and random, so that
 * concurrent work interleaves as it does on a busy kernel, and make chosen
 * calls fail with the errno the kernel would give.
 */
import { DeviceMapperError } from '../../dm/errors.js';

/** The simulated pool's calls that can be delayed or failed. */
export type SimulatedOperation =
  | 'status'
  | 'createThin'
  | 'createSnapshot'
  | 'deleteThin'
  | 'activate'
  | 'thinIds'
  | 'transactionId'
  | 'setTransactionId'
  | 'isActive'
  | 'isOpen'
  | 'deferredRemovalPending'
  | 'cancelDeferredRemoval'
  | 'deactivate'
  | 'suspend'
  | 'resume'
  | 'deviceStatus'
  | 'grow'
  | 'discard';

/** One call, as a fault predicate sees it. */
export interface SimulatedCall {
  /** The operation. */
  op: SimulatedOperation;
  /** How many calls of this operation the pool has seen, this one included (1 for the first). */
  count: number;
  /** The calls of any operation the pool has seen, this one included. */
  total: number;
  /** The device-mapper name the call is about, for device calls and activate. */
  device?: string;
  /** The thin id the call is about, when it has one. */
  id?: number;
}

/** Latency and faults of a {@link SimulatedThinPool}. */
export interface SimulatedFaultOptions {
  /**
   * Delays every call by a random time in [minMs, maxMs], from a seeded
   * generator (the same seed, the same delays). A delay under 1 ms is not
   * slept: the call yields 1 to 8 event-loop turns instead (more for longer
   * delays), so concurrent work interleaves at no cost in time.
   */
  latency?: {
    /** The shortest delay in milliseconds. Default 0. */
    minMs?: number;
    /** The longest delay in milliseconds. */
    maxMs: number;
    /** The generator's seed. Default 1. */
    seed?: number;
  };
  /**
   * Decides whether a call fails: returns the errno name ('EPERM', 'EIO',
   * 'ENOMEM', ...) to fail with, or undefined to let it run. A failed call
   * changes nothing, as a failed ioctl does. It may return a promise: the
   * call waits for it, so a test can hold a call at a chosen point while
   * other work runs. See {@link failNthCall}.
   */
  fail?: (call: SimulatedCall) => string | undefined | Promise<string | undefined>;
}

/** A fault predicate that fails the `nth` call (1-based) of `op` with `code`, and nothing else. */
export function failNthCall(op: SimulatedOperation, nth: number, code: string): (call: SimulatedCall) => string | undefined {
  return (call) => (call.op === op && call.count === nth ? code : undefined);
}

// mulberry32: small, fast and good enough for spreading delays.
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** @internal The per-pool state of the options: counts calls, sleeps, fails. */
export class FaultInjector {
  private readonly counts = new Map<SimulatedOperation, number>();
  private total = 0;
  private readonly random: (() => number) | undefined;

  constructor(private readonly options: SimulatedFaultOptions = {}) {
    const latency = options.latency;
    if (latency !== undefined) {
      const min = latency.minMs ?? 0;
      if (!(min >= 0) || !(latency.maxMs >= min)) throw new RangeError('latency needs 0 <= minMs <= maxMs');
      this.random = generator(latency.seed ?? 1);
    }
  }

  /** Whether calls are delayed (so they must be awaited to take effect). */
  get active(): boolean {
    return this.random !== undefined || this.options.fail !== undefined;
  }

  /** Waits the call's delay, then throws the call's fault, if any. */
  async enter(op: SimulatedOperation, target: { device?: string; id?: number } = {}): Promise<void> {
    const count = (this.counts.get(op) ?? 0) + 1;
    this.counts.set(op, count);
    this.total++;
    const call: SimulatedCall = { op, count, total: this.total, ...target };
    if (this.random && this.options.latency) {
      const { minMs = 0, maxMs } = this.options.latency;
      const delay = minMs + this.random() * (maxMs - minMs);
      if (delay >= 1) await new Promise<void>((resolve) => setTimeout(resolve, delay));
      else for (let turns = 1 + Math.floor(delay * 8); turns > 0; turns--) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const code = await this.options.fail?.(call);
    if (code !== undefined) {
      const where = target.device ?? (target.id === undefined ? undefined : `thin id ${target.id}`);
      throw new DeviceMapperError(`${op}${where === undefined ? '' : ` ${where}`}: injected fault (${code})`, {
        code,
        op,
        ...(target.device === undefined ? {} : { device: target.device }),
      });
    }
  }
}
