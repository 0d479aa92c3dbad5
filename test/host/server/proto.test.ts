/**
 * The .proto is an interface: containerd's snapshots API, field for field.
 * These tables are containerd's (api/services/snapshots/v1/snapshots.proto,
 * api/types/mount.proto); a change to the repo's .proto that breaks the wire
 * format fails here.
 */
import * as protoLoader from '@grpc/proto-loader';
import { describe, expect, test } from 'vitest';
import { PROTO_DIR, SNAPSHOTS_PROTO, snapshotsServiceDefinition } from '../../../src/server/index.js';

// The .proto itself, read by a reference parser (the server runs on the code generated from it).
const definition = protoLoader.loadSync(SNAPSHOTS_PROTO, { keepCase: true, includeDirs: [PROTO_DIR] });

type Field = [name: string, number: number, type: string];
const S = 'TYPE_STRING';
const M = 'TYPE_MESSAGE';
const MAP = 'map';
const messages: Record<string, Field[]> = {
  'containerd.types.Mount': [['type', 1, S], ['source', 2, S], ['target', 3, S], ['options', 4, 'repeated string']],
  'containerd.services.snapshots.v1.PrepareSnapshotRequest': [['snapshotter', 1, S], ['key', 2, S], ['parent', 3, S], ['labels', 4, MAP]],
  'containerd.services.snapshots.v1.PrepareSnapshotResponse': [['mounts', 1, 'repeated containerd.types.Mount']],
  'containerd.services.snapshots.v1.ViewSnapshotRequest': [['snapshotter', 1, S], ['key', 2, S], ['parent', 3, S], ['labels', 4, MAP]],
  'containerd.services.snapshots.v1.ViewSnapshotResponse': [['mounts', 1, 'repeated containerd.types.Mount']],
  'containerd.services.snapshots.v1.MountsRequest': [['snapshotter', 1, S], ['key', 2, S]],
  'containerd.services.snapshots.v1.MountsResponse': [['mounts', 1, 'repeated containerd.types.Mount']],
  'containerd.services.snapshots.v1.RemoveSnapshotRequest': [['snapshotter', 1, S], ['key', 2, S]],
  // parent (5): rebase, containerd 2.2+.
  'containerd.services.snapshots.v1.CommitSnapshotRequest': [['snapshotter', 1, S], ['name', 2, S], ['key', 3, S], ['labels', 4, MAP], ['parent', 5, S]],
  'containerd.services.snapshots.v1.StatSnapshotRequest': [['snapshotter', 1, S], ['key', 2, S]],
  'containerd.services.snapshots.v1.Info': [
    ['name', 1, S],
    ['parent', 2, S],
    ['kind', 3, 'containerd.services.snapshots.v1.Kind'],
    ['created_at', 4, 'google.protobuf.Timestamp'],
    ['updated_at', 5, 'google.protobuf.Timestamp'],
    ['labels', 6, MAP],
  ],
  'containerd.services.snapshots.v1.StatSnapshotResponse': [['info', 1, 'containerd.services.snapshots.v1.Info']],
  'containerd.services.snapshots.v1.UpdateSnapshotRequest': [['snapshotter', 1, S], ['info', 2, 'containerd.services.snapshots.v1.Info'], ['update_mask', 3, 'google.protobuf.FieldMask']],
  'containerd.services.snapshots.v1.UpdateSnapshotResponse': [['info', 1, 'containerd.services.snapshots.v1.Info']],
  'containerd.services.snapshots.v1.ListSnapshotsRequest': [['snapshotter', 1, S], ['filters', 2, 'repeated string']],
  'containerd.services.snapshots.v1.ListSnapshotsResponse': [['info', 1, 'repeated containerd.services.snapshots.v1.Info']],
  'containerd.services.snapshots.v1.UsageRequest': [['snapshotter', 1, S], ['key', 2, S]],
  'containerd.services.snapshots.v1.UsageResponse': [['size', 1, 'TYPE_INT64'], ['inodes', 2, 'TYPE_INT64']],
  'containerd.services.snapshots.v1.CleanupRequest': [['snapshotter', 1, S]],
};

interface FieldDescriptor {
  name: string;
  number: number;
  type: string;
  label: string;
  typeName: string;
}
interface MessageDescriptor {
  field: FieldDescriptor[];
  nestedType?: Array<{ name: string; options?: { mapEntry?: boolean } | null }>;
}

