/**
 * The server's life: the socket (mode 0660, stale files, paths in use),
 * graceful shutdown (calls in flight finish, new ones are refused), the
 * shutdown timeout, serve() with signals, and the `devmapper serve` command.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { status } from '@grpc/grpc-js';
import { Command } from 'commander';
import { afterEach, describe, expect, test } from 'vitest';
import { Snapshotter } from '../../../src/snapshotter/index.js';
import { SimulatedThinPool } from '../../../src/thin/simulated.js';
import { registerServeCommand, serveCommand } from '../../../src/server/cli-command.js';
import { SnapshotsServer, serve, type SnapshotterApi } from '../../../src/server/index.js';
import { SnapshotsClient, gate, memoryLogger, startFake, tempDir } from './support.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function dir(): Promise<string> {
  const d = await tempDir();
  cleanups.push(() => rm(d, { recursive: true, force: true }));
  return d;
}

function client(socket: string): SnapshotsClient {
  const c = new SnapshotsClient(socket);
  cleanups.push(async () => c.close());
  return c;
}

/** A stand-in snapshotter with only the methods a test calls. */
const fakeSnapshotter = (methods: Partial<SnapshotterApi> = {}): SnapshotterApi => methods as SnapshotterApi;

const mount = { type: 'ext4', source: '/dev/mapper/p-snap-1', options: [] as string[] };

