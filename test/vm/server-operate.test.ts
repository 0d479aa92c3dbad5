/**
 * The server as operators run it: serve() on a loopback pool opened by
 * name, with metrics (--metrics-address) and the pool watcher (--watch).
 * - Its /metrics, scraped during real Prepare/Commit/Remove calls through
 *   the gRPC socket, moves as it should (snapshots by kind, pool space,
 *   transaction id, RPC counts and errors, udev calls).
 * - grpc.health.v1 says NOT_SERVING while the kernel pool is read-only (its
 *   table reloaded with read_only) and SERVING again once it is writable.
 * - With containerd using it as its proxy snapshotter, the server is
 *   stopped and started again (a new snapshotter and pool handle opened by
 *   name, as a new process does) between container runs: every snapshot
 *   survives, with its kind, parent and data, and containerd carries on.
 *   (A server killed mid-call is the crash-point suite's subject.)
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import * as dm from '../../src/dm/device-mapper.js';
import { HealthClient, type HealthCheckResponse } from '../../src/server/generated/grpc/health/v1/health.js';
import { createLogger, serve, type Serving } from '../../src/server/index.js';
import { createLoopbackPool, type ThinPool } from '../../src/thin/index.js';
import { buildBusyboxImage, type BuiltImage } from '../fixtures/image/busybox-image.js';
import { scrape, value, type Samples } from '../fixtures/prometheus/scrape.js';
import { SnapshotsClient } from '../host/server/support.js';
import { startContainerd, type Containerd } from './support/containerd.js';
import { cleanup, requireDeviceMapper, sh, tempDir, uniquePrefix } from './support/kernel.js';

const MiB = 1024 * 1024;
const prefix = uniquePrefix('ops');
const poolName = `${prefix}pool`;
const plugin = `dmt-ops-${process.pid}`;
const namespace = `dmt-ops-${process.pid}`;

let dir: string;
let pool: ThinPool | undefined;
let server: ServerProcess | undefined;
let containerd: Containerd | undefined;
let image: BuiltImage;
const clients: Array<{ close(): void }> = [];

/** A running server, its JSON log lines, and its metrics address. */
interface ServerProcess {
  serving: Serving;
  socket: string;
  metricsUrl: string;
  lines: Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

/** What `devmapper serve --socket S --root R --pool NAME --metrics-address 127.0.0.1:0 --watch` starts. */
async function startServer(): Promise<ServerProcess> {
  const socket = path.join(dir, 'snap.sock');
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: 'debug', stream: { write: (chunk: string) => lines.push(JSON.parse(chunk) as Record<string, unknown>) } });
  const serving = await serve({
    socket,
    rootPath: path.join(dir, 'root'),
    poolName,
    baseImageSize: '128MB',
    fsType: 'ext4',
    minFreeSpace: 0,
    metricsAddress: '127.0.0.1:0',
    watch: true,
    handleSignals: false,
    logger,
  });
  const { port } = serving.metricsEndpoint!.address;
  return { serving, socket, metricsUrl: `http://127.0.0.1:${port}/metrics`, lines, stop: () => serving.close() };
}

function snapshotsClient(): SnapshotsClient {
  const client = new SnapshotsClient(server!.socket);
  clients.push(client);
  return client;
}

function healthClient(): InstanceType<typeof HealthClient> {
  const client = new HealthClient(`unix:${server!.socket}`, grpc.credentials.createInsecure());
  clients.push(client);
  return client;
}

function check(client: InstanceType<typeof HealthClient>): Promise<string> {
  return new Promise((resolve, reject) => client.check({ service: '' }, (e, r) => (e ? reject(e) : resolve(r.status))));
}

async function until(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  requireDeviceMapper();
  dir = await tempDir('ops');
  pool = await createLoopbackPool({ directory: path.join(dir, 'pool'), name: poolName, dataSizeBytes: 1024 * MiB, metadataSizeBytes: 16 * MiB, minFreeSpacePercent: 0 });
  server = await startServer();
});

