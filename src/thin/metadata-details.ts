/**
 * Reads the thin ids of a pool straight from its metadata device: the
 * superblock, then the device-details btree (keyed by thin id) of the
 * metadata snapshot the kernel holds, every block checked (checksum, block
 * number, node layout) as the kernel and thin-provisioning-tools check it.
 * A few dozen 4 KiB reads instead of a thin_dump process, which under load
 * costs more to start than this costs to finish, and walks the tree into XML.
 *
 * The format is the kernel's (drivers/md/dm-thin-metadata.c and
 * persistent-data/dm-btree): little-endian, 4 KiB blocks.
 */
import { open } from 'node:fs/promises';
import { constants } from 'node:fs';
import { DeviceMapperError } from '../dm/errors.js';

/** The metadata block size dm-thin uses, in bytes. */
export const METADATA_BLOCK_BYTES = 4096;

const SUPERBLOCK_MAGIC = 27022010n;
const SUPERBLOCK_CSUM_XOR = 160774;
const BTREE_CSUM_XOR = 121107;
// Superblock field offsets.
const SB_MAGIC = 32;
const SB_HELD_ROOT = 56;
const SB_DETAILS_ROOT = 328;
// Btree node header: csum, flags, blocknr, nr_entries, max_entries, value_size, padding; then keys, then values.
const NODE_HEADER_BYTES = 32;
const INTERNAL_NODE = 1;
const LEAF_NODE = 2;
// A tree deeper than this is corrupt (a 4 KiB node holds 100+ entries; 2^24 ids need 4 levels).
const MAX_DEPTH = 8;

// crc32c (Castagnoli) tables for slicing by 4: four bytes per step.
const CRC32C = (() => {
  const tables = Array.from({ length: 4 }, () => new Uint32Array(256));
  const [t0, t1, t2, t3] = tables as [Uint32Array, Uint32Array, Uint32Array, Uint32Array];
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t0[i] = c >>> 0;
  }
  for (let i = 0; i < 256; i++) {
    t1[i] = (t0[t0[i]! & 0xff]! ^ (t0[i]! >>> 8)) >>> 0;
    t2[i] = (t0[t1[i]! & 0xff]! ^ (t1[i]! >>> 8)) >>> 0;
    t3[i] = (t0[t2[i]! & 0xff]! ^ (t2[i]! >>> 8)) >>> 0;
  }
  return { t0, t1, t2, t3 };
})();

/** dm_bm_checksum: crc32c (seed ~0, no final inversion) of the block after its checksum field, xored. */
function blockChecksum(view: DataView, xor: number): number {
  const { t0, t1, t2, t3 } = CRC32C;
  let crc = 0xffffffff;
  for (let i = 4; i < view.byteLength; i += 4) {
    const word = (crc ^ view.getUint32(i, true)) >>> 0;
    crc = t3[word & 0xff]! ^ t2[(word >>> 8) & 0xff]! ^ t1[(word >>> 16) & 0xff]! ^ t0[word >>> 24]!;
  }
  return (crc ^ xor) >>> 0;
}

function corrupt(device: string, detail: string): DeviceMapperError {
  return new DeviceMapperError(`pool metadata ${device}: ${detail}`, { code: 'EIO', op: 'thinIds', device });
}

/** Options of {@link readThinIds}. */
export interface ReadThinIdsOptions {
  /**
   * Read the metadata snapshot the kernel holds (`reserve_metadata_snap`)
   * rather than the superblock's own tree (default true: a live pool's
   * committed tree may be freed and reused while it is read).
   */
  metadataSnap?: boolean;
  /**
   * Open with O_DIRECT (default true): the kernel writes the metadata
   * without going through the block device's page cache, so a cached read
   * can be stale. Off only for metadata in a regular file no kernel writes.
   */
  direct?: boolean;
}

/**
 * The thin ids in a pool's metadata, ascending, read from `metadataDevice`.
 *
 * @throws DeviceMapperError 'EIO' when a block fails its checks (or no
 *   metadata snapshot is held when one is asked for), or the read's own error.
 */
export async function readThinIds(metadataDevice: string, options: ReadThinIdsOptions = {}): Promise<number[]> {
  const direct = options.direct ?? true;
  const file = await open(metadataDevice, constants.O_RDONLY | (direct ? constants.O_DIRECT : 0));
  try {
    const reader = new BlockReader(file, metadataDevice);
    const superblock = await reader.superblock(0);
    let root = superblock.detailsRoot;
    if (options.metadataSnap ?? true) {
      if (superblock.heldRoot === 0) throw corrupt(metadataDevice, 'no metadata snapshot is held');
      root = (await reader.superblock(superblock.heldRoot)).detailsRoot;
    }
    return await reader.keys(root);
  } finally {
    await file.close();
  }
}

type FileHandle = Awaited<ReturnType<typeof open>>;

/** The part of WebAssembly.Memory used here (the project's TS lib has no WebAssembly types). */
interface PageMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
const { Memory } = (globalThis as unknown as { WebAssembly: { Memory: new (descriptor: { initial: number }) => PageMemory } }).WebAssembly;

