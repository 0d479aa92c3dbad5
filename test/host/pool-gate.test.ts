/**
 * The pool gate that orders table reloads against thin table loads: shared
 * work overlaps, exclusive work runs alone, and a waiting reload is not
 * overtaken by shared work that arrives after it. Checked with fast-check
 * over random arrivals and durations.
 */
import fc from 'fast-check';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { PoolGate } from '../../src/thin/gate.js';

describe('PoolGate', () => {
  it('never runs exclusive work alongside anything, and serves a waiting exclusive before later shared work', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.record({ exclusive: fc.boolean(), ms: fc.integer({ min: 0, max: 3 }), gap: fc.integer({ min: 0, max: 2 }) }), { minLength: 1, maxLength: 25 }), async (jobs) => {
        const gate = new PoolGate();
        let shared = 0;
        let exclusive = 0;
        const started: number[] = [];
        const violations: string[] = [];
        const runs: Array<Promise<void>> = [];
        for (const [i, job] of jobs.entries()) {
          const body = async (): Promise<void> => {
            started.push(i);
            if (job.exclusive) exclusive++;
            else shared++;
            if (exclusive > 1 || (exclusive === 1 && shared > 0)) violations.push(`job ${i} overlaps exclusive work`);
            await sleep(job.ms);
            if (job.exclusive) exclusive--;
            else shared--;
          };
          runs.push(job.exclusive ? gate.exclusive(body) : gate.shared(body));
          if (job.gap > 0) await sleep(job.gap);
        }
        await Promise.all(runs);
        expect(violations).toEqual([]);
        // FIFO at the gate: every job starts after each exclusive job that arrived before it.
        for (const [i, job] of jobs.entries()) {
          if (!job.exclusive) continue;
          for (let later = i + 1; later < jobs.length; later++) expect(started.indexOf(later)).toBeGreaterThan(started.indexOf(i));
        }
        expect(gate.idle).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('releases the gate when the work throws', async () => {
    const gate = new PoolGate();
    await expect(gate.exclusive(() => Promise.reject(new Error('reload failed')))).rejects.toThrow('reload failed');
    await expect(gate.shared(() => Promise.resolve(1))).resolves.toBe(1);
    expect(gate.idle).toBe(true);
  });
});
