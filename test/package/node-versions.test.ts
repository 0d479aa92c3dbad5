/**
 * The packed tarballs as a user installs them (scripts/pack-consumer.sh:
 * `npm install --ignore-scripts`, no compiler on PATH), loaded by the
 * official Node binaries of each supported line: ESM import and CommonJS
 * require of 'devmapper', 'devmapper/server' and 'devmapper/testing', the prebuilt addon of
 * @devmapper/linux-x64-gnu, libdevmapper found at run time.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { consumer, exec, lastJsonLine, nodeBinaries, type KernelFreeResult } from './support.js';

const project = path.join(consumer, 'x64');
const versions = Object.entries(nodeBinaries().x64);

describe('the installed package', () => {
  it('is loaded on Node 20, 22, 24 and 26', () => {
    expect(versions.map(([v]) => v.split('.')[0]).sort()).toEqual(['20', '22', '24', '26']);
  });
});

describe.each(versions)('on Node %s', (version, node) => {
  it('require(): the CommonJS build, the prebuilt addon, libdevmapper, the simulated pool', async () => {
    const { stdout } = await exec(node, ['kernel-free.cjs', '.'], { cwd: project });
    const out = lastJsonLine<KernelFreeResult>(stdout);
    expect(out.node).toBe(`v${version}`);
    expect(out.main).toBe(path.join(project, 'node_modules/devmapper/cjs/index.js'));
    expect(out.addon).toBe(path.join(project, 'node_modules/@devmapper/linux-x64-gnu/devmapper.node'));
    expect(out.libraryVersion).toMatch(/^1\.02\.\d+/);
    // No device-mapper in the host kernel: the call reaches it and fails typed.
    expect(out.list).toBe('ENODEV');
    expect(out.invalidName).toBe('EINVAL');
    expect(out.validName).toBe(true);
    expect(out.simulatedThinIds).toEqual([1, 2]);
    expect(out.serverExports).toBeGreaterThan(10);
    expect(out.testingExports).toBeGreaterThan(3);
  });

  it('import: the ESM build of devmapper and devmapper/server', async () => {
    const { stdout } = await exec(node, ['import-consumer.mjs'], { cwd: project });
    expect(lastJsonLine(stdout)).toEqual({ node: `v${version}`, thinIds: [1], serverExports: expect.any(Number), list: 'ENODEV' });
  });

  it('runs the devmapper bin (the bundled CLI), with the compile cache in a private directory where Node has one (22.1 and later)', async () => {
    const installed = path.join(project, 'node_modules/devmapper');
    const { bin } = JSON.parse(await readFile(path.join(installed, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(bin.devmapper).toBe('bundle/cli.js');
    const cacheHome = await mkdtemp(path.join(tmpdir(), 'devmapper-cache-home-'));
    try {
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('NODE_') && !k.startsWith('DEVMAPPER_')));
      const { stdout } = await exec(node, [path.join(installed, bin.devmapper ?? 'bundle/cli.js'), '--help'], { cwd: project, env: { ...env, XDG_CACHE_HOME: cacheHome } });
      expect(stdout).toContain('Usage: devmapper');
      const [major = 0, minor = 0] = version.split('.').map(Number);
      const cache = path.join(cacheHome, 'devmapper', 'compile-cache');
      const cached = await readdir(cache, { recursive: true }).catch(() => []);
      if (major > 22 || (major === 22 && minor >= 1)) expect(cached.length).toBeGreaterThan(0);
      else expect(cached).toEqual([]);
    } finally {
      await rm(cacheHome, { recursive: true, force: true });
    }
  });
});
