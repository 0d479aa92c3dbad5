#!/usr/bin/env node
/**
 * `npm run bench`: how this library compares with what a user would use
 * instead (the dmsetup path containerd's devmapper snapshotter takes, and a
 * C floor over libdevmapper), and how its cost grows with the number of
 * devices. See bench/README.md.
 *
 * usage: node bench/run.mjs [--smoke] [--udev] [--thin-udev wait|skip] [--out FILE] [--iterations N] [--scale-levels 0,1000,10000] [--sim-max N] [--no-build] [--no-host]
 *          [--no-containerd-go] [--no-ctr] [--no-cold-start] [--ctr-rounds N] [--cold-runs N]
 *
 * On a host without device-mapper (or not root) it builds, then boots the
 * test VM (scripts/vm.sh) for the guest job: the kernel half
 * (bench/kernel.mjs), then `ctr` through the proxy against containerd's
 * in-process devmapper (bench/ctr.mjs) and the cold starts
 * (bench/cold-start.mjs), all in one boot; with device-mapper and root it
 * runs the same job in place. --smoke runs only the kernel half, without
 * containerd's Go snapshotter.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const argv = process.argv.slice(2);
const flag = (f) => argv.includes(f);
const opt = (f, d) => (argv.includes(f) ? argv[argv.indexOf(f) + 1] : d);
const smoke = flag('--smoke');
const udevWanted = flag('--udev');
const guestJob = flag('--guest-job'); // set by this script for its own run inside the VM: --guest-job CONFIG OUTDIR
const log = (...a) => console.error('[bench]', ...a);

const config = smoke
  ? { iterations: 2, baseMiB: 16, poolDataMiB: 512, poolMetadataMiB: 16, scaleLevels: [0, 20], concurrency: [1, 4, 16], concurrentOps: 4, simulatedLevels: [0, 100], memoryLevel: 100 }
  : {
      iterations: Number(opt('--iterations', 12)),
      baseMiB: 64,
      poolDataMiB: 4096,
      poolMetadataMiB: 128,
      scaleLevels: opt('--scale-levels', '0,1000,10000').split(',').map(Number),
      // How udev sees the library's thin devices: the pool's default ('skip') unless given.
      thinDeviceUdev: opt('--thin-udev', undefined),
      concurrency: [1, 4, 16],
      concurrentOps: 32,
      simulatedLevels: [0, 1000, 10000, ...(Number(opt('--sim-max', 0)) > 10000 ? [Number(opt('--sim-max', 0))] : [])],
      memoryLevel: 10000,
    };
// containerd's Go snapshotter (bench/setup.sh builds it on the host), ctr and cold starts: not in the smoke.
config.containerdGo = !smoke && !flag('--no-containerd-go');
config.ctr = !smoke && !flag('--no-ctr');
config.coldStart = !smoke && !flag('--no-cold-start');
config.ctrRounds = Number(opt('--ctr-rounds', 3));
config.coldRuns = Number(opt('--cold-runs', 3));

const hasDm = existsSync('/sys/module/dm_mod') && process.getuid?.() === 0;

function newestMtime(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return t;
}

function build() {
  const dist = path.join(root, 'dist', 'index.js');
  if (!existsSync(dist) || newestMtime(path.join(root, 'src')) > statSync(dist).mtimeMs) {
    log('building the library (tsc -p tsconfig.json)');
    execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
  }
  const bin = path.join(here, 'build', 'floor');
  const src = path.join(here, 'floor.c');
  if (!existsSync(bin) || statSync(src).mtimeMs > statSync(bin).mtimeMs) {
    log('building the C floor');
    mkdirSync(path.dirname(bin), { recursive: true });
    const flags = execFileSync('pkg-config', ['--cflags', '--libs', 'devmapper'], { encoding: 'utf8' }).trim().split(/\s+/).filter(Boolean);
    execFileSync('cc', ['-O2', '-Wall', '-o', bin, src, ...flags], { stdio: 'inherit' });
  }
  if (config.ctr) {
    // ctr.mjs reuses the VM tests' containerd and image helpers (TypeScript): bundled here.
    const outdir = path.join(here, 'build', 'ctr-support');
    const entries = ['test/vm/support/containerd.ts', 'test/fixtures/image/busybox-image.ts'].map((f) => path.join(root, f));
    const built = path.join(outdir, 'containerd.mjs');
    if (!existsSync(built) || entries.some((f) => statSync(f).mtimeMs > statSync(built).mtimeMs)) {
      log('bundling the containerd test helpers for bench/ctr.mjs (esbuild)');
      execFileSync(path.join(root, 'node_modules', '.bin', 'esbuild'), [...entries, '--bundle', '--platform=node', '--format=esm', `--outdir=${outdir}`, '--entry-names=[name]', '--out-extension:.js=.mjs', '--log-level=warning'], { cwd: root, stdio: 'inherit' });
    }
  }
  if (config.containerdGo) {
    // Debian's Go and containerd sources when missing, then the binary when stale.
    const r = spawnSync('bash', [path.join(here, 'setup.sh')], { stdio: 'inherit' });
    if (r.status !== 0) log(`bench/setup.sh failed (${r.status ?? r.signal}): containerd's Go snapshotter will not run`);
  }
}

function runNode(script, cfg, out, extraNodeArgs = []) {
  const r = spawnSync(process.execPath, [...extraNodeArgs, path.join(here, script), JSON.stringify(cfg), out], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`${script} exited with ${r.status ?? r.signal}`);
  return JSON.parse(readFileSync(out, 'utf8'));
}

const tmp = path.join(root, 'bench', 'build');
mkdirSync(tmp, { recursive: true });

// The guest job runs what the host built (the guest sees the host's root read-only).
if (!flag('--no-build') && !guestJob) build();

/**
 * The kernel-side job, in one boot: the kernel half, then ctr and cold
 * starts (each of those two may fail without failing the bench: the report
 * says why). Writes kernel.json, ctr.json and cold-start.json to `outDir`.
 */
