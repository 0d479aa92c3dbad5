// The published platforms and the stamp that ties each prebuilt binary to
// the sources it was built from (shared by prebuild.mjs and check-prebuilds.mjs).
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** name: the folder under npm/ and the package @devmapper/<name>. */
export const PLATFORMS = [
  { name: 'linux-x64-gnu', zigTarget: 'x86_64-linux-gnu.2.28', cpu: 'x64', libc: 'glibc', machine: 'X86-64' },
  { name: 'linux-arm64-gnu', zigTarget: 'aarch64-linux-gnu.2.28', cpu: 'arm64', libc: 'glibc', machine: 'AArch64' },
  { name: 'linux-x64-musl', zigTarget: 'x86_64-linux-musl', cpu: 'x64', libc: 'musl', machine: 'X86-64' },
  { name: 'linux-arm64-musl', zigTarget: 'aarch64-linux-musl', cpu: 'arm64', libc: 'musl', machine: 'AArch64' },
];

export const binaryPath = (p) => path.join(root, 'npm', p.name, 'devmapper.node');
export const stampPath = (p) => path.join(root, 'npm', p.name, '.sources-sha256');

/** SHA-256 over what a binary is built from: native/, binding.gyp and the build script. */
export function sourcesHash() {
  const files = [
    ...readdirSync(path.join(root, 'native'))
      .filter((f) => /\.(cc|h|inc)$/.test(f))
      .sort()
      .map((f) => path.join('native', f)),
    'binding.gyp',
    'scripts/prebuild.mjs',
  ];
  const h = createHash('sha256');
  for (const f of files) h.update(f + '\0' + readFileSync(path.join(root, f)) + '\0');
  return h.digest('hex');
}
