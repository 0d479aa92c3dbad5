/**
 * The four prebuilt binaries as they ship in npm/<platform>/ (built by
 * `npm run prebuild`), read with binutils' readelf: what a user's dynamic
 * loader will ask of their system, and what the binary exposes.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ESM build script without types
import { PLATFORMS, binaryPath, sourcesHash, stampPath } from '../../scripts/prebuilds.mjs';

interface Platform {
  name: string;
  cpu: string;
  libc: 'glibc' | 'musl';
  machine: string;
}

const platforms = PLATFORMS as Platform[];
const root = path.resolve(import.meta.dirname, '../..');
const readelf = (...args: string[]): string => execFileSync('readelf', ['-W', ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });

/** Dynamic symbols: name, version (after @ or @@) and whether defined here. */
function dynamicSymbols(file: string): Array<{ name: string; version: string; defined: boolean; bind: string }> {
  const out = [];
  for (const line of readelf('--dyn-syms', file).split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || !/^\d+:$/.test(f[0] ?? '')) continue;
    const [name = '', version = ''] = (f[7] ?? '').split(/@+/);
    if (name === '') continue;
    out.push({ name, version, defined: f[6] !== 'UND', bind: f[4] ?? '' });
  }
  return out;
}

const versionKey = (v: string): number[] => v.split('.').map(Number);
function highest(versions: string[]): string | undefined {
  return versions.sort((a, b) => {
    const x = versionKey(a);
    const y = versionKey(b);
    for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
    return 0;
  }).at(-1);
}

describe.each(platforms.map((p) => [p.name, p] as const))('npm/%s/devmapper.node', (_name, p) => {
  const file = binaryPath(p) as string;

  it('is there and was built from the current native sources (npm run prebuild)', () => {
    expect(existsSync(file), `${file} is missing: run npm run prebuild`).toBe(true);
    expect(readFileSync(stampPath(p) as string, 'utf8').trim()).toBe(sourcesHash());
  });

  it('is a shared object for its machine, with no interpreter', () => {
    const header = readelf('-h', file);
    expect(header).toMatch(/Type:\s+DYN/);
    expect(header).toMatch(new RegExp(`Machine:\\s+.*${p.machine}`));
    expect(readelf('-l', file)).not.toMatch(/INTERP/);
    // The package's manifest matches the binary it carries.
    const pkg = JSON.parse(readFileSync(path.join(root, 'npm', p.name, 'package.json'), 'utf8')) as { cpu: string[]; libc: string[]; os: string[] };
    expect(pkg).toMatchObject({ os: ['linux'], cpu: [p.cpu], libc: [p.libc] });
  });

  it('needs only the C library: no libdevmapper, no libstdc++ or libgcc_s', () => {
    const needed = [...readelf('-d', file).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
    const allowed = p.libc === 'glibc' ? /^(libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|ld-linux-(x86-64|aarch64)\.so\.[12])$/ : /^libc\.so$/;
    expect(needed.length).toBeGreaterThan(0);
    for (const n of needed) expect(n, `NEEDED ${n}`).toMatch(allowed);
  });

  it('asks for glibc 2.28 at most and no GLIBCXX or CXXABI version (glibc builds); no versions at all (musl)', () => {
    const versions = dynamicSymbols(file).map((s) => s.version).filter((v) => v !== '');
    const glibc = versions.filter((v) => v.startsWith('GLIBC_')).map((v) => v.slice('GLIBC_'.length));
    expect(versions.filter((v) => /^(GLIBCXX|CXXABI|GCC)_/.test(v))).toEqual([]);
    if (p.libc === 'glibc') {
      const max = highest(glibc) ?? '0';
      expect(versionKey(max)[0]).toBe(2);
      expect(versionKey(max)[1]).toBeLessThanOrEqual(28);
    } else {
      expect(versions).toEqual([]);
    }
  });

  it('exports only the Node-API entry points and calls no dm_* function directly', () => {
    const symbols = dynamicSymbols(file);
    const exported = symbols.filter((s) => s.defined && (s.bind === 'GLOBAL' || s.bind === 'WEAK')).map((s) => s.name);
    expect(exported.sort()).toEqual(['napi_register_module_v1', 'node_api_module_get_api_version_v1']);
    const undefinedNames = symbols.filter((s) => !s.defined).map((s) => s.name);
    expect(undefinedNames.filter((n) => n.startsWith('dm_'))).toEqual([]);
    expect(undefinedNames).toContain('dlopen');
  });
});

describe('the libdevmapper shim', () => {
  it('forwards every dm_* function native/ calls (native/libdm_symbols.inc is current)', () => {
    execFileSync(process.execPath, [path.join(root, 'scripts/gen-libdm.mjs'), '--check'], { encoding: 'utf8' });
  });
});
