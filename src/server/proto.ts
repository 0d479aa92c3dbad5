/**
 * containerd's snapshots API (proto/containerd/services/snapshots/v1/snapshots.proto),
 * loaded with @grpc/proto-loader, and the TypeScript shapes of its messages
 * as the loader decodes them (field names as in the .proto, int64 as number,
 * enums as their names, defaults filled in).
 */
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { markInvalidUtf8 } from './strict-utf8.js';

/** The folder of the .proto files: `proto/` at the package root (two levels above this module, in src/ and dist/ alike). */
export const PROTO_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'proto');

/** The snapshots service's .proto, relative to {@link PROTO_DIR}. */
export const SNAPSHOTS_PROTO = 'containerd/services/snapshots/v1/snapshots.proto';

/** The service's full name, as in method paths (`/containerd.services.snapshots.v1.Snapshots/Prepare`). */
export const SNAPSHOTS_SERVICE = 'containerd.services.snapshots.v1.Snapshots';

/** How the messages are decoded and encoded. */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

let cached: grpc.ServiceDefinition | undefined;

/** The Snapshots service definition (loaded once). */
export function snapshotsServiceDefinition(): grpc.ServiceDefinition {
  if (!cached) {
    const definition = protoLoader.loadSync(SNAPSHOTS_PROTO, LOADER_OPTIONS);
    const service = definition[SNAPSHOTS_SERVICE];
    if (!service || !('Prepare' in service)) throw new Error(`${SNAPSHOTS_PROTO} does not define ${SNAPSHOTS_SERVICE}`);
    cached = service as grpc.ServiceDefinition;
    markInvalidUtf8(definition, SNAPSHOTS_SERVICE, service as unknown as Parameters<typeof markInvalidUtf8>[2]);
  }
  return cached;
}

/** A client constructor for the service, for tests and tools. */
export function snapshotsClientConstructor(): grpc.ServiceClientConstructor {
  return grpc.makeGenericClientConstructor(snapshotsServiceDefinition(), 'Snapshots');
}

/** containerd.types.Mount. */
export interface MountMessage {
  /** The filesystem type ('ext4', 'xfs', 'bind'). */
  type: string;
  /** The device to mount. */
  source: string;
  /** The mount point in the container; snapshotters leave it empty. */
  target: string;
  /** fstab-style mount options. */
  options: string[];
}

/** containerd.services.snapshots.v1.Kind. */
export type KindName = 'UNKNOWN' | 'VIEW' | 'ACTIVE' | 'COMMITTED';

/** google.protobuf.Timestamp. */
export interface TimestampMessage {
  /** Seconds since the Unix epoch. */
  seconds: number;
  /** Nanoseconds within the second. */
  nanos: number;
}

/** containerd.services.snapshots.v1.Info. */
export interface InfoMessage {
  /** The key (active, view) or name (committed). */
  name: string;
  /** The committed parent's name; empty for none. */
  parent: string;
  /** The snapshot's kind. */
  kind: KindName;
  /** When it was made (null only in a request that left it out). */
  created_at: TimestampMessage | null;
  /** When it last changed. */
  updated_at: TimestampMessage | null;
  /** The snapshot's labels. */
  labels: Record<string, string>;
}

/** @internal PrepareSnapshotRequest and ViewSnapshotRequest, decoded. */
export interface PrepareSnapshotRequest {
  snapshotter: string;
  key: string;
  parent: string;
  labels: Record<string, string>;
}
/** @internal */
export type ViewSnapshotRequest = PrepareSnapshotRequest;
/** @internal Mounts, Remove, Stat and Usage requests, decoded. */
export interface KeyRequest {
  snapshotter: string;
  key: string;
}
/** @internal */
export interface CommitSnapshotRequest {
  snapshotter: string;
  name: string;
  key: string;
  labels: Record<string, string>;
  /** Rebase onto this parent (containerd 2.2+); refused when not empty. */
  parent: string;
}
/** @internal */
export interface UpdateSnapshotRequest {
  snapshotter: string;
  info: InfoMessage | null;
  update_mask: { paths: string[] } | null;
}
/** @internal */
export interface ListSnapshotsRequest {
  snapshotter: string;
  filters: string[];
}
/** @internal */
export interface CleanupRequest {
  snapshotter: string;
}
/** @internal Prepare, View and Mounts responses. */
export interface MountsResponse {
  mounts: MountMessage[];
}
/** @internal Stat and Update responses. */
export interface InfoResponse {
  info: InfoMessage;
}
/** @internal One List message. */
export interface ListSnapshotsResponse {
  info: InfoMessage[];
}
/** @internal */
export interface UsageResponse {
  size: number;
  inodes: number;
}
