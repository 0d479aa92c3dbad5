/**
 * `devmapper serve`: the snapshotter as a containerd proxy plugin, on a unix
 * socket, until SIGTERM or SIGINT (graceful: calls in flight finish; a
 * second signal cancels them). Takes the snapshot commands' pool and
 * snapshotter options, resolved the same way (flags, --storage-opt, a
 * containerd config, the root's remembered settings).
 *
 * Wire it with `program.addCommand(serveCommand(env))` or
 * `registerServeCommand(program, env)`.
 */
import { Command, Option } from 'commander';
import { openSnapshotter, type SnapshotFlags } from '../cli/context.js';
import { leaf } from '../cli/command.js';
import { defaultSizeOption, poolOptions } from '../cli/pool.js';
import { UsageError } from '../cli/errors.js';
import { environment, type CliEnvironment } from '../cli/io.js';
import { parseSize } from '../snapshotter/sizes.js';
import type { AutoextendPolicy } from '../thin/autoextend.js';
import { LOG_LEVELS, createLogger, isLogLevel } from './logger.js';
import { parseListenAddress } from './metrics-http.js';
import { DEFAULT_SHUTDOWN_TIMEOUT_MS, serve } from './server.js';

/** The flags of `devmapper serve` (commander's camelCase names). */
export interface ServeFlags extends SnapshotFlags {
  socket: string;
  /** Print one JSON line `{"socket":...,"pool":...,"root":...}` on stdout once listening. */
  json?: boolean;
  logLevel?: string;
  shutdownTimeout?: string;
  /** HOST:PORT of the Prometheus endpoint (GET /metrics). */
  metricsAddress?: string;
  /** Watch the pool's events (to the log, the metrics and the health service). */
  watch?: boolean;
  /** Grow a loopback pool past --autoextend-threshold (implies --watch). */
  autoextend?: boolean;
  autoextendThreshold?: string;
  autoextendPercent?: string;
  autoextendMaxSize?: string;
}

function percentFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} ${JSON.stringify(value)}: expected a percent above 0`);
  return n;
}

// The autoextend policy of the flags, or undefined without --autoextend.
function autoextendPolicy(flags: ServeFlags): AutoextendPolicy | undefined {
  const extra = ([['--autoextend-threshold', flags.autoextendThreshold], ['--autoextend-percent', flags.autoextendPercent], ['--autoextend-max-size', flags.autoextendMaxSize]] as const).filter(([, v]) => v !== undefined);
  if (flags.autoextend !== true) {
    if (extra.length > 0) throw new UsageError(`${extra.map(([f]) => f).join(', ')} need --autoextend`);
    return undefined;
  }
  const thresholdPercent = percentFlag(flags.autoextendThreshold, '--autoextend-threshold');
  const extendPercent = percentFlag(flags.autoextendPercent, '--autoextend-percent');
  let maxDataSizeBytes: number | undefined;
  try {
    maxDataSizeBytes = flags.autoextendMaxSize === undefined ? undefined : parseSize(flags.autoextendMaxSize, '--autoextend-max-size');
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  return {
    ...(thresholdPercent === undefined ? {} : { thresholdPercent }),
    ...(extendPercent === undefined ? {} : { extendPercent }),
    ...(maxDataSizeBytes === undefined ? {} : { maxDataSizeBytes }),
  };
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function seconds(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new UsageError(`--shutdown-timeout ${JSON.stringify(value)}: expected seconds (0 or more)`);
  return Math.round(n * 1000);
}

/** Runs the server for parsed flags until it is stopped. */
export async function runServe(flags: ServeFlags, partialEnv: Partial<CliEnvironment> = {}): Promise<void> {
  const env = environment(partialEnv);
  const level = flags.logLevel ?? 'info';
  if (!isLogLevel(level)) throw new UsageError(`--log-level ${JSON.stringify(level)}: one of ${LOG_LEVELS.join(', ')}`);
  const shutdownTimeoutMs = seconds(flags.shutdownTimeout) ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
  let metricsAddress;
  try {
    metricsAddress = flags.metricsAddress === undefined ? undefined : parseListenAddress(flags.metricsAddress);
  } catch (e) {
    throw new UsageError(`--metrics-address: ${(e as Error).message}`);
  }
  const autoextend = autoextendPolicy(flags);
  const logger = createLogger({ level, stream: env.stderr });
  const opened = await openSnapshotter(flags, env);
  try {
    logger.info('snapshotter open', { root: opened.root, pool: opened.pool.name, settings: opened.settings, reconcile: opened.snapshotter.reconcileReport });
    const serving = await serve({
      socket: flags.socket,
      snapshotter: opened.snapshotter,
      logger,
      shutdownTimeoutMs,
      ...(metricsAddress === undefined ? {} : { metricsAddress }),
      ...(flags.watch === true ? { watch: true } : {}),
      ...(autoextend === undefined ? {} : { autoextend }),
      // The CLI's own signal (main.ts ties it to SIGINT and SIGTERM), or the server's handlers.
      handleSignals: env.signal === undefined,
      ...(env.signal ? { signal: env.signal } : {}),
    });
    const endpoint = serving.metricsEndpoint?.address;
    const ready = { socket: flags.socket, pool: opened.pool.name, root: opened.root, ...(endpoint ? { metrics: `${endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host}:${endpoint.port}` } : {}) };
    env.stdout.write(flags.json === true ? `${JSON.stringify(ready)}\n` : `serving ${ready.socket} (pool ${ready.pool})\n`);
    await serving.wait();
  } finally {
    await opened.close();
  }
}

/** The `serve` command. */
export function serveCommand(env: Partial<CliEnvironment> = {}): Command {
  return leaf(defaultSizeOption(poolOptions(
    new Command('serve').description(
      "serve the snapshotter over containerd's snapshots gRPC API on a unix socket, for containerd to load as a proxy plugin " +
        '([proxy_plugins.NAME] type = "snapshot", address = SOCKET); stops gracefully on SIGTERM or SIGINT',
    ),
  )
    .requiredOption('--socket <path>', 'the unix socket to listen on (created 0660; containerd\'s address)')
    .option('--base-size <size>', 'virtual size of every snapshot (containerd base_image_size, dm.basesize; default 10GB)'))
    .option('--fs <type>', 'ext4 (default), xfs or none for raw block devices (containerd fs_type, dm.fs)')
    .option('--fs-options <options>', 'mkfs options (containerd fs_options)')
    .option('--mount-opt <opt>', 'a mount option added to every mount (repeatable; dm.mountopt)', collect)
    .option('--async-remove', 'remove only marks devices; Cleanup deletes them (containerd async_remove)')
    .option('--no-async-remove', 'remove deletes devices at once')
    .option('--discard-blocks', "discard a device's blocks before deleting it (containerd discard_blocks, dm.blkdiscard)")
    .option('--no-discard-blocks', 'delete devices without discarding')
    .option('--min-free-space <percent|size>', 'refuse new snapshots below this free pool space (default 10%)')
    .addOption(new Option('--log-level <level>', 'the least severe log level written (JSON lines on stderr)').choices([...LOG_LEVELS]).default('info'))
    .option('--metrics-address <host:port>', 'serve Prometheus metrics at http://HOST:PORT/metrics (e.g. 127.0.0.1:9100, [::1]:9100, :9100)')
    .option('--watch', "watch the pool's kernel events: logged, counted in the metrics, and NOT_SERVING at once when the pool turns read-only or fails")
    .option('--autoextend', 'grow a loopback pool when data use crosses --autoextend-threshold (like LVM autoextend; implies --watch)')
    .option('--autoextend-threshold <percent>', 'autoextend threshold (default 80)')
    .option('--autoextend-percent <percent>', 'autoextend growth (default 20)')
    .option('--autoextend-max-size <size>', 'never autoextend past this size')
    .option('--shutdown-timeout <seconds>', `how long a shutdown waits for calls in flight before cancelling them (default ${DEFAULT_SHUTDOWN_TIMEOUT_MS / 1000})`)
    .action(async (flags: ServeFlags) => runServe(flags, env)));
}

/** Adds the `serve` command to `program` and returns it. */
export function registerServeCommand(program: Command, env: Partial<CliEnvironment> = {}): Command {
  const command = serveCommand(env);
  program.addCommand(command);
  return command;
}
