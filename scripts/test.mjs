#!/usr/bin/env node
// Runs every test: the host project here; the package project (the prebuilt
// binaries and the packed tarballs installed by scripts/pack-consumer.sh, on
// each Node version and arm64 under qemu); then the `vm` project inside the
// test VM twice (without and with udevd), and prints how many ran where.
// A guest that does not boot, or runs no test, fails the run.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, '.vitest-results');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const only = process.argv.slice(2); // e.g. `npm test -- host`, `npm test -- package` or `npm test -- vm`
const wanted = (part) => only.length === 0 || only.includes(part);

function vitestArgs(project, resultFile, extra = []) {
  // verbose: one line per test as it ends, so a slow guest still shows progress.
  return ['vitest', 'run', '--project', project, '--reporter=verbose', '--reporter=json', `--outputFile.json=${resultFile}`, ...extra];
}

function counts(label, resultFile, exitCode) {
  if (!existsSync(resultFile)) {
    return { label, passed: 0, failed: 1, note: `no results (exit ${exitCode}): the run did not start or the guest did not boot` };
  }
  const r = JSON.parse(readFileSync(resultFile, 'utf8'));
  const failed = r.numFailedTests + (r.numRuntimeErrorTests ?? 0) + (r.success || exitCode === 0 ? 0 : r.numFailedTests === 0 ? 1 : 0);
  return { label, passed: r.numPassedTests, failed, skipped: r.numPendingTests + r.numTodoTests, note: exitCode === 0 ? '' : `exit ${exitCode}` };
}

const runs = [];
if (wanted('host')) {
  const file = path.join(out, 'host.json');
  const r = spawnSync('npx', vitestArgs('host', file), { cwd: root, stdio: 'inherit' });
  runs.push(counts('host', file, r.status));
}
// The guest has no network: build the four binaries (when their sources
// changed), pack the packages and install them into consumer projects here,
// for the package tests and the in-VM consumer test.
if (wanted('package') || wanted('vm')) {
  const r = spawnSync('bash', [path.join(root, 'scripts/pack-consumer.sh')], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) runs.push({ label: 'pack-consumer', passed: 0, failed: 1, note: `scripts/pack-consumer.sh exit ${r.status}` });
}
if (wanted('package')) {
  const file = path.join(out, 'package-tests.json');
  const r = spawnSync('npx', vitestArgs('package', file), { cwd: root, stdio: 'inherit' });
  runs.push(counts('package', file, r.status));
}

// Every in-VM test runs without udevd; the files whose code talks to udev
// (the addon's cookies, device nodes, the pool layer's activations) run again
// with udevd, since the layers above go through that same code.
const UDEV_FILES = ['test/vm/native.test.ts', 'test/vm/thin-pool.test.ts'];
for (const udev of [false, true]) {
  if (!wanted('vm')) break;
  const name = udev ? 'vm-udev' : 'vm-no-udev';
  const file = path.join(out, `${name}.json`);
  const vmArgs = [...(udev ? ['--udev'] : []), '--', 'npx', ...vitestArgs('vm', file, udev ? UDEV_FILES : [])];
  console.log(`\n== in the test VM, ${udev ? 'with' : 'without'} udevd ==`);
  const env = { ...process.env, DEVMAPPER_VM_TIMEOUT: process.env.DEVMAPPER_VM_TIMEOUT ?? '3600' };
  const r = spawnSync(path.join(root, 'scripts/vm.sh'), vmArgs, { cwd: root, stdio: 'inherit', env });
  const c = counts(`in the guest (${udev ? 'udev' : 'no udev'})`, file, r.status);
  if (c.passed === 0 && c.failed === 0) {
    c.failed = 1;
    c.note = 'no test ran in the guest';
  }
  runs.push(c);
}

console.log('\nSummary');
let passed = 0;
let failed = 0;
for (const c of runs) {
  passed += c.passed;
  failed += c.failed;
  console.log(`  ${c.label}: ${c.passed} passed, ${c.failed} failed${c.skipped ? `, ${c.skipped} skipped` : ''}${c.note ? ` (${c.note})` : ''}`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && runs.length > 0 ? 0 : 1);
