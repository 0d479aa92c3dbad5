#!/usr/bin/env node
// Makes the CommonJS build for `require('devmapper')`: each ESM file of dist/
// (tsc's output) transformed to CommonJS in cjs/ at the same depth, so paths
// computed from the module's own location (the addon, proto/, package.json)
// hold in both; the .d.ts files are copied so CommonJS consumers get types
// that TypeScript reads as CommonJS (cjs/package.json says "commonjs").
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { transform } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const from = path.join(root, 'dist');
const to = path.join(root, 'cjs');
rmSync(to, { recursive: true, force: true });

// The CLI stays ESM (its bin runs bundle/cli.js, see bundle.mjs); the library is everything else.
const skip = (rel) => rel.startsWith('cli' + path.sep) && !rel.endsWith('.d.ts');

async function walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const src = path.join(dir, entry.name);
    const rel = path.relative(from, src);
    if (entry.isDirectory()) {
      await walk(src);
      continue;
    }
    if (skip(rel)) continue;
    const dest = path.join(to, rel);
    mkdirSync(path.dirname(dest), { recursive: true });
    if (rel.endsWith('.d.ts')) {
      copyFileSync(src, dest);
    } else if (rel.endsWith('.js')) {
      const { code } = await transform(readFileSync(src, 'utf8'), {
        format: 'cjs',
        platform: 'node',
        target: 'node20',
        define: { 'import.meta.url': '__importMetaUrl' },
        banner: /import\.meta\.url/.test(readFileSync(src, 'utf8')) ? 'const __importMetaUrl = require("node:url").pathToFileURL(__filename).href;' : '',
      });
      writeFileSync(dest, code);
    }
  }
}

await walk(from);
writeFileSync(path.join(to, 'package.json'), '{ "type": "commonjs" }\n');
