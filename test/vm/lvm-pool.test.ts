/**
 * The snapshotter on an LVM-managed thin pool, through what a host does to
 * it: a reboot (every device removed, `vgchange -an`, `vgchange -ay`), a
 * metadata check of the pool's tmeta (`thin_check`, on the component LVM
 * activates read-only), `lvs`, and LVM growing the pool's data with
 * `lvextend` (what its autoextend runs) while the snapshotter works.
 * Every snapshot and its data must come back, and the metastore and the
 * pool must agree at the end.
 */
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import * as dm from '../../src/dm/device-mapper.js';
import { LoopDevice } from '../../src/dm/loop.js';
import { Snapshotter, type Mount } from '../../src/snapshotter/index.js';
import { ThinPool, createLvmThinPool, listLogicalVolumes, type LvmThinPool } from '../../src/thin/index.js';
import { lvm } from '../../src/thin/lvm.js';
import { cleanup, requireDeviceMapper, sh, tempDir, uniquePrefix } from './support/kernel.js';
import { MiB, checkConsistency } from './support/reliability.js';

const prefix = uniquePrefix('lvm');
const vg = `${prefix.replaceAll('-', '')}vg`;
// No dmeventd in the guest (LVM's monitoring is off); no lvmlockd; no metadata archives.
const config = 'activation { monitoring=0 } global { use_lvmlockd=0 } backup { backup=0 archive=0 }';
let dir: string;
let systemDir: string;
let pv: LoopDevice | undefined;
let lvmPool: LvmThinPool | undefined;

const o = () => ({ systemDir, config });
const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** Mounts a snapshot's mounts on `target`, runs `fn`, unmounts. */
async function withMounted<T>(mounts: Mount[], target: string, fn: () => Promise<T>): Promise<T> {
  const [m] = mounts;
  if (!m || mounts.length !== 1) throw new Error(`expected one mount, got ${JSON.stringify(mounts)}`);
  await mkdir(target, { recursive: true });
  await sh('mount', ['-t', m.type, ...(m.options.length ? ['-o', m.options.join(',')] : []), m.source, target]);
  try {
    return await fn();
  } finally {
    await sh('umount', [target]);
  }
}

/** Removes the thin devices the library activated in the pool, as a reboot would. */
async function removeLibraryDevices(pool: ThinPool): Promise<string[]> {
  const removed: string[] = [];
  for (const entry of await dm.list()) {
    const info = await dm.info(entry.name);
    if (!info?.uuid?.startsWith(pool.uuidPrefix)) continue;
    await dm.remove(entry.name, { retries: 20, retryDelayMs: 50 });
    removed.push(entry.name);
  }
  return removed;
}

beforeAll(async () => {
  requireDeviceMapper();
  dir = await tempDir('lvm');
  const pvFile = path.join(dir, 'pv0');
  await writeFile(pvFile, '');
  await truncate(pvFile, 1024 * MiB);
  pv = await LoopDevice.attach(pvFile);
  systemDir = path.join(dir, 'lvm');
  await mkdir(systemDir);
  await copyFile('/etc/lvm/lvm.conf', path.join(systemDir, 'lvm.conf')).catch(() => undefined);
  // Half the VG for data, so lvextend has room to grow it.
  lvmPool = await createLvmThinPool({ devices: [pv.path], volumeGroup: vg, dataPercent: 40, metadataPercent: 2, systemDir, config });
});

afterAll(async () => {
  try {
    for (const entry of await dm.list()) {
      if (!entry.name.startsWith(`${vg}-`)) continue;
      const info = await dm.info(entry.name);
      if (info && !info.uuid?.startsWith('LVM-')) await dm.remove(entry.name, { retries: 20, retryDelayMs: 50 }).catch(() => undefined);
    }
    if (lvmPool) await lvm('vgremove', ['-y', '-f', vg], o()).catch(() => undefined);
    if (pv) await lvm('pvremove', ['-y', pv.path], o()).catch(() => undefined);
  } finally {
    if (dir) await cleanup(prefix, [dir]);
  }
  expect((await dm.list()).filter((d) => d.name.startsWith(`${vg}-`))).toEqual([]);
});

