/**
 * The Snapshots service over a real gRPC connection on a unix socket, on a
 * simulated pool: every RPC, containerd's message shapes, error codes, List
 * batches and Update field masks.
 */
import { status } from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { startFake, startHarness, type Harness } from './support.js';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.dispose();
});

const MiB = 1024 * 1024;

type Info = { name: string; parent: string; kind: string; labels: Record<string, string>; created_at: { seconds: number; nanos: number }; updated_at: { seconds: number; nanos: number } };
type Mounts = { mounts: Array<{ type: string; source: string; target: string; options: string[] }> };

describe('RPCs', () => {
  test('Prepare, Mounts, Commit, Stat, View, Usage, Remove, Cleanup as containerd calls them', async () => {
    const before = Math.floor(Date.now() / 1000);
    // containerd's proxy client fills `snapshotter` with the plugin's name: it is ignored.
    const prepared = await h.client.call<Mounts>('Prepare', {
      snapshotter: 'devmapper-node',
      key: 'default/1/extract-123 sha256:abc',
      parent: '',
      labels: { 'containerd.io/snapshot.ref': 'sha256:abc' },
    });
    expect(prepared.mounts).toHaveLength(1);
    const [mount] = prepared.mounts;
    expect(mount).toEqual({ type: 'bind', source: expect.stringMatching(/^\/dev\/mapper\/.+-snap-\d+$/), target: '', options: ['bind'] });

    expect(await h.client.call<Mounts>('Mounts', { snapshotter: 'x', key: 'default/1/extract-123 sha256:abc' })).toEqual(prepared);

    const active = await h.client.call<{ info: Info }>('Stat', { key: 'default/1/extract-123 sha256:abc' });
    expect(active.info).toMatchObject({ name: 'default/1/extract-123 sha256:abc', parent: '', kind: 'ACTIVE', labels: { 'containerd.io/snapshot.ref': 'sha256:abc' } });
    expect(active.info.created_at.seconds).toBeGreaterThanOrEqual(before);
    expect(active.info.created_at.nanos % 1_000_000).toBe(0);

    h.pool.simulateWriteToPath(mount?.source ?? '', 0, 3 * MiB);
    const activeUsage = await h.client.call<{ size: number; inodes: number }>('Usage', { key: 'default/1/extract-123 sha256:abc' });
    expect(activeUsage.size).toBeGreaterThanOrEqual(3 * MiB);
    expect(activeUsage.inodes).toBe(0);

    expect(await h.client.call('Commit', { snapshotter: 'x', name: 'sha256:layer1', key: 'default/1/extract-123 sha256:abc', labels: { 'containerd.io/snapshot.ref': 'sha256:abc' } })).toEqual({});
    const committed = await h.client.call<{ info: Info }>('Stat', { key: 'sha256:layer1' });
    expect(committed.info).toMatchObject({ name: 'sha256:layer1', parent: '', kind: 'COMMITTED', labels: { 'containerd.io/snapshot.ref': 'sha256:abc' } });
    expect((await h.client.call<{ size: number }>('Usage', { key: 'sha256:layer1' })).size).toBe(activeUsage.size);

    const view = await h.client.call<Mounts>('View', { key: 'view-1', parent: 'sha256:layer1', labels: {} });
    expect(view.mounts[0]?.options).toEqual(['bind', 'ro']);
    const viewInfo = await h.client.call<{ info: Info }>('Stat', { key: 'view-1' });
    expect(viewInfo.info).toMatchObject({ name: 'view-1', parent: 'sha256:layer1', kind: 'VIEW', labels: {} });

    const child = await h.client.call<Mounts>('Prepare', { key: 'container-1', parent: 'sha256:layer1' });
    expect(child.mounts[0]?.source).not.toBe(mount?.source);
    expect((await h.client.call<{ size: number }>('Usage', { key: 'container-1' })).size).toBe(0);

    expect(await h.client.call('Remove', { snapshotter: 'x', key: 'view-1' })).toEqual({});
    await h.client.call('Remove', { key: 'container-1' });
    await h.client.call('Remove', { key: 'sha256:layer1' });
    expect(await h.client.call('Cleanup', { snapshotter: 'x' })).toEqual({});
    expect((await h.client.list()).flatMap((m) => m.info)).toEqual([]);
    expect((await h.client.fail('Stat', { key: 'sha256:layer1' })).code).toBe(status.NOT_FOUND);
  });

  test("with async remove, Remove only marks the device and Cleanup deletes it (containerd's garbage collector calls both)", async () => {
    await h.dispose();
    h = await startHarness({}, { asyncRemove: true });
    await h.client.call('Prepare', { key: 'a' });
    await h.client.call('Commit', { name: 'a-done', key: 'a' });
    const before = await h.pool.thinIds();
    await h.client.call('Remove', { key: 'a-done' });
    expect((await h.client.fail('Stat', { key: 'a-done' })).code).toBe(status.NOT_FOUND);
    expect(await h.pool.thinIds()).toEqual(before);
    await h.client.call('Cleanup', {});
    expect((await h.pool.thinIds()).length).toBe(before.length - 1);
  });

  test('Commit, Stat and Update keep labels as containerd sends them', async () => {
    const labels = { 'containerd.io/snapshot/remote': 'true', 'containerd.io/gc.root': '2024-01-01T00:00:00Z' };
    await h.client.call('Prepare', { key: 'k', labels });
    await h.client.call('Commit', { name: 'n', key: 'k', labels });
    expect((await h.client.call<{ info: Info }>('Stat', { key: 'n' })).info.labels).toEqual(labels);
  });
});