afterEach(async (context) => {
  if (context.task.result?.state !== 'fail') return;
  console.error(`server log (last lines):\n${(server?.lines ?? []).slice(-30).map((l) => JSON.stringify(l)).join('\n')}`);
  if (containerd) console.error(`containerd log (last lines):\n${await containerd.logTail(40)}`);
});

afterAll(async () => {
  const started = Date.now();
  const step = async (name: string, fn: () => Promise<unknown>) => {
    await fn();
    if (Date.now() - started > 60_000) console.error(`afterAll: ${name} done after ${Date.now() - started} ms`);
  };
  try {
    for (const c of clients.splice(0)) c.close();
    await step('containerd stop', async () => containerd?.stop());
    await step('server stop', async () => server?.stop());
    await step('pool destroy', async () => pool?.destroy());
  } finally {
    if (dir) await cleanup(prefix, [dir]);
  }
  expect((await dm.list()).filter((d) => d.name.startsWith(prefix))).toEqual([]);
});

describe('metrics during real operations', () => {
  test('Prepare, a write, Commit, Remove and a failed Stat move the scraped values', async () => {
    const client = snapshotsClient();
    const pl = `{pool="${poolName}"}`;
    const s0 = await scrape(server!.metricsUrl);
    expect(value(s0, 'devmapper_snapshots{kind="active"}')).toBe(0);
    expect(value(s0, `devmapper_pool_data_total_bytes${pl}`)).toBe(1024 * MiB);
    expect(value(s0, `devmapper_pool_metadata_total_bytes${pl}`)).toBe(16 * MiB);

    const { mounts } = await client.call<{ mounts: Array<{ source: string }> }>('Prepare', { key: 'op-a' });
    const s1 = await scrape(server!.metricsUrl);
    expect(value(s1, 'devmapper_snapshots{kind="active"}')).toBe(1);
    expect(value(s1, `devmapper_pool_transaction_id${pl}`)).toBeGreaterThan(value(s0, `devmapper_pool_transaction_id${pl}`));
    // The base device's mkfs and the new device's blocks.
    expect(value(s1, `devmapper_pool_data_used_bytes${pl}`)).toBeGreaterThan(value(s0, `devmapper_pool_data_used_bytes${pl}`));
    expect(value(s1, `devmapper_pool_metadata_used_bytes${pl}`)).toBeGreaterThan(value(s0, `devmapper_pool_metadata_used_bytes${pl}`));
    // Activating the base and the snapshot: create (with its resume) calls that wait on udev when it runs.
    expect(value(s1, 'devmapper_udev_waits_total')).toBeGreaterThan(value(s0, 'devmapper_udev_waits_total'));
    expect(value(s1, 'devmapper_rpc_duration_seconds_count{method="Prepare"}')).toBe(1);

    // 16 MiB written into the snapshot are 16 MiB more of the pool in use.
    await sh('dd', ['if=/dev/urandom', `of=${mounts[0]!.source}`, 'bs=1M', 'count=16', 'seek=64', 'oflag=direct', 'status=none']);
    await client.call('Commit', { name: 'op-c', key: 'op-a' });
    const s2 = await scrape(server!.metricsUrl);
    expect(value(s2, 'devmapper_snapshots{kind="active"}')).toBe(0);
    expect(value(s2, 'devmapper_snapshots{kind="committed"}')).toBe(1);
    expect(value(s2, `devmapper_pool_data_used_bytes${pl}`) - value(s1, `devmapper_pool_data_used_bytes${pl}`)).toBeGreaterThanOrEqual(16 * MiB);

    await client.call('Remove', { key: 'op-c' });
    const failed = await client.fail('Stat', { key: 'op-missing' });
    expect(failed.code).toBe(grpc.status.NOT_FOUND);
    const s3 = await scrape(server!.metricsUrl);
    expect(value(s3, 'devmapper_snapshots{kind="committed"}')).toBe(0);
    // The thin device is deleted: its blocks are free again (a delete does not move the transaction id).
    expect(value(s3, `devmapper_pool_data_used_bytes${pl}`)).toBeLessThanOrEqual(value(s2, `devmapper_pool_data_used_bytes${pl}`) - 16 * MiB);
    expect(value(s3, 'devmapper_pending_removals')).toBe(0);
    expect(value(s3, 'devmapper_leftover_devices')).toBe(0);
    expect(value(s3, 'devmapper_rpc_errors_total{code="NOT_FOUND",method="Stat"}')).toBe(1);
    for (const m of ['Prepare', 'Commit', 'Remove', 'Stat']) expect(value(s3, `devmapper_rpc_duration_seconds_count{method="${m}"}`), m).toBe(1);
    expect(value(s3, 'devmapper_udev_timeouts_total')).toBe(0);
    for (const flag of ['read_only', 'out_of_space', 'needs_check', 'failed']) expect(value(s3, `devmapper_pool_${flag}${pl}`), flag).toBe(0);
    console.log(`scrape figures: ${JSON.stringify(figures([s0, s1, s2, s3], pl))}`);
  });
});

