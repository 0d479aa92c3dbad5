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
import { UsageError } from '../cli/errors.js';
import { environment, type CliEnvironment } from '../cli/io.js';
import { poolOptions } from '../cli/pool.js';
import { LOG_LEVELS, createLogger, isLogLevel } from './logger.js';
import { DEFAULT_SHUTDOWN_TIMEOUT_MS, serve } from './server.js';

/** The flags of `devmapper serve` (commander's camelCase names). */
export interface ServeFlags extends SnapshotFlags {
  socket: string;
  /** Print one JSON line `{"socket":...,"pool":...,"root":...}` on stdout once listening. */
  json?: boolean;
  logLevel?: string;
  shutdownTimeout?: string;
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
  const logger = createLogger({ level, stream: env.stderr });
  const opened = await openSnapshotter(flags, env);
  try {
    logger.info('snapshotter open', { root: opened.root, pool: opened.pool.name, settings: opened.settings, reconcile: opened.snapshotter.reconcileReport });
    const serving = await serve({
      socket: flags.socket,
      snapshotter: opened.snapshotter,
      logger,
      shutdownTimeoutMs,
      // The CLI's own signal (main.ts ties it to SIGINT and SIGTERM), or the server's handlers.
      handleSignals: env.signal === undefined,
      ...(env.signal ? { signal: env.signal } : {}),
    });
    const ready = { socket: flags.socket, pool: opened.pool.name, root: opened.root };
    env.stdout.write(flags.json === true ? `${JSON.stringify(ready)}\n` : `serving ${ready.socket} (pool ${ready.pool})\n`);
    await serving.wait();
  } finally {
    await opened.close();
  }
}

/** The `serve` command. */
export function serveCommand(env: Partial<CliEnvironment> = {}): Command {
  return leaf(poolOptions(
    new Command('serve').description(
      "serve the snapshotter over containerd's snapshots gRPC API on a unix socket, for containerd to load as a proxy plugin " +
        '([proxy_plugins.NAME] type = "snapshot", address = SOCKET); stops gracefully on SIGTERM or SIGINT',
    ),
  )
    .requiredOption('--socket <path>', 'the unix socket to listen on (created 0660; containerd\'s address)')
    .option('--base-size <size>', 'virtual size of every snapshot (containerd base_image_size, dm.basesize; default 10GB)')
    .option('--fs <type>', 'ext4 (default), xfs or none for raw block devices (containerd fs_type, dm.fs)')
    .option('--fs-options <options>', 'mkfs options (containerd fs_options)')
    .option('--mount-opt <opt>', 'a mount option added to every mount (repeatable; dm.mountopt)', collect)
    .option('--async-remove', 'remove only marks devices; Cleanup deletes them (containerd async_remove)')
    .option('--no-async-remove', 'remove deletes devices at once')
    .option('--discard-blocks', "discard a device's blocks before deleting it (containerd discard_blocks, dm.blkdiscard)")
    .option('--no-discard-blocks', 'delete devices without discarding')
    .option('--min-free-space <percent|size>', 'refuse new snapshots below this free pool space (default 10%)')
    .addOption(new Option('--log-level <level>', 'the least severe log level written (JSON lines on stderr)').choices([...LOG_LEVELS]).default('info'))
    .option('--shutdown-timeout <seconds>', `how long a shutdown waits for calls in flight before cancelling them (default ${DEFAULT_SHUTDOWN_TIMEOUT_MS / 1000})`)
    .action(async (flags: ServeFlags) => runServe(flags, env)));
}

/** Adds the `serve` command to `program` and returns it. */
export function registerServeCommand(program: Command, env: Partial<CliEnvironment> = {}): Command {
  const command = serveCommand(env);
  program.addCommand(command);
  return command;
}