describe('Update field masks', () => {
  beforeEach(async () => {
    await h.client.call('Prepare', { key: 'k', labels: { a: '1', b: '2' } });
  });
  const update = (labels: Record<string, string>, paths?: string[]) =>
    h.client.call<{ info: Info }>('Update', { snapshotter: 'x', info: { name: 'k', labels }, ...(paths ? { update_mask: paths } : {}) });

  test('no mask replaces the labels (the only mutable field)', async () => {
    const { info } = await update({ c: '3' });
    expect(info).toMatchObject({ name: 'k', kind: 'ACTIVE', labels: { c: '3' } });
  });

  test('an empty mask replaces the labels too', async () => {
    expect((await update({ c: '3' }, [])).info.labels).toEqual({ c: '3' });
  });

  test('"labels" replaces the labels', async () => {
    expect((await update({ x: 'y' }, ['labels'])).info.labels).toEqual({ x: 'y' });
  });

  test('"labels.KEY" sets one label and leaves the others; a missing value deletes it', async () => {
    expect((await update({ a: 'one', c: 'three', z: 'ignored' }, ['labels.a', 'labels.c'])).info.labels).toEqual({ a: 'one', b: '2', c: 'three' });
    expect((await update({}, ['labels.b'])).info.labels).toEqual({ a: 'one', c: 'three' });
    const stat = await h.client.call<{ info: Info }>('Stat', { key: 'k' });
    expect(stat.info.labels).toEqual({ a: 'one', c: 'three' });
    expect(stat.info.updated_at.seconds * 1000 + stat.info.updated_at.nanos / 1e6).toBeGreaterThanOrEqual(stat.info.created_at.seconds * 1000 + stat.info.created_at.nanos / 1e6);
  });

  test('immutable fields in the mask are INVALID_ARGUMENT and change nothing', async () => {
    for (const path of ['parent', 'kind', 'name', 'created_at', 'updated_at']) {
      const e = await h.client.fail('Update', { info: { name: 'k', labels: { a: 'changed' }, parent: 'p', kind: 'COMMITTED' }, update_mask: ['labels.a', path] });
      expect(e.code, path).toBe(status.INVALID_ARGUMENT);
      expect(e.details).toContain(path);
    }
    expect((await h.client.call<{ info: Info }>('Stat', { key: 'k' })).info.labels).toEqual({ a: '1', b: '2' });
  });

  test('parent and kind in the info are ignored without a mask naming them', async () => {
    const { info } = await update({ a: '1' });
    expect(info).toMatchObject({ parent: '', kind: 'ACTIVE' });
    const again = await h.client.call<{ info: Info }>('Update', { info: { name: 'k', parent: 'other', kind: 'VIEW', labels: {} } });
    expect(again.info).toMatchObject({ parent: '', kind: 'ACTIVE', labels: {} });
  });

  test('Update of a missing snapshot is NOT_FOUND', async () => {
    expect((await h.client.fail('Update', { info: { name: 'missing', labels: {} } })).code).toBe(status.NOT_FOUND);
  });
});

