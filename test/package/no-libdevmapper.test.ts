/**
 * The installed package on a machine without libdevmapper: a private mount
 * namespace (unshare -m, as root) hides the library behind an empty file, so
 * dlopen fails as it does where the package is not installed. Importing,
 * the simulated pool and the CLI's help still work; the first kernel call
 * throws DeviceMapperError ENOLIBDM naming what to install.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { INSTALL_HINTS, consumer, exec, lastJsonLine, type KernelFreeResult } from './support.js';

const project = path.join(consumer, 'x64');
// Every path the loader could find libdevmapper at.
const libraries = execFileSync('ldconfig', ['-p'], { encoding: 'utf8' })
  .split('\n')
  .map((l) => /libdevmapper\.so\.1\.02(?:\.1)? .*=> (\S+)$/.exec(l.trim())?.[1])
  .filter((p): p is string => p !== undefined);

async function withoutLibdevmapper(command: string): Promise<string> {
  const hide = libraries.map((l) => `mount --bind /dev/null ${l}`).join(' && ');
  const { stdout } = await exec('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `${hide} && ${command}`], { cwd: project });
  return stdout;
}

describe('without libdevmapper', () => {
  it('is hidden from the loader for these tests', async () => {
    expect(libraries.length).toBeGreaterThan(0);
    expect(await withoutLibdevmapper('for l in ' + libraries.join(' ') + '; do [ -s "$l" ] && echo visible; done; true')).toBe('');
  });

  it('loads the package, runs the simulated pool, and throws ENOLIBDM on the first kernel call', async () => {
    const out = lastJsonLine<KernelFreeResult>(await withoutLibdevmapper(`"${process.execPath}" kernel-free.cjs .`));
    expect(out.addon).toBe(path.join(project, 'node_modules/@devmapper/linux-x64-gnu/devmapper.node'));
    expect(out.simulatedThinIds).toEqual([1, 2]);
    expect(out.invalidName).toBe('EINVAL');
    expect(out.list).toBe('ENOLIBDM');
    expect(out.libraryError?.code).toBe('ENOLIBDM');
    for (const hint of INSTALL_HINTS) expect(out.libraryError?.message).toContain(hint);
  });

  it('runs `devmapper --help`', async () => {
    expect(await withoutLibdevmapper('node_modules/.bin/devmapper --help')).toContain('Usage: devmapper');
  });
});