// The numbers the report quotes, per scrape.
function figures(scrapes: Samples[], pl: string): Array<Record<string, number>> {
  return scrapes.map((s) => ({
    active: value(s, 'devmapper_snapshots{kind="active"}'),
    committed: value(s, 'devmapper_snapshots{kind="committed"}'),
    dataUsedMiB: Math.round((value(s, `devmapper_pool_data_used_bytes${pl}`) / MiB) * 10) / 10,
    metadataUsedKiB: value(s, `devmapper_pool_metadata_used_bytes${pl}`) / 1024,
    transactionId: value(s, `devmapper_pool_transaction_id${pl}`),
    udevWaits: value(s, 'devmapper_udev_waits_total'),
    rpcCalls: [...s].filter(([k]) => k.startsWith('devmapper_rpc_duration_seconds_count')).reduce((n, [, v]) => n + v, 0),
  }));
}

describe('health', () => {
  test('NOT_SERVING while the kernel pool is read-only, SERVING once it is writable again; Watch hears both', async () => {
    const health = healthClient();
    expect(await check(health)).toBe('SERVING');
    const seen: string[] = [];
    const stream = health.watch({ service: '' });
    stream.on('data', (r: HealthCheckResponse) => seen.push(r.status));
    stream.on('error', () => undefined);
    await until('the first Watch message', () => seen.length >= 1);

    const table = (await sh('dmsetup', ['table', poolName])).stdout.trim();
    // 0 LEN thin-pool META DATA BLOCK LOW_WATER N_FEATURES [FEATURES...]
    const f = table.split(/\s+/);
    const readOnly = [...f.slice(0, 7), String(Number(f[7]) + 1), ...f.slice(8), 'read_only'].join(' ');
    await sh('dmsetup', ['suspend', poolName]);
    await sh('dmsetup', ['reload', poolName, '--table', readOnly]);
    await sh('dmsetup', ['resume', poolName]);
    try {
      expect(await check(health)).toBe('NOT_SERVING');
      const scraped = await scrape(server!.metricsUrl);
      expect(value(scraped, `devmapper_pool_read_only{pool="${poolName}"}`)).toBe(1);
      const healthz = await fetch(server!.metricsUrl.replace('/metrics', '/healthz'));
      expect(healthz.status).toBe(503);
      await until('Watch to hear NOT_SERVING', () => seen.includes('NOT_SERVING'));
    } finally {
      await sh('dmsetup', ['suspend', poolName]);
      await sh('dmsetup', ['reload', poolName, '--table', table]);
      await sh('dmsetup', ['resume', poolName]);
    }
    expect(await check(health)).toBe('SERVING');
    await until('Watch to hear SERVING again', () => seen.length >= 3);
    stream.cancel();
    expect(seen).toEqual(['SERVING', 'NOT_SERVING', 'SERVING']);
    const scraped = await scrape(server!.metricsUrl);
    expect(value(scraped, `devmapper_pool_read_only{pool="${poolName}"}`)).toBe(0);
    // The pool watcher (--watch) heard the read-only condition: in the log and the metrics.
    expect(value(scraped, 'devmapper_pool_events_total{event="readOnly"}')).toBeGreaterThanOrEqual(1);
    expect(server!.lines).toContainEqual(expect.objectContaining({ msg: 'pool event', event: 'readOnly', pool: poolName }));
    expect(server!.lines).toContainEqual(expect.objectContaining({ msg: 'health', status: 'NOT_SERVING', reason: `pool ${poolName} is read-only` }));
  });
});

