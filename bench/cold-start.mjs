#!/usr/bin/env node
// Cold start, side by side: how long a fresh node process takes to do
// nothing, to import the library, to print the CLI's help, to run a pool
// command and to get `serve` accepting on its socket, each against
// `node -e 0`. Hyperfine-like: one warm-up run each, then N rounds with the
// contenders interleaved (so load on the machine hits them alike), medians
// and ratios.
//
// usage: node bench/cold-start.mjs [--runs N] [--out FILE] [--compare DIR] [--dist]
//        scripts/vm.sh -- node bench/cold-start.mjs      (in the test guest)
// What a user runs: the package's `bin` and `import 'devmapper'` through its
// `exports` (the bundled build, bundle/). --compare DIR also measures another
// checkout's build (e.g. the main branch's, built), interleaved with this one
// in every round: a before and after from the same load. --dist also measures
// tsc's unbundled modules (dist/cli/main.js, dist/index.js), labelled [dist].
//
// The pool command and `serve` need device-mapper and root: they run only
// where /sys/module/dm_mod exists and we are root (the test guest), on a
// small loopback pool the bench creates and destroys.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const root = here;
const compare = option('--compare', undefined);
/** The package's CLI as installed users run it: package.json's `bin`. */
const binOf = (dir) => path.join(dir, Object.values(JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).bin)[0]);
const packages = [
  { label: '', dir: here, cli: binOf(here), library: 'devmapper' },
  ...(args.includes('--dist') ? [{ label: ' [dist]', dir: here, cli: path.join(here, 'dist/cli/main.js'), library: './dist/index.js' }] : []),
  ...(compare ? [{ label: ' [compared]', dir: path.resolve(compare), cli: binOf(path.resolve(compare)), library: 'devmapper' }] : []),
];
const cli = packages[0].cli;
const runs = Number(option('--runs', '10'));
const kernel = existsSync('/sys/module/dm_mod') && process.getuid?.() === 0;
const out = option('--out', path.join(here, 'bench/results', kernel ? 'cold-start-guest.json' : 'cold-start-host.json'));

for (const p of packages) {
  if (!existsSync(p.cli)) {
    console.error(`${p.cli} is missing: run npm run build:ts there first`);
    process.exit(2);
  }
}

/** Milliseconds until the process exits (it must exit 0). */
function timeExit(argv, cwd = root) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, argv, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      const ms = performance.now() - t0;
      if (code === 0) resolve(ms);
      else reject(new Error(`node ${argv.join(' ')} exited ${code}: ${stderr}`));
    });
  });
}

// A serve that never accepts fails the bench instead of hanging it.
const SERVE_TIMEOUT_MS = 300_000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function connects(socket) {
  return new Promise((resolve) => {
    const c = net.connect(socket);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

/** Milliseconds from spawning `serve` until its socket accepts a connection; then stops it. */
async function timeServeReady(argv, socket) {
  rmSync(socket, { force: true });
  const t0 = performance.now();
  const child = spawn(process.execPath, argv, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let ms;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`serve exited ${child.exitCode} before accepting: ${stderr}`);
    if (performance.now() - t0 > SERVE_TIMEOUT_MS) {
      child.kill('SIGKILL');
      throw new Error(`serve did not accept within ${SERVE_TIMEOUT_MS / 1000} s: ${stderr}`);
    }
    if (existsSync(socket) && (await connects(socket))) {
      ms = performance.now() - t0;
      break;
    }
    await sleep(5);
  }
  child.kill('SIGTERM');
  await exited;
  return ms;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const contenders = [{ name: 'node -e 0', run: () => timeExit(['-e', '0']) }];
for (const p of packages) {
  const main = p.cli;
  contenders.push(
    { name: `import 'devmapper'${p.label}`, run: () => timeExit(['--input-type=module', '-e', `await import('${p.library}')`], p.dir) },
    { name: `devmapper --help${p.label}`, run: () => timeExit([main, '--help']) },
    { name: `devmapper --version${p.label}`, run: () => timeExit([main, '--version']) },
  );
}

let cleanupPool = () => undefined;
if (kernel) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'devmapper-cold-'));
  const poolDir = path.join(dir, 'pool');
  const rootDir = path.join(dir, 'root');
  const socket = path.join(dir, 'snapshotter.sock');
  mkdirSync(poolDir);
  const name = `devmapper-cold-${process.pid}-pool`;
  const create = spawnSync(process.execPath, [cli, 'pool', 'create', '--pool-dir', poolDir, '--root', rootDir, '--name', name, '--data-size', '256M', '--metadata-size', '32M', '--base-size', '16M', '--json'], { cwd: root, encoding: 'utf8' });
  if (create.status !== 0) throw new Error(`pool create failed: ${create.stderr}`);
  cleanupPool = () => {
    const r = spawnSync(process.execPath, [cli, 'pool', 'destroy', '--pool-dir', poolDir, '--root', rootDir], { cwd: root, encoding: 'utf8' });
    if (r.status !== 0) console.error(`pool destroy failed: ${r.stderr}`);
    rmSync(dir, { recursive: true, force: true });
  };
  for (const p of packages) {
    const main = p.cli;
    contenders.push(
      { name: `devmapper pool status${p.label}`, run: () => timeExit([main, 'pool', 'status', '--root', rootDir, '--json']) },
      { name: `devmapper snapshot ls${p.label}`, run: () => timeExit([main, 'snapshot', 'ls', '--root', rootDir, '--json']) },
      { name: `devmapper serve (socket accepts)${p.label}`, run: () => timeServeReady([main, 'serve', '--root', rootDir, '--socket', socket, '--log-level', 'error'], socket) },
    );
  }
}

const samples = new Map(contenders.map((c) => [c.name, []]));
try {
  for (const c of contenders) await c.run(); // warm-up: page cache, compile cache
  for (let round = 0; round < runs; round++) {
    for (const c of contenders) samples.get(c.name).push(await c.run());
    process.stderr.write(`round ${round + 1}/${runs}\n`);
  }
} finally {
  cleanupPool();
}

const base = median(samples.get('node -e 0'));
const rows = contenders.map((c) => {
  const s = samples.get(c.name);
  return { name: c.name, runs: s.length, medianMs: Math.round(median(s)), minMs: Math.round(Math.min(...s)), maxMs: Math.round(Math.max(...s)), ratio: Math.round((median(s) / base) * 100) / 100 };
});
const width = Math.max(...rows.map((r) => r.name.length));
console.log(`${'command'.padEnd(width)}  runs  median ms  min ms  max ms  × node -e 0`);
console.log(`${'-'.repeat(width)}  ----  ---------  ------  ------  -----------`);
for (const r of rows) console.log(`${r.name.padEnd(width)}  ${String(r.runs).padStart(4)}  ${String(r.medianMs).padStart(9)}  ${String(r.minMs).padStart(6)}  ${String(r.maxMs).padStart(6)}  ${`${r.ratio.toFixed(2)}×`.padStart(11)}`);
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), node: process.version, kernel, runs, compared: compare ?? null, rows }, null, 2)}\n`);
console.log(`\n(${out})`);