describe('List', () => {
  test('streams every snapshot in batches of 100, as containerd does', async () => {
    await h.client.call('Prepare', { key: 'base' });
    await h.client.call('Commit', { name: 'committed-base', key: 'base' });
    for (let i = 0; i < 200; i++) await h.client.call('View', { key: `v-${String(i).padStart(3, '0')}`, parent: 'committed-base', labels: { n: String(i) } });
    const messages = await h.client.list({ snapshotter: 'x' });
    expect(messages.map((m) => m.info.length)).toEqual([100, 100, 1]);
    const infos = messages.flatMap((m) => m.info);
    expect(new Set(infos.map((i) => i.name)).size).toBe(201);
    expect(infos.find((i) => i.name === 'v-007')).toMatchObject({ parent: 'committed-base', kind: 'VIEW', labels: { n: '7' } });
  });

  test('filters: a snapshot is listed when it matches any filter', async () => {
    await h.client.call('Prepare', { key: 'a', labels: { role: 'x' } });
    await h.client.call('Commit', { name: 'a1', key: 'a' });
    await h.client.call('Prepare', { key: 'b', parent: 'a1', labels: { 'containerd.io/snapshot.ref': 'r' } });
    await h.client.call('View', { key: 'c', parent: 'a1' });
    const names = async (filters: string[]) =>
      (await h.client.list({ filters }))
        .flatMap((m) => m.info)
        .map((i) => i.name)
        .sort();
    expect(await names([])).toEqual(['a1', 'b', 'c']);
    expect(await names(['kind==committed'])).toEqual(['a1']);
    expect(await names(['kind==view', 'labels."containerd.io/snapshot.ref"'])).toEqual(['b', 'c']);
    expect(await names(['parent==a1,kind!=view'])).toEqual(['b']);
    expect(await names(['name==nothing'])).toEqual([]);
  });

  test('an empty store sends no message', async () => {
    expect(await h.client.list()).toEqual([]);
  });

  test('a malformed filter ends the stream with INVALID_ARGUMENT', async () => {
    await expect(h.client.list({ filters: ['kind=='] })).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
    await expect(h.client.list({ filters: ['name~=.*'] })).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
  });

  test('large labels make smaller batches (each message stays small)', async () => {
    await h.dispose();
    h = await startHarness({ listBatchBytes: 64 * 1024 });
    await h.client.call('Prepare', { key: 'base' });
    await h.client.call('Commit', { name: 'c', key: 'base' });
    const big = 'x'.repeat(4000);
    for (let i = 0; i < 40; i++) await h.client.call('View', { key: `v${i}`, parent: 'c', labels: { big } });
    const messages = await h.client.list();
    expect(messages.flatMap((m) => m.info)).toHaveLength(41);
    expect(messages.length).toBeGreaterThan(1);
    // Each message stops at the first info that takes it to 64 KiB.
    for (const m of messages) {
      const bytes = m.info.reduce((n, i) => n + Object.values(i.labels as Record<string, string>).join('').length, 0);
      expect(bytes).toBeLessThan(64 * 1024 + 4000);
    }
  });

  test('the batch size is an option', async () => {
    await h.dispose();
    h = await startHarness({ listBatchSize: 2 });
    for (const k of ['a', 'b', 'c', 'd', 'e']) await h.client.call('Prepare', { key: k });
    expect((await h.client.list()).map((m) => m.info.length)).toEqual([2, 2, 1]);
  });
});

