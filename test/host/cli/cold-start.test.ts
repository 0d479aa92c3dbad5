/**
 * What a cold start loads (structure, not time: bench/cold-start.mjs times
 * it). The built CLI and package run in a child node with a module tracer;
 * help, usage errors and commands that do not serve must not load gRPC, and
 * nothing but a metastore open loads LevelDB. `serve --help` is the control
 * that shows the tracer sees gRPC when it is loaded.
 *
 * Both builds are checked: dist/ (tsc's modules) and bundle/ (what the bin and
 * the package's import conditions run). A bundle file counts as every module
 * it inlines, read from esbuild's path comments (`// dist/cli/program.js`).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from './support/build.js';

const exec = promisify(execFile);
const repo = path.resolve(import.meta.dirname, '../../..');
const tracer = path.join(import.meta.dirname, 'support/trace-modules.mjs');
const BUILDS = [
  { build: 'dist', cli: path.join(repo, 'dist/cli/main.js'), library: './dist/index.js' },
  { build: 'bundle', cli: path.join(repo, 'bundle/cli.js'), library: 'devmapper' },
] as const;
let dir: string;
let runs = 0;
// The child must not pick up the caller's pool selectors.
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DEVMAPPER_')));

beforeAll(async () => {
  await ensureBuilt(repo);
  dir = await mkdtemp(path.join(tmpdir(), 'cold-start-'));
}, 120_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The modules `node args...` loads (paths relative to the repository), and its exit code. */
async function loaded(args: string[]): Promise<{ modules: string[]; code: number }> {
  const file = path.join(dir, `trace-${runs++}`);
  let code = 0;
  try {
    await exec(process.execPath, ['--import', tracer, ...args], { cwd: repo, env: { ...cleanEnv, DEVMAPPER_TRACE_MODULES: file } });
  } catch (e) {
    code = (e as { code?: number }).code ?? -1;
  }
  const text = await readFile(file, 'utf8');
  const modules = [...new Set(text.split('\n').filter(Boolean).map((m) => m.replace(/^file:\/\//, '').replace(`${repo}/`, '')))];
  return { modules: [...new Set(modules.flatMap(inlined))], code };
}

/** A bundle file as the modules it inlines (esbuild's `// path` comments at the start of each); any other module as itself. */
function inlined(module: string): string[] {
  if (!module.startsWith('bundle/')) return [module];
  const text = readFileSync(path.join(repo, module), 'utf8');
  return [module, ...[...text.matchAll(/^\/\/ ((?:dist|node_modules)\/\S+\.(?:c?js|mjs|json))$/gm)].map((m) => m[1] as string)];
}

const packageOf = (m: string): string | undefined => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(m)?.[1];
const packages = (modules: readonly string[]): Set<string> => new Set(modules.map(packageOf).filter((p): p is string => p !== undefined));

const GRPC = ['@grpc/grpc-js', '@grpc/proto-loader', 'protobufjs'];
const LEVEL = ['level', 'classic-level', 'abstract-level'];
const KERNEL_LAYERS = ['dist/dm/device-mapper.js', 'dist/thin/pool.js', 'dist/snapshotter/snapshotter.js'];

describe.each(BUILDS)('a cold start of $build loads only what the command needs', ({ build, cli, library }) => {
  it.each([
    ['devmapper --help', ['--help']],
    ['devmapper (usage error)', []],
    ['devmapper pool --help', ['pool', '--help']],
    ['devmapper pool status --help', ['pool', 'status', '--help']],
    ['devmapper snapshot prepare --help', ['snapshot', 'prepare', '--help']],
    ['devmapper snapshot ls --nope (usage error)', ['snapshot', 'ls', '--nope', '--json']],
  ])('%s: no gRPC, no LevelDB, no kernel layers, no addon', async (_name, args) => {
    const { modules } = await loaded([cli, ...args]);
    expect(modules).toContain('dist/cli/program.js');
    const pkgs = packages(modules);
    for (const p of [...GRPC, ...LEVEL, 'log-update']) expect(pkgs, p).not.toContain(p);
    for (const m of KERNEL_LAYERS) expect(modules).not.toContain(m);
    expect(modules.filter((m) => m.endsWith('.node'))).toEqual([]);
  });

  it('a snapshot command that fails before opening anything loads its actions but no gRPC, LevelDB or progress bar', async () => {
    const { modules, code } = await loaded([cli, 'snapshot', 'ls', '--pool', 'x']);
    expect(code).toBe(2); // no --root
    expect(modules).toContain('dist/cli/snapshot-actions.js');
    const pkgs = packages(modules);
    for (const p of [...GRPC, ...LEVEL, 'log-update']) expect(pkgs, p).not.toContain(p);
  });

  it('completion loads the whole command tree (serve included) but no LevelDB or addon', async () => {
    const { modules } = await loaded([cli, 'completion', 'bash']);
    const pkgs = packages(modules);
    for (const p of LEVEL) expect(pkgs, p).not.toContain(p);
    expect(modules.filter((m) => m.endsWith('.node'))).toEqual([]);
  });

  it('serve --help loads gRPC (the control: the tracer sees it when it is there)', async () => {
    const { modules } = await loaded([cli, 'serve', '--help']);
    expect(packages(modules)).toContain('@grpc/grpc-js');
    expect(modules).toContain('dist/server/cli-command.js');
  });

  it("import 'devmapper' loads the library but not LevelDB, gRPC, the CLI or the addon", async () => {
    const { modules } = await loaded(['--input-type=module', '-e', `await import('${library}')`]);
    expect(modules.some((m) => m.startsWith(`${build}/`))).toBe(true);
    expect(modules).toContain('dist/snapshotter/snapshotter.js');
    const pkgs = packages(modules);
    for (const p of [...GRPC, ...LEVEL, 'commander', 'log-update', 'smol-toml', 'node-gyp-build']) expect(pkgs, p).not.toContain(p);
    expect(modules.filter((m) => m.endsWith('.node'))).toEqual([]);
  });
});
