/**
 * serve()'s operator side on a simulated pool: Prometheus metrics over HTTP
 * (values move with real calls through the gRPC socket), Snapshotter.metrics(),
 * the grpc.health.v1 service (Check, Watch, List; NOT_SERVING from the
 * probe and after shutdown), and sd_notify through systemd-notify to a real
 * unix datagram socket.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, test } from 'vitest';
import {
  HealthService,
  SnapshotsServer,
  parseListenAddress,
  sdNotify,
  serve,
  type Serving,
} from '../../../src/server/index.js';
import { HealthClient, type HealthCheckResponse } from '../../../src/server/generated/grpc/health/v1/health.js';
import { Snapshotter } from '../../../src/snapshotter/index.js';
import { SimulatedThinPool } from '../../../src/thin/simulated.js';
import { scrape, value } from '../../fixtures/prometheus/scrape.js';
import { SnapshotsClient, memoryLogger, tempDir } from './support.js';

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function served(extra: Partial<Parameters<typeof serve>[0]> = {}): Promise<{ serving: Serving; client: SnapshotsClient; url: string; socket: string; snapshotter: Snapshotter }> {
  const dir = await tempDir();
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const pool = new SimulatedThinPool({ dataSizeBytes: 1024 * 1024 * 1024 });
  cleanups.push(() => pool.close());
  const snapshotter = await Snapshotter.open({ rootPath: path.join(dir, 'root'), pool, baseImageSize: '64MB', fsType: 'none', minFreeSpace: 0, asyncRemove: true });
  cleanups.push(() => snapshotter.close());
  const socket = path.join(dir, 's.sock');
  const serving = await serve({ socket, snapshotter, logger: memoryLogger().logger, handleSignals: false, metricsAddress: '127.0.0.1:0', ...extra });
  cleanups.push(() => serving.close());
  const client = new SnapshotsClient(socket);
  cleanups.push(() => client.close());
  const endpoint = serving.metricsEndpoint!.address;
  return { serving, client, url: `http://127.0.0.1:${endpoint.port}/metrics`, socket, snapshotter };
}

function healthClient(socket: string): InstanceType<typeof HealthClient> {
  const client = new HealthClient(`unix:${socket}`, grpc.credentials.createInsecure());
  cleanups.push(() => client.close());
  return client;
}

function check(client: InstanceType<typeof HealthClient>, service: string): Promise<HealthCheckResponse> {
  return new Promise((resolve, reject) => client.check({ service }, (e, r) => (e ? reject(e) : resolve(r))));
}

describe('metrics', () => {
  test('GET /metrics: values move with Prepare, Commit, Remove and failed calls', async () => {
    const { client, url } = await served();
    const before = await scrape(url);
    expect(value(before, 'devmapper_snapshots{kind="active"}')).toBe(0);
    expect(value(before, 'devmapper_pool_data_total_bytes{pool="simulated-pool"}')).toBe(1024 * 1024 * 1024);
    const txBefore = value(before, 'devmapper_pool_transaction_id{pool="simulated-pool"}');
    for (const flag of ['read_only', 'out_of_space', 'needs_check', 'failed']) expect(value(before, `devmapper_pool_${flag}{pool="simulated-pool"}`)).toBe(0);

    await client.call('Prepare', { key: 'a' });
    await client.call('Prepare', { key: 'b' });
    const prepared = await scrape(url);
    expect(value(prepared, 'devmapper_snapshots{kind="active"}')).toBe(2);
    expect(value(prepared, 'devmapper_pool_transaction_id{pool="simulated-pool"}')).toBeGreaterThan(txBefore);
    expect(value(prepared, 'devmapper_rpc_duration_seconds_count{method="Prepare"}')).toBe(2);

    await client.call('Commit', { name: 'c', key: 'a' });
    await client.call('Remove', { key: 'b' });
    const e = await client.fail('Stat', { key: 'missing' });
    expect(e.code).toBe(grpc.status.NOT_FOUND);
    const after = await scrape(url);
    expect(value(after, 'devmapper_snapshots{kind="active"}')).toBe(0);
    expect(value(after, 'devmapper_snapshots{kind="committed"}')).toBe(1);
    // asyncRemove: the removed snapshot's device waits for Cleanup.
    expect(value(after, 'devmapper_pending_removals')).toBe(1);
    expect(value(after, 'devmapper_rpc_errors_total{code="NOT_FOUND",method="Stat"}')).toBe(1);
    expect(value(after, 'devmapper_rpc_duration_seconds_count{method="Stat"}')).toBe(1);
    expect(after.has('devmapper_rpc_errors_total{code="NOT_FOUND",method="Prepare"}')).toBe(false);

    await client.call('Cleanup', {});
    const cleaned = await scrape(url);
    expect(value(cleaned, 'devmapper_pending_removals')).toBe(0);
    expect(value(cleaned, 'devmapper_leftover_devices')).toBe(0);
    expect(value(cleaned, 'devmapper_udev_timeouts_total')).toBe(0);
    expect(cleaned.has('process_cpu_seconds_total')).toBe(true);
  });

  test('other paths answer 404; a taken port fails serve() with UNAVAILABLE and leaves nothing listening', async () => {
    const { url, serving } = await served();
    expect((await fetch(url.replace('/metrics', '/'))).status).toBe(404);
    const dir = await tempDir();
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const pool = new SimulatedThinPool();
    cleanups.push(() => pool.close());
    const snapshotter = await Snapshotter.open({ rootPath: path.join(dir, 'root'), pool, baseImageSize: '64MB', fsType: 'none', minFreeSpace: 0 });
    cleanups.push(() => snapshotter.close());
    const socket = path.join(dir, 'b.sock');
    await expect(serve({ socket, snapshotter, logger: memoryLogger().logger, handleSignals: false, metricsAddress: serving.metricsEndpoint!.address })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    // The gRPC socket it had opened is gone again.
    await expect(SnapshotsServer.listen(snapshotter, socket).then((s) => s.close())).resolves.toBeUndefined();
  });

  test('Snapshotter.metrics() returns the same figures as a plain object', async () => {
    const { client, snapshotter } = await served();
    await client.call('Prepare', { key: 'a' });
    await client.call('Commit', { name: 'c', key: 'a' });
    await client.call('View', { key: 'v', parent: 'c' });
    const m = await snapshotter.metrics();
    expect(m.snapshots).toEqual({ active: 0, view: 1, committed: 1 });
    expect(m.pool).toMatchObject({ name: 'simulated-pool', mode: 'rw', readOnly: false, failed: false, needsCheck: false, outOfSpace: false });
    expect(m.pool.dataTotalBytes).toBe(1024 * 1024 * 1024);
    expect(m.pool.transactionId).toBeGreaterThan(0);
    expect(m).toMatchObject({ pendingRemovals: 0, leftoverDevices: 0, unavailable: null });
    expect(Object.keys(m.udev).sort()).toEqual(['udevTimeouts', 'udevWaitSeconds', 'udevWaits']);
  });

  test('parseListenAddress', () => {
    expect(parseListenAddress('127.0.0.1:9100')).toEqual({ host: '127.0.0.1', port: 9100 });
    expect(parseListenAddress('[::1]:9100')).toEqual({ host: '::1', port: 9100 });
    expect(parseListenAddress(':9100')).toEqual({ host: '0.0.0.0', port: 9100 });
    for (const bad of ['9100', 'host:', 'h:70000', '::1:9100', 'a:b']) expect(() => parseListenAddress(bad), bad).toThrow(/HOST:PORT/);
  });
});

describe('grpc.health.v1 on the server socket', () => {
  test("Check: SERVING for '' and the Snapshots service, NOT_FOUND for others; List names both; /healthz says the same", async () => {
    const { socket, url } = await served();
    const health = healthClient(socket);
    expect(await check(health, '')).toEqual({ status: 'SERVING' });
    expect(await check(health, 'containerd.services.snapshots.v1.Snapshots')).toEqual({ status: 'SERVING' });
    await expect(check(health, 'nope')).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    const list = await new Promise((resolve, reject) => health.list({}, (e, r) => (e ? reject(e) : resolve(r))));
    expect(list).toEqual({ statuses: { '': { status: 'SERVING' }, 'containerd.services.snapshots.v1.Snapshots': { status: 'SERVING' } } });
    const healthz = await fetch(url.replace('/metrics', '/healthz'));
    expect([healthz.status, await healthz.text()]).toEqual([200, 'SERVING\n']);
  });

  test('Watch streams each change of the probe, and NOT_SERVING then its end on shutdown', async () => {
    let state = { serving: true, reason: undefined as string | undefined };
    const dir = await tempDir();
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const { logger, lines } = memoryLogger();
    const service = new HealthService({ probe: async () => state, pollIntervalMs: 20, logger });
    const socket = path.join(dir, 'h.sock');
    const server = await SnapshotsServer.listen({} as never, socket, { health: service, logger });
    cleanups.push(() => server.close());
    const health = healthClient(socket);
    const seen: string[] = [];
    const stream = health.watch({ service: '' });
    stream.on('data', (r: HealthCheckResponse) => seen.push(r.status));
    const ended = new Promise<void>((resolve) => stream.on('end', resolve).on('error', () => resolve()));
    const until = async (n: number) => {
      for (let i = 0; i < 500 && seen.length < n; i++) await new Promise((r) => setTimeout(r, 10));
    };
    await until(1);
    state = { serving: false, reason: 'pool p is read-only' };
    await until(2);
    expect(await check(health, '')).toEqual({ status: 'NOT_SERVING' });
    state = { serving: true, reason: undefined };
    await until(3);
    await server.close();
    await ended;
    expect(seen).toEqual(['SERVING', 'NOT_SERVING', 'SERVING', 'NOT_SERVING']);
    expect(lines.filter((l) => l.msg === 'health').map((l) => [l.status, l.reason])).toEqual([
      ['NOT_SERVING', 'pool p is read-only'],
      ['SERVING', undefined],
    ]);
  });

  test('a probe that throws counts as NOT_SERVING', async () => {
    const service = new HealthService({ probe: () => Promise.reject(new Error('ENXIO')) });
    expect(await service.refresh()).toBe('NOT_SERVING');
  });
});

describe('sd_notify', () => {
  // A real unix datagram socket (Node has none: python3, which node-gyp needs anyway, binds it).
  async function notifySocket(): Promise<{ path: string; messages: () => string; child: ChildProcess }> {
    const dir = await tempDir();
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'notify');
    const script = 'import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint("ready",flush=True)\nwhile True:\n  print(s.recv(4096).decode().replace("\\n"," "),flush=True)\n';
    const child = spawn('python3', ['-c', script, file], { stdio: ['ignore', 'pipe', 'inherit'] });
    cleanups.push(() => void child.kill());
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    for (let i = 0; i < 500 && !out.includes('ready'); i++) await new Promise((r) => setTimeout(r, 10));
    return { path: file, messages: () => out, child };
  }

  test('READY=1 reaches NOTIFY_SOCKET through systemd-notify', async () => {
    const socket = await notifySocket();
    expect(await sdNotify(['READY=1', 'STATUS=serving'], { env: { ...process.env, NOTIFY_SOCKET: socket.path } })).toBe('sent');
    for (let i = 0; i < 500 && !socket.messages().includes('READY=1'); i++) await new Promise((r) => setTimeout(r, 10));
    expect(socket.messages()).toContain('READY=1');
    expect(socket.messages()).toContain('STATUS=serving');
    expect(socket.messages()).toContain(`MAINPID=${process.pid}`);
  });

  test('without NOTIFY_SOCKET nothing is sent; a missing systemd-notify is a clear warning', async () => {
    expect(await sdNotify(['READY=1'], { env: {} })).toBe('not-under-systemd');
    const { logger, lines } = memoryLogger();
    expect(await sdNotify(['READY=1'], { env: { NOTIFY_SOCKET: '/run/x' }, command: '/nonexistent/systemd-notify', logger })).toBe('failed');
    expect(lines[0]).toMatchObject({ level: 'warn' });
    expect(String(lines[0]?.msg)).toMatch(/install systemd/);
  });
});
