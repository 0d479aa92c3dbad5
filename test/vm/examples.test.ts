/**
 * The examples, run as they are (each exports main()) on the guest's kernel.
 * They import 'devmapper', i.e. the built package (dist/): build first.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as dm from '../../src/dm/device-mapper.js';
import { main as microVm } from '../../examples/microvm-raw-block.js';
import { main as poolEvents } from '../../examples/pool-events.js';
import { main as quickStart } from '../../examples/quick-start.js';
import { cleanup, requireDeviceMapper, tempDir, uniquePrefix } from './support/kernel.js';

const MiB = 1024 * 1024;
const prefix = uniquePrefix('ex');
const dirs: string[] = [];

async function dir(): Promise<string> {
  const d = await tempDir('ex');
  dirs.push(d);
  return d;
}

async function leftovers(): Promise<string[]> {
  return (await dm.list()).map((d) => d.name).filter((n) => n.startsWith(prefix));
}

beforeAll(() => requireDeviceMapper());
afterEach(async () => {
  await cleanup(prefix, dirs.splice(0));
});
afterAll(async () => {
  expect(await leftovers()).toEqual([]);
});

describe('examples', () => {
  it('quick start: three layers and a container that sees them all, usage, full cleanup', async () => {
    const lines: string[] = [];
    const r = await quickStart({ directory: await dir(), poolName: `${prefix}qs`, log: (l) => lines.push(l) });
    expect(r.poolName).toBe(`${prefix}qs`);
    expect(r.layers).toEqual(['layer-1', 'layer-2', 'layer-3']);
    expect(r.containerFiles).toEqual(['container.data', 'container.txt', 'layer-1.data', 'layer-1.txt', 'layer-2.data', 'layer-2.txt', 'layer-3.data', 'layer-3.txt']);
    // Each wrote 256 KiB of new data: most of it in blocks its parent never mapped.
    for (const key of ['layer-1', 'layer-2', 'layer-3', 'container-1']) expect(r.usage[key]).toBeGreaterThanOrEqual(128 * 1024);
    expect(r.poolDataUsedBytes).toBeGreaterThan(0);
    expect(r.cleanedUp).toBe(true);
    expect(lines.some((l) => l.includes('written by layer 2'))).toBe(true);
    expect(await leftovers()).toEqual([]);
  });

  it('raw block devices for microVMs: the none formatter, copy-on-write drives', async () => {
    const r = await microVm({ directory: await dir(), poolName: `${prefix}vm`, log: () => undefined });
    expect(r.mountType).toBe('bind');
    expect(Object.keys(r.drives)).toEqual(['vm-1', 'vm-2']);
    for (const device of Object.values(r.drives)) expect(device).toMatch(new RegExp(`^/dev/mapper/${prefix}vm-snap-\\d+$`));
    expect(r.headers).toEqual({ 'vm-1': 'VM-1 WAS HERE', 'vm-2': 'ROOTFS-IMAGE v1' });
    expect(r.vm1OwnBytes).toBe(64 * 1024);
    expect(await leftovers()).toEqual([]);
  });

  it('pool events with autoextend: the low-water event grows the pool', async () => {
    const r = await poolEvents({ directory: await dir(), poolName: `${prefix}ev`, log: () => undefined });
    expect(r.extended).toEqual({ fromBytes: 64 * MiB, toBytes: 96 * MiB });
    // The kernel's event at the threshold: half of the 64 MiB used, before the growth.
    const crossing = r.events.find((e) => e.dataTotalBytes === 64 * MiB && e.dataUsedBytes >= 32 * MiB);
    expect(crossing).toBeDefined();
    expect(await leftovers()).toEqual([]);
  });
});
