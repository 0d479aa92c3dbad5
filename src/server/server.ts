/**
 * The gRPC server: containerd's Snapshots service on a unix socket, which
 * containerd loads as a proxy plugin:
 *
 * ```toml
 * [proxy_plugins.devmapper-node]
 *   type = "snapshot"
 *   address = "/run/devmapper/snapshotter.sock"
 * ```
 */
import { lstat, chmod, mkdir, rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { isMainThread } from 'node:worker_threads';
import * as grpc from '@grpc/grpc-js';
import { InvalidArgumentError, UnavailableError } from '../snapshotter/errors.js';
import { Snapshotter } from '../snapshotter/snapshotter.js';
import type { SnapshotterOptions } from '../snapshotter/options.js';
import { parseSize, type SizeInput } from '../snapshotter/sizes.js';
import { poolMetrics } from '../snapshotter/metrics.js';
import type { AutoextendPolicy } from '../thin/autoextend.js';
import { ThinPool } from '../thin/pool.js';
import type { ThinPoolApi } from '../thin/types.js';
import { HEALTH_SERVICE_DEFINITION, HealthService, type HealthState } from './health.js';
import { createLogger, silentLogger, type Logger } from './logger.js';
import { MetricsEndpoint, type ListenAddress } from './metrics-http.js';
import { ServerMetrics } from './metrics.js';
import { sdNotify } from './notify.js';
import { watchPool, type PoolWatch } from './pool-watch.js';
import { snapshotsServiceDefinition } from './proto.js';
import { SnapshotsService, type SnapshotsServiceOptions, type SnapshotterApi } from './service.js';

/** The mode of the socket file: owner and group may connect. */
export const DEFAULT_SOCKET_MODE = 0o660;

/** How long close() lets calls in flight finish before it cancels them. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 30_000;

/** The longest unix socket path the kernel accepts (sun_path less its NUL). */
export const MAX_SOCKET_PATH_BYTES = 107;

/** Options of {@link SnapshotsServer.listen}. */
export interface SnapshotsServerOptions extends SnapshotsServiceOptions {
  /** The socket file's mode; default 0660. */
  socketMode?: number;
  /** How long close() waits for calls in flight before cancelling them; default 30 s. */
  shutdownTimeoutMs?: number;
  /** The grpc.health.v1.Health service served on the same socket; default one that is always SERVING (until close). */
  health?: HealthService;
}

// Whether something accepts connections on the unix socket `file`.
function listening(file: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(file);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Makes `socketPath` free to bind: creates its folder (0711) when missing,
 * removes a stale socket nobody listens on.
 *
 * @throws InvalidArgumentError when the path is too long or is something other than a socket.
 * @throws UnavailableError when another server listens on it.
 */
async function prepareSocketPath(socketPath: string): Promise<void> {
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
    throw new InvalidArgumentError(`socket path ${socketPath} is longer than ${MAX_SOCKET_PATH_BYTES} bytes`);
  }
  await mkdir(path.dirname(socketPath), { recursive: true, mode: 0o711 });
  let stats;
  try {
    stats = await lstat(socketPath);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (!stats.isSocket()) throw new InvalidArgumentError(`${socketPath} exists and is not a socket`);
  if (await listening(socketPath)) throw new UnavailableError(`another server is listening on ${socketPath}`);
  await rm(socketPath, { force: true });
}

// Narrows the umask while the socket is made, so that it is never open to
// group or others before its chmod. Worker threads cannot change the umask:
// there the chmod alone sets the mode.
function narrowUmask(): () => void {
  if (!isMainThread) return () => undefined;
  const previous = process.umask(0o077);
  process.umask(previous | 0o077);
  return () => {
    process.umask(previous);
  };
}

/** The Snapshots service on a unix socket. Start one with {@link SnapshotsServer.listen}. */
export class SnapshotsServer implements AsyncDisposable {
  private closing: Promise<void> | undefined;
  private forced = false;

  private constructor(
    /** The socket's absolute path. */
    readonly socketPath: string,
    private readonly server: grpc.Server,
    private readonly service: SnapshotsService,
    /** The health service on the same socket. */
    readonly health: HealthService,
    private readonly socketIno: number,
    private readonly logger: Logger,
    private readonly shutdownTimeoutMs: number,
  ) {}

  /**
   * Serves `snapshotter` on the unix socket `socketPath` (mode 0660 by
   * default). A stale socket file left by a dead server is replaced. The
   * caller keeps the snapshotter: close() does not close it.
   *
   * @throws InvalidArgumentError for a bad path; UnavailableError when another server listens there.
   */
  static async listen(snapshotter: SnapshotterApi, socketPath: string, options: SnapshotsServerOptions = {}): Promise<SnapshotsServer> {
    if (typeof socketPath !== 'string' || socketPath === '') throw new InvalidArgumentError('socket path is required');
    const file = path.resolve(socketPath);
    const logger = options.logger ?? silentLogger;
    const mode = options.socketMode ?? DEFAULT_SOCKET_MODE;
    const shutdownTimeoutMs = options.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
    if (!(shutdownTimeoutMs >= 0)) throw new InvalidArgumentError('shutdownTimeoutMs must be 0 or more');
    const service = new SnapshotsService(snapshotter, options);
    await prepareSocketPath(file);
    const health = options.health ?? new HealthService({ logger });
    const server = new grpc.Server();
    server.addService(snapshotsServiceDefinition(), service.implementation());
    server.addService(HEALTH_SERVICE_DEFINITION, health.implementation());
    const restoreUmask = narrowUmask();
    try {
      await new Promise<number>((resolve, reject) => {
        server.bindAsync(`unix:${file}`, grpc.ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(port)));
      });
    } catch (e) {
      throw new UnavailableError(`cannot listen on ${file}: ${(e as Error).message}`, { cause: e });
    } finally {
      restoreUmask();
    }
    let ino: number;
    try {
      await chmod(file, mode);
      ino = (await lstat(file)).ino;
    } catch (e) {
      server.forceShutdown();
      throw e;
    }
    logger.info('listening', { socket: file, mode: `0${mode.toString(8)}` });
    return new SnapshotsServer(file, server, service, health, ino, logger, shutdownTimeoutMs);
  }

  /** Calls being served now. */
  get running(): number {
    return this.service.running;
  }

  /** Whether close() has been called. */
  get closed(): boolean {
    return this.closing !== undefined;
  }

  /**
   * Stops gracefully: takes no new calls, lets the calls in flight finish
   * (cancelling them after `shutdownTimeoutMs`), then removes the socket
   * file. Safe to call twice.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.logger.info('shutting down', { socket: this.socketPath, inFlight: this.service.running });
      // NOT_SERVING, and Watch streams end: the server's graceful shutdown waits for open streams.
      await this.health.shutdown();
      const stopped = new Promise<void>((resolve) => {
        this.server.tryShutdown(() => resolve());
      });
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), this.shutdownTimeoutMs);
      });
      const outcome = await Promise.race([Promise.all([stopped, this.service.idle()]).then(() => 'done' as const), timedOut]);
      clearTimeout(timer);
      if (outcome === 'timeout' && !this.forced) {
        this.logger.warn('calls still running after the shutdown timeout: cancelling them', { inFlight: this.service.running, timeoutMs: this.shutdownTimeoutMs });
        this.forceClose();
      }
      await this.removeSocket();
      this.logger.info('stopped', { socket: this.socketPath });
    })();
    return this.closing;
  }

  /** Stops at once: cancels the calls in flight (what they started on the snapshotter still runs to its end). */
  forceClose(): void {
    if (this.forced) return;
    this.forced = true;
    this.server.forceShutdown();
    void this.close();
  }

  // Removes the socket file, unless another server has replaced it meanwhile.
  private async removeSocket(): Promise<void> {
    try {
      if ((await lstat(this.socketPath)).ino === this.socketIno) await rm(this.socketPath, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.logger.warn('cannot remove the socket', { socket: this.socketPath, error: e });
    }
  }

  /** {@link close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Options of {@link serve}: where to listen, and the snapshotter to serve or how to open one. */
export interface ServeOptions extends Partial<SnapshotterOptions>, SnapshotsServerOptions {
  /** The unix socket to listen on (containerd's `address`). */
  socket: string;
  /** An open snapshotter to serve; the caller keeps it. Otherwise one is opened from the snapshotter options. */
  snapshotter?: Snapshotter;
  /**
   * A loopback pool's directory (sparse `data` and `metadata` files): the
   * pool is created there when missing, reopened otherwise, and closed (left
   * in the kernel) on shutdown. Instead of `pool` or `poolName`.
   */
  poolDirectory?: string;
  /** The data file's size for a new loopback pool (default 100 GiB, sparse). */
  poolSize?: SizeInput;
  /** Where logs go; default JSON lines to stderr at level 'info' (for serve(); SnapshotsServer.listen logs nowhere by default). */
  logger?: Logger;
  /** Shut down gracefully on SIGTERM and SIGINT (a second signal cancels calls in flight). Default true. */
  handleSignals?: boolean;
  /** Shut down gracefully when this is aborted. */
  signal?: AbortSignal;
  /** Serve Prometheus metrics at `http://HOST:PORT/metrics` (`'127.0.0.1:9100'`, `'[::1]:9100'`, `':9100'`). */
  metricsAddress?: string | ListenAddress;
  /** Watch the pool's kernel events: to the log, the metrics and the health service. Needs a {@link ThinPool}. */
  watch?: boolean;
  /** Grow the pool past a threshold (implies `watch`). */
  autoextend?: AutoextendPolicy;
  /** Tell systemd READY=1 once listening when NOTIFY_SOCKET is set (Type=notify units); default true. */
  notify?: boolean;
  /** How often the health service re-reads the pool while someone watches it; default 5000 ms. */
  healthPollIntervalMs?: number;
}

/** The parts of a {@link Serving} besides the server and the snapshotter. */
interface ServingParts {
  metrics: ServerMetrics;
  endpoint: MetricsEndpoint | undefined;
  poolWatch: PoolWatch | undefined;
  notify: boolean;
}

const SNAPSHOTTER_KEYS = [
  'rootPath',
  'pool',
  'poolName',
  'resolvePool',
  'baseImageSize',
  'fsType',
  'fsOptions',
  'mountOptions',
  'asyncRemove',
  'discardBlocks',
  'minFreeSpace',
] as const satisfies ReadonlyArray<keyof SnapshotterOptions>;

/** A running {@link serve}: the server, the snapshotter it serves, and how to stop both. */
export class Serving implements AsyncDisposable {
  private closing: Promise<void> | undefined;
  private readonly done: Promise<void>;
  private finish!: (error?: unknown) => void;

  /** @internal */
  constructor(
    /** The server. */
    readonly server: SnapshotsServer,
    /** The snapshotter being served. */
    readonly snapshotter: Snapshotter,
    private readonly owned: { snapshotter: boolean; pool: ThinPoolApi | undefined },
    private readonly logger: Logger,
    private readonly detach: () => void,
    private readonly parts: ServingParts,
  ) {
    this.done = new Promise<void>((resolve, reject) => {
      this.finish = (error) => (error === undefined ? resolve() : reject(error));
    });
    // Nobody may wait: a failed close is reported by close() and wait().
    this.done.catch(() => undefined);
  }

  /** The socket's absolute path. */
  get socket(): string {
    return this.server.socketPath;
  }

  /** The server's metrics (a private prom-client registry). */
  get metrics(): ServerMetrics {
    return this.parts.metrics;
  }

  /** The metrics endpoint, when `metricsAddress` was given. */
  get metricsEndpoint(): MetricsEndpoint | undefined {
    return this.parts.endpoint;
  }

  /** The health service on the socket. */
  get health(): HealthService {
    return this.server.health;
  }

  /**
   * Stops gracefully: the server finishes the calls in flight, then the
   * snapshotter closes (when serve opened it), then the pool (when serve
   * opened it from `poolDirectory`). Safe to call twice.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.detach();
      const errors: unknown[] = [];
      if (this.parts.notify) void sdNotify(['STOPPING=1'], { logger: this.logger });
      this.parts.poolWatch?.stop();
      await this.server.close().catch((e: unknown) => errors.push(e));
      await this.parts.endpoint?.close().catch((e: unknown) => errors.push(e));
      if (this.owned.snapshotter) await this.snapshotter.close().catch((e: unknown) => errors.push(e));
      if (this.owned.pool) await this.owned.pool.close().catch((e: unknown) => errors.push(e));
      if (errors.length > 0) {
        const error = errors.length === 1 ? errors[0] : new AggregateError(errors, 'shutdown failed');
        this.logger.error('shutdown failed', { error });
        this.finish(error);
        throw error;
      }
      this.finish();
    })();
    return this.closing;
  }

  /** Cancels the calls in flight and closes. */
  forceClose(): Promise<void> {
    this.server.forceClose();
    return this.close();
  }

  /** Resolves once closed (by close(), a signal or the abort signal); rejects when closing failed. */
  wait(): Promise<void> {
    return this.done;
  }

  /** {@link close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Serves a snapshotter over containerd's snapshots gRPC API on a unix
 * socket, for containerd to load as a proxy plugin. Opens the snapshotter
 * (and a loopback pool, with `poolDirectory`) unless one is given, listens,
 * and by default shuts down gracefully on SIGTERM or SIGINT.
 *
 * @example
 * ```ts
 * import { serve } from 'devmapper/server';
 * const serving = await serve({ socket: '/run/devmapper/snapshotter.sock', rootPath: '/var/lib/devmapper', poolName: 'devpool', baseImageSize: '10GB' });
 * await serving.wait(); // until SIGTERM
 * ```
 */
export async function serve(options: ServeOptions): Promise<Serving> {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options must be an object');
  const logger = options.logger ?? createLogger();
  let snapshotter = options.snapshotter;
  let ownedPool: ThinPoolApi | undefined;
  if (snapshotter) {
    const extra = SNAPSHOTTER_KEYS.filter((k) => options[k] !== undefined);
    if (extra.length > 0 || options.poolDirectory !== undefined) {
      throw new InvalidArgumentError(`give a snapshotter or snapshotter options, not both (${[...extra, ...(options.poolDirectory !== undefined ? ['poolDirectory'] : [])].join(', ')})`);
    }
  } else {
    const snapshotterOptions: Partial<SnapshotterOptions> = {};
    for (const key of SNAPSHOTTER_KEYS) if (options[key] !== undefined) Object.assign(snapshotterOptions, { [key]: options[key] });
    if (options.poolDirectory !== undefined) {
      if (options.pool || options.poolName) throw new InvalidArgumentError('give one of pool, poolName and poolDirectory');
      const dataSizeBytes = options.poolSize === undefined ? undefined : parseSize(options.poolSize, 'poolSize');
      ownedPool = await ThinPool.createLoopback({
        directory: options.poolDirectory,
        ...(dataSizeBytes === undefined ? {} : { dataSizeBytes }),
        minFreeSpacePercent: 0,
      });
      snapshotterOptions.pool = ownedPool;
      logger.info('loopback pool ready', { pool: ownedPool.name, directory: options.poolDirectory });
    }
    try {
      snapshotter = await Snapshotter.open(snapshotterOptions as SnapshotterOptions);
    } catch (e) {
      await ownedPool?.close().catch(() => undefined);
      throw e;
    }
    const report = snapshotter.reconcileReport;
    logger.info('snapshotter open', { root: options.rootPath, pool: snapshotter.pool.name, reconcile: report });
  }
  const ownsSnapshotter = options.snapshotter === undefined;

  const served = snapshotter;
  const metrics = new ServerMetrics(served, { logger, processMetrics: options.metricsAddress !== undefined });
  const health = new HealthService({
    logger,
    probe: () => poolHealth(served),
    ...(options.healthPollIntervalMs === undefined ? {} : { pollIntervalMs: options.healthPollIntervalMs }),
  });
  let server: SnapshotsServer | undefined;
  let endpoint: MetricsEndpoint | undefined;
  let poolWatch: PoolWatch | undefined;
  try {
    server = await SnapshotsServer.listen(served, options.socket, { ...options, logger, health, onCall: (call) => metrics.observeCall(call) });
    if (options.watch === true || options.autoextend !== undefined) {
      const pool = served.pool;
      if (!(pool instanceof ThinPool)) throw new InvalidArgumentError('watching a pool needs a kernel pool (ThinPool)');
      poolWatch = await watchPool(pool, {
        logger,
        ...(options.autoextend === undefined ? {} : { autoextend: options.autoextend }),
        onEvent: (event) => {
          if (event === 'status') return;
          metrics.countPoolEvent(event);
          if (event === 'readOnly' || event === 'failed' || event === 'needsCheck') void health.refresh();
        },
        onAutoextend: (outcome) => metrics.countAutoextend(outcome),
      });
    }
    if (options.metricsAddress !== undefined) endpoint = await MetricsEndpoint.listen(metrics, options.metricsAddress, logger, () => health.refresh());
  } catch (e) {
    poolWatch?.stop();
    await server?.close().catch(() => undefined);
    if (ownsSnapshotter) await snapshotter.close().catch(() => undefined);
    await ownedPool?.close().catch(() => undefined);
    throw e;
  }
  await health.refresh();
  const notify = options.notify ?? true;
  if (notify) await sdNotify(['READY=1', `STATUS=serving ${server.socketPath}`], { logger });

  const cleanups: Array<() => void> = [];
  const serving = new Serving(server, snapshotter, { snapshotter: ownsSnapshotter, pool: ownedPool }, logger, () => {
    for (const c of cleanups.splice(0)) c();
  }, { metrics, endpoint, poolWatch, notify });
  const stop = (reason: string): void => {
    logger.info('shutdown requested', { reason });
    serving.close().catch(() => undefined);
  };
  if (options.handleSignals ?? true) {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      signals++;
      if (signals === 1) {
        stop(signal);
        return;
      }
      logger.warn('second signal: cancelling calls in flight', { signal });
      serving.forceClose().catch(() => undefined);
    };
    // While closing, further signals still come here (not to Node's default exit).
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    cleanups.push(() => {
      void serving.wait().finally(() => {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
      }).catch(() => undefined);
    });
  }
  if (options.signal) {
    const signal = options.signal;
    const onAbort = (): void => stop('abort signal');
    if (signal.aborted) onAbort();
    else {
      signal.addEventListener('abort', onAbort, { once: true });
      cleanups.push(() => signal.removeEventListener('abort', onAbort));
    }
  }
  return serving;
}

/** The health of a served snapshotter: not serving while closed, or while its pool is read-only, failed or needs a check. */
export async function poolHealth(snapshotter: Snapshotter): Promise<HealthState> {
  if (snapshotter.closed) return { serving: false, reason: 'the snapshotter is closed' };
  const pool = await poolMetrics(snapshotter.pool);
  if (pool.failed) return { serving: false, reason: `pool ${pool.name} has failed` };
  if (pool.needsCheck) return { serving: false, reason: `pool ${pool.name} needs a check (thin_check)` };
  if (pool.readOnly) return { serving: false, reason: `pool ${pool.name} is read-only` };
  return { serving: true };
}
