/**
 * Input containerd itself refuses, over a real gRPC connection: strings
 * that are not UTF-8 (sent as raw protobuf bytes, since a client library
 * would not encode them), a commit asking for a rebase, and labels that
 * would grow one snapshot's replies past any message limit.
 */
import { status } from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { MAX_LABELS_BYTES, MAX_LABEL_BYTES } from '../../../src/snapshotter/index.js';
import { SNAPSHOTS_SERVICE } from '../../../src/server/proto.js';
import { startHarness, type Harness, type RpcError } from './support.js';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.dispose();
});

// Protobuf by hand: a length-delimited field.
function field(number: number, value: Uint8Array): Buffer {
  const length: number[] = [];
  let n = value.length;
  while (n > 0x7f) {
    length.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  length.push(n);
  return Buffer.concat([Buffer.from([(number << 3) | 2, ...length]), value]);
}
const text = (s: string): Buffer => Buffer.from(s, 'utf8');

/** Sends raw request bytes to a unary method; resolves with the error, or undefined on success. */
function rawCall(method: string, request: Buffer): Promise<RpcError | undefined> {
  return new Promise((resolve) => {
    h.client.raw.makeUnaryRequest(
      `/${SNAPSHOTS_SERVICE}/${method}`,
      (b: Buffer) => b,
      (b: Buffer) => b,
      request,
      (error) => resolve((error as RpcError | null) ?? undefined),
    );
  });
}

describe('strings that are not UTF-8', () => {
  test('a key with bytes that are not UTF-8 is INVALID_ARGUMENT, and two such keys never become one snapshot', async () => {
    for (const bad of [[0x61, 0xff, 0x62], [0x61, 0xfe, 0x62], [0x61, 0xc3], [0xed, 0xa0, 0x80]]) {
      const error = await rawCall('Prepare', field(2, Uint8Array.from(bad)));
      expect(error?.code).toBe(status.INVALID_ARGUMENT);
      expect(error?.details).toMatch(/key is not valid UTF-8/);
    }
    expect(await h.client.list()).toEqual([]);
    // A real U+FFFD is a valid key.
    expect(await rawCall('Prepare', field(2, text('a\uFFFDb')))).toBeUndefined();
    expect((await h.snapshotter.stat('a\uFFFDb')).kind).toBe('active');
  });

  test('parents, names, labels, field masks and filters that are not UTF-8 are refused too', async () => {
    await h.snapshotter.prepare('k');
    const bad = Uint8Array.from([0x78, 0xff]);
    const entry = (key: Uint8Array, value: Uint8Array) => field(4, Buffer.concat([field(1, key), field(2, value)]));
    const cases: Array<[string, Buffer, RegExp]> = [
      ['Prepare', Buffer.concat([field(2, text('x')), field(3, bad)]), /parent/],
      ['Prepare', Buffer.concat([field(2, text('x')), entry(text('l'), bad)]), /labels/],
      ['Prepare', Buffer.concat([field(2, text('x')), entry(bad, text('v'))]), /labels/],
      ['Commit', Buffer.concat([field(2, bad), field(3, text('k'))]), /name/],
      ['Stat', field(2, bad), /key/],
      ['Remove', field(2, bad), /key/],
      ['Update', Buffer.concat([field(2, field(1, text('k'))), field(3, field(1, bad))]), /update_mask/],
      ['Update', field(2, Buffer.concat([field(1, text('k')), field(6, Buffer.concat([field(1, text('l')), field(2, bad)]))])), /info\.labels/],
    ];
    for (const [method, request, where] of cases) {
      const error = await rawCall(method, request);
      expect(error?.code, method).toBe(status.INVALID_ARGUMENT);
      expect(error?.details).toMatch(where);
    }
    // The snapshot is untouched.
    expect((await h.snapshotter.stat('k')).labels).toEqual({});
    await expect(
      new Promise((resolve, reject) => {
        const stream = h.client.raw.makeServerStreamRequest(`/${SNAPSHOTS_SERVICE}/List`, (b: Buffer) => b, (b: Buffer) => b, field(2, bad));
        stream.on('data', () => undefined);
        stream.on('error', reject);
        stream.on('end', resolve);
      }),
    ).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
  });
});

describe('rebase (containerd 2.2+)', () => {
  test('a commit with a parent is INVALID_ARGUMENT naming rebase, and commits nothing', async () => {
    await h.client.call('Prepare', { key: 'p' });
    await h.client.call('Commit', { name: 'P', key: 'p' });
    await h.client.call('Prepare', { key: 'a', parent: '' });
    const error = await h.client.fail('Commit', { name: 'A', key: 'a', parent: 'P' });
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toMatch(/rebase is not supported/);
    expect((await h.snapshotter.stat('a')).kind).toBe('active');
    await expect(h.snapshotter.stat('A')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    // Without a parent it commits.
    expect(await h.client.call('Commit', { name: 'A', key: 'a', parent: '' })).toEqual({});
  });
});

describe('labels', () => {
  test('containerd’s labels.Validate: key plus value up to 4096 bytes', async () => {
    const key = 'containerd.io/k';
    await h.client.call('Prepare', { key: 'ok', labels: { [key]: 'v'.repeat(MAX_LABEL_BYTES - key.length) } });
    const error = await h.client.fail('Prepare', { key: 'big', labels: { [key]: 'v'.repeat(MAX_LABEL_BYTES - key.length + 1) } });
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toMatch(/label key and value length \(4097 bytes\) greater than maximum size \(4096 bytes\)/);
  });

  test('updates cannot grow one snapshot’s labels past the bound: Stat, Update and List replies stay small', async () => {
    await h.client.call('Prepare', { key: 'k' });
    const value = 'v'.repeat(4000);
    const labels = (prefix: string, n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}${i}`, value]));
    // Replacing all labels with too many at once is refused, and changes nothing.
    const tooMany = await h.client.fail('Update', { info: { name: 'k', labels: labels('m', 300) }, update_mask: ['labels'] });
    expect(tooMany.code).toBe(status.INVALID_ARGUMENT);
    expect((await h.snapshotter.stat('k')).labels).toEqual({});
    await h.client.call('Update', { info: { name: 'k', labels: labels('m', 250) }, update_mask: ['labels'] });
    // Then one label at a time, as containerd's label updates come.
    let refused: RpcError | undefined;
    for (let i = 0; i < 20 && !refused; i++) {
      try {
        await h.client.call('Update', { info: { name: 'k', labels: { [`l${i}`]: value } }, update_mask: [`labels.l${i}`] });
      } catch (e) {
        refused = e as RpcError;
      }
    }
    expect(refused?.code).toBe(status.INVALID_ARGUMENT);
    expect(refused?.details).toMatch(/more than the 1048576 bytes one snapshot may carry/);
    const info = await h.snapshotter.stat('k');
    const total = Object.entries(info.labels).reduce((n, [k, v]) => n + k.length + v.length, 0);
    expect(total).toBeLessThanOrEqual(MAX_LABELS_BYTES);
    expect(total).toBeGreaterThan(MAX_LABELS_BYTES - 4100);
    const stat = await h.client.call<{ info: { labels: Record<string, string> } }>('Stat', { key: 'k' });
    expect(Object.keys(stat.info.labels)).toHaveLength(Object.keys(info.labels).length);
  });
});
