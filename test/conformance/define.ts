/**
 * The shared snapshotter conformance suite. Any backend runs it:
 *
 * ```ts
 * defineSnapshotterConformance('simulated pool', makeSimulatedEnv);
 * defineSnapshotterConformance('kernel pool, ext4', makeRealEnv); // in the VM
 * ```
 *
 * Cases marked (real) need `capabilities.realDevices` and mount the
 * snapshots; they are registered only for backends with real devices, and the deep-chain
 * case checks the chain's metadata instead of files.
 */
import { mkdtemp, rm, stat as fsStat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { Info, Mount, Snapshotter } from '../../src/snapshotter/index.js';
import type { ConformanceEnv, MakeConformanceEnv } from './env.js';
import { applyOps, layerOps, readTree, type TreeOp } from './fs-tree.js';
import { withMounted } from './real-devices.js';

const MiB = 1024 * 1024;

async function names(walk: AsyncIterable<Info>): Promise<string[]> {
  const out: string[] = [];
  for await (const info of walk) out.push(info.name);
  return out.sort();
}

/** What a backend declares up front. */
export interface ConformanceOptions {
  /** Mounts are real block devices: register the cases that mount and check files. */
  realDevices: boolean;
  /** How many stacked layers the deep-chain case builds (default 128). */
  deepLayers?: number;
}

/** Registers the conformance cases for one backend under `describe(name)`. */
export function defineSnapshotterConformance(name: string, makeEnv: MakeConformanceEnv, options: ConformanceOptions): void {
  // Cases that mount and read files exist only for backends with real devices.
  const realTest = options.realDevices ? test : (): void => undefined;
  const deepLayers = options.deepLayers ?? 128;
  describe(`snapshotter conformance: ${name}`, () => {
    let env: ConformanceEnv;
    let s: Snapshotter;
    const scratch: string[] = [];

    beforeEach(async () => {
      env = await makeEnv();
      s = env.snapshotter;
    });

    afterEach(async () => {
      await env.dispose();
      for (const dir of scratch.splice(0)) await rm(dir, { recursive: true, force: true });
    });

    const real = (): boolean => env.capabilities.realDevices;
    const mounted = <T>(mounts: Mount[], fn: (root: string) => Promise<T>): Promise<T> => {
      const mount = env.capabilities.mount;
      if (!mount) throw new Error('this backend cannot mount');
      return withMounted(mount, mounts, fn);
    };
    const tempDir = async (): Promise<string> => {
      const dir = await mkdtemp(path.join(env.capabilities.scratchDirectory ?? tmpdir(), 'conformance-ref-'));
      scratch.push(dir);
      return dir;
    };

    test('prepare returns the mount of one device; mounts() repeats it; stat says active', async () => {
      const mounts = await s.prepare('p1', undefined, { labels: { team: 'a' } });
      expect(mounts).toHaveLength(1);
      expect(mounts[0]?.source).toMatch(/^\/dev\//);
      expect(mounts[0]?.options).not.toContain('ro');
      expect(await s.mounts('p1')).toEqual(mounts);
      const info = await s.stat('p1');
      expect(info).toMatchObject({ name: 'p1', kind: 'active', labels: { team: 'a' } });
      expect(info.parent).toBeUndefined();
      expect(info.created).toBeInstanceOf(Date);
      expect(info.updated.getTime()).toBe(info.created.getTime());
      const other = await s.prepare('p2');
      expect(other[0]?.source).not.toBe(mounts[0]?.source);
    });

    test('stat of each kind, with parent and dates', async () => {
      await s.prepare('a-key');
      await s.commit('a', 'a-key', { labels: { layer: '1' } });
      await s.prepare('child', 'a');
      const viewMounts = await s.view('v', 'a');
      expect(viewMounts[0]?.options).toContain('ro');
      expect(await s.stat('a')).toMatchObject({ name: 'a', kind: 'committed', labels: { layer: '1' } });
      expect(await s.stat('child')).toMatchObject({ name: 'child', kind: 'active', parent: 'a' });
      expect(await s.stat('v')).toMatchObject({ name: 'v', kind: 'view', parent: 'a' });
      await expect(s.stat('a-key')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(s.stat('missing')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(s.mounts('a')).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
      expect(await s.mounts('v')).toEqual(viewMounts);
    });

    test('keys are unique across kinds', async () => {
      await s.prepare('k');
      await expect(s.prepare('k')).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
      await expect(s.view('k')).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
      await s.commit('c', 'k');
      await expect(s.prepare('c')).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
      await s.prepare('k2');
      await s.view('v');
      await expect(s.commit('c', 'k2')).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
      await expect(s.commit('v', 'k2')).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
      await expect(s.commit('k2', 'k2')).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    });

    test('only an active snapshot commits; a parent must exist and be committed', async () => {
      await s.view('v');
      await expect(s.commit('x', 'v')).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
      await s.prepare('a');
      await s.commit('c', 'a');
      await expect(s.commit('y', 'c')).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
      await expect(s.commit('z', 'nothing')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(s.prepare('b', 'nothing')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await s.prepare('active-parent');
      await expect(s.prepare('b', 'active-parent')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(s.view('b', 'v')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(s.stat('b')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });

    test('removing a parent with children fails; removing in order works', async () => {
      await s.prepare('base-key');
      await s.commit('base', 'base-key');
      await s.prepare('c1', 'base');
      await s.commit('mid', 'c1');
      await s.view('v1', 'mid');
      await s.prepare('c2', 'base');
      await expect(s.remove('base')).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
      await expect(s.remove('mid')).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
      await s.remove('v1');
      await s.remove('mid');
      await expect(s.remove('base')).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
      await s.remove('c2');
      await s.remove('base');
      await expect(s.remove('base')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect(await names(s.walk())).toEqual([]);
    });

    test('a key is reusable after remove, and so is a committed name', async () => {
      await s.prepare('k', undefined, { labels: { round: '1' } });
      await s.remove('k');
      await s.prepare('k', undefined, { labels: { round: '2' } });
      expect((await s.stat('k')).labels).toEqual({ round: '2' });
      await s.commit('name', 'k');
      await s.remove('name');
      await s.prepare('k2');
      await s.commit('name', 'k2');
      expect((await s.stat('name')).kind).toBe('committed');
    });

    test('remove of a snapshot whose device is held open resolves at once; its thin id goes once the holder lets go', async () => {
      await s.prepare('other');
      const before = await s.pool.thinIds();
      const mounts = await s.prepare('held');
      const release = await env.capabilities.hold(mounts);
      try {
        await s.remove('held');
        await expect(s.stat('held')).rejects.toMatchObject({ code: 'NOT_FOUND' });
        // Held: cleanup() leaves the device to its deferred removal, without a failure.
        await s.cleanup();
        expect(await s.pool.thinIds()).toHaveLength(before.length + 1);
        // The key is free again.
        await s.prepare('held');
        await s.remove('held');
      } finally {
        await release();
      }
      // A kernel finishes a deferred removal from a work queue: a later cleanup() deletes the id.
      let ids = await s.pool.thinIds();
      for (let i = 0; i < 100 && ids.length !== before.length; i++) {
        await s.cleanup();
        ids = await s.pool.thinIds();
        if (ids.length !== before.length) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(ids).toEqual(before);
      expect(await names(s.walk())).toEqual(['other']);
    });

    test('walk with every filter form', async () => {
      await s.prepare('base-key');
      await s.commit('base', 'base-key', { labels: { tier: 'base' } });
      await s.prepare('child', 'base', { labels: { 'a.b/c': 'x', tier: 'app' } });
      await s.view('view', 'base', { labels: { 'with space': 'yes' } });
      await s.prepare('lone');
      expect(await names(s.walk())).toEqual(['base', 'child', 'lone', 'view']);
      expect(await names(s.walk(''))).toEqual(['base', 'child', 'lone', 'view']);
      expect(await names(s.walk('name==child'))).toEqual(['child']);
      expect(await names(s.walk('name=="child"'))).toEqual(['child']);
      expect(await names(s.walk('parent==base'))).toEqual(['child', 'view']);
      expect(await names(s.walk('parent!=base'))).toEqual(['base', 'lone']);
      expect(await names(s.walk('kind==view'))).toEqual(['view']);
      expect(await names(s.walk('kind==committed'))).toEqual(['base']);
      expect(await names(s.walk('kind==active'))).toEqual(['child', 'lone']);
      expect(await names(s.walk('labels."a.b/c"==x'))).toEqual(['child']);
      expect(await names(s.walk('labels."a.b/c"'))).toEqual(['child']);
      expect(await names(s.walk('labels."with space"==yes'))).toEqual(['view']);
      expect(await names(s.walk('labels.tier'))).toEqual(['base', 'child']);
      expect(await names(s.walk('labels.tier!=base'))).toEqual(['child', 'lone', 'view']);
      expect(await names(s.walk('labels.tier==base'))).toEqual(['base']);
      expect(await names(s.walk('kind==active,parent==base'))).toEqual(['child']);
      expect(await names(s.walk('kind==active, labels.tier'))).toEqual(['child']);
      expect(await names(s.walk('kind==view', 'name==lone'))).toEqual(['lone', 'view']);
      expect(await names(s.walk('labels.nothing'))).toEqual([]);
      for (const bad of ['name=', 'name==', '==x', 'name~=x', 'labels."open', 'name==a,', ',', 'name==a b']) {
        await expect(names(s.walk(bad)), bad).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      }
    });

    test('update changes labels only and moves updated', async () => {
      await s.prepare('k', undefined, { labels: { a: '1', b: '2' } });
      const before = await s.stat('k');
      await new Promise((r) => setTimeout(r, 5));
      const replaced = await s.update({ name: 'k', labels: { c: '3' } });
      expect(replaced.labels).toEqual({ c: '3' });
      expect(replaced.created.getTime()).toBe(before.created.getTime());
      expect(replaced.updated.getTime()).toBeGreaterThan(before.updated.getTime());
      expect(await s.update({ name: 'k', labels: { d: '4', e: '5' } }, 'labels.d')).toMatchObject({ labels: { c: '3', d: '4' } });
      expect(await s.update({ name: 'k', labels: {} }, 'labels.c')).toMatchObject({ labels: { d: '4' } });
      expect(await s.update({ name: 'k', labels: { x: 'y' } }, 'labels')).toMatchObject({ labels: { x: 'y' } });
      await expect(s.update({ name: 'k', parent: 'other' }, 'parent')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(s.update({ name: 'k', kind: 'committed' }, 'kind')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(s.update({ name: 'k', labels: {} }, 'labels.')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(s.update({ name: 'k', labels: { big: 'v'.repeat(4094) } })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(s.update({ name: 'nope', labels: {} })).rejects.toMatchObject({ code: 'NOT_FOUND' });
      const after = await s.stat('k');
      expect(after.kind).toBe('active');
      expect(after.parent).toBeUndefined();
      expect(after.labels).toEqual({ x: 'y' });
    });

    test('keys and labels are validated', async () => {
      for (const bad of ['', 'a\nb', 'tab\there', 'nul\u0000', 'x'.repeat(5000)]) {
        await expect(s.prepare(bad), JSON.stringify(bad.slice(0, 20))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      }
      await expect(s.prepare('k', undefined, { labels: { k: 'v'.repeat(4096) } })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await s.prepare('k', undefined, { labels: { k: 'v'.repeat(4095) } });
      await s.prepare('with/slashes:and sha256:0123 ünïcode');
      expect((await s.stat('with/slashes:and sha256:0123 ünïcode')).kind).toBe('active');
    });

    test('usage grows with writes and excludes the parent share', async () => {
      const m = await s.prepare('a');
      expect((await s.usage('a')).size).toBeLessThan(1 * MiB);
      await env.capabilities.grow(m, 8 * MiB);
      const active = await s.usage('a');
      expect(active.size).toBeGreaterThanOrEqual(8 * MiB);
      expect(active.inodes).toBeGreaterThanOrEqual(0);
      await s.commit('A', 'a');
      const committed = await s.usage('A');
      expect(committed.size).toBeGreaterThanOrEqual(8 * MiB);
      const child = await s.prepare('b', 'A');
      expect((await s.usage('b')).size).toBeLessThan(1 * MiB);
      await env.capabilities.grow(child, 1 * MiB);
      const grown = (await s.usage('b')).size;
      expect(grown).toBeGreaterThanOrEqual(1 * MiB);
      expect(grown).toBeLessThan(committed.size);
      await expect(s.usage('missing')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });

    test('close is safe twice and later calls fail with UNAVAILABLE', async () => {
      await s.prepare('k');
      await s.close();
      await s.close();
      await expect(s.stat('k')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
      await expect(s.prepare('k2')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
      await expect(names(s.walk())).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    });

    realTest('(real) files written in a layer are seen by a child and by a view', async () => {
      const m1 = await s.prepare('l1');
      await mounted(m1, async (root) => {
        await writeFile(path.join(root, 'hello.txt'), 'from layer 1\n');
      });
      await s.commit('L1', 'l1');
      const m2 = await s.prepare('l2', 'L1');
      await mounted(m2, async (root) => {
        expect(await readTree(root)).toMatchObject({ 'hello.txt': { type: 'file', size: 13 } });
        await writeFile(path.join(root, 'second.txt'), 'from layer 2\n');
      });
      await s.commit('L2', 'l2');
      const v = await s.view('v', 'L2');
      await mounted(v, async (root) => {
        expect(Object.keys(await readTree(root)).sort()).toEqual(['hello.txt', 'second.txt']);
      });
    });

    realTest('(real) a mounted view refuses writes with EROFS', async () => {
      await s.prepare('l1');
      await s.commit('L1', 'l1');
      const v = await s.view('v', 'L1');
      await mounted(v, async (root) => {
        await expect(writeFile(path.join(root, 'nope'), 'x')).rejects.toMatchObject({ code: 'EROFS' });
      });
    });

    realTest('(real) a new snapshot has a 0755 root and no lost+found', async () => {
      const m = await s.prepare('fresh');
      await mounted(m, async (root) => {
        expect((await fsStat(root)).mode & 0o7777).toBe(0o755);
        expect(await readTree(root)).toEqual({});
      });
    });

    realTest('(real) deletes, renames, chown, modes and hard links across layers', async () => {
      const reference = await tempDir();
      const layers: TreeOp[][] = [
        [
          { op: 'mkdir', path: 'etc' },
          { op: 'write', path: 'etc/keep', content: 'keep\n' },
          { op: 'write', path: 'etc/gone', content: 'gone\n' },
          { op: 'write', path: 'etc/moved', content: 'moved\n' },
          { op: 'write', path: 'etc/owned', content: 'owned\n' },
          { op: 'write', path: 'etc/linked', content: 'linked\n' },
          { op: 'link', from: 'etc/linked', to: 'etc/linked-2' },
          { op: 'chmod', path: 'etc/keep', mode: 0o600 },
        ],
        [
          { op: 'delete', path: 'etc/gone' },
          { op: 'rename', from: 'etc/moved', to: 'moved-here' },
          { op: 'chown', path: 'etc/owned', uid: 1234, gid: 5678 },
          { op: 'chmod', path: 'etc/owned', mode: 0o4750 },
          { op: 'link', from: 'etc/keep', to: 'keep-link' },
          { op: 'delete', path: 'etc/linked' },
          { op: 'append', path: 'etc/linked-2', content: 'more\n' },
          { op: 'symlink', target: 'etc/keep', path: 'sym' },
        ],
      ];
      let parent: string | undefined;
      for (const [i, ops] of layers.entries()) {
        const m = await s.prepare(`k${i}`, parent);
        await mounted(m, (root) => applyOps(root, ops));
        await applyOps(reference, ops);
        await s.commit(`L${i}`, `k${i}`);
        parent = `L${i}`;
      }
      const v = await s.view('v', parent);
      const expected = await readTree(reference);
      await mounted(v, async (root) => {
        expect(await readTree(root)).toEqual(expected);
      });
      expect(expected['keep-link']?.linkGroup).toBe('etc/keep');
      expect(expected['etc/owned']).toMatchObject({ uid: 1234, gid: 5678, mode: 0o4750 });
    });

    test(`${deepLayers} stacked layers, each checked against a flat reference`, { timeout: 1_800_000 }, async () => {
      const LAYERS = deepLayers;
      const reference = real() ? await tempDir() : undefined;
      let parent: string | undefined;
      for (let i = 0; i < LAYERS; i++) {
        const key = `extract-${i}`;
        const m = await s.prepare(key, parent, { labels: { layer: String(i) } });
        if (reference !== undefined) {
          const ops = layerOps(i, await readTree(reference));
          await applyOps(reference, ops);
          const expected = await readTree(reference);
          await mounted(m, async (root) => {
            await applyOps(root, ops);
            expect(await readTree(root), `layer ${i}`).toEqual(expected);
          });
        }
        await s.commit(`layer-${i}`, key, { labels: { layer: String(i) } });
        parent = `layer-${i}`;
      }
      // The chain: every layer's parent is the one below, back to the root.
      let name: string | undefined = `layer-${LAYERS - 1}`;
      let depth = 0;
      while (name !== undefined) {
        const info: Info = await s.stat(name);
        expect(info.kind).toBe('committed');
        expect(info.labels.layer).toBe(String(LAYERS - 1 - depth));
        name = info.parent;
        depth++;
      }
      expect(depth).toBe(LAYERS);
      expect(await names(s.walk(`parent==layer-${LAYERS - 2}`))).toEqual([`layer-${LAYERS - 1}`]);
      expect(await names(s.walk('kind==committed'))).toHaveLength(LAYERS);
      const top = await s.view('top', parent);
      if (reference !== undefined) {
        const expected = await readTree(reference);
        await mounted(top, async (root) => {
          expect(await readTree(root)).toEqual(expected);
        });
      }
      await s.remove('top');
      for (let i = LAYERS - 1; i >= 0; i--) await s.remove(`layer-${i}`);
      expect(await names(s.walk())).toEqual([]);
    });
  });
}
