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
// LevelDB (`level` over classic-level) is inlined too, but classic-level's
// JS must match its native binding: the bundle loads the binding of the
// classic-level that `level` resolves to where the package is installed, and
// when that one is not the version bundled it loads the installed `level`
// as it is instead (see levelPlugin). Kept external: our own prebuilt addons
// (@devmapper/linux-*, required at run time by name) and grpc-js's lazy
// @grpc/proto-loader.
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const from = path.join(root, 'dist');
const to = path.join(root, 'bundle');
rmSync(to, { recursive: true, force: true });

/** The library's entry points (`devmapper`, `devmapper/server`, `devmapper/testing`): one build, so they share one copy of each class. */
export const LIBRARY_ENTRY_POINTS = {
  index: path.join(from, 'index.js'),
  server: path.join(from, 'server/index.js'),
  testing: path.join(from, 'testing.js'),
};

/** The CLI (package.json `bin`): a build of its own (a process of its own), so its partial imports of the library do not split the library's chunks. */
export const CLI_ENTRY_POINTS = { cli: path.join(from, 'cli/main.js') };

const classicLevel = path.join(root, 'node_modules', 'classic-level');
const BUNDLED_CLASSIC_LEVEL = JSON.parse(readFileSync(path.join(classicLevel, 'package.json'), 'utf8')).version;

/** The virtual modules that give the inlined classic-level its installed binding (or fall back to the installed level). */
const VIRTUAL = {
  // Where the installed `level` finds classic-level (resolved from the package, as Node would).
  location: `import { createRequire } from 'node:module';
import path from 'node:path';
export const requireInstalled = createRequire(import.meta.url);
const fromLevel = createRequire(requireInstalled.resolve('level'));
const manifest = fromLevel.resolve('classic-level/package.json');
export const classicLevelDir = path.dirname(manifest);
export const classicLevelVersion = fromLevel(manifest).version;
`,
  // What metastore.js's import('level') gets.
  level: `import { classicLevelVersion, requireInstalled } from 'devmapper:classic-level-location';
// require('level') is the inlined copy (esbuild bundles it; it runs only on this branch).
const { Level } = classicLevelVersion === ${JSON.stringify(BUNDLED_CLASSIC_LEVEL)} ? require('level') : requireInstalled('level');
export { Level };
`,
  // What the inlined classic-level's require('./binding') gets.
  binding: `module.exports = require('node-gyp-build')(require('devmapper:classic-level-location').classicLevelDir);
`,
};

/** @type {import('esbuild').Plugin} */
const levelPlugin = {
  name: 'level',
  setup(b) {
    b.onResolve({ filter: /^level$/ }, (args) => (args.importer.endsWith(path.join('dist', 'snapshotter', 'metastore.js')) ? { path: 'level', namespace: 'devmapper' } : undefined));
    b.onResolve({ filter: /^\.\/binding(\.js)?$/ }, (args) => (args.importer.startsWith(classicLevel + path.sep) ? { path: 'binding', namespace: 'devmapper' } : undefined));
    b.onResolve({ filter: /^devmapper:classic-level-location$/ }, () => ({ path: 'location', namespace: 'devmapper' }));
    b.onLoad({ filter: /.*/, namespace: 'devmapper' }, (args) => ({
      contents: VIRTUAL[args.path],
      loader: 'js',
      resolveDir: args.path === 'binding' ? classicLevel : path.join(root, 'dist', 'snapshotter'),
    }));
  },
};

/**
 * A dynamic import() of a CommonJS package (prom-client) gets, from Node, a
 * namespace with the package's named exports; esbuild's chunk would give
 * only `default`. This shim exports the names Node's own namespace has.
 *
 * @type {import('esbuild').Plugin}
 */
const cjsDynamicImportPlugin = {
  name: 'cjs-dynamic-import',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.kind !== 'dynamic-import' || args.namespace !== 'file') return undefined;
      const { type } = JSON.parse(readFileSync(path.join(root, 'node_modules', args.path, 'package.json'), 'utf8'));
      return type === 'module' ? undefined : { path: args.path, namespace: 'cjs-dynamic-import' };
    });
    b.onLoad({ filter: /.*/, namespace: 'cjs-dynamic-import' }, async (args) => {
      const names = Object.keys(await import(args.path)).filter((k) => k !== 'default' && /^[A-Za-z_$][\w$]*$/.test(k));
      return {
        contents: `import m from ${JSON.stringify(args.path)};\nexport default m;\nexport const { ${names.join(', ')} } = m;\n`,
        loader: 'js',
        resolveDir: root,
      };
    });
  },
};

const options = {
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
  external: ['@devmapper/*', '@grpc/proto-loader'],
  // levelPlugin first: it takes metastore.js's import('level').
  plugins: [levelPlugin, cjsDynamicImportPlugin],
  // The inlined CommonJS dependencies (grpc-js, commander, prom-client) call
  // require(); it is made on first call (createRequire costs milliseconds,
  // and most chunks never need it).
  banner: {
    js: [
      "import { createRequire as __devmapperCreateRequire } from 'node:module';",
      'let __devmapperRequire;',
      'function require(id) { return (__devmapperRequire ??= __devmapperCreateRequire(import.meta.url))(id); }',
    ].join('\n'),
  },
  logLevel: 'warning',
};
await build({ ...options, entryPoints: LIBRARY_ENTRY_POINTS });
await build({ ...options, entryPoints: CLI_ENTRY_POINTS, chunkNames: 'cli-[name]-[hash]' });
