/**
 * `devmapper pool ...`: the commands' definitions (options, help). What they
 * do is in pool-actions.ts, imported only when one of them runs, so help,
 * usage errors and completion never load the kernel layers.
 */
import { Command, Option } from 'commander';
import type { ThinPoolEvents } from '../thin/types.js';
import type { PoolFlags } from './context.js';
import { action, collect, group, leaf, type CommandContext } from './command.js';

/** The environment variables that default the pool selectors and the default snapshot size (documented in docs/guides/cli.md). */
export const ENV = {
  root: 'DEVMAPPER_ROOT',
  pool: 'DEVMAPPER_POOL',
  poolDir: 'DEVMAPPER_POOL_DIR',
  containerdConfig: 'DEVMAPPER_CONTAINERD_CONFIG',
  daemonJson: 'DEVMAPPER_DAEMON_JSON',
  defaultSize: 'DEVMAPPER_DEFAULT_SIZE',
} as const;

/** The help of `--default-size` (snapshot commands and serve). */
export const DEFAULT_SIZE_HELP =
  'size of every snapshot that asks for none (no max-size label or --size) when above its parent\'s; the base stays --base-size, formatted once (Snapshotter defaultSnapshotSize)';

/** Adds `--default-size` (defaulted by DEVMAPPER_DEFAULT_SIZE). */
export function defaultSizeOption(command: Command): Command {
  return command.addOption(new Option('--default-size <size>', DEFAULT_SIZE_HELP).env(ENV.defaultSize));
}

/** Adds the options that say which pool (and root) a command works on. */
export function poolOptions(command: Command): Command {
  return command
    .addOption(new Option('--root <dir>', "the snapshotter's root (containerd root_path); its state file names the pool").env(ENV.root))
    .addOption(new Option('--pool <name>', 'a kernel thin pool by name or /dev/mapper path (containerd pool_name, Docker dm.thinpooldev)').env(ENV.pool))
    .addOption(new Option('--pool-dir <dir>', "a loopback pool's directory (its data and metadata files)").env(ENV.poolDir))
    .addOption(new Option('--containerd-config <file>', 'read root_path and pool_name from a containerd config.toml').env(ENV.containerdConfig))
    .addOption(new Option('--daemon-json <file>', "read Docker's storage-opts from a daemon.json (--storage-opt values come after it)").env(ENV.daemonJson))
    .option('--storage-opt <dm.key=value>', 'a Docker devicemapper option (repeatable), e.g. dm.thinpooldev=/dev/mapper/pool', collect);
}

/** Docker's snapshot-side settings that `pool create` keeps in the root. */
export interface SnapshotDefaultsFlags {
  baseSize?: string;
  fs?: string;
  mkfsArg?: string[];
  mountOpt?: string[];
  blkdiscard?: boolean;
  deferredDeletion?: boolean;
  minFreeSpace?: string;
}

/** Adds Docker's snapshot-side settings, stored in the root for the snapshot commands. */
function snapshotDefaultsOptions(command: Command): Command {
  return command
    .option('--base-size <size>', 'base device size for snapshots, kept in the root (dm.basesize; default 10G)')
    .option('--fs <type>', 'filesystem of the base device: ext4, xfs or none, kept in the root (dm.fs)')
    .option('--mkfs-arg <arg>', 'an mkfs argument (repeatable; dm.mkfsarg)', collect)
    .option('--mount-opt <opt>', 'a mount option added to every mount (repeatable; dm.mountopt)', collect)
    .option('--blkdiscard', "discard a snapshot's blocks before deleting it (dm.blkdiscard; default on for loopback pools)")
    .option('--no-blkdiscard', 'do not discard before deleting')
    .option('--deferred-deletion', 'rm only marks devices, cleanup deletes them (dm.use_deferred_deletion, containerd async_remove)')
    .option('--min-free-space <percent|size>', 'refuse new devices below this free space (dm.min_free_space; default 10%)');
}

/** The flags of `pool create`. */
export interface CreateFlags extends PoolFlags, SnapshotDefaultsFlags {
  name?: string;
  dataSize?: string;
  metadataSize?: string;
  blockSize?: string;
  zeroBlocks?: boolean;
  thinPoolDev?: string;
  dataDev?: string;
  metadataDev?: string;
}

/** The flags of `pool create-lvm`. */
export interface LvmFlags extends PoolFlags, SnapshotDefaultsFlags {
  device?: string[];
  volumeGroup?: string;
  thinPool?: string;
  dataPercent?: string;
  metadataPercent?: string;
  chunkSize?: string;
  autoextendThreshold?: string;
  autoextendPercent?: string;
  lvmSystemDir?: string;
  lvmConfig?: string;
}

/** The flags of `pool ls`. */
export interface ListFlags {
  root?: string[];
  containerdConfig?: string;
  json?: boolean;
  envDefaults?: PoolFlags['envDefaults'];
}

/** The pool events `pool watch` prints. */
export const EVENT_NAMES = ['status', 'lowWater', 'metadataLow', 'outOfDataSpace', 'readOnly', 'failed', 'needsCheck'] as const satisfies ReadonlyArray<keyof ThinPoolEvents>;
/** An event `pool watch` prints, autoextend's included. */
export type WatchedEvent = (typeof EVENT_NAMES)[number] | 'extended' | 'extendFailed';

/** The flags of `pool watch`. */
export interface WatchFlags extends PoolFlags {
  autoextend?: boolean;
  threshold?: string;
  extendPercent?: string;
  maxSize?: string;
  count?: string;
  until?: string;
  timeout?: string;
}

const actions = (): Promise<typeof import('./pool-actions.js')> => import('./pool-actions.js');

