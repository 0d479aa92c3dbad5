/**
 * The thin-pool target: table rows and status (see the kernel's
 * Documentation/admin-guide/device-mapper/thin-provisioning.rst).
 */

/** The pool's mode as its status line reports it. */
export type ThinPoolMode = 'rw' | 'ro' | 'out_of_data_space' | 'fail' | 'error';

/** What the pool does when data space runs out. */
export type NoSpacePolicy = 'queue' | 'error';

/** How the pool handles discards. */
export type DiscardMode = 'discard_passdown' | 'no_discard_passdown' | 'ignore_discard';

/** The kernel's thin-pool status, typed. */
export interface ThinPoolStatus {
  transactionId: number;
  /** Metadata block size in bytes (the kernel's is 4096). */
  metadataBlockSizeBytes: number;
  usedMetadataBlocks: number;
  totalMetadataBlocks: number;
  /** Data block size in bytes. */
  dataBlockSizeBytes: number;
  usedDataBlocks: number;
  totalDataBlocks: number;
  /** Space figures derived from the block counts. */
  data: { usedBytes: number; totalBytes: number; availableBytes: number };
  metadata: { usedBytes: number; totalBytes: number; availableBytes: number };
  /** The held metadata root (a metadata snapshot), or null when none is held. */
  heldMetadataRoot: number | null;
  mode: ThinPoolMode;
  discard: DiscardMode;
  noSpacePolicy: NoSpacePolicy;
  needsCheck: boolean;
  /** Metadata low watermark in blocks (kernel 4.19+), or null when not reported. */
  metadataLowWatermark: number | null;
}
