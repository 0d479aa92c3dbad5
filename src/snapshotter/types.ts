/** The snapshotter's public data types, shaped after containerd's snapshots package. */

/** What a snapshot is: a writable `active` one, a read-only `view`, or an immutable `committed` one. */
export type Kind = 'view' | 'active' | 'committed';

/** A snapshot's metadata, as `stat`, `update` and `walk` report it. */
export interface Info {
  /** The key (active, view) or name (committed). */
  name: string;
  /** The committed parent's name; absent for a snapshot without parent. */
  parent?: string;
  /** Active, view or committed. */
  kind: Kind;
  /** User labels (never the snapshotter's own bookkeeping). */
  labels: Record<string, string>;
  /** When the snapshot was made (for a committed one: when it was committed). */
  created: Date;
  /** When it last changed (labels updated, or committed). */
  updated: Date;
}

/**
 * How to mount a snapshot, as containerd's mount.Mount: run
 * `mount -t <type> -o <options> <source> <target>`.
 */
export interface Mount {
  /** The filesystem type ('ext4', 'xfs', or 'bind' for the 'none' formatter). */
  type: string;
  /** The block device path. */
  source: string;
  /** Mount options: 'ro' for views, 'nouuid' for xfs. */
  options: string[];
}

/** Space a snapshot uses on its own, without its parent's share. */
export interface Usage {
  /** Bytes mapped in the pool by this snapshot beyond what its parent maps. */
  size: number;
  /** Inodes used; 0 when unknown (a block-level snapshotter cannot count them without mounting). */
  inodes: number;
}

/** Options of prepare, view and commit. */
export interface SnapshotOptions {
  /** Labels to set (each key plus value at most 4096 bytes). */
  labels?: Record<string, string>;
}

/** What `update` takes: the snapshot's name and the labels to apply. Other fields are ignored. */
export interface InfoUpdate {
  /** The snapshot to update. */
  name: string;
  /** The labels to set (see {@link Snapshotter.update} for how field paths apply them). */
  labels?: Record<string, string>;
  /** Present in a full Info; updating it is refused (fieldpath 'parent'). */
  parent?: string;
  /** Present in a full Info; updating it is refused (fieldpath 'kind'). */
  kind?: Kind;
}