class BlockReader {
  // O_DIRECT wants the buffer aligned to the device's logical block size.
  // WebAssembly memory is mapped page-aligned by V8; a Buffer's memory is not.
  private readonly memory = new Memory({ initial: 1 });

  constructor(
    private readonly file: FileHandle,
    private readonly device: string,
  ) {}

  /**
   * Reads blocks into page-aligned memory, one read per run of consecutive
   * block numbers, and returns a view of each, in the order asked. The
   * views are valid until the next read.
   */
  private async read(blocks: readonly number[]): Promise<DataView[]> {
    const sorted = [...new Set(blocks)].sort((a, b) => a - b);
    const need = sorted.length * METADATA_BLOCK_BYTES;
    const have = this.memory.buffer.byteLength;
    if (have < need) this.memory.grow(Math.ceil((need - have) / 65536));
    const memory = this.memory.buffer;
    const slot = new Map<number, number>();
    const reads: Array<Promise<void>> = [];
    for (let i = 0; i < sorted.length; ) {
      let j = i + 1;
      while (j < sorted.length && sorted[j] === sorted[j - 1]! + 1) j++;
      const first = sorted[i]!;
      const bytes = (j - i) * METADATA_BLOCK_BYTES;
      const target = new Uint8Array(memory, i * METADATA_BLOCK_BYTES, bytes);
      for (let k = i; k < j; k++) slot.set(sorted[k]!, k);
      reads.push(
        this.file.read(target, 0, bytes, first * METADATA_BLOCK_BYTES).then(({ bytesRead }) => {
          if (bytesRead !== bytes) throw corrupt(this.device, `block ${first + bytesRead / METADATA_BLOCK_BYTES} is past the end of the device`);
        }),
      );
      i = j;
    }
    await Promise.all(reads);
    return blocks.map((block) => new DataView(memory, slot.get(block)! * METADATA_BLOCK_BYTES, METADATA_BLOCK_BYTES));
  }

  /** A little-endian u64 that must fit in a JS number (block numbers and thin ids do). */
  private u64(view: DataView, offset: number, what: string): number {
    const high = view.getUint32(offset + 4, true);
    if (high >= 0x200000) throw corrupt(this.device, `${what} ${view.getBigUint64(offset, true)} is out of range`);
    return high * 0x100000000 + view.getUint32(offset, true);
  }

  /** The superblock at `location`, checked; returns its device-details root and held (snapshot) root. */
  async superblock(location: number): Promise<{ detailsRoot: number; heldRoot: number }> {
    const [view] = await this.read([location]);
    if (view!.getBigUint64(SB_MAGIC, true) !== SUPERBLOCK_MAGIC) throw corrupt(this.device, `block ${location} is not a thin-pool superblock`);
    this.check(view!, location, SUPERBLOCK_CSUM_XOR, 'superblock');
    return { detailsRoot: this.u64(view!, SB_DETAILS_ROOT, 'block number'), heldRoot: this.u64(view!, SB_HELD_ROOT, 'block number') };
  }

  private check(view: DataView, location: number, xor: number, what: string): void {
    if (view.getUint32(0, true) !== blockChecksum(view, xor)) throw corrupt(this.device, `${what} at block ${location} fails its checksum`);
    const named = this.u64(view, 8, 'block number');
    if (named !== location) throw corrupt(this.device, `${what} at block ${location} names block ${named}`);
  }

  /** Every key of the btree at `root`, walked level by level (one batch of reads per level). */
  async keys(root: number): Promise<number[]> {
    const ids: number[] = [];
    let level = [root];
    for (let depth = 0; level.length > 0; depth++) {
      if (depth >= MAX_DEPTH) throw corrupt(this.device, 'the device-details btree is deeper than any valid one');
      const views = await this.read(level);
      const next: number[] = [];
      for (let i = 0; i < level.length; i++) {
        const view = views[i]!;
        this.check(view, level[i]!, BTREE_CSUM_XOR, 'btree node');
        const flags = view.getUint32(4, true);
        const entries = view.getUint32(16, true);
        const max = view.getUint32(20, true);
        const valueSize = view.getUint32(24, true);
        const internal = (flags & INTERNAL_NODE) !== 0;
        if (internal === ((flags & LEAF_NODE) !== 0) || entries > max || NODE_HEADER_BYTES + max * (8 + valueSize) > METADATA_BLOCK_BYTES || (internal && valueSize !== 8)) {
          throw corrupt(this.device, `btree node at block ${level[i]} has an invalid header`);
        }
        for (let e = 0; e < entries; e++) {
          if (internal) next.push(this.u64(view, NODE_HEADER_BYTES + max * 8 + e * 8, 'block number'));
          else ids.push(this.u64(view, NODE_HEADER_BYTES + e * 8, 'thin id'));
        }
      }
      level = next;
    }
    return ids.sort((a, b) => a - b);
  }
}
