/**
 * The metastore's schema (version 1). One LevelDB database holds every
 * record, so one atomic batch changes snapshot and device records together.
 * Keys are UTF-8 strings with a prefix per record type; values are JSON.
 *
 * | key                           | value            | what                                             |
 * | ----------------------------- | ---------------- | ------------------------------------------------ |
 * | `schema`                      | SchemaRecord     | the schema version                               |
 * | `pool`                        | PoolRecord       | the pool's name and last known transaction id     |
 * | `snap/<key>`                  | SnapshotRecord   | one snapshot, by key (active, view) or name       |
 * | `child/<parent>\0<child>`     | true             | parent-to-children index (parents are committed)  |
 * | `dev/<id as 6 hex digits>`    | DeviceRecord     | one thin id this store owns or must avoid         |
 * | `base/<spec>`                 | BaseRecord       | the formatted base device of a filesystem spec    |
 * | `alloc/next`                  | number           | the lowest thin id never handed out               |
 * | `alloc/free/<6 hex digits>`   | true             | a released thin id, ready for reuse               |
 * | `foreign`                     | IdRun[]          | thin ids another writer made: never handed out    |
 *
 * `foreign` came without a version change: older code ignores it and, at
 * its open, records those ids as `dev/` records in state `foreign`, which
 * this code folds back into `foreign` at its next open.
 *
 * Keys and names never contain NUL (validation forbids control characters),
 * so `\0` separates parent and child unambiguously.
 */
import type { Kind } from './types.js';

/** The schema version this code writes and reads. */
export const SCHEMA_VERSION = 1;

/** `schema`. */
export interface SchemaRecord {
  version: number;
}

/** `pool`. */
export interface PoolRecord {
  /** The pool this store belongs to. */
  name: string;
  /** The pool transaction id last seen; the pool's own id never falls below it. */
  transactionId: number;
}

/** `snap/<key>`. */
export interface SnapshotRecord {
  kind: Kind;
  /** The committed parent's name, or absent. */
  parent?: string;
  labels: Record<string, string>;
  /** ISO 8601. */
  created: string;
  /** ISO 8601. */
  updated: string;
  /** The thin id of the snapshot's device. */
  deviceId: number;
  /** The formatter (filesystem) name, inherited by children. */
  fsType: string;
  /** The device's virtual size in bytes. */
  sizeBytes: number;
  /** Bytes mapped by the origin (parent or base) when this snapshot was made: its share, excluded from usage. */
  inheritedBytes: number;
  /** Committed only: bytes the device mapped at commit, the baseline of its children. */
  mappedBytes?: number;
  /** Committed only: usage stored at commit. */
  usage?: { size: number; inodes: number };
}

/**
 * The life of a thin id:
 * - `creating`: written before the kernel creates the id; a crash leaves it to be rolled back.
 * - `ready`: the id exists and belongs to a snapshot or a base.
 * - `removing`: the owner is gone; the id is being deleted (rolled forward after a crash).
 * - `removed`: async remove: waiting for cleanup().
 * - `foreign`: found in the pool but not made by this store; never touched, never handed out
 *   (written by older code only: foreign ids now live in the `foreign` record).
 * - `growing`: an active snapshot being resized to `growToBytes` (device, then filesystem);
 *   the next open finishes the grow.
 */
export type DeviceState = 'creating' | 'ready' | 'removing' | 'removed' | 'foreign' | 'growing';

/** `dev/<id>`. */
export interface DeviceRecord {
  id: number;
  state: DeviceState;
  role: 'snapshot' | 'base' | 'foreign';
  /** The device-mapper name it is activated under. */
  name: string;
  sizeBytes: number;
  /** role snapshot: the owning snapshot's key or name (while it exists). */
  snapshot?: string;
  /** role base: the base spec. */
  baseSpec?: string;
  /** state growing: the size being grown to. */
  growToBytes?: number;
}

/** `base/<spec>`. */
export interface BaseRecord {
  spec: string;
  deviceId: number;
  fsType: string;
  sizeBytes: number;
  /** Bytes the empty filesystem maps: every parentless snapshot inherits them. */
  mappedBytes: number;
}

/** Key builders. */
export const keys = {
  schema: 'schema',
  pool: 'pool',
  snapshot: (key: string) => `snap/${key}`,
  snapshotPrefix: 'snap/',
  child: (parent: string, child: string) => `child/${parent}\u0000${child}`,
  childPrefix: (parent: string) => `child/${parent}\u0000`,
  device: (id: number) => `dev/${hex(id)}`,
  devicePrefix: 'dev/',
  base: (spec: string) => `base/${spec}`,
  basePrefix: 'base/',
  allocNext: 'alloc/next',
  free: (id: number) => `alloc/free/${hex(id)}`,
  freePrefix: 'alloc/free/',
  foreign: 'foreign',
} as const;

/** Six hex digits: thin ids are 24 bits, and fixed width keeps LevelDB's order numeric. */
export function hex(id: number): string {
  return id.toString(16).padStart(6, '0');
}

/** The end of a prefix range: every key starting with `prefix` is below it. */
export function prefixEnd(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}
