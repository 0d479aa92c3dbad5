/** Makes sure dist/ and bundle/ are built from the current src/ (tests that run the built CLI or package in a child node). */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

function stale(repo: string): boolean {
  const src = path.join(repo, 'src');
  for (const entry of readdirSync(src, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const file = path.join(entry.parentPath, entry.name);
    const built = path.join(repo, 'dist', path.relative(src, file).replace(/\.ts$/, '.js'));
    if (!existsSync(built) || statSync(built).mtimeMs < statSync(file).mtimeMs) return true;
  }
  return false;
}

/** Whether bundle/ (scripts/bundle.mjs) is missing or older than dist/ (tsc writes every file on each build). */
function bundleStale(repo: string): boolean {
  const bundled = path.join(repo, 'bundle', 'cli.js');
  return !existsSync(bundled) || statSync(bundled).mtimeMs < statSync(path.join(repo, 'dist', 'index.js')).mtimeMs;
}

/** Runs `npm run build:ts`'s compiler when a source file is newer than its built file, and its bundler when dist/ is newer than bundle/. */
export async function ensureBuilt(repo: string): Promise<void> {
  if (stale(repo)) await exec(process.execPath, [path.join(repo, 'node_modules/typescript/bin/tsc'), '-p', path.join(repo, 'tsconfig.json')], { cwd: repo });
  if (bundleStale(repo)) await exec(process.execPath, [path.join(repo, 'scripts/bundle.mjs')], { cwd: repo });
}
