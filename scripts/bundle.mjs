#!/usr/bin/env node
// Makes the bundled ES module build in bundle/ that package.json's `import`
// conditions and `bin` point at: each entry point of dist/ (tsc's output) —
// `devmapper`, `devmapper/server`, `devmapper/testing` and the CLI — with the
// pure-JS dependencies inlined, split into shared chunks (one copy of each
// class across the entry points) and lazy chunks (what a dynamic import()
// loads, e.g. gRPC for `serve`). A cold start then opens a handful of files
// instead of a hundred, which is what costs on slow file systems.
//
// Every file lands flat in bundle/, one level below the package root like
// dist/package-root.js, so PACKAGE_ROOT (build/, proto/, package.json) holds.
// Kept external: LevelDB (`level`: classic-level's JS must match its native
// binding as installed) and our own prebuilt addons (@devmapper/linux-*,
// required at run time by name); grpc-js's lazy @grpc/proto-loader too.
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const from = path.join(root, 'dist');
const to = path.join(root, 'bundle');
rmSync(to, { recursive: true, force: true });

export const ENTRY_POINTS = {
  index: path.join(from, 'index.js'),
  server: path.join(from, 'server/index.js'),
  testing: path.join(from, 'testing.js'),
  cli: path.join(from, 'cli/main.js'),
};

await build({
  entryPoints: ENTRY_POINTS,
  outdir: to,
  // Path comments in the output (`// dist/cli/program.js`) name each inlined module relative to the package root.
  absWorkingDir: root,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: '[name]-[hash]',
  // Class and function names stay as in dist/ (error names, stack traces).
  keepNames: true,
  // @grpc/proto-loader: grpc-js require()s it only for its channelz and ORCA services, which we do not serve.
  external: ['level', '@devmapper/*', '@grpc/proto-loader'],
  // The inlined CommonJS dependencies (grpc-js, commander, prom-client) call require().
  banner: { js: "import { createRequire as __devmapperCreateRequire } from 'node:module';\nconst require = __devmapperCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
