#!/usr/bin/env node
// `npm run demo`: builds the library and the examples, then runs the quick
// start (examples/quick-start.ts), which prints a walkthrough. It runs here
// when this kernel has device-mapper and we are root, else inside the test VM
// (scripts/vm.sh), which boots Debian's kernel and takes a minute or two.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function step(what, command, args) {
  console.log(`== ${what}`);
  const r = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`demo: ${command} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status ?? 1);
  }
}

const hasAddon = existsSync(path.join(root, 'build/Release/devmapper.node'));
if (!hasAddon) step('building the native addon', 'npx', ['node-gyp', 'rebuild']);
step('compiling the library', 'npm', ['run', '--silent', 'build:ts']);
step('compiling the examples', 'npx', ['tsc', '-p', 'tsconfig.examples.json']);

// /dev/mapper/control alone proves nothing (libdevmapper makes the node when it is missing):
// the kernel's device-mapper shows in /proc/misc once dm_mod is loaded.
const kernelHasDm = existsSync('/sys/module/dm_mod') || (existsSync('/proc/misc') && readFileSync('/proc/misc', 'utf8').includes('device-mapper'));
const here = kernelHasDm && existsSync('/dev/mapper/control') && process.getuid?.() === 0;
if (here) {
  step('the quick start, on this machine', process.execPath, ['dist-examples/quick-start.js']);
} else {
  console.log('This kernel has no device-mapper (or we are not root): the quick start runs in the test VM.');
  step('the quick start, in the test VM', path.join(root, 'scripts/vm.sh'), ['--', 'node', 'dist-examples/quick-start.js']);
}