/** The `pool` command group. */
export function poolCommands(ctx: CommandContext): Command {
  const pool = group(new Command('pool').description('create, list, inspect, grow, destroy and watch thin pools'));

  const create = new Command('create')
    .description(
      'create a loopback pool (sparse data and metadata files on loop devices, as Docker\'s loop-lvm), or reopen the one in the directory.\n' +
        "Docker's dm.* names are accepted with --storage-opt or --daemon-json; dm.thinpooldev adopts an existing pool, dm.datadev with dm.metadatadev makes a pool on block devices, " +
        'dm.directlvm_device makes a direct-lvm pool.',
    )
    .option('--name <name>', "the pool's device-mapper name (default: devmapper-<hash of the directory>-pool)")
    .option('--data-size <size>', 'sparse data file size (dm.loopdatasize; default 100G)')
    .option('--metadata-size <size>', 'sparse metadata file size (dm.loopmetadatasize; default 2G)')
    .option('--block-size <size>', 'data block size, 64K to 1G in 64K steps (dm.blocksize; default 64K)')
    .option('--no-zero-blocks', 'do not zero newly provisioned blocks (faster; new devices may read stale data)')
    .option('--thin-pool-dev <name>', 'use this existing pool instead of creating one (dm.thinpooldev)')
    .option('--data-dev <dev>', "a block device for the pool's data, instead of a loop file (dm.datadev; with --metadata-dev)")
    .option('--metadata-dev <dev>', "a block device for the pool's metadata: zero its first 4 KiB for a new pool (dm.metadatadev)");
  poolOptions(create);
  snapshotDefaultsOptions(create);
  pool.addCommand(leaf(create).action(action(ctx, async (flags: CreateFlags) => (await actions()).create(ctx, flags))));

  const createLvm = new Command('create-lvm')
    .description("create a direct-lvm pool as Docker's guide does (pvcreate, vgcreate, lvcreate, lvconvert --thinpool, an autoextend profile). Destroys data on the devices.")
    .option('--device <dev>', 'a block device for the volume group (repeatable; dm.directlvm_device)', collect)
    .option('--volume-group <name>', 'volume group name (default devmapper)')
    .option('--thin-pool <name>', 'thin pool volume name (default thinpool)')
    .option('--data-percent <n>', 'percent of the volume group for data (dm.thinp_percent; default 95)')
    .option('--metadata-percent <n>', 'percent for metadata (dm.thinp_metapercent; default 1)')
    .option('--chunk-size <size>', 'chunk (block) size (default 512K)')
    .option('--autoextend-threshold <n>', 'LVM autoextend threshold percent (dm.thinp_autoextend_threshold; default 80)')
    .option('--autoextend-percent <n>', 'LVM autoextend percent (dm.thinp_autoextend_percent; default 20)')
    .option('--lvm-system-dir <dir>', "LVM's configuration directory (LVM_SYSTEM_DIR; default /etc/lvm)")
    .option('--lvm-config <text>', 'extra --config text for every lvm command');
  poolOptions(createLvm);
  snapshotDefaultsOptions(createLvm);
  pool.addCommand(leaf(createLvm).action(action(ctx, async (flags: LvmFlags) => (await actions()).createLvm(ctx, flags))));

  const ls = new Command('ls')
    .alias('list')
    .description(
      "the kernel's thin pools (space, mode, a loopback pool's directory) and the snapshotter roots found: those given, containerd's default root, " +
        'and each root around a loopback pool made with `pool create --root`',
    )
    .addOption(new Option('--root <dir>', 'also look at this root (repeatable)').env(ENV.root).argParser(collect))
    .addOption(new Option('--containerd-config <file>', "also look at this containerd config's root").env(ENV.containerdConfig));
  pool.addCommand(leaf(ls).action(action(ctx, async (flags: ListFlags) => (await actions()).list(ctx, flags))));

  const status = new Command('status').description("the pool's report, as `docker info` printed it for the devicemapper driver");
  pool.addCommand(leaf(poolOptions(status)).action(action(ctx, async (flags: PoolFlags) => (await actions()).status(ctx, flags))));

  const resize = new Command('resize')
    .description('grow the pool: a loopback pool to --data-size (file, loop device, table); a pool on a block device or LVM volume to its grown device')
    .option('--data-size <size>', 'the new data size (required for loopback pools)');
  pool.addCommand(leaf(poolOptions(resize)).action(action(ctx, async (flags: PoolFlags & { dataSize?: string }) => (await actions()).resize(ctx, flags))));

  const destroy = new Command('destroy').description(
    'remove the pool and its thin devices from the kernel; a loopback pool also loses its loop devices and files. ' +
      "Forgets the snapshotter metadata of a root that belonged to it. An LVM pool's volumes stay (remove them with vgremove).",
  );
  pool.addCommand(leaf(poolOptions(destroy)).action(action(ctx, async (flags: PoolFlags) => (await actions()).destroy(ctx, flags))));

  const watch = new Command('watch')
    .description("print the pool's kernel events (status changes, lowWater, metadataLow, outOfDataSpace, readOnly, failed, needsCheck) until Ctrl-C")
    .option('--autoextend', 'grow a loopback pool when data use crosses --threshold (like LVM autoextend)')
    .option('--threshold <percent>', 'autoextend threshold (default 80)')
    .option('--extend-percent <percent>', 'autoextend growth (default 20)')
    .option('--max-size <size>', 'never grow past this size')
    .option('--count <n>', 'stop after n events')
    .addOption(new Option('--until <event>', 'stop after this event').choices([...EVENT_NAMES, 'extended', 'extendFailed']))
    .option('--timeout <seconds>', 'stop after this many seconds');
  pool.addCommand(leaf(poolOptions(watch)).action(action(ctx, async (flags: WatchFlags) => (await actions()).watch(ctx, flags))));
  return pool;
}
