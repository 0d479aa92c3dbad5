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

const CRC32C = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[i] = c >>> 0;
  }
  return table;
})();

/** dm_bm_checksum: crc32c (seed ~0, no final inversion) of the block after its checksum field, xored. */
function blockChecksum(block: Uint8Array, xor: number): number {
  let crc = 0xffffffff;
  for (let i = 4; i < block.length; i++) crc = (CRC32C[(crc ^ block[i]!) & 0xff]! ^ (crc >>> 8)) >>> 0;
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
    const superblock = await reader.superblock(0n);
    let root = superblock.getBigUint64(SB_DETAILS_ROOT, true);
    if (options.metadataSnap ?? true) {
      const held = superblock.getBigUint64(SB_HELD_ROOT, true);
      if (held === 0n) throw corrupt(metadataDevice, 'no metadata snapshot is held');
      root = (await reader.superblock(held)).getBigUint64(SB_DETAILS_ROOT, true);
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

  /** Reads blocks into one page-aligned buffer; block i of the list at i * 4 KiB. */
  private async read(blocks: readonly bigint[]): Promise<Uint8Array> {
    const need = blocks.length * METADATA_BLOCK_BYTES;
    const pages = Math.ceil(need / 65536);
    if (this.memory.buffer.byteLength < need) this.memory.grow(pages - this.memory.buffer.byteLength / 65536);
    const all = new Uint8Array(this.memory.buffer, 0, need);
    await Promise.all(
      blocks.map(async (block, i) => {
        const target = all.subarray(i * METADATA_BLOCK_BYTES, (i + 1) * METADATA_BLOCK_BYTES);
        const { bytesRead } = await this.file.read(target, 0, METADATA_BLOCK_BYTES, Number(block) * METADATA_BLOCK_BYTES);
        if (bytesRead !== METADATA_BLOCK_BYTES) throw corrupt(this.device, `block ${block} is past the end of the device`);
      }),
    );
    // A copy: the next read reuses the memory.
    return all.slice();
  }

  async superblock(location: bigint): Promise<DataView> {
    const block = await this.read([location]);
    const view = new DataView(block.buffer, block.byteOffset, block.byteLength);
    if (view.getBigUint64(SB_MAGIC, true) !== SUPERBLOCK_MAGIC) throw corrupt(this.device, `block ${location} is not a thin-pool superblock`);
    this.check(view, block, location, SUPERBLOCK_CSUM_XOR, 'superblock');
    return view;
  }

  private check(view: DataView, block: Uint8Array, location: bigint, xor: number, what: string): void {
    if (view.getUint32(0, true) !== blockChecksum(block, xor)) throw corrupt(this.device, `${what} at block ${location} fails its checksum`);
    if (view.getBigUint64(8, true) !== location) throw corrupt(this.device, `${what} at block ${location} names block ${view.getBigUint64(8, true)}`);
  }

  /** Every key of the btree at `root`, walked level by level (one batch of reads per level). */
  async keys(root: bigint): Promise<number[]> {
    const ids: number[] = [];
    let level = [root];
    for (let depth = 0; level.length > 0; depth++) {
      if (depth >= MAX_DEPTH) throw corrupt(this.device, 'the device-details btree is deeper than any valid one');
      const data = await this.read(level);
      const next: bigint[] = [];
      for (let i = 0; i < level.length; i++) {
        const block = data.subarray(i * METADATA_BLOCK_BYTES, (i + 1) * METADATA_BLOCK_BYTES);
        const view = new DataView(block.buffer, block.byteOffset, block.byteLength);
        this.check(view, block, level[i]!, BTREE_CSUM_XOR, 'btree node');
        const flags = view.getUint32(4, true);
        const entries = view.getUint32(16, true);
        const max = view.getUint32(20, true);
        const valueSize = view.getUint32(24, true);
        const internal = (flags & INTERNAL_NODE) !== 0;
        if (internal === ((flags & LEAF_NODE) !== 0) || entries > max || NODE_HEADER_BYTES + max * (8 + valueSize) > METADATA_BLOCK_BYTES || (internal && valueSize !== 8)) {
          throw corrupt(this.device, `btree node at block ${level[i]} has an invalid header`);
        }
        for (let e = 0; e < entries; e++) {
          if (internal) next.push(view.getBigUint64(NODE_HEADER_BYTES + max * 8 + e * 8, true));
          else ids.push(Number(view.getBigUint64(NODE_HEADER_BYTES + e * 8, true)));
        }
      }
      level = next;
    }
    return ids.sort((a, b) => a - b);
  }
}
