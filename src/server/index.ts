/**
 * A containerd proxy snapshotter: the snapshotter served over containerd's
 * snapshots gRPC API (containerd.services.snapshots.v1.Snapshots) on a unix
 * socket.
 *
 * @example
 * ```ts
 * const serving = await serve({ socket: '/run/devmapper/snapshotter.sock', rootPath: '/var/lib/devmapper', poolName: 'devpool', baseImageSize: '10GB' });
 * await serving.wait(); // until SIGTERM or SIGINT
 * ```
 *
 * @module devmapper/server
 */
export { serve, Serving, SnapshotsServer, poolHealth, DEFAULT_SOCKET_MODE, DEFAULT_SHUTDOWN_TIMEOUT_MS, type ServeOptions, type SnapshotsServerOptions } from './server.js';
export { ServerMetrics, RPC_DURATION_BUCKETS, type MetricsSource, type ServerMetricsOptions } from './metrics.js';
export { MetricsEndpoint, parseListenAddress, type ListenAddress } from './metrics-http.js';
export { HealthService, HEALTH_SERVICES, HEALTH_SERVICE_DEFINITION, type HealthServiceOptions, type HealthState } from './health.js';
export { sdNotify, type NotifyOptions, type NotifyOutcome } from './notify.js';
export { watchPool, WATCHED_POOL_EVENTS, type PoolWatch, type PoolWatchHooks, type PoolWatchOptions } from './pool-watch.js';
export {
  SnapshotsService,
  toInfoMessage,
  toMountMessage,
  toTimestamp,
  DEFAULT_LIST_BATCH_SIZE,
  DEFAULT_LIST_BATCH_BYTES,
  type SnapshotsServiceOptions,
  type SnapshotterApi,
  type CallOutcome,
} from './service.js';
export { toServiceError, statusOf, STATUS_OF, type StatusError } from './errors.js';
export { createLogger, silentLogger, isLogLevel, LOG_LEVELS, type Logger, type LoggerOptions, type LogStream, type LogLevel, type LogFields } from './logger.js';
export {
  PROTO_DIR,
  SNAPSHOTS_PROTO,
  SNAPSHOTS_SERVICE,
  snapshotsServiceDefinition,
  snapshotsClientConstructor,
  type InfoMessage,
  type MountMessage,
  type KindName,
  type TimestampMessage,
} from './proto.js';
