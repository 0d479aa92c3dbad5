/**
 * The max-size label through the gRPC server, as containerd sends it on
 * Prepare and View: the label reaches the snapshotter, sizes the device,
 * shows in Stat, survives Commit, and a bad value is INVALID_ARGUMENT.
 */
import { status } from '@grpc/grpc-js';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { MAX_SIZE_LABEL } from '../../../src/snapshotter/index.js';
import { startHarness, type Harness } from './support.js';

const MiB = 1024 * 1024;
let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.dispose();
});

type Mounts = { mounts: Array<{ source: string }> };
type Info = { info: { labels: Record<string, string> } };
const activeSize = (source: string | undefined) => h.pool.activationOf((source ?? '').replace('/dev/mapper/', ''))?.sizeBytes;

test('Prepare and View with the label size the snapshot; Stat shows it; Commit and children keep it', async () => {
  const size = String(256 * MiB);
  const prepared = await h.client.call<Mounts>('Prepare', { key: 'default/1/c1', parent: '', labels: { [MAX_SIZE_LABEL]: size, 'containerd.io/snapshot.ref': 'x' } });
  expect(activeSize(prepared.mounts[0]?.source)).toBe(256 * MiB);
  expect((await h.client.call<Info>('Stat', { key: 'default/1/c1' })).info.labels).toEqual({ [MAX_SIZE_LABEL]: size, 'containerd.io/snapshot.ref': 'x' });
  await h.client.call('Commit', { name: 'layer', key: 'default/1/c1', labels: {} });
  expect((await h.client.call<Info>('Stat', { key: 'layer' })).info.labels).toEqual({ [MAX_SIZE_LABEL]: size });
  const child = await h.client.call<Mounts>('Prepare', { key: 'child', parent: 'layer' });
  expect(activeSize(child.mounts[0]?.source)).toBe(256 * MiB);
  const view = await h.client.call<Mounts>('View', { key: 'view', parent: 'layer', labels: { [MAX_SIZE_LABEL]: String(512 * MiB) } });
  expect(activeSize(view.mounts[0]?.source)).toBe(512 * MiB);
  // The server logs the labels it got on Prepare.
  expect(h.lines).toContainEqual(expect.objectContaining({ msg: 'rpc', method: 'Prepare', key: 'default/1/c1', labels: expect.objectContaining({ [MAX_SIZE_LABEL]: size }) }));
});

test('a malformed size or one below the parent is INVALID_ARGUMENT, and nothing is made', async () => {
  const bad = await h.client.fail('Prepare', { key: 'bad', labels: { [MAX_SIZE_LABEL]: '20G' } });
  expect(bad.code).toBe(status.INVALID_ARGUMENT);
  expect(bad.details).toContain(MAX_SIZE_LABEL);
  await h.client.call('Prepare', { key: 'p', labels: { [MAX_SIZE_LABEL]: String(256 * MiB) } });
  await h.client.call('Commit', { name: 'P', key: 'p' });
  const ids = await h.pool.thinIds();
  expect((await h.client.fail('Prepare', { key: 'small', parent: 'P', labels: { [MAX_SIZE_LABEL]: String(128 * MiB) } })).code).toBe(status.INVALID_ARGUMENT);
  expect(await h.pool.thinIds()).toEqual(ids);
  expect((await h.client.fail('Stat', { key: 'small' })).code).toBe(status.NOT_FOUND);
});
