/**
 * Raw block devices for a microVM runtime (Firecracker, Kata, Cloud
 * Hypervisor): the 'none' formatter makes no filesystem, so every snapshot
 * is a bare thin device to hand to the VM as its disk. A committed root
 * image is shared copy-on-write by every VM's writable disk.
 *
 *   npm run build:ts && npx tsc -p tsconfig.examples.json && node dist-examples/microvm-raw-block.js
 */
import { open, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Snapshotter, ThinPool } from 'devmapper';

const MiB = 1024 * 1024;

/** What the example saw. */
export interface MicroVmResult {
  /** The block device each VM would get as its root drive. */
  drives: Record<string, string>;
  /** The first bytes of each VM's drive after vm-1 wrote to its own. */
  headers: Record<string, string>;
  /** Mount type of a raw snapshot: a bind mount of the device node. */
  mountType: string;
  /** Bytes vm-1 maps beyond what the image mapped (blocks it provisioned anew; overwritten ones are copies, not counted). */
  vm1OwnBytes: number;
}

/** Options of {@link main}. */
export interface MicroVmOptions {
  directory?: string;
  poolName?: string;
  log?: (line: string) => void;
}

async function writeAt(device: string, offset: number, data: Buffer): Promise<void> {
  const fd = await open(device, 'r+');
  try {
    await fd.write(data, 0, data.length, offset);
    await fd.sync();
  } finally {
    await fd.close();
  }
}

async function readAt(device: string, offset: number, length: number): Promise<Buffer> {
  const fd = await open(device, 'r');
  try {
    const buf = Buffer.alloc(length);
    await fd.read(buf, 0, length, offset);
    return buf;
  } finally {
    await fd.close();
  }
}

/** Runs the example. */
export async function main(options: MicroVmOptions = {}): Promise<MicroVmResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const ownDirectory = options.directory === undefined;
  const work = options.directory ?? (await mkdtemp(path.join(tmpdir(), 'devmapper-microvm-')));
  const pool = await ThinPool.createLoopback({
    directory: path.join(work, 'pool'),
    dataSizeBytes: 256 * MiB,
    metadataSizeBytes: 8 * MiB,
    ...(options.poolName ? { name: options.poolName } : {}),
  });
  let snapshotter: Snapshotter | undefined;
  try {
    // fsType 'none': no mkfs, no mount; snapshots are raw block devices.
    snapshotter = await Snapshotter.open({ rootPath: path.join(work, 'root'), pool, baseImageSize: '32MB', fsType: 'none' });

    log('1. Unpack a root image: prepare a raw snapshot and write the image to its device.');
    const [image] = await snapshotter.prepare('rootfs-unpack');
    if (!image) throw new Error('no mount');
    const header = Buffer.alloc(4096);
    header.write('ROOTFS-IMAGE v1');
    await writeAt(image.source, 0, header);
    await writeAt(image.source, 8 * MiB, Buffer.alloc(4 * MiB, 0xab)); // the image's "content"
    await snapshotter.commit('rootfs', 'rootfs-unpack');
    log(`   ${image.source} (mount type ${image.type}: a bind of the device node) committed as rootfs`);

    log('2. Two VMs: each gets a writable thin snapshot of rootfs as its drive.');
    const drives: Record<string, string> = {};
    for (const vm of ['vm-1', 'vm-2']) {
      const [drive] = await snapshotter.prepare(vm, 'rootfs');
      if (!drive) throw new Error('no mount');
      drives[vm] = drive.source;
      log(`   ${vm}: drive ${drive.source} (e.g. Firecracker "path_on_host")`);
    }

    log('3. vm-1 writes to its drive; vm-2 still reads the image: copy-on-write per block.');
    const vm1 = drives['vm-1'] ?? '';
    const own = Buffer.alloc(4096);
    own.write('VM-1 WAS HERE');
    await writeAt(vm1, 0, own); // overwrites a block of the image: vm-1 gets its own copy
    await writeAt(vm1, 20 * MiB, Buffer.alloc(4096, 0xcd)); // a block the image never wrote: newly provisioned
    const headers: Record<string, string> = {};
    for (const [vm, device] of Object.entries(drives)) {
      headers[vm] = (await readAt(device, 0, 32)).toString('latin1').replace(/\0+$/, '');
      log(`   ${vm} reads: ${headers[vm]}`);
    }
    const vm1OwnBytes = (await snapshotter.usage('vm-1')).size;
    // Usage counts blocks mapped beyond what the image mapped: the new block, not the copied one.
    log(`   vm-1 maps ${vm1OwnBytes / 1024} KiB beyond the image (its new block); everything else is shared with rootfs`);

    log('4. Cleanup: the VMs\' drives, the image, the pool.');
    for (const key of ['vm-1', 'vm-2', 'rootfs']) await snapshotter.remove(key);
    await snapshotter.close();
    snapshotter = undefined;
    await pool.destroy();
    return { drives, headers, mountType: image.type, vm1OwnBytes };
  } catch (e) {
    await snapshotter?.close().catch(() => undefined);
    await pool.destroy().catch(() => undefined);
    throw e;
  } finally {
    if (ownDirectory) await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
