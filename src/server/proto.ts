/**
 * containerd's snapshots API (proto/containerd/services/snapshots/v1/snapshots.proto)
 * as code generated from the .proto by ts-proto (src/server/generated/,
 * `npm run gen:proto`): message types with field names as in the .proto,
 * int64 as number, enums as their names, and the grpc-js service
 * definition. Nothing parses a .proto at run time.
 */
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as snapshots from './generated/containerd/services/snapshots/v1/snapshots.js';
import type { Mount } from './generated/containerd/types/mount.js';
import type { Timestamp } from './generated/google/protobuf/timestamp.js';
import { decodeStrict } from './strict-utf8.js';
import { PACKAGE_ROOT } from '../package-root.js';

/** The folder of the .proto files: `proto/` at the package root. */
export const PROTO_DIR = path.join(PACKAGE_ROOT, 'proto');

/** The snapshots service's .proto, relative to {@link PROTO_DIR}. */
export const SNAPSHOTS_PROTO = 'containerd/services/snapshots/v1/snapshots.proto';

/** The service's full name, as in method paths (`/containerd.services.snapshots.v1.Snapshots/Prepare`). */
export const SNAPSHOTS_SERVICE = 'containerd.services.snapshots.v1.Snapshots';

/**
 * containerd.types.Mount (generated from the .proto).
 *
 * @expand
 */
export type MountMessage = { [K in keyof Mount]: Mount[K] };
/**
 * google.protobuf.Timestamp (generated from the .proto).
 *
 * @expand
 */
export type TimestampMessage = { [K in keyof Timestamp]: Timestamp[K] };
/**
 * containerd.services.snapshots.v1.Info (generated from the .proto); `kind` is a {@link KindName}.
 *
 * @expand
 */
export type InfoMessage = { [K in keyof snapshots.Info]: snapshots.Info[K] };

/** containerd.services.snapshots.v1.Kind, by name. */
export type KindName = 'UNKNOWN' | 'VIEW' | 'ACTIVE' | 'COMMITTED';

let strictDefinition: typeof snapshots.SnapshotsService | undefined;

/**
 * The Snapshots service definition (generated), its handlers named in lower
 * camel case (`prepare`, `list`); requests are decoded with strict UTF-8
 * (see strict-utf8.ts).
 */
export function snapshotsServiceDefinition(): grpc.ServiceDefinition {
  if (!strictDefinition) {
    const definition: Record<string, unknown> = {};
    for (const [name, method] of Object.entries(snapshots.SnapshotsService)) {
      const request = REQUESTS[name as keyof typeof snapshots.SnapshotsService];
      definition[name] = { ...method, requestDeserialize: (bytes: Buffer) => decodeStrict(request, bytes) };
    }
    strictDefinition = definition as typeof snapshots.SnapshotsService;
  }
  return strictDefinition;
}

// Each method's request message, so a client may send partial requests (the rest defaulted).
const REQUESTS: Record<keyof typeof snapshots.SnapshotsService, snapshots.MessageFns<unknown>> = {
  prepare: snapshots.PrepareSnapshotRequest,
  view: snapshots.ViewSnapshotRequest,
  mounts: snapshots.MountsRequest,
  commit: snapshots.CommitSnapshotRequest,
  remove: snapshots.RemoveSnapshotRequest,
  stat: snapshots.StatSnapshotRequest,
  update: snapshots.UpdateSnapshotRequest,
  list: snapshots.ListSnapshotsRequest,
  usage: snapshots.UsageRequest,
  cleanup: snapshots.CleanupRequest,
} as Record<keyof typeof snapshots.SnapshotsService, snapshots.MessageFns<unknown>>;

let clientConstructor: grpc.ServiceClientConstructor | undefined;

/**
 * A client constructor for the service, for tests and tools: methods under
 * their .proto names (`Prepare`) and in lower camel case (`prepare`), and
 * requests may leave fields out (they take their defaults).
 */
export function snapshotsClientConstructor(): grpc.ServiceClientConstructor {
  if (!clientConstructor) {
    const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
    for (const [name, method] of Object.entries(snapshots.SnapshotsService)) {
      const request = REQUESTS[name as keyof typeof snapshots.SnapshotsService];
      definition[name] = {
        ...method,
        originalName: method.path.slice(method.path.lastIndexOf('/') + 1),
        requestSerialize: (value: unknown) => Buffer.from(request.encode(request.fromPartial(value as never)).finish()),
      } as grpc.MethodDefinition<unknown, unknown>;
    }
    clientConstructor = grpc.makeGenericClientConstructor(definition, 'Snapshots');
  }
  return clientConstructor;
}

export type {
  PrepareSnapshotRequest,
  ViewSnapshotRequest,
  MountsRequest,
  CommitSnapshotRequest,
  RemoveSnapshotRequest,
  StatSnapshotRequest,
  UpdateSnapshotRequest,
  ListSnapshotsRequest,
  ListSnapshotsResponse,
  UsageRequest,
  UsageResponse,
  CleanupRequest,
  MountsResponse,
  StatSnapshotResponse,
} from './generated/containerd/services/snapshots/v1/snapshots.js';
