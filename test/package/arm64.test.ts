/**
 * arm64: the packed package installed for arm64 (npm install --cpu=arm64),
 * loaded by the official arm64 Node under qemu-user, with Debian's arm64
 * libdevmapper in a sysroot, and with none. Kernel-free calls only (qemu-user
 * passes syscalls to this host's kernel, which has no device-mapper).
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { INSTALL_HINTS, consumer, exec, lastJsonLine, nodeBinaries, type KernelFreeResult } from './support.js';

const project = path.join(consumer, 'arm64');
const binaries = nodeBinaries();
const [[version, node] = ['', '']] = Object.entries(binaries.arm64);

async function runUnderQemu(sysroot: string): Promise<KernelFreeResult> {
  const { stdout } = await exec('qemu-aarch64', ['-L', sysroot, node, 'kernel-free.cjs', '.'], { cwd: project, timeout: 110_000 });
  return lastJsonLine<KernelFreeResult>(stdout);
}

describe(`arm64 Node ${version} under qemu-aarch64`, () => {
  it('loads the linux-arm64-gnu addon and the arm64 libdevmapper', async () => {
    const out = await runUnderQemu(binaries.arm64Sysroots.libdevmapper);
    expect(out.arch).toBe('arm64');
    expect(out.node).toBe(`v${version}`);
    expect(out.addon).toBe(path.join(project, 'node_modules/@devmapper/linux-arm64-gnu/devmapper.node'));
    expect(out.libraryVersion).toMatch(/^1\.02\.\d+ \(\d{4}-\d\d-\d\d\)$/);
    expect(out.list).toBe('ENODEV');
    expect(out.invalidName).toBe('EINVAL');
    expect(out.simulatedThinIds).toEqual([1, 2]);
  });

  it('without libdevmapper: loads, the simulated pool works, kernel calls throw ENOLIBDM naming the packages', async () => {
    const out = await runUnderQemu(binaries.arm64Sysroots.plain);
    expect(out.addon).toBe(path.join(project, 'node_modules/@devmapper/linux-arm64-gnu/devmapper.node'));
    expect(out.libraryError?.code).toBe('ENOLIBDM');
    expect(out.libraryError?.isDeviceMapperError).toBe(true);
    for (const hint of INSTALL_HINTS) expect(out.libraryError?.message).toContain(hint);
    expect(out.list).toBe('ENOLIBDM');
    expect(out.invalidName).toBe('EINVAL');
    expect(out.simulatedThinIds).toEqual([1, 2]);
  });
});
