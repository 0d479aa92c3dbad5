#!/usr/bin/env node
/**
 * `npm run bench`: how this library compares with what a user would use
 * instead (the dmsetup path containerd's devmapper snapshotter takes, and a
 * C floor over libdevmapper), and how its cost grows with the number of
 * devices. See bench/README.md.
 *
 * usage: node bench/run.mjs [--smoke] [--udev] [--thin-udev wait|skip] [--out FILE] [--iterations N] [--scale-levels 0,1000,10000] [--sim-max N] [--no-build] [--no-host]
 *
 * On a host without device-mapper (or not root) it builds, then boots the
 * test VM (scripts/vm.sh) for the kernel half; with device-mapper and root
 * it runs everything in place.
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
const inside = flag('--inside'); // set by this script for its own run inside the VM
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
}

function runNode(script, cfg, out, extraNodeArgs = []) {
  const r = spawnSync(process.execPath, [...extraNodeArgs, path.join(here, script), JSON.stringify(cfg), out], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`${script} exited with ${r.status ?? r.signal}`);
  return JSON.parse(readFileSync(out, 'utf8'));
}

const tmp = path.join(root, 'bench', 'build');
mkdirSync(tmp, { recursive: true });

if (!flag('--no-build')) build();

let kernel;
let host = null;
if (hasDm) {
  const out = path.join(tmp, `kernel-${process.pid}.json`);
  kernel = runNode('kernel.mjs', { ...config, udev: udevWanted || process.env.DEVMAPPER_VM_UDEV === '1' }, out);
  rmSync(out, { force: true });
} else if (!inside) {
  const out = path.join(tmp, `kernel-${process.pid}.json`);
  const vmArgs = [...(udevWanted ? ['--udev'] : []), '--timeout', String(smoke ? 900 : 2700), '--', process.execPath ?? 'node', path.join(here, 'kernel.mjs'), JSON.stringify(config), out];
  log(`booting the test VM${udevWanted ? ' (udev on)' : ''} for the kernel half`);
  const r = spawnSync(path.join(root, 'scripts', 'vm.sh'), vmArgs, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`the VM run exited with ${r.status}`);
  kernel = JSON.parse(readFileSync(out, 'utf8'));
  rmSync(out, { force: true });
} else {
  throw new Error('--inside given but this kernel has no device-mapper (or not root)');
}
if (!flag('--no-host')) {
  const out = path.join(tmp, `host-${process.pid}.json`);
  host = runNode('host.mjs', config, out, ['--expose-gc']);
  rmSync(out, { force: true });
}

const { report, text } = await import('./lib/report.mjs').then((m) => m.buildReport({ kernel, host, config, smoke }));
console.log(text);
const outFile = opt('--out', path.join(here, 'results', `${smoke ? 'smoke' : 'latest'}-udev-${kernel.udev ? 'on' : 'off'}.json`));
mkdirSync(path.dirname(outFile), { recursive: true });
writeFileSync(outFile, `${JSON.stringify(report, null, 2)}\n`);
log(`wrote ${path.relative(process.cwd(), outFile)}`);
