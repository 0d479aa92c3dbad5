/** Helpers of the server tests: a server on a simulated pool in a temp dir, and a real gRPC client over its socket. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Snapshotter, type SnapshotterOptions } from '../../../src/snapshotter/index.js';
import { SimulatedThinPool } from '../../../src/thin/simulated.js';
import { SnapshotsServer, createLogger, snapshotsClientConstructor, type Logger, type SnapshotsServerOptions, type SnapshotterApi } from '../../../src/server/index.js';

/** A temporary directory (short, for socket paths). */
export async function tempDir(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'dms-'));
}

/** A logger that keeps its JSON lines. */
export function memoryLogger(level: 'debug' | 'info' | 'warn' | 'error' = 'debug'): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level, stream: { write: (chunk: string) => lines.push(JSON.parse(chunk) as Record<string, unknown>) } });
  return { logger, lines };
}

/** A gRPC error as the client sees it. */
export interface RpcError extends Error {
  code: grpc.status;
  details: string;
}

type Callback = (error: grpc.ServiceError | null, response: unknown) => void;
type UnaryMethod = (request: unknown, callback: Callback) => void;

/** A promise-based client of the Snapshots service. */
export class SnapshotsClient {
  readonly raw: grpc.Client & Record<string, unknown>;

  constructor(socket: string) {
    const Client = snapshotsClientConstructor();
    this.raw = new Client(`unix:${socket}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<string, unknown>;
  }

  /** Calls a unary method. */
  call<T = Record<string, unknown>>(method: string, request: Record<string, unknown>): Promise<T> {
    const fn = this.raw[method] as UnaryMethod;
    return new Promise<T>((resolve, reject) => {
      fn.call(this.raw, request, (error, response) => (error ? reject(error) : resolve(response as T)));
    });
  }

  /** Calls a unary method that must fail; resolves with the error. */
  async fail(method: string, request: Record<string, unknown>): Promise<RpcError> {
    try {
      await this.call(method, request);
    } catch (e) {
      return e as RpcError;
    }
    throw new Error(`${method} succeeded, expected an error`);
  }

  /** Calls List and returns every message of the stream. */
  list(request: Record<string, unknown> = {}): Promise<Array<{ info: Array<Record<string, unknown>> }>> {
    const fn = this.raw.List as (request: unknown) => grpc.ClientReadableStream<{ info: Array<Record<string, unknown>> }>;
    const stream = fn.call(this.raw, request);
    return new Promise((resolve, reject) => {
      const messages: Array<{ info: Array<Record<string, unknown>> }> = [];
      stream.on('data', (m) => messages.push(m));
      stream.on('error', reject);
      stream.on('end', () => resolve(messages));
    });
  }

  close(): void {
    this.raw.close();
  }
}

/** A server on a fresh simulated pool ('none' formatter), a client, and their cleanup. */
export interface Harness {
  dir: string;
  socket: string;
  pool: SimulatedThinPool;
  snapshotter: Snapshotter;
  server: SnapshotsServer;
  client: SnapshotsClient;
  lines: Array<Record<string, unknown>>;
  dispose(): Promise<void>;
}

/** Starts a harness. */
export async function startHarness(options: SnapshotsServerOptions = {}, snapshotterOptions: Partial<SnapshotterOptions> = {}): Promise<Harness> {
  const dir = await tempDir();
  const pool = new SimulatedThinPool();
  const snapshotter = await Snapshotter.open({ rootPath: path.join(dir, 'root'), pool, baseImageSize: '64MB', fsType: 'none', minFreeSpace: 0, ...snapshotterOptions });
  const { logger, lines } = memoryLogger();
  const socket = path.join(dir, 'snapshotter.sock');
  const server = await SnapshotsServer.listen(snapshotter, socket, { logger, ...options });
  const client = new SnapshotsClient(socket);
  return {
    dir,
    socket,
    pool,
    snapshotter,
    server,
    client,
    lines,
    async dispose() {
      client.close();
      await server.close();
      await snapshotter.close();
      await pool.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A server on a stand-in snapshotter, for calls that block or fail on demand. */
export async function startFake(fake: Partial<SnapshotterApi>, options: SnapshotsServerOptions = {}) {
  const dir = await tempDir();
  const socket = path.join(dir, 'fake.sock');
  const { logger, lines } = memoryLogger();
  const server = await SnapshotsServer.listen(fake as SnapshotterApi, socket, { logger, ...options });
  const client = new SnapshotsClient(socket);
  return {
    dir,
    socket,
    server,
    client,
    lines,
    async dispose() {
      client.close();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A promise and its resolve, for holding a call until a test lets it go. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}
