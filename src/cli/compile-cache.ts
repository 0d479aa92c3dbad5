/**
 * Node's module compile cache for the CLI (Node ≥ 22.1: `module.enableCompileCache`),
 * so a second `devmapper` start reuses the compiled code of the first.
 *
 * The CLI runs as root and the cache holds code V8 runs, so it is used only
 * in a directory no other user can change: owned by this user, mode 0700,
 * not a symbolic link, under parents that only this user or root can write
 * (or sticky ones, like /tmp). Anything else, a missing or read-only home,
 * DEVMAPPER_COMPILE_CACHE=0 or NODE_DISABLE_COMPILE_CACHE, turns it off.
 * NODE_COMPILE_CACHE (Node's own setting) is left to Node.
 */
import { lstatSync, mkdirSync, type Stats } from 'node:fs';
import module from 'node:module';
import os from 'node:os';
import path from 'node:path';

/** The cache directory: $XDG_CACHE_HOME/devmapper/compile-cache, else ~/.cache/devmapper/compile-cache. */
export function compileCacheDirectory(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const base = env.XDG_CACHE_HOME !== undefined && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : path.join(os.homedir(), '.cache');
  return path.isAbsolute(base) ? path.join(base, 'devmapper', 'compile-cache') : undefined;
}

/** Whether only `uid` (or root) can change what `stats` describes. */
function guarded(stats: Stats, uid: number, own: boolean): boolean {
  if (stats.isSymbolicLink() || !stats.isDirectory()) return false;
  if (own) return stats.uid === uid && (stats.mode & 0o077) === 0;
  if (stats.uid !== uid && stats.uid !== 0) return false;
  // Group/other-writable is safe only with the sticky bit (others cannot rename our entries).
  return (stats.mode & 0o022) === 0 || (stats.mode & 0o1000) !== 0;
}

/**
 * Makes `dir` (mode 0700) when missing and tells whether it is safe for the
 * compile cache: see the module comment. Never throws.
 */
export function safeCacheDirectory(dir: string, uid = process.getuid?.() ?? -1): boolean {
  if (uid < 0 || !path.isAbsolute(dir)) return false;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!guarded(lstatSync(dir), uid, true)) return false;
    for (let parent = path.dirname(dir); ; parent = path.dirname(parent)) {
      if (!guarded(lstatSync(parent), uid, false)) return false;
      if (parent === path.dirname(parent)) return true;
    }
  } catch {
    return false;
  }
}

/** Node's compile cache API, where this Node has it. */
type EnableCompileCache = (directory?: string) => { status: number; directory?: string };

/**
 * Turns the compile cache on for this process when Node has it and the
 * directory is safe; returns the directory used, or undefined when off.
 */
export function enableCompileCache(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const enable = (module as { enableCompileCache?: EnableCompileCache }).enableCompileCache;
  if (typeof enable !== 'function') return undefined;
  if (env.DEVMAPPER_COMPILE_CACHE === '0' || env.NODE_DISABLE_COMPILE_CACHE || env.NODE_COMPILE_CACHE) return undefined;
  const dir = compileCacheDirectory(env);
  if (dir === undefined || !safeCacheDirectory(dir)) return undefined;
  try {
    return enable(dir).directory;
  } catch {
    return undefined;
  }
}