// A type name as protobuf resolves it: relative names are looked up from the message's package outwards.
function resolveType(pkg: string, name: string): string {
  const parts = pkg.split('.');
  for (let i = parts.length; i >= 0; i--) {
    const candidate = [...parts.slice(0, i), name].join('.');
    if (definition[candidate]) return candidate;
  }
  return name;
}

function describeField(message: string, descriptor: MessageDescriptor, f: FieldDescriptor): Field {
  const pkg = message.slice(0, message.lastIndexOf('.'));
  const isMap = f.type === M && descriptor.nestedType?.some((n) => n.name === f.typeName && n.options?.mapEntry === true);
  if (isMap) return [f.name, f.number, MAP];
  let type = f.type === M || f.type === 'TYPE_ENUM' ? resolveType(pkg, f.typeName) : f.type;
  if (f.label === 'LABEL_REPEATED') type = `repeated ${type === S ? 'string' : type}`;
  return [f.name, f.number, type];
}

describe("the .proto matches containerd's", () => {
  test.each(Object.entries(messages))('%s', (name, fields) => {
    const entry = definition[name] as { type: MessageDescriptor } | undefined;
    expect(entry, name).toBeDefined();
    expect(entry?.type.field.map((f) => describeField(name, entry.type, f))).toEqual(fields);
  });

  test('Kind', () => {
    const kind = definition['containerd.services.snapshots.v1.Kind'] as { type: { value: Array<{ name: string; number: number }> } };
    expect(kind.type.value.map((v) => [v.name, v.number])).toEqual([
      ['UNKNOWN', 0],
      ['VIEW', 1],
      ['ACTIVE', 2],
      ['COMMITTED', 3],
    ]);
  });

  test('the service: methods, paths, streaming', () => {
    const service = snapshotsServiceDefinition();
    const methods = Object.fromEntries(Object.entries(service).map(([name, m]) => [name, [m.path, m.requestStream, m.responseStream]]));
    const p = (m: string) => `/containerd.services.snapshots.v1.Snapshots/${m}`;
    expect(methods).toEqual({
      prepare: [p('Prepare'), false, false],
      view: [p('View'), false, false],
      mounts: [p('Mounts'), false, false],
      commit: [p('Commit'), false, false],
      remove: [p('Remove'), false, false],
      stat: [p('Stat'), false, false],
      update: [p('Update'), false, false],
      list: [p('List'), false, true],
      usage: [p('Usage'), false, false],
      cleanup: [p('Cleanup'), false, false],
    });
    // Commit answers google.protobuf.Empty: nothing on the wire.
    expect(service.commit.responseSerialize({}).length).toBe(0);
  });

  test('bytes on the wire are what containerd (Go protobuf) writes and reads', () => {
    const service = snapshotsServiceDefinition();
    // PrepareSnapshotRequest{snapshotter: "d", key: "k", parent: "p", labels: {"a": "b"}}
    const prepare = service.prepare.requestSerialize({ snapshotter: 'd', key: 'k', parent: 'p', labels: { a: 'b' } });
    expect(Buffer.from(prepare as Uint8Array).toString('hex')).toBe('0a0164' + '12016b' + '1a0170' + '2206' + '0a0161' + '120162');
    // UsageResponse{size: 300, inodes: 7}: int64 as varints.
    expect(Buffer.from(service.usage.responseSerialize({ size: 300, inodes: 7 }) as Uint8Array).toString('hex')).toBe('08ac02' + '1007');
    // Go leaves zero fields out; they decode as 0.
    expect(service.usage.responseDeserialize(Buffer.from('08ac02', 'hex'))).toEqual({ size: 300, inodes: 0 });
    // Info{name: "n", kind: COMMITTED, created_at: {seconds: 1}}
    const decoded = service.stat.responseDeserialize(Buffer.from('0a0b' + '0a016e' + '1803' + '22020801' + '2a00', 'hex'));
    expect(decoded.info).toMatchObject({ name: 'n', parent: '', kind: 'COMMITTED', created_at: { seconds: 1, nanos: 0 }, updated_at: { seconds: 0, nanos: 0 }, labels: {} });
    // UpdateSnapshotRequest{info: {name: "n"}, update_mask: {paths: ["labels.x"]}}
    const update = service.update.requestDeserialize(Buffer.from('1203' + '0a016e' + '1a0a' + '0a086c6162656c732e78', 'hex')) ;
    expect(update.update_mask).toEqual(['labels.x']);
  });
});
