/**
 * The package's entry points as users import them (`devmapper`,
 * `devmapper/testing`, through package.json `exports`, from the build): the
 * root is the public API only, the test hooks live in `devmapper/testing`,
 * and a crash handler installed there stops the root's Snapshotter.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from './cli/support/build.js';

const exec = promisify(execFile);
const repo = path.resolve(import.meta.dirname, '../..');

beforeAll(async () => {
  await ensureBuilt(repo);
}, 120_000);

/** Runs an ES module snippet in a child node in the repository (so `devmapper` resolves to this package) and parses its last line. */
async function runModule<T>(code: string): Promise<T> {
  const { stdout } = await exec(process.execPath, ['--input-type=module', '-e', code], { cwd: repo });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as T;
}

const TEST_HOOKS = ['CRASH_POINTS', 'CRASH_POINT_ENV', 'SimulatedCrash', 'setCrashPointHandler'];

describe('package entry points', () => {
  it('package.json exports devmapper/testing with types and an ES module', async () => {
    const pkg = JSON.parse(await readFile(path.join(repo, 'package.json'), 'utf8')) as { exports: Record<string, { types: string; import: string }> };
    expect(pkg.exports['./testing']).toMatchObject({ types: './dist/testing.d.ts', import: './dist/testing.js' });
  });

  it('the root has no test hooks; devmapper/testing has them and the simulated pool', async () => {
    const names = await runModule<{ root: string[]; testing: string[] }>(
      "const root = await import('devmapper'); const testing = await import('devmapper/testing');" +
        'console.log(JSON.stringify({ root: Object.keys(root), testing: Object.keys(testing) }));',
    );
    for (const hook of TEST_HOOKS) {
      expect(names.root).not.toContain(hook);
      expect(names.testing).toContain(hook);
    }
    expect(names.testing).toContain('SimulatedThinPool');
    expect(names.root).toContain('Snapshotter');
  });

  it("a crash handler from devmapper/testing stops the root's Snapshotter at the named point", async () => {
    const result = await runModule<{ seen: string[]; crashed: string; keys: string[] }>(`
      import { mkdtemp, rm } from 'node:fs/promises';
      import { tmpdir } from 'node:os';
      import path from 'node:path';
      const { Snapshotter } = await import('devmapper');
      const { SimulatedThinPool, SimulatedCrash, setCrashPointHandler } = await import('devmapper/testing');
      const dir = await mkdtemp(path.join(tmpdir(), 'testing-entry-'));
      const pool = new SimulatedThinPool({ name: 'entry-pool' });
      const snapshotter = await Snapshotter.open({ rootPath: dir, pool, fsType: 'none', baseImageSize: '64MB' });
      await snapshotter.prepare('first');
      const seen = [];
      setCrashPointHandler((point) => { seen.push(point); if (point === 'prepare:after-intent') throw new SimulatedCrash(point); });
      let crashed = '';
      try { await snapshotter.prepare('second'); } catch (e) { crashed = e instanceof SimulatedCrash ? e.point : String(e); }
      setCrashPointHandler(undefined);
      const keys = [];
      for await (const info of snapshotter.walk()) keys.push(info.name);
      await rm(dir, { recursive: true, force: true });
      console.log(JSON.stringify({ seen, crashed, keys }));
    `);
    expect(result.crashed).toBe('prepare:after-intent');
    expect(result.seen.at(-1)).toBe('prepare:after-intent');
    expect(result.keys).toEqual(['first']);
  });
});