test('snapshots on an LVM thin pool survive a reboot with vgchange, pass thin_check, and lvextend grows the pool under a working snapshotter', async () => {
  const lp = lvmPool!;
  const rootPath = path.join(dir, 'root');
  const open = async () => {
    const pool = await ThinPool.open(lp.dmName, { minFreeSpacePercent: 0 });
    return { pool, s: await Snapshotter.open({ rootPath, pool, baseImageSize: '64MB', fsType: 'ext4', minFreeSpace: 0 }) };
  };
  const mnt = path.join(dir, 'mnt');
  const files: Record<string, string> = {};
  const put = async (name: string) => {
    const data = randomBytes(MiB);
    files[name] = sha(data);
    await writeFile(path.join(mnt, name), data);
  };
  const read = async (name: string) => sha(await readFile(path.join(mnt, name)));

  // Snapshotter work: two committed layers, an active snapshot and a view.
  let { pool, s } = await open();
  await withMounted(await s.prepare('a'), mnt, () => put('a.bin'));
  await s.commit('A', 'a');
  await withMounted(await s.prepare('b', 'A'), mnt, () => put('b.bin'));
  await s.commit('B', 'b');
  await withMounted(await s.prepare('live', 'B'), mnt, () => put('live.bin'));
  await s.view('v', 'A');
  const kernelTransactionId = await pool.transactionId();
  await s.close();
  await pool.close();

  // A reboot: every device goes, LVM deactivates and reactivates the volume group.
  expect((await removeLibraryDevices(pool)).length).toBeGreaterThan(0);
  await lvm('vgchange', ['-an', vg], o());
  expect(await dm.info(pool.name)).toBeNull();
  // thin_check on the pool's metadata: LVM activates the tmeta component read-only while the pool is inactive.
  await lvm('lvchange', ['-ay', '-y', `${vg}/${lp.poolName}_tmeta`], o());
  try {
    const check = await sh('thin_check', [`/dev/mapper/${vg}-${lp.poolName}_tmeta`], { allowFail: true });
    expect(check, check.stderr).toMatchObject({ code: 0 });
  } finally {
    await lvm('lvchange', ['-an', `${vg}/${lp.poolName}_tmeta`], o());
  }
  await lvm('vgchange', ['-ay', vg], o());
  const lvs = await listLogicalVolumes(vg, o());
  expect(lvs.find((lv) => lv.lv_name === lp.poolName)?.lv_attr).toMatch(/^t.{3}a/);

  // Reopened: every snapshot is there with its data.
  ({ pool, s } = await open());
  expect(await pool.transactionId()).toBeGreaterThanOrEqual(kernelTransactionId);
  const kinds: Record<string, string> = {};
  for await (const info of s.walk()) kinds[info.name] = info.kind;
  expect(kinds).toEqual({ A: 'committed', B: 'committed', live: 'active', v: 'view' });
  await withMounted(await s.mounts('live'), mnt, async () => {
    for (const name of ['a.bin', 'b.bin', 'live.bin']) expect(await read(name)).toBe(files[name]);
  });
  await withMounted(await s.mounts('v'), mnt, async () => {
    expect(await read('a.bin')).toBe(files['a.bin']);
  });

  // lvextend, as LVM's autoextend runs it, while prepares and commits go on.
  const before = (await pool.status()).data.totalBytes;
  const work = Array.from({ length: 4 }, async (_, i) => {
    await s.prepare(`w${i}`, 'B');
    await s.commit(`W${i}`, `w${i}`);
  });
  await Promise.all([lvm('lvextend', ['-L', '+128M', `${vg}/${lp.poolName}`], o()), ...work]);
  expect((await pool.status()).data.totalBytes).toBe(before + 128 * MiB);
  expect(Number((await listLogicalVolumes(vg, o())).find((lv) => lv.lv_name === lp.poolName)?.lv_size)).toBe(before + 128 * MiB);
  await withMounted(await s.prepare('after', 'W0'), mnt, async () => {
    expect(await read('b.bin')).toBe(files['b.bin']);
    await put('after.bin');
  });
  await s.commit('AFTER', 'after');
  await s.close();

  // The metastore and the pool agree: no leaked thin id, no dangling record.
  const c = await checkConsistency(rootPath, pool);
  expect(c).toMatchObject({ leakedIds: [], danglingRecords: [], unfinished: [], missingDevices: [], strayActive: [] });
  await pool.close();
  await removeLibraryDevices(pool);
  // LVM still manages the pool after all of it.
  await lvm('vgchange', ['-an', vg], o());
  await lvm('vgchange', ['-ay', vg], o());
});
