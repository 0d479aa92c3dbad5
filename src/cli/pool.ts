/**
 * `devmapper pool ...`: create a loopback or direct-lvm pool, report its
 * status as `docker info` did, resize, destroy, and watch its events.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { Command, Option } from 'commander';
import type { ThinPoolStatus } from '../dm/targets/thin-pool.js';
import { METASTORE_DIRECTORY } from '../snapshotter/metastore.js';
import { parseSize } from '../snapshotter/sizes.js';
import { enableAutoextend, type Autoextend } from '../thin/autoextend.js';
import { createLoopbackPool, loopbackHostFreeBytes, loopbackPoolName } from '../thin/loopback.js';
import { ThinPool, type ThinPoolInfo } from '../thin/pool.js';
import type { ThinPoolEvents } from '../thin/types.js';
import { activePoolOver, openPool, resolve, noPool, type PoolFlags, type Resolved } from './context.js';
import { UsageError } from './errors.js';
import { binarySize, dockerSize, percent, report } from './format.js';
import { action, collect, leaf, type CommandContext } from './command.js';
import { writeState, STATE_FILE, type CliState, type SnapshotterSettings } from './state.js';
import { minFreePercent } from './storage-opts.js';

const GiB = 1024 ** 3;

/** Adds the options that say which pool (and root) a command works on. */
export function poolOptions(command: Command): Command {
  return command
    .option('--root <dir>', "the snapshotter's root (containerd root_path); its state file names the pool")
    .option('--pool <name>', 'a kernel thin pool by name or /dev/mapper path (containerd pool_name, Docker dm.thinpooldev)')
    .option('--pool-dir <dir>', "a loopback pool's directory (its data and metadata files)")
    .option('--containerd-config <file>', 'read root_path and pool_name from a containerd config.toml')
    .option('--storage-opt <dm.key=value>', "a Docker devicemapper option (repeatable), e.g. dm.thinpooldev=/dev/mapper/pool", collect);
}

function size(value: string | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  try {
    return parseSize(value, what);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function integer(value: string, what: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value)) throw new UsageError(`${what}: ${JSON.stringify(value)} is not a whole number`);
  return n;
}

