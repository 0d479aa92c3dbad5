/**
 * What the packed main package holds, as installed in the consumer project:
 * metadata, no install script, source maps whose sources ship too, the
 * bundled build (bundle/) that its ES module conditions and bin point at.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { consumer } from './support.js';

const installed = path.join(consumer, 'x64', 'node_modules', 'devmapper');

interface Manifest {
  version: string;
  license: string;
  repository: { url: string };
  bugs: { url: string };
  homepage: string;
  gypfile: boolean;
  scripts: Record<string, string>;
  exports: Record<string, unknown>;
  optionalDependencies: Record<string, string>;
  bin: Record<string, string>;
}

describe('the packed devmapper package', () => {
  const pkg = JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8')) as Manifest;

  it('has its license text, repository, bugs and homepage', () => {
    expect(pkg.license).toBe('Apache-2.0');
    expect(readFileSync(path.join(installed, 'LICENSE'), 'utf8')).toContain('Apache License\n                           Version 2.0, January 2004');
    expect(pkg.repository.url).toMatch(/^git\+https:\/\//);
    expect(pkg.bugs.url).toMatch(/^https:\/\//);
    expect(pkg.homepage).toMatch(/^https:\/\//);
  });

  it('runs nothing at install: no install scripts, no implicit node-gyp', () => {
    for (const hook of ['preinstall', 'install', 'postinstall', 'prepare']) expect(pkg.scripts[hook]).toBeUndefined();
    expect(pkg.gypfile).toBe(false);
  });

  it('lists the four platform packages at its own version, and exports require, import and ./package.json', () => {
    expect(pkg.optionalDependencies).toEqual({
      '@devmapper/linux-x64-gnu': pkg.version,
      '@devmapper/linux-arm64-gnu': pkg.version,
      '@devmapper/linux-x64-musl': pkg.version,
      '@devmapper/linux-arm64-musl': pkg.version,
    });
    for (const entry of ['.', './server', './testing']) expect(Object.keys(pkg.exports[entry] as object).sort()).toEqual(['import', 'require']);
    expect(pkg.exports['./package.json']).toBe('./package.json');
  });

  it('ships every file its exports and bin name: ES modules from bundle/, types and CommonJS from dist/ and cjs/', () => {
    const targets = Object.values(pkg.exports).flatMap((e) => (typeof e === 'string' ? [e] : Object.values(e as Record<string, Record<string, string>>).flatMap((c) => Object.values(c))));
    expect(targets.length).toBeGreaterThan(10);
    for (const target of [...targets, ...Object.values(pkg.bin)]) expect(existsSync(path.join(installed, target)), target).toBe(true);
    expect(pkg.bin).toEqual({ devmapper: 'bundle/cli.js' });
  });

  it('ships the sources its source maps point at', () => {
    const maps = readdirSync(path.join(installed, 'dist'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(10);
    for (const map of maps) {
      const file = path.join(installed, 'dist', map);
      const { sources } = JSON.parse(readFileSync(file, 'utf8')) as { sources: string[] };
      for (const source of sources) expect(existsSync(path.resolve(path.dirname(file), source)), `${map} -> ${source}`).toBe(true);
    }
  });
});
