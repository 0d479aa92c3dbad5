#!/usr/bin/env node
// Refuses to pack (prepack) what would ship stale or incomplete: each
// prebuilt binary must exist and carry the stamp of the current native
// sources (scripts/prebuild.mjs writes it), the platform packages must have
// the main package's version, and the ESM and CommonJS builds must exist and
// be newer than src/.
//
// usage: node scripts/check-prebuilds.mjs [platform]   (no platform: the main package)
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { PLATFORMS, binaryPath, root, sourcesHash, stampPath } from './prebuilds.mjs';

const problems = [];
const main = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const only = process.argv[2];
const hash = sourcesHash();

for (const p of PLATFORMS.filter((q) => only === undefined || q.name === only)) {
  const bin = path.relative(root, binaryPath(p));
  if (!existsSync(binaryPath(p))) problems.push(`${bin} is missing: run npm run prebuild`);
  else if (!existsSync(stampPath(p)) || readFileSync(stampPath(p), 'utf8').trim() !== hash) {
    problems.push(`${bin} was not built from the current native sources: run npm run prebuild`);
  }
  const pkg = JSON.parse(readFileSync(path.join(root, 'npm', p.name, 'package.json'), 'utf8'));
  if (pkg.version !== main.version) problems.push(`npm/${p.name}/package.json has version ${pkg.version}, devmapper ${main.version}`);
  if (main.optionalDependencies?.[pkg.name] !== main.version) problems.push(`optionalDependencies["${pkg.name}"] is not ${main.version}`);
}

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) t = Math.max(t, statSync(path.join(e.parentPath, e.name)).mtimeMs);
  }
  return t;
}

if (only === undefined) {
  const src = newest(path.join(root, 'src'));
  for (const out of ['dist/index.js', 'bundle/index.js', 'bundle/cli.js', 'cjs/index.js', 'cjs/server/index.js']) {
    const file = path.join(root, out);
    if (!existsSync(file)) problems.push(`${out} is missing: run npm run build:ts`);
    else if (statSync(file).mtimeMs < src) problems.push(`${out} is older than src/: run npm run build:ts`);
  }
}

if (problems.length > 0) {
  console.error(`refusing to pack:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