function runGuestJob(cfg, outDir) {
  mkdirSync(outDir, { recursive: true });
  runNode('kernel.mjs', cfg, path.join(outDir, 'kernel.json'));
  if (cfg.ctr) {
    try {
      runNode('ctr.mjs', cfg, path.join(outDir, 'ctr.json'));
    } catch (e) {
      writeFileSync(path.join(outDir, 'ctr.json'), JSON.stringify({ error: e.message }));
    }
  }
  if (cfg.coldStart) {
    const out = path.join(outDir, 'cold-start.json');
    const r = spawnSync(process.execPath, [path.join(here, 'cold-start.mjs'), '--runs', String(cfg.coldRuns), '--out', out], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0) writeFileSync(out, JSON.stringify({ error: `cold-start.mjs exited with ${r.status ?? r.signal}` }));
  }
}

const readJob = (outDir) => {
  const read = (f) => (existsSync(path.join(outDir, f)) ? JSON.parse(readFileSync(path.join(outDir, f), 'utf8')) : null);
  const job = { kernel: read('kernel.json'), ctr: read('ctr.json'), coldStart: read('cold-start.json') };
  rmSync(outDir, { recursive: true, force: true });
  return job;
};

if (guestJob) {
  const [cfgArg, outDir] = argv.slice(argv.indexOf('--guest-job') + 1);
  if (!hasDm) throw new Error('--guest-job given but this kernel has no device-mapper (or not root)');
  runGuestJob(JSON.parse(cfgArg), outDir);
  process.exit(0);
}

let job;
let host = null;
const jobDir = path.join(tmp, `job-${process.pid}`);
if (hasDm) {
  runGuestJob({ ...config, udev: udevWanted || process.env.DEVMAPPER_VM_UDEV === '1' }, jobDir);
  job = readJob(jobDir);
} else {
  const minutes = smoke ? 15 : 90;
  const vmArgs = [...(udevWanted ? ['--udev'] : []), '--timeout', String(minutes * 60), '--', process.execPath ?? 'node', path.join(here, 'run.mjs'), '--guest-job', JSON.stringify(config), jobDir];
  log(`booting the test VM${udevWanted ? ' (udev on)' : ''} for the kernel half${config.ctr ? ', ctr' : ''}${config.coldStart ? ', cold starts' : ''}`);
  const r = spawnSync(path.join(root, 'scripts', 'vm.sh'), vmArgs, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`the VM run exited with ${r.status}`);
  job = readJob(jobDir);
}
const kernel = job.kernel;
if (!flag('--no-host')) {
  const out = path.join(tmp, `host-${process.pid}.json`);
  host = runNode('host.mjs', config, out, ['--expose-gc']);
  rmSync(out, { force: true });
}

const { report, text } = await import('./lib/report.mjs').then((m) => m.buildReport({ kernel, host, config, smoke, ctr: job.ctr, coldStart: job.coldStart }));
console.log(text);
const outFile = opt('--out', path.join(here, 'results', `${smoke ? 'smoke' : 'latest'}-udev-${kernel.udev ? 'on' : 'off'}.json`));
mkdirSync(path.dirname(outFile), { recursive: true });
writeFileSync(outFile, `${JSON.stringify(report, null, 2)}\n`);
log(`wrote ${path.relative(process.cwd(), outFile)}`);
