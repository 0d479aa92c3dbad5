/**
 * The CLI's compile cache directory: used only where no other user can
 * change it (the cache holds code the root CLI runs), off everywhere else.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compileCacheDirectory, enableCompileCache, safeCacheDirectory } from '../../../src/cli/compile-cache.js';

const uid = process.getuid?.() ?? 0;
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'compile-cache-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('the compile cache directory', () => {
  it('lives under XDG_CACHE_HOME when it is absolute, else under ~/.cache', () => {
    expect(compileCacheDirectory({ XDG_CACHE_HOME: '/var/cache/me' })).toBe('/var/cache/me/devmapper/compile-cache');
    expect(compileCacheDirectory({ XDG_CACHE_HOME: 'relative' })).toMatch(/\/\.cache\/devmapper\/compile-cache$/);
  });

  it('is made with mode 0700 and accepted when it is ours', () => {
    const cache = path.join(dir, 'a', 'compile-cache');
    expect(safeCacheDirectory(cache, uid)).toBe(true);
    expect(statSync(cache).mode & 0o777).toBe(0o700);
    // And again, now that it exists.
    expect(safeCacheDirectory(cache, uid)).toBe(true);
  });

  it('is refused when others can write it', () => {
    const cache = path.join(dir, 'open');
    mkdirSync(cache, { mode: 0o700 });
    chmodSync(cache, 0o777);
    expect(safeCacheDirectory(cache, uid)).toBe(false);
  });

  it('is refused under a parent others can write (without the sticky bit)', () => {
    const parent = path.join(dir, 'shared');
    mkdirSync(parent);
    chmodSync(parent, 0o777);
    expect(safeCacheDirectory(path.join(parent, 'compile-cache'), uid)).toBe(false);
    chmodSync(parent, 0o1777);
    expect(safeCacheDirectory(path.join(parent, 'compile-cache'), uid)).toBe(true);
  });

  it('is refused when it is a symbolic link or a file', () => {
    const real = path.join(dir, 'real');
    mkdirSync(real, { mode: 0o700 });
    const link = path.join(dir, 'link');
    symlinkSync(real, link);
    expect(safeCacheDirectory(link, uid)).toBe(false);
    const file = path.join(dir, 'file');
    writeFileSync(file, '');
    expect(safeCacheDirectory(file, uid)).toBe(false);
  });

  it('is refused when another user owns it', () => {
    const cache = path.join(dir, 'theirs');
    mkdirSync(cache, { mode: 0o700 });
    expect(safeCacheDirectory(cache, uid + 1)).toBe(false);
  });

  it('is refused where it cannot be made, and for a relative path', () => {
    const file = path.join(dir, 'file');
    writeFileSync(file, '');
    expect(safeCacheDirectory(path.join(file, 'compile-cache'), uid)).toBe(false);
    expect(safeCacheDirectory('relative/compile-cache', uid)).toBe(false);
  });

  it('stays off when turned off, and leaves NODE_COMPILE_CACHE to Node', () => {
    const env = { XDG_CACHE_HOME: dir };
    expect(enableCompileCache({ ...env, DEVMAPPER_COMPILE_CACHE: '0' })).toBeUndefined();
    expect(enableCompileCache({ ...env, NODE_DISABLE_COMPILE_CACHE: '1' })).toBeUndefined();
    expect(enableCompileCache({ ...env, NODE_COMPILE_CACHE: path.join(dir, 'node') })).toBeUndefined();
  });
});