interface SnapshotDefaultsFlags {
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

/** The snapshot settings `pool create` records, from its flags and dm.* options. */
function settingsFrom(flags: SnapshotDefaultsFlags, r: Resolved, loopback: boolean): SnapshotterSettings {
  const st = r.storage;
  const s: SnapshotterSettings = { ...(r.state.snapshotter ?? {}) };
  const baseSize = flags.baseSize ?? st.baseSize;
  if (baseSize !== undefined) {
    size(baseSize, '--base-size');
    s.baseImageSize = baseSize;
  }
  const fs = flags.fs ?? st.fs;
  if (fs !== undefined) s.fsType = fs;
  const mkfs = flags.mkfsArg ? flags.mkfsArg.flatMap((a) => a.split(/\s+/).filter(Boolean)) : st.mkfsArgs;
  if (mkfs !== undefined) s.fsOptions = mkfs;
  const mountOptions = flags.mountOpt ?? st.mountOptions;
  if (mountOptions !== undefined) s.mountOptions = mountOptions;
  // Docker turns blkdiscard on by default for loopback pools, to give space back to the files.
  const discard = flags.blkdiscard ?? st.blkDiscard ?? (loopback ? true : undefined);
  if (discard !== undefined) s.discardBlocks = discard;
  const deferred = flags.deferredDeletion ?? st.deferredDeletion;
  if (deferred !== undefined) s.asyncRemove = deferred;
  const minFree = flags.minFreeSpace ?? st.minFreeSpace;
  if (minFree !== undefined) s.minFreeSpace = minFree;
  return s;
}

/** Records the pool (and settings) in the root, refusing a root that belongs to another pool. */
async function recordInRoot(root: string | undefined, state: CliState, pool: { name: string; directory?: string }, settings: SnapshotterSettings): Promise<void> {
  if (!root) return;
  await writeState(root, { ...state, version: 1, pool, snapshotter: settings });
}

function checkRootFree(r: Resolved, poolName: string): void {
  const owner = r.state.pool?.name;
  if (r.root && owner && owner !== poolName) {
    throw new UsageError(`root ${r.root} belongs to pool ${owner}; destroy that pool (or use another --root) first`);
  }
}

interface PoolSummary {
  pool: string;
  kind: 'loopback' | 'lvm' | 'existing';
  created: boolean;
  directory?: string;
  root?: string;
  dataSizeBytes: number;
  dataBlockSizeBytes: number;
  snapshotter?: SnapshotterSettings;
}

function summaryText(s: PoolSummary): string {
  const verb = s.created ? 'Created' : s.kind === 'existing' ? 'Using' : 'Reopened';
  const where = s.directory ? ` in ${s.directory}` : '';
  const lines = [`${verb} ${s.kind === 'existing' ? 'pool' : `${s.kind} pool`} ${s.pool}${where}: ${binarySize(s.dataSizeBytes)} of data, ${binarySize(s.dataBlockSizeBytes)} blocks`];
  if (s.root) lines.push(`Snapshot commands with --root ${s.root} use it.`);
  return `${lines.join('\n')}\n`;
}

interface CreateFlags extends PoolFlags, SnapshotDefaultsFlags {
  name?: string;
  dataSize?: string;
  metadataSize?: string;
  blockSize?: string;
  zeroBlocks?: boolean;
  thinPoolDev?: string;
}

async function createLoopback(ctx: CommandContext, flags: CreateFlags): Promise<void> {
  const r = await resolve({ ...flags, pool: undefined, poolDir: undefined });
  if (r.storage.directLvmDevices) {
    await createLvm(ctx, { ...flags, device: r.storage.directLvmDevices });
    return;
  }
  const adopt = flags.thinPoolDev ?? r.storage.thinPoolDev;
  const minFree = minFreePercent(flags.minFreeSpace ?? r.storage.minFreeSpace);
  if (adopt) {
    const pool = await ThinPool.open(adopt, { minFreeSpacePercent: minFree });
    try {
      checkRootFree(r, pool.name);
      const settings = settingsFrom(flags, r, false);
      await recordInRoot(r.root, r.state, { name: pool.name }, settings);
      const s: PoolSummary = { pool: pool.name, kind: 'existing', created: false, dataSizeBytes: pool.dataSizeBytes, dataBlockSizeBytes: pool.dataBlockSizeBytes, ...(r.root ? { root: r.root, snapshotter: settings } : {}) };
      ctx.result(s, () => summaryText(s));
    } finally {
      await pool.close();
    }
    return;
  }
  const dirFlag = flags.poolDir ?? (r.root ? path.join(r.root, 'devicemapper') : undefined);
  if (!dirFlag) throw new UsageError('pool create needs --pool-dir DIR (or --root DIR: the pool then lives in DIR/devicemapper)');
  const directory = path.resolve(dirFlag);
  await mkdir(directory, { recursive: true, mode: 0o700 });
  const dataSizeBytes = size(flags.dataSize, '--data-size') ?? r.storage.loopDataSizeBytes ?? 100 * GiB;
  const metadataSizeBytes = size(flags.metadataSize, '--metadata-size') ?? r.storage.loopMetadataSizeBytes;
  const blockBytes = size(flags.blockSize, '--block-size') ?? r.storage.blockSizeBytes;
  const existed = existsSync(path.join(directory, 'data'));
  // Loading the same metadata into a second pool would corrupt it: an active pool is reopened only under its own name.
  const active = existed ? await activePoolOver(path.join(directory, 'data')) : undefined;
  if (active && flags.name !== undefined && active !== flags.name) {
    throw new UsageError(`${directory} already holds the active pool ${active}; leave out --name (or use --name ${active}) to reopen it`);
  }
  const name = flags.name ?? active ?? (await loopbackPoolName(directory));
  checkRootFree(r, name);
  const pool = await createLoopbackPool({
    directory,
    name,
    dataSizeBytes,
    ...(metadataSizeBytes !== undefined ? { metadataSizeBytes } : {}),
    ...(blockBytes !== undefined ? { dataBlockSizeBytes: blockBytes } : {}),
    ...(flags.zeroBlocks === false ? { zeroBlocks: false } : {}),
    minFreeSpacePercent: minFree,
  });
  try {
    const settings = settingsFrom(flags, r, true);
    await recordInRoot(r.root, r.state, { name: pool.name, directory }, settings);
    const s: PoolSummary = {
      pool: pool.name,
      kind: 'loopback',
      created: !existed,
      directory,
      dataSizeBytes: pool.dataSizeBytes,
      dataBlockSizeBytes: pool.dataBlockSizeBytes,
      ...(r.root ? { root: r.root, snapshotter: settings } : {}),
    };
    ctx.result(s, () => summaryText(s));
  } finally {
    await pool.close();
  }
}

interface LvmFlags extends PoolFlags, SnapshotDefaultsFlags {
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

async function createLvm(ctx: CommandContext, flags: LvmFlags): Promise<void> {
  const r = await resolve({ ...flags, pool: undefined, poolDir: undefined });
  const st = r.storage;
  const devices = flags.device ?? st.directLvmDevices;
  if (!devices || devices.length === 0) throw new UsageError('pool create-lvm needs --device DEV (repeatable) or --storage-opt dm.directlvm_device=DEV');
  const pick = (flag: string | undefined, what: string, fallback: number | undefined): number | undefined => (flag !== undefined ? integer(flag, what) : fallback);
  const dataPercent = pick(flags.dataPercent, '--data-percent', st.thinpPercent);
  const metadataPercent = pick(flags.metadataPercent, '--metadata-percent', st.thinpMetaPercent);
  const autoextendThreshold = pick(flags.autoextendThreshold, '--autoextend-threshold', st.thinpAutoextendThreshold);
  const autoextendPercent = pick(flags.autoextendPercent, '--autoextend-percent', st.thinpAutoextendPercent);
  const chunkSizeBytes = size(flags.chunkSize, '--chunk-size') ?? st.blockSizeBytes;
  const pool = await ThinPool.createDirectLvm({
    devices,
    volumeGroup: flags.volumeGroup ?? 'devmapper',
    poolName: flags.thinPool ?? 'thinpool',
    ...(dataPercent !== undefined ? { dataPercent } : {}),
    ...(metadataPercent !== undefined ? { metadataPercent } : {}),
    ...(autoextendThreshold !== undefined ? { autoextendThreshold } : {}),
    ...(autoextendPercent !== undefined ? { autoextendPercent } : {}),
    ...(chunkSizeBytes !== undefined ? { chunkSizeBytes } : {}),
    ...(flags.lvmSystemDir ? { systemDir: flags.lvmSystemDir } : {}),
    ...(flags.lvmConfig ? { config: flags.lvmConfig } : {}),
    minFreeSpacePercent: minFreePercent(flags.minFreeSpace ?? st.minFreeSpace),
  });
  try {
    checkRootFree(r, pool.name);
    const settings = settingsFrom(flags, r, false);
    await recordInRoot(r.root, r.state, { name: pool.name }, settings);
    const s: PoolSummary = { pool: pool.name, kind: 'lvm', created: true, dataSizeBytes: pool.dataSizeBytes, dataBlockSizeBytes: pool.dataBlockSizeBytes, ...(r.root ? { root: r.root, snapshotter: settings } : {}) };
    ctx.result(s, () => summaryText(s));
  } finally {
    await pool.close();
  }
}

/** Opens the pool a pool command names (directly, or through the root's state or a containerd config). */
async function selectedPool(flags: PoolFlags): Promise<{ pool: ThinPool; r: Resolved }> {
  const r = await resolve(flags);
  if (!r.pool.name && !r.pool.directory) throw noPool();
  const minFree = minFreePercent(r.storage.minFreeSpace ?? r.state.snapshotter?.minFreeSpace, 10);
  return { pool: await openPool(r.pool, minFree), r };
}

/** The status report: `pool.info()` plus what the CLI knows from the root. */
export interface StatusReport extends ThinPoolInfo {
  /** Free bytes on the file system holding a loopback pool's files, or null. */
  loopbackHostFreeBytes: number | null;
  /** The snapshot settings the root keeps, when a root is known. */
  snapshotter?: SnapshotterSettings;
}

function statusText(s: StatusReport): string {
  // As Docker: a loopback pool's available space is the lesser of the pool's and the host file system's.
  const available = s.loopbackHostFreeBytes === null ? s.dataSpaceAvailableBytes : Math.min(s.dataSpaceAvailableBytes, s.loopbackHostFreeBytes);
  const pairs: Array<[string, string]> = [
    ['Pool Name', s.poolName],
    ['Pool Blocksize', dockerSize(s.poolBlocksizeBytes)],
  ];
  if (s.snapshotter?.baseImageSize) pairs.push(['Base Device Size', dockerSize(parseSize(s.snapshotter.baseImageSize))]);
  if (s.snapshotter) pairs.push(['Backing Filesystem', s.snapshotter.fsType ?? 'ext4']);
  pairs.push(
    ['Data file', s.dataFile],
    ['Metadata file', s.metadataFile],
    ['Data Space Used', dockerSize(s.dataSpaceUsedBytes)],
    ['Data Space Total', dockerSize(s.dataSpaceTotalBytes)],
    ['Data Space Available', dockerSize(available)],
    ['Metadata Space Used', dockerSize(s.metadataSpaceUsedBytes)],
    ['Metadata Space Total', dockerSize(s.metadataSpaceTotalBytes)],
    ['Metadata Space Available', dockerSize(s.metadataSpaceAvailableBytes)],
    ['Thin Pool Minimum Free Space', dockerSize(s.minFreeSpaceBytes)],
    ['Udev Sync Supported', String(s.udevSyncSupported)],
    ['Deferred Removal Enabled', String(s.deferredRemovalEnabled)],
  );
  if (s.snapshotter) {
    pairs.push(['Deferred Deletion Enabled', String(s.snapshotter.asyncRemove ?? false)]);
    pairs.push(['Discard Blocks Enabled', String(s.snapshotter.discardBlocks ?? false)]);
  }
  if (s.dataLoopFile) pairs.push(['Data loop file', s.dataLoopFile]);
  if (s.metadataLoopFile) pairs.push(['Metadata loop file', s.metadataLoopFile]);
  pairs.push(
    ['Library Version', s.libraryVersion],
    ['Driver Version', s.driverVersion],
    ['Transaction Id', String(s.transactionId)],
    ['Mode', s.mode],
    ['Needs Check', String(s.needsCheck)],
  );
  return `Storage Driver: devmapper\n${report(pairs)}`;
}

async function status(ctx: CommandContext, flags: PoolFlags): Promise<void> {
  const { pool, r } = await selectedPool(flags);
  try {
    const info = await pool.info();
    const s: StatusReport = { ...info, loopbackHostFreeBytes: await loopbackHostFreeBytes(pool), ...(r.root && r.state.snapshotter ? { snapshotter: r.state.snapshotter } : {}) };
    ctx.result(s, () => statusText(s));
  } finally {
    await pool.close();
  }
}

async function resize(ctx: CommandContext, flags: PoolFlags & { dataSize?: string }): Promise<void> {
  const { pool } = await selectedPool(flags);
  try {
    const fromBytes = pool.dataSizeBytes;
    const target = size(flags.dataSize, '--data-size');
    if (pool.loopback) {
      if (target === undefined) throw new UsageError('resizing a loopback pool needs --data-size SIZE');
      await pool.grow(target);
    } else {
      await pool.resize(target);
    }
    const result = { pool: pool.name, fromBytes, toBytes: pool.dataSizeBytes };
    ctx.result(result, `Pool ${pool.name}: data ${binarySize(fromBytes)} -> ${binarySize(pool.dataSizeBytes)}\n`);
  } finally {
    await pool.close();
  }
}

async function destroy(ctx: CommandContext, flags: PoolFlags): Promise<void> {
  const { pool, r } = await selectedPool(flags);
  const loopback = pool.loopback;
  const name = pool.name;
  await pool.destroy();
  // The root's metastore described the pool that is gone: forget it (only the files this library made there).
  let forgot: string | undefined;
  if (r.root && r.state.pool?.name === name) {
    await rm(path.join(r.root, METASTORE_DIRECTORY), { recursive: true, force: true });
    await rm(path.join(r.root, STATE_FILE), { force: true });
    forgot = r.root;
  }
  const result = { pool: name, removedFiles: loopback ? [loopback.dataFile, loopback.metadataFile] : [], forgotRoot: forgot ?? null };
  ctx.result(result, () => {
    const lines = [`Destroyed pool ${name}${loopback ? ` and its files in ${loopback.directory}` : ' (removed from the kernel; its devices and metadata are untouched)'}`];
    if (forgot) lines.push(`Removed the snapshotter metadata in ${forgot}`);
    return `${lines.join('\n')}\n`;
  });
}

const EVENT_NAMES = ['status', 'lowWater', 'metadataLow', 'outOfDataSpace', 'readOnly', 'failed', 'needsCheck'] as const satisfies ReadonlyArray<keyof ThinPoolEvents>;
type WatchedEvent = (typeof EVENT_NAMES)[number] | 'extended' | 'extendFailed';

interface WatchFlags extends PoolFlags {
  autoextend?: boolean;
  threshold?: string;
  extendPercent?: string;
  maxSize?: string;
  count?: string;
  until?: string;
  timeout?: string;
}

function statusLine(s: ThinPoolStatus): string {
  return `data ${binarySize(s.data.usedBytes)}/${binarySize(s.data.totalBytes)} (${percent(s.data.usedBytes, s.data.totalBytes)}), metadata ${percent(s.metadata.usedBytes, s.metadata.totalBytes)}, mode ${s.mode}`;
}

async function watch(ctx: CommandContext, flags: WatchFlags): Promise<void> {
  const until = flags.until as WatchedEvent | undefined;
  const known: readonly string[] = [...EVENT_NAMES, 'extended', 'extendFailed'];
  if (until !== undefined && !known.includes(until)) throw new UsageError(`--until: unknown event ${JSON.stringify(until)} (${known.join(', ')})`);
  const count = flags.count === undefined ? undefined : integer(flags.count, '--count');
  const timeoutMs = flags.timeout === undefined ? undefined : Number(flags.timeout) * 1000;
  if (timeoutMs !== undefined && !(timeoutMs > 0)) throw new UsageError('--timeout must be a number of seconds above 0');
  const { pool } = await selectedPool(flags);
  let autoextend: Autoextend | undefined;
  let seen = 0;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolveDone) => {
    finish = resolveDone;
  });
  const print = (event: WatchedEvent, detail: Record<string, unknown>, text: string): void => {
    const time = new Date().toISOString();
    ctx.env.stdout.write(ctx.json ? `${JSON.stringify({ event, time, pool: pool.name, ...detail })}\n` : `${time} ${pool.name} ${event}: ${text}\n`);
    seen++;
    if ((count !== undefined && seen >= count) || event === until) finish();
  };
  const handlers = EVENT_NAMES.map((event) => {
    const handler = (s: ThinPoolStatus): void => print(event, { status: s }, statusLine(s));
    return [event, handler] as const;
  });
  const onError = (e: Error): void => {
    ctx.env.stderr.write(`devmapper: watching ${pool.name} failed: ${e.message}\n`);
    finish();
  };
  const abort = (): void => finish();
  const timer = timeoutMs === undefined ? undefined : setTimeout(finish, timeoutMs);
  try {
    if (flags.autoextend) {
      const threshold = flags.threshold === undefined ? undefined : integer(flags.threshold, '--threshold');
      const extend = flags.extendPercent === undefined ? undefined : integer(flags.extendPercent, '--extend-percent');
      const max = size(flags.maxSize, '--max-size');
      autoextend = await enableAutoextend(pool, {
        ...(threshold !== undefined ? { thresholdPercent: threshold } : {}),
        ...(extend !== undefined ? { extendPercent: extend } : {}),
        ...(max !== undefined ? { maxDataSizeBytes: max } : {}),
        onExtend: (result) => {
          if ('error' in result) print('extendFailed', { error: result.error.message }, result.error.message);
          else print('extended', { fromBytes: result.fromBytes, toBytes: result.toBytes }, `data ${binarySize(result.fromBytes)} -> ${binarySize(result.toBytes)}`);
        },
      });
    }
    for (const [event, handler] of handlers) pool.on(event, handler);
    pool.on('error', onError);
    ctx.env.signal?.addEventListener('abort', abort);
    if (ctx.env.signal?.aborted) finish();
    ctx.note(`Watching ${pool.name}${autoextend ? ' with autoextend' : ''} (Ctrl-C to stop)`);
    await done;
  } finally {
    if (timer) clearTimeout(timer);
    ctx.env.signal?.removeEventListener('abort', abort);
    autoextend?.stop();
    for (const [event, handler] of handlers) pool.off(event, handler);
    pool.off('error', onError);
    await pool.close();
  }
}