describe('errors map to the status codes containerd expects', () => {
  test('NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION, INVALID_ARGUMENT', async () => {
    await h.client.call('Prepare', { key: 'a' });
    await h.client.call('Commit', { name: 'a1', key: 'a' });
    await h.client.call('Prepare', { key: 'child', parent: 'a1' });
    await h.client.call('Prepare', { key: 'active-parent' });
    const cases: Array<[string, Record<string, unknown>, status]> = [
      ['Stat', { key: 'missing' }, status.NOT_FOUND],
      ['Mounts', { key: 'missing' }, status.NOT_FOUND],
      ['Usage', { key: 'missing' }, status.NOT_FOUND],
      ['Remove', { key: 'missing' }, status.NOT_FOUND],
      ['Commit', { name: 'x', key: 'missing' }, status.NOT_FOUND],
      ['Prepare', { key: 'p', parent: 'missing' }, status.NOT_FOUND],
      ['Prepare', { key: 'child', parent: 'a1' }, status.ALREADY_EXISTS],
      ['View', { key: 'a1' }, status.ALREADY_EXISTS],
      ['Commit', { name: 'a1', key: 'child' }, status.ALREADY_EXISTS],
      ['Remove', { key: 'a1' }, status.FAILED_PRECONDITION],
      ['Mounts', { key: 'a1' }, status.FAILED_PRECONDITION],
      ['Commit', { name: 'again', key: 'a1' }, status.FAILED_PRECONDITION],
      ['Prepare', { key: '' }, status.INVALID_ARGUMENT],
      ['Prepare', { key: 'bad\nkey' }, status.INVALID_ARGUMENT],
      ['Prepare', { key: 'p2', parent: 'active-parent' }, status.INVALID_ARGUMENT],
      ['Prepare', { key: 'p3', labels: { k: 'v'.repeat(5000) } }, status.INVALID_ARGUMENT],
      ['Stat', { key: '' }, status.INVALID_ARGUMENT],
    ];
    for (const [method, request, code] of cases) {
      const e = await h.client.fail(method, request);
      expect({ method, request, code: status[e.code] }).toEqual({ method, request, code: status[code] });
      expect(e.details.length).toBeGreaterThan(0);
    }
    expect((await h.client.fail('Stat', { key: 'missing' })).details).toBe('snapshot "missing" does not exist');
  });

  test('UNAVAILABLE once the snapshotter is closed', async () => {
    await h.snapshotter.close();
    const e = await h.client.fail('Stat', { key: 'a' });
    expect(e.code).toBe(status.UNAVAILABLE);
    expect(e.details).toContain('closed');
    await expect(h.client.list()).rejects.toMatchObject({ code: status.UNAVAILABLE });
  });

  test('anything else is INTERNAL with a message naming the call and the cause, logged at error', async () => {
    const fake = await startFake({
      async prepare() {
        throw Object.assign(new Error('thin pool is out of metadata space'), { code: 'ENOSPC' });
      },
      async cleanup() {
        throw new AggregateError([new Error('device 7 busy'), new Error('device 9 busy')], 'cleanup: 2 device(s) could not be deleted');
      },
      async *walk() {
        yield { name: 'a', kind: 'active', labels: {}, created: new Date(0), updated: new Date(0) };
        throw new TypeError('metastore read failed');
      },
    });
    try {
      const e = await fake.client.fail('Prepare', { key: 'k' });
      expect(e.code).toBe(status.INTERNAL);
      expect(e.details).toBe('prepare: thin pool is out of metadata space (ENOSPC)');
      const c = await fake.client.fail('Cleanup', {});
      expect(c.code).toBe(status.INTERNAL);
      expect(c.details).toBe('cleanup: cleanup: 2 device(s) could not be deleted: device 7 busy; device 9 busy');
      await expect(fake.client.list()).rejects.toMatchObject({ code: status.INTERNAL, details: 'list: metastore read failed' });
      const errors = fake.lines.filter((l) => l.level === 'error');
      expect(errors.map((l) => [l.msg, l.method, l.code])).toEqual([
        ['rpc failed', 'Prepare', 'INTERNAL'],
        ['rpc failed', 'Cleanup', 'INTERNAL'],
        ['rpc failed', 'List', 'INTERNAL'],
      ]);
      expect(errors[0]?.error).toMatchObject({ message: 'thin pool is out of metadata space', code: 'ENOSPC' });
    } finally {
      await fake.dispose();
    }
  });

  test('methods the service does not have are UNIMPLEMENTED', async () => {
    const { makeGenericClientConstructor, credentials } = await import('@grpc/grpc-js');
    const Other = makeGenericClientConstructor(
      {
        Nope: {
          path: '/containerd.services.snapshots.v1.Snapshots/Nope',
          requestStream: false,
          responseStream: false,
          requestSerialize: (v: Buffer) => v,
          requestDeserialize: (v: Buffer) => v,
          responseSerialize: (v: Buffer) => v,
          responseDeserialize: (v: Buffer) => v,
        },
      },
      'Other',
    );
    const client = new Other(`unix:${h.socket}`, credentials.createInsecure()) as unknown as { Nope: (r: Buffer, cb: (e: { code: number } | null) => void) => void; close(): void };
    const e = await new Promise<{ code: number } | null>((resolve) => client.Nope(Buffer.alloc(0), resolve));
    client.close();
    expect(e?.code).toBe(status.UNIMPLEMENTED);
  });
});

describe('logs', () => {
  test('each call is a JSON line with the method, key and duration; the server logs listening', async () => {
    await h.client.call('Prepare', { key: 'logged' });
    await h.client.fail('Stat', { key: 'missing' });
    expect(h.lines[0]).toMatchObject({ level: 'info', msg: 'listening', socket: h.socket, mode: '0660' });
    const rpc = h.lines.filter((l) => l.method === 'Prepare');
    expect(rpc).toEqual([expect.objectContaining({ level: 'debug', msg: 'rpc', key: 'logged', durationMs: expect.any(Number), time: expect.any(String) })]);
    expect(h.lines.find((l) => l.method === 'Stat')).toMatchObject({ level: 'debug', msg: 'rpc failed', code: 'NOT_FOUND' });
  });
});
