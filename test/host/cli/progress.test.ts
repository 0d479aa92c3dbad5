import { describe, expect, it } from 'vitest';
import { progressEnabled, withProgress } from '../../../src/cli/progress.js';
import { Capture } from './helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('progress bars', () => {
  it('show only on a terminal and not when quiet', () => {
    expect(progressEnabled(new Capture(true), false)).toBe(true);
    expect(progressEnabled(new Capture(true), true)).toBe(false);
    expect(progressEnabled(new Capture(false), false)).toBe(false);
  });

  it('draw a bar with the sampled bytes on a terminal, finished at 100% when the work succeeds', async () => {
    const tty = new Capture(true);
    let done = 0;
    const result = await withProgress(tty, true, { label: 'discarding x', totalBytes: 4 * 1024 * 1024, sample: async () => done, intervalMs: 10 }, async () => {
      for (let i = 0; i < 4; i++) {
        done += 1024 * 1024;
        await sleep(30);
      }
      return 'ok';
    });
    expect(result).toBe('ok');
    expect(tty.text).toContain('discarding x');
    expect(tty.text).toContain('100%');
    expect(tty.text).toContain('4 MiB of 4 MiB');
  });

  it('show a running count without a total', async () => {
    const tty = new Capture(true);
    await withProgress(tty, true, { label: 'formatting', sample: async () => 3 * 1024 * 1024, intervalMs: 10 }, () => sleep(40));
    expect(tty.text).toContain('formatting: 3 MiB');
  });

  it('write nothing when disabled, and pass failures through', async () => {
    const plain = new Capture(false);
    await expect(withProgress(plain, false, { label: 'x', sample: async () => 1 }, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(withProgress(new Capture(true), true, { label: 'x', sample: async () => 1, intervalMs: 5 }, async () => Promise.reject(new Error('bang')))).rejects.toThrow('bang');
    expect(plain.text).toBe('');
  });
});