describe('the socket', () => {
  test('is created 0660, as a socket, in a folder made when missing; close() removes it', async () => {
    const d = await dir();
    const socket = path.join(d, 'run', 'devmapper', 'snapshotter.sock');
    const server = await SnapshotsServer.listen(fakeSnapshotter(), socket);
    const s = await lstat(socket);
    expect(s.isSocket()).toBe(true);
    expect(s.mode & 0o777).toBe(0o660);
    await server.close();
    expect(existsSync(socket)).toBe(false);
  });

  test('the mode is an option', async () => {
    const socket = path.join(await dir(), 's.sock');
    const server = await SnapshotsServer.listen(fakeSnapshotter(), socket, { socketMode: 0o600 });
    expect((await stat(socket)).mode & 0o777).toBe(0o600);
    await server.close();
  });

  test('a stale socket (its server died) is replaced', async () => {
    const socket = path.join(await dir(), 's.sock');
    // A process that listens and exits without closing leaves the socket file behind.
    await promisify(execFile)(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(socket)}, () => process.exit(0))`]);
    expect((await lstat(socket)).isSocket()).toBe(true);
    const server = await SnapshotsServer.listen(fakeSnapshotter({ async stat() { return { name: 'k', kind: 'active', labels: {}, created: new Date(0), updated: new Date(0) }; } }), socket);
    expect((await client(socket).call<{ info: { name: string } }>('Stat', { key: 'k' })).info.name).toBe('k');
    await server.close();
  });

  test('a socket another server listens on is UNAVAILABLE, and left alone', async () => {
    const socket = path.join(await dir(), 's.sock');
    const other = net.createServer();
    await new Promise<void>((resolve) => other.listen(socket, resolve));
    cleanups.push(() => new Promise((resolve) => other.close(() => resolve())));
    await expect(SnapshotsServer.listen(fakeSnapshotter(), socket)).rejects.toMatchObject({ code: 'UNAVAILABLE', message: expect.stringContaining('another server') });
    expect((await lstat(socket)).isSocket()).toBe(true);
  });

  test('a path that is not a socket is INVALID_ARGUMENT, and left alone', async () => {
    const file = path.join(await dir(), 'not-a-socket');
    await writeFile(file, 'keep me');
    await expect(SnapshotsServer.listen(fakeSnapshotter(), file)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await readFile(file, 'utf8')).toBe('keep me');
  });

  test('a path longer than a unix socket allows is INVALID_ARGUMENT', async () => {
    const socket = path.join(await dir(), 'x'.repeat(120));
    await expect(SnapshotsServer.listen(fakeSnapshotter(), socket)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('longer than 107 bytes') });
  });
});

describe('graceful shutdown', () => {
  test('close() lets calls in flight finish (unary and List), refuses new calls, then removes the socket', async () => {
    const held = gate();
    const entered = gate();
    const walkHeld = gate();
    const walkEntered = gate();
    const fake = await startFake({
      async prepare() {
        entered.open();
        await held.promise;
        return [mount];
      },
      async *walk() {
        yield { name: 'first', kind: 'committed' as const, labels: {}, created: new Date(0), updated: new Date(0) };
        walkEntered.open();
        await walkHeld.promise;
        yield { name: 'second', kind: 'committed' as const, labels: {}, created: new Date(0), updated: new Date(0) };
      },
      async stat() {
        return { name: 'k', kind: 'active' as const, labels: {}, created: new Date(0), updated: new Date(0) };
      },
    }, { listBatchSize: 1 });
    cleanups.push(fake.dispose);
    cleanups.push(async () => {
      held.open();
      walkHeld.open();
    });
    const prepare = fake.client.call('Prepare', { key: 'k' });
    const list = fake.client.list();
    await entered.promise;
    await walkEntered.promise;
    expect(fake.server.running).toBe(2);

    let closed = false;
    const closing = fake.server.close().then(() => {
      closed = true;
    });
    // New calls, on the open connection or a new one, are refused while the others finish.
    expect((await fake.client.fail('Stat', { key: 'k' })).code).toBe(status.UNAVAILABLE);
    expect((await client(fake.socket).fail('Stat', { key: 'k' })).code).toBe(status.UNAVAILABLE);
    expect(closed).toBe(false);

    held.open();
    expect(await prepare).toEqual({ mounts: [{ ...mount, target: '' }] });
    walkHeld.open();
    expect((await list).map((m) => m.info.map((i) => i.name))).toEqual([['first'], ['second']]);
    await closing;
    expect(closed).toBe(true);
    expect(existsSync(fake.socket)).toBe(false);
    expect(fake.lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['shutting down', 'stopped']));
    expect(fake.lines.find((l) => l.msg === 'shutting down')).toMatchObject({ level: 'info', inFlight: 2 });
  });

  test('calls still running after the shutdown timeout are cancelled, and close() resolves', async () => {
    const held = gate();
    const entered = gate();
    const fake = await startFake(
      {
        async prepare() {
          entered.open();
          await held.promise;
          return [mount];
        },
      },
      { shutdownTimeoutMs: 50 },
    );
    cleanups.push(async () => held.open());
    cleanups.push(fake.dispose);
    const prepare = fake.client.call('Prepare', { key: 'k' }).catch((e: unknown) => e);
    await entered.promise;
    await fake.server.close();
    expect(await prepare).toMatchObject({ code: status.CANCELLED });
    expect(fake.lines.find((l) => l.level === 'warn')).toMatchObject({ msg: expect.stringContaining('cancelling'), inFlight: 1 });
    expect(existsSync(fake.socket)).toBe(false);
  });

  test('close() twice is one shutdown', async () => {
    const fake = await startFake({});
    cleanups.push(fake.dispose);
    const a = fake.server.close();
    expect(fake.server.close()).toBe(a);
    await a;
    expect(fake.lines.filter((l) => l.msg === 'stopped')).toHaveLength(1);
  });
});

async function simulated() {
  const d = await dir();
  const pool = new SimulatedThinPool();
  cleanups.push(() => pool.close());
  return { d, pool, socket: path.join(d, 's.sock'), rootPath: path.join(d, 'root') };
}

describe('serve()', () => {
  test('opens the snapshotter from options, serves it, and closes it (not the caller\'s pool) on close()', async () => {
    const { pool, socket, rootPath } = await simulated();
    const { logger, lines } = memoryLogger('info');
    const serving = await serve({ socket, rootPath, pool, baseImageSize: '64MB', fsType: 'none', minFreeSpace: 0, logger, handleSignals: false });
    expect(serving.socket).toBe(socket);
    const c = client(socket);
    await c.call('Prepare', { key: 'a' });
    await serving.close();
    expect(serving.snapshotter.closed).toBe(true);
    await serving.wait();
    expect(await pool.thinIds()).toHaveLength(2);
    expect(lines.map((l) => l.msg)).toEqual(['snapshotter open', 'listening', 'shutting down', 'stopped']);
    // The metastore lock is released: the root opens again.
    const again = await Snapshotter.open({ rootPath, pool, baseImageSize: '64MB', fsType: 'none' });
    expect((await again.stat('a')).kind).toBe('active');
    await again.close();
  });

  test('serves a snapshotter it is given, and leaves it open', async () => {
    const { pool, socket, rootPath } = await simulated();
    const snapshotter = await Snapshotter.open({ rootPath, pool, baseImageSize: '64MB', fsType: 'none' });
    cleanups.push(() => snapshotter.close());
    const serving = await serve({ socket, snapshotter, logger: memoryLogger().logger, handleSignals: false });
    await client(socket).call('Prepare', { key: 'a' });
    await serving.close();
    expect(snapshotter.closed).toBe(false);
    expect((await snapshotter.stat('a')).name).toBe('a');
  });

  test('a snapshotter and snapshotter options together are INVALID_ARGUMENT', async () => {
    const { pool, socket, rootPath } = await simulated();
    const snapshotter = await Snapshotter.open({ rootPath, pool, baseImageSize: '64MB', fsType: 'none' });
    cleanups.push(() => snapshotter.close());
    await expect(serve({ socket, snapshotter, rootPath, handleSignals: false })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(serve({ socket, snapshotter, poolDirectory: '/tmp/x', handleSignals: false })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  test('when it cannot listen, the snapshotter it opened is closed again', async () => {
    const { d, pool, rootPath } = await simulated();
    const file = path.join(d, 'file');
    await writeFile(file, '');
    await expect(serve({ socket: file, rootPath, pool, baseImageSize: '64MB', fsType: 'none', logger: memoryLogger().logger, handleSignals: false })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    const again = await Snapshotter.open({ rootPath, pool, baseImageSize: '64MB', fsType: 'none' });
    await again.close();
  });

  test('SIGTERM shuts down gracefully: the call in flight finishes; a second SIGTERM cancels what still runs', async () => {
    const { pool, socket, rootPath } = await simulated();
    const listenersBefore = process.listenerCount('SIGTERM');
    const { logger, lines } = memoryLogger('info');
    const serving = await serve({ socket, rootPath, pool, baseImageSize: '64MB', fsType: 'none', logger });
    cleanups.push(() => serving.close());
    expect(process.listenerCount('SIGTERM')).toBe(listenersBefore + 1);
    expect(process.listenerCount('SIGINT')).toBeGreaterThan(0);

    // Hold a prepare inside the snapshotter: wrap the served instance's method.
    const held = gate();
    const entered = gate();
    const original = serving.snapshotter.prepare.bind(serving.snapshotter);
    serving.snapshotter.prepare = async (...args) => {
      entered.open();
      await held.promise;
      return original(...args);
    };
    const c = client(socket);
    const inFlight = c.call<{ mounts: unknown[] }>('Prepare', { key: 'in-flight' });
    await entered.promise;
    process.emit('SIGTERM', 'SIGTERM');
    expect((await c.fail('Stat', { key: 'in-flight' })).code).toBe(status.UNAVAILABLE);
    held.open();
    expect((await inFlight).mounts).toHaveLength(1);
    await serving.wait();
    expect(serving.snapshotter.closed).toBe(true);
    expect(existsSync(socket)).toBe(false);
    expect(process.listenerCount('SIGTERM')).toBe(listenersBefore);
    expect(lines.find((l) => l.msg === 'shutdown requested')).toMatchObject({ reason: 'SIGTERM' });
  });

  test('a second SIGTERM cancels the calls in flight', async () => {
    const { pool, socket, rootPath } = await simulated();
    const serving = await serve({ socket, rootPath, pool, baseImageSize: '64MB', fsType: 'none', logger: memoryLogger().logger });
    const held = gate();
    const entered = gate();
    cleanups.push(async () => held.open());
    const original = serving.snapshotter.prepare.bind(serving.snapshotter);
    serving.snapshotter.prepare = async (...args) => {
      entered.open();
      await held.promise;
      return original(...args);
    };
    const inFlight = client(socket).call('Prepare', { key: 'k' }).catch((e: unknown) => e);
    await entered.promise;
    process.emit('SIGTERM', 'SIGTERM');
    process.emit('SIGTERM', 'SIGTERM');
    expect(await inFlight).toMatchObject({ code: status.CANCELLED });
    held.open();
    await serving.wait();
    expect(serving.snapshotter.closed).toBe(true);
  });

  test('an abort signal shuts down gracefully', async () => {
    const { pool, socket, rootPath } = await simulated();
    const ac = new AbortController();
    const listenersBefore = process.listenerCount('SIGTERM');
    const serving = await serve({ socket, rootPath, pool, baseImageSize: '64MB', fsType: 'none', logger: memoryLogger().logger, handleSignals: false, signal: ac.signal });
    expect(process.listenerCount('SIGTERM')).toBe(listenersBefore);
    await client(socket).call('Prepare', { key: 'k' });
    ac.abort();
    await serving.wait();
    expect(existsSync(socket)).toBe(false);
  });
});

describe('devmapper serve', () => {
  function lineStream() {
    const lines: Array<Record<string, unknown>> = [];
    const waiters: Array<[string, () => void]> = [];
    return {
      lines,
      write(chunk: string) {
        for (const line of chunk.split('\n').filter(Boolean)) {
          const parsed = JSON.parse(line) as Record<string, unknown>;
          lines.push(parsed);
          for (const [msg, wake] of waiters) if (parsed.msg === msg) wake();
        }
        return true;
      },
      until(msg: string): Promise<void> {
        if (lines.some((l) => l.msg === msg)) return Promise.resolve();
        return new Promise((resolve) => waiters.push([msg, resolve]));
      },
    };
  }

  test('serves the snapshot commands\' pool and settings on --socket until the CLI\'s signal aborts', async () => {
    const d = await dir();
    const pool = new SimulatedThinPool({ name: 'sim-pool' });
    const stderr = lineStream();
    const ac = new AbortController();
    const program = new Command('devmapper').exitOverride();
    const command = registerServeCommand(program, { stderr, signal: ac.signal, openSnapshotPool: async (selection) => {
      expect(selection).toEqual({ name: 'sim-pool' });
      return pool;
    } });
    expect(command.name()).toBe('serve');
    expect(program.commands).toContain(command);
    const socket = path.join(d, 'serve.sock');
    const root = path.join(d, 'root');
    const running = program.parseAsync(
      ['serve', '--socket', socket, '--root', root, '--pool', 'sim-pool', '--fs', 'none', '--base-size', '64MB', '--min-free-space', '0', '--log-level', 'debug'],
      { from: 'user' },
    );
    await stderr.until('listening');
    expect((await stat(socket)).mode & 0o777).toBe(0o660);
    const c = client(socket);
    const { mounts } = await c.call<{ mounts: Array<{ type: string }> }>('Prepare', { key: 'k' });
    expect(mounts[0]?.type).toBe('bind');
    ac.abort();
    await running;
    expect(existsSync(socket)).toBe(false);
    expect(stderr.lines.map((l) => l.msg)).toEqual(['snapshotter open', 'listening', 'rpc', 'shutdown requested', 'shutting down', 'stopped']);
    expect(stderr.lines[0]).toMatchObject({ level: 'info', root, pool: 'sim-pool', settings: { baseImageSize: '64MB', fsType: 'none', minFreeSpace: '0' } });
    // The pool was closed with the snapshotter; the root remembers it for the next run.
    await expect(pool.thinIds()).rejects.toMatchObject({ code: 'EBADF' });
    const state = JSON.parse(await readFile(path.join(root, 'devmapper-cli.json'), 'utf8')) as { pool: { name: string } };
    expect(state.pool.name).toBe('sim-pool');
  });

  test('--socket is required; a bad --log-level is refused', async () => {
    const program = new Command('devmapper').exitOverride().configureOutput({ writeErr: () => undefined });
    program.addCommand(serveCommand({}).exitOverride().configureOutput({ writeErr: () => undefined }));
    await expect(program.parseAsync(['serve', '--root', '/tmp/x'], { from: 'user' })).rejects.toMatchObject({ code: 'commander.missingMandatoryOptionValue' });
    await expect(program.parseAsync(['serve', '--socket', '/tmp/x.sock', '--log-level', 'loud'], { from: 'user' })).rejects.toMatchObject({ code: 'commander.invalidArgument' });
  });

  test('--containerd-config supplies root_path and pool_name', async () => {
    const d = await dir();
    await mkdir(path.join(d, 'etc'));
    const config = path.join(d, 'etc', 'config.toml');
    const root = path.join(d, 'dm-root');
    await writeFile(config, `version = 2\n[plugins."io.containerd.snapshotter.v1.devmapper"]\n  root_path = "${root}"\n  pool_name = "cfg-pool"\n  base_image_size = "64MB"\n  fs_type = "none"\n`);
    const pool = new SimulatedThinPool({ name: 'cfg-pool' });
    const stderr = lineStream();
    const ac = new AbortController();
    const program = new Command('devmapper').exitOverride();
    registerServeCommand(program, { stderr, signal: ac.signal, openSnapshotPool: async () => pool });
    const socket = path.join(d, 'c.sock');
    const running = program.parseAsync(['serve', '--socket', socket, '--containerd-config', config, '--min-free-space', '0'], { from: 'user' });
    await stderr.until('listening');
    expect(stderr.lines[0]).toMatchObject({ root, pool: 'cfg-pool', settings: { baseImageSize: '64MB', fsType: 'none' } });
    await client(socket).call('Prepare', { key: 'k' });
    ac.abort();
    await running;
  });
});

