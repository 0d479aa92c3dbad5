/**
 * The package's entry points as users import them (`devmapper`,
 * `devmapper/testing`, through package.json `exports`, from the build): the
 * root is the public API only, the test hooks live in `devmapper/testing`,
 * and a crash handler installed there stops the root's Snapshotter. The ES
 * module conditions run the bundled build (bundle/), which must export what
 * dist/ (tsc's modules, whose .d.ts files are the types) does.
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
  it('package.json exports devmapper/testing with types, an ES module and CommonJS', async () => {
    const pkg = JSON.parse(await readFile(path.join(repo, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
    expect(pkg.exports['./testing']).toEqual({
      import: { types: './dist/testing.d.ts', default: './bundle/testing.js' },
      require: { types: './cjs/testing.d.ts', default: './cjs/testing.js' },
    });
  });

  it.each([
    ['devmapper', './dist/index.js'],
    ['devmapper/server', './dist/server/index.js'],
    ['devmapper/testing', './dist/testing.js'],
  ])('%s (the bundle) exports the same names, of the same kinds, as %s', async (entry, built) => {
    const shape = "(m) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, typeof v]).sort(([a], [b]) => a.localeCompare(b)))";
    const { bundled, unbundled } = await runModule<{ bundled: Record<string, string>; unbundled: Record<string, string> }>(
      `const shape = ${shape}; console.log(JSON.stringify({ bundled: shape(await import('${entry}')), unbundled: shape(await import('${built}')) }));`,
    );
    expect(Object.keys(bundled).length).toBeGreaterThan(0);
    expect(bundled).toEqual(unbundled);
  });

  it("the bundle's lazy chunks work: LevelDB on a metastore open, prom-client for serve's /metrics", async () => {
    const result = await runModule<{ walked: string[]; status: number; body: string }>(`
      import { mkdtemp, rm } from 'node:fs/promises';
      import { tmpdir } from 'node:os';
      import path from 'node:path';
      const { Snapshotter } = await import('devmapper');
      const { serve } = await import('devmapper/server');
      const { SimulatedThinPool } = await import('devmapper/testing');
      const dir = await mkdtemp(path.join(tmpdir(), 'bundle-lazy-'));
      const snapshotter = await Snapshotter.open({ rootPath: path.join(dir, 'root'), pool: new SimulatedThinPool({ name: 'lazy-pool' }), fsType: 'none', baseImageSize: '64MB' });
      await snapshotter.prepare('first');
      const walked = [];
      for await (const info of snapshotter.walk()) walked.push(info.name);
      const serving = await serve({ socket: path.join(dir, 's.sock'), snapshotter, metricsAddress: '127.0.0.1:0', notify: false, logLevel: 'error' });
      const { host, port } = serving.metricsEndpoint.address;
      const response = await fetch('http://' + host + ':' + port + '/metrics');
      const body = await response.text();
      await serving.close();
      await snapshotter.close();
      await rm(dir, { recursive: true, force: true });
      console.log(JSON.stringify({ walked, status: response.status, body }));
    `);
    expect(result.walked).toEqual(['first']);
    expect(result.status).toBe(200);
    expect(result.body).toMatch(/^# HELP /m);
  });

  it('package.json points the ES module conditions and the bin at bundle/ and every type at dist/ or cjs/', async () => {
    const pkg = JSON.parse(await readFile(path.join(repo, 'package.json'), 'utf8')) as {
      exports: Record<string, { import?: { types: string; default: string }; require?: { types: string; default: string } } | string>;
      bin: Record<string, string>;
    };
    expect(pkg.bin).toEqual({ devmapper: 'bundle/cli.js' });
    for (const [key, target] of Object.entries(pkg.exports)) {
      if (typeof target === 'string') continue;
      expect(target.import?.default, key).toMatch(/^\.\/bundle\/[a-z]+\.js$/);
      expect(target.import?.types, key).toMatch(/^\.\/dist\/.+\.d\.ts$/);
      expect(target.require?.types, key).toMatch(/^\.\/cjs\/.+\.d\.ts$/);
    }
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
