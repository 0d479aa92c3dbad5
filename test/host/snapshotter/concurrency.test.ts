import { rm } from 'node:fs/promises';
import { afterEach, describe, expect, test } from 'vitest';
import { KeyLocks } from '../../../src/snapshotter/locks.js';
import type { Snapshotter } from '../../../src/snapshotter/index.js';
import type { SimulatedThinPool } from '../../../src/thin/simulated.js';
import { openSimulated } from './simulated-env.js';

let s: Snapshotter;
let pool: SimulatedThinPool;
let rootPath: string;

afterEach(async () => {
  await s.close();
  await rm(rootPath, { recursive: true, force: true });
});

async function open(): Promise<void> {
  ({ snapshotter: s, pool, rootPath } = await openSimulated());
}

describe('concurrency', () => {
  test('50 children prepared from one parent at once all succeed with distinct devices (containerd issue 9774)', async () => {
    await open();
    await s.prepare('p');
    await s.commit('P', 'p');
    const mounts = await Promise.all(Array.from({ length: 50 }, (_, i) => s.prepare(`child-${i}`, 'P')));
    const sources = new Set(mounts.map((m) => m[0]?.source));
    expect(sources.size).toBe(50);
    const ids = await pool.thinIds();
    expect(ids).toHaveLength(52);
    expect(new Set(ids).size).toBe(52);
    for (let i = 0; i < 50; i++) expect((await s.stat(`child-${i}`)).parent).toBe('P');
  });

  test('50 parentless prepares at once share one base', async () => {
    await open();
    await Promise.all(Array.from({ length: 50 }, (_, i) => s.prepare(`k${i}`)));
    expect(await pool.thinIds()).toHaveLength(51);
  });

  test('racing prepares of one key: exactly one wins, the rest get ALREADY_EXISTS', async () => {
    await open();
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => s.prepare('same')));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'ALREADY_EXISTS' });
    expect(await pool.thinIds()).toHaveLength(2);
  });

  test('removing a parent while children are being prepared never orphans a child', async () => {
    await open();
    await s.prepare('p');
    await s.commit('P', 'p');
    const preparing = Array.from({ length: 10 }, (_, i) => s.prepare(`c${i}`, 'P'));
    const removal = s.remove('P');
    const settled = await Promise.allSettled([...preparing, removal]);
    const removed = settled[10]?.status === 'fulfilled';
    const made = settled.slice(0, 10).filter((r) => r.status === 'fulfilled').length;
    // Either the parent went first (no child made) or a child exists and the removal was refused.
    if (removed) expect(made).toBe(0);
    else expect(made).toBeGreaterThan(0);
    const children: string[] = [];
    for await (const info of s.walk('parent==P')) children.push(info.name);
    expect(children).toHaveLength(made);
  });

  test('many operations on unrelated keys interleave without a global lock', async () => {
    await open();
    await s.prepare('base');
    await s.commit('B', 'base');
    await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        await s.prepare(`a${i}`, 'B', { labels: { i: String(i) } });
        await s.update({ name: `a${i}`, labels: { j: String(i) } }, 'labels.j');
        await s.commit(`A${i}`, `a${i}`);
        await s.view(`v${i}`, `A${i}`);
        await s.usage(`A${i}`);
        await s.remove(`v${i}`);
      }),
    );
    let count = 0;
    for await (const _ of s.walk('kind==committed,parent==B')) count++;
    expect(count).toBe(30);
  });
});

describe('KeyLocks', () => {
  test('readers share, a writer excludes, waiting writers are not starved, nothing is left held', async () => {
    const locks = new KeyLocks();
    const events: string[] = [];
    let release1!: () => void;
    const r1 = locks.run([['k', 'read']], () => new Promise<void>((r) => ((release1 = r), events.push('r1'))));
    const r2 = locks.run([['k', 'read']], async () => void events.push('r2'));
    await r2;
    const w = locks.run([['k', 'write']], async () => void events.push('w'));
    const r3 = locks.run([['k', 'read']], async () => void events.push('r3'));
    await new Promise((r) => setTimeout(r, 5));
    expect(events).toEqual(['r1', 'r2']);
    release1();
    await Promise.all([r1, w, r3]);
    expect(events).toEqual(['r1', 'r2', 'w', 'r3']);
    expect(locks.size).toBe(0);
  });

  test('overlapping key sets in opposite orders do not deadlock', async () => {
    const locks = new KeyLocks();
    await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        locks.run(
          i % 2 ? [['a', 'write'], ['b', 'read']] : [['b', 'write'], ['a', 'read']],
          () => new Promise<void>((r) => setTimeout(r, 0)),
        ),
      ),
    );
    expect(locks.size).toBe(0);
  });
});