describe('containerd across server restarts', () => {
  type Row = { name: string; parent: string; kind: string };
  /** Every snapshot the server holds, through its List. */
  async function listed(): Promise<Row[]> {
    const client = snapshotsClient();
    const messages = await client.list({});
    return messages
      .flatMap((m) => m.info as unknown as Row[])
      .map(({ name, parent, kind }) => ({ name, parent, kind }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }
  const ctr = (args: string[]) => containerd!.ctr(args);

  async function restart(): Promise<void> {
    await server!.stop();
    expect(server!.lines.at(-1)).toMatchObject({ msg: 'stopped' });
    server = await startServer();
    // The new server found everything in place: nothing to roll back or forward, nothing lost.
    const open = server.lines.find((l) => l.msg === 'snapshotter open') as { reconcile: Record<string, unknown[]> };
    expect(open.reconcile).toMatchObject({ rolledBack: [], rolledForward: [], lost: [], failed: [] });
  }

  test('every snapshot survives server restarts between container runs, data included', async () => {
    image = await buildBusyboxImage(path.join(dir, 'busybox.tar'), { name: `localhost/${namespace}/busybox:latest` });
    containerd = await startContainerd({ dir: path.join(dir, 'c'), snapshotter: { name: plugin, socket: server!.socket }, namespace });
    await ctr(['images', 'import', '--snapshotter', plugin, image.file]);
    await ctr(['run', '--snapshotter', plugin, image.name, 'c-one', '/bin/busybox', 'sh', '-c', 'echo before-restart > /data.txt']);
    const before = await listed();
    expect(before.map((r) => r.kind).sort()).toEqual(['ACTIVE', 'COMMITTED']);
    const lsBefore = (await ctr(['snapshots', '--snapshotter', plugin, 'ls'])).stdout;

    await restart();
    expect(await listed()).toEqual(before);
    expect((await ctr(['snapshots', '--snapshotter', plugin, 'ls'])).stdout).toBe(lsBefore);
    // containerd reconnects by itself: a new container runs on the restarted server.
    const two = await ctr(['run', '--rm', '--snapshotter', plugin, image.name, 'c-two', '/bin/busybox', 'cat', '/bin/busybox']);
    expect(two.stdout.length).toBeGreaterThan(MiB);
    // ctr run --rm removed its snapshot from containerd's metadata; the backend one goes at the next collection.
    await containerd!.collectGarbage();
    const afterTwo = await listed();
    expect(afterTwo).toEqual(before);

    await restart();
    expect(await listed()).toEqual(before);
    // The first container's write is still in its snapshot: commit it and read it back through a view.
    await ctr(['snapshots', '--snapshotter', plugin, 'commit', 'c-one-layer', 'c-one']);
    await ctr(['snapshots', '--snapshotter', plugin, 'view', 'c-one-view', 'c-one-layer']);
    const target = path.join(dir, 'view');
    await mkdir(target);
    await sh('sh', ['-c', (await ctr(['snapshots', '--snapshotter', plugin, 'mounts', target, 'c-one-view'])).stdout.trim()]);
    try {
      expect(await readFile(path.join(target, 'data.txt'), 'utf8')).toBe('before-restart\n');
    } finally {
      await sh('umount', [target]);
    }
    const scraped = await scrape(server!.metricsUrl);
    expect(value(scraped, 'devmapper_snapshots{kind="committed"}')).toBe(2);
    expect(value(scraped, 'devmapper_snapshots{kind="view"}')).toBe(1);
    expect(value(scraped, 'devmapper_leftover_devices')).toBe(0);
    console.log(`restart: ${before.length} snapshots before, all present after two restarts; ${(await listed()).length} at the end`);
  });
});