/** The `pool` command group. */
export function poolCommands(ctx: CommandContext): Command {
  const group = new Command('pool').description('create, inspect, grow, destroy and watch thin pools');

  const create = new Command('create')
    .description(
      'create a loopback pool (sparse data and metadata files on loop devices, as Docker\'s loop-lvm), or reopen the one in the directory.\n' +
        'Docker\'s dm.* names are accepted with --storage-opt; dm.thinpooldev adopts an existing pool, dm.directlvm_device makes a direct-lvm pool.',
    )
    .option('--name <name>', "the pool's device-mapper name (default: devmapper-<hash of the directory>-pool)")
    .option('--data-size <size>', 'sparse data file size (dm.loopdatasize; default 100G)')
    .option('--metadata-size <size>', 'sparse metadata file size (dm.loopmetadatasize; default 2G)')
    .option('--block-size <size>', 'data block size, 64K to 1G in 64K steps (dm.blocksize; default 64K)')
    .option('--no-zero-blocks', 'do not zero newly provisioned blocks (faster; new devices may read stale data)')
    .option('--thin-pool-dev <name>', 'use this existing pool instead of creating one (dm.thinpooldev)');
  poolOptions(create);
  snapshotDefaultsOptions(create);
  leaf(create).action(action(ctx, (flags: CreateFlags) => createLoopback(ctx, flags)));
  group.addCommand(create);

  const createLvmCommand = new Command('create-lvm')
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
  poolOptions(createLvmCommand);
  snapshotDefaultsOptions(createLvmCommand);
  leaf(createLvmCommand).action(action(ctx, (flags: LvmFlags) => createLvm(ctx, flags)));
  group.addCommand(createLvmCommand);

  const statusCommand = new Command('status').description("the pool's report, as `docker info` printed it for the devicemapper driver");
  leaf(poolOptions(statusCommand)).action(action(ctx, (flags: PoolFlags) => status(ctx, flags)));
  group.addCommand(statusCommand);

  const resizeCommand = new Command('resize')
    .description('grow the pool: a loopback pool to --data-size (file, loop device, table); a pool on a block device or LVM volume to its grown device')
    .option('--data-size <size>', 'the new data size (required for loopback pools)');
  leaf(poolOptions(resizeCommand)).action(action(ctx, (flags: PoolFlags & { dataSize?: string }) => resize(ctx, flags)));
  group.addCommand(resizeCommand);

  const destroyCommand = new Command('destroy').description(
    'remove the pool and its thin devices from the kernel; a loopback pool also loses its loop devices and files. ' +
      "Forgets the snapshotter metadata of a root that belonged to it. An LVM pool's volumes stay (remove them with vgremove).",
  );
  leaf(poolOptions(destroyCommand)).action(action(ctx, (flags: PoolFlags) => destroy(ctx, flags)));
  group.addCommand(destroyCommand);

  const watchCommand = new Command('watch')
    .description("print the pool's kernel events (status changes, lowWater, metadataLow, outOfDataSpace, readOnly, failed, needsCheck) until Ctrl-C")
    .option('--autoextend', 'grow a loopback pool when data use crosses --threshold (like LVM autoextend)')
    .option('--threshold <percent>', 'autoextend threshold (default 80)')
    .option('--extend-percent <percent>', 'autoextend growth (default 20)')
    .option('--max-size <size>', 'never grow past this size')
    .option('--count <n>', 'stop after n events')
    .addOption(new Option('--until <event>', 'stop after this event').choices([...EVENT_NAMES, 'extended', 'extendFailed']))
    .option('--timeout <seconds>', 'stop after this many seconds');
  leaf(poolOptions(watchCommand)).action(action(ctx, (flags: WatchFlags) => watch(ctx, flags)));
  group.addCommand(watchCommand);
  return group;
}
