/**
 * What the `pool` commands do: create a loopback, block-device or
 * direct-lvm pool, report its status as `docker info` did, list the host's
 * pools and roots, resize, destroy, and watch its events. Loaded only when a
 * pool command runs (pool.ts holds their definitions).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat as statFile } from 'node:fs/promises';
import path from 'node:path';
import * as dm from '../dm/device-mapper.js';
import { THIN_POOL_TARGET, parseThinPoolParams, parseThinPoolStatus, type ThinPoolStatus } from '../dm/targets/thin-pool.js';
import { CONTAINERD_DEFAULT_ROOT, DEVMAPPER_PLUGIN_ID } from './containerd-config.js';
import { METASTORE_DIRECTORY } from '../snapshotter/metastore.js';
import { parseSize } from '../snapshotter/sizes.js';
import { enableAutoextend, type Autoextend } from '../thin/autoextend.js';
import { createLoopbackPool, loopbackHostFreeBytes, loopbackPoolName } from '../thin/loopback.js';
import { ThinPool, type ThinPoolInfo } from '../thin/pool.js';
import { activePoolOver, openPool, printWarning, resolve, noPool, type PoolFlags, type Resolved } from './context.js';
import { UsageError } from './errors.js';
import { binarySize, dockerSize, percent, report, table } from './format.js';
import type { CommandContext } from './command.js';
import { EVENT_NAMES, type CreateFlags, type ListFlags, type LvmFlags, type SnapshotDefaultsFlags, type WatchFlags, type WatchedEvent } from './pool.js';
import { readState, writeState, STATE_FILE, type CliState, type SnapshotterSettings } from './state.js';
import { minFreePercent, type StorageOptionWarning } from './storage-opts.js';

const GiB = 1024 ** 3;

function warner(ctx: CommandContext): (w: StorageOptionWarning) => void {
  return (w) => printWarning(ctx.env, ctx.json, w);
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
  kind: 'loopback' | 'lvm' | 'devices' | 'existing';
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


/** The name `pool create` gives a pool on block devices when --name is not given. */
export const DEFAULT_DEVICES_POOL_NAME = 'devmapper-thinpool';

/**
 * A pool on two block devices (Docker's dm.datadev and dm.metadatadev). As
 * Docker, the metadata device is used as it is: the kernel formats it when
 * its first 4 KiB are zero and reloads the pool it holds otherwise.
 */
async function createOnDevices(ctx: CommandContext, flags: CreateFlags, r: Resolved, dataDev: string | undefined, metadataDev: string | undefined): Promise<void> {
  if (dataDev === undefined || metadataDev === undefined) throw new UsageError('a pool on block devices needs both --data-dev and --metadata-dev (dm.datadev and dm.metadatadev)');
  const name = flags.name ?? DEFAULT_DEVICES_POOL_NAME;
  checkRootFree(r, name);
  const blockBytes = size(flags.blockSize, '--block-size') ?? r.storage.blockSizeBytes;
  const pool = await ThinPool.create({
    name,
    dataDevice: dataDev,
    metadataDevice: metadataDev,
    fresh: false,
    ...(blockBytes !== undefined ? { dataBlockSizeBytes: blockBytes } : {}),
    ...(flags.zeroBlocks === false ? { zeroBlocks: false } : {}),
    minFreeSpacePercent: minFreePercent(flags.minFreeSpace ?? r.storage.minFreeSpace),
  });
  try {
    const settings = settingsFrom(flags, r, false);
    await recordInRoot(r.root, r.state, { name: pool.name }, settings);
    const s: PoolSummary = { pool: pool.name, kind: 'devices', created: true, dataSizeBytes: pool.dataSizeBytes, dataBlockSizeBytes: pool.dataBlockSizeBytes, ...(r.root ? { root: r.root, snapshotter: settings } : {}) };
    ctx.result(s, () => summaryText(s));
  } finally {
    await pool.close();
  }
}

/** `pool create`: a loopback pool, a pool on block devices (dm.datadev), an adopted pool (dm.thinpooldev) or direct-lvm. */
export async function create(ctx: CommandContext, flags: CreateFlags): Promise<void> {
  const r = await resolve({ ...flags, pool: undefined, poolDir: undefined }, warner(ctx));
  if (r.storage.directLvmDevices) {
    await createLvm(ctx, { ...flags, device: r.storage.directLvmDevices }, r);
    return;
  }
  const dataDev = flags.dataDev ?? r.storage.dataDev;
  const metadataDev = flags.metadataDev ?? r.storage.metadataDev;
  if (dataDev !== undefined || metadataDev !== undefined) {
    await createOnDevices(ctx, flags, r, dataDev, metadataDev);
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


/** `pool create-lvm`: a direct-lvm pool as Docker's guide makes it. */
export async function createLvm(ctx: CommandContext, flags: LvmFlags, resolved?: Resolved): Promise<void> {
  const r = resolved ?? (await resolve({ ...flags, pool: undefined, poolDir: undefined }, warner(ctx)));
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
async function selectedPool(ctx: CommandContext, flags: PoolFlags): Promise<{ pool: ThinPool; r: Resolved }> {
  const r = await resolve(flags, warner(ctx));
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

/** `pool status`: the `docker info` report. */
export async function status(ctx: CommandContext, flags: PoolFlags): Promise<void> {
  const { pool, r } = await selectedPool(ctx, flags);
  try {
    const info = await pool.info();
    const s: StatusReport = { ...info, loopbackHostFreeBytes: await loopbackHostFreeBytes(pool), ...(r.root && r.state.snapshotter ? { snapshotter: r.state.snapshotter } : {}) };
    ctx.result(s, () => statusText(s));
  } finally {
    await pool.close();
  }
}

/** `pool resize`: grow a pool. */
export async function resize(ctx: CommandContext, flags: PoolFlags & { dataSize?: string }): Promise<void> {
  const { pool } = await selectedPool(ctx, flags);
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

/** `pool destroy`: remove a pool (and a loopback pool's files). */
export async function destroy(ctx: CommandContext, flags: PoolFlags): Promise<void> {
  const { pool, r } = await selectedPool(ctx, flags);
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



function statusLine(s: ThinPoolStatus): string {
  return `data ${binarySize(s.data.usedBytes)}/${binarySize(s.data.totalBytes)} (${percent(s.data.usedBytes, s.data.totalBytes)}), metadata ${percent(s.metadata.usedBytes, s.metadata.totalBytes)}, mode ${s.mode}`;
}

/** `pool watch`: print the pool's events until stopped. */
export async function watch(ctx: CommandContext, flags: WatchFlags): Promise<void> {
  const until = flags.until as WatchedEvent | undefined;
  const known: readonly string[] = [...EVENT_NAMES, 'extended', 'extendFailed'];
  if (until !== undefined && !known.includes(until)) throw new UsageError(`--until: unknown event ${JSON.stringify(until)} (${known.join(', ')})`);
  const count = flags.count === undefined ? undefined : integer(flags.count, '--count');
  const timeoutMs = flags.timeout === undefined ? undefined : Number(flags.timeout) * 1000;
  if (timeoutMs !== undefined && !(timeoutMs > 0)) throw new UsageError('--timeout must be a number of seconds above 0');
  const { pool } = await selectedPool(ctx, flags);
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


/** One pool in `pool ls`. */
export interface ListedPool {
  /** The pool's device-mapper name. */
  name: string;
  /** The data device, as the pool's table names it (major:minor). */
  dataDevice: string;
  /** The directory of a loopback pool's files, or null. */
  loopbackDirectory: string | null;
  dataUsedBytes: number;
  dataTotalBytes: number;
  metadataUsedBytes: number;
  metadataTotalBytes: number;
  /** The pool's mode (rw, ro, out_of_data_space, fail). */
  mode: string;
  /** The roots (among those found) whose state names this pool. */
  roots: string[];
}

/** One snapshotter root in `pool ls`. */
export interface ListedRoot {
  root: string;
  /** The pool the root's state names. */
  pool: string | null;
  /** The loopback directory the root's state names, or null. */
  directory: string | null;
  /** Whether that pool is in the kernel now. */
  active: boolean;
}

/** The file behind a loop device given as major:minor, or null when it is no loop device. */
async function loopBackingFile(device: string): Promise<string | null> {
  let majorMinor = device;
  if (device.startsWith('/')) {
    const { rdev } = await statFile(device);
    const big = BigInt(rdev);
    majorMinor = `${Number(((big >> 8n) & 0xfffn) | ((big >> 32n) & ~0xfffn))}:${Number((big & 0xffn) | ((big >> 12n) & ~0xffn))}`;
  }
  try {
    return (await readFile(`/sys/dev/block/${majorMinor}/loop/backing_file`, 'utf8')).trim();
  } catch {
    return null;
  }
}

/** Every thin pool in the kernel, with its space and, for loopback pools, its directory. */
async function kernelPools(): Promise<Array<Omit<ListedPool, 'roots'>>> {
  const pools: Array<Omit<ListedPool, 'roots'>> = [];
  for (const entry of await dm.list()) {
    const rows = await dm.table(entry.name).catch(() => []);
    const row = rows[0];
    if (rows.length !== 1 || row?.targetType !== THIN_POOL_TARGET) continue;
    const params = parseThinPoolParams(row.params);
    const statusRow = (await dm.status(entry.name, { noFlush: true }))[0];
    const s = parseThinPoolStatus(statusRow?.params ?? '', { dataBlockSizeBytes: params.dataBlockSize * 512, features: params.features });
    const backing = await loopBackingFile(params.dataDevice);
    pools.push({
      name: entry.name,
      dataDevice: params.dataDevice,
      loopbackDirectory: backing === null ? null : path.dirname(backing),
      dataUsedBytes: s.data.usedBytes,
      dataTotalBytes: s.data.totalBytes,
      metadataUsedBytes: s.metadata.usedBytes,
      metadataTotalBytes: s.metadata.totalBytes,
      mode: s.mode,
    });
  }
  return pools.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * `pool ls`: the kernel's thin pools, and the snapshotter roots found: those
 * given (--root, DEVMAPPER_ROOT, a containerd config), containerd's default
 * root, and the root around each loopback pool made with `pool create --root`
 * (its files in ROOT/devicemapper).
 */
export async function list(ctx: CommandContext, flags: ListFlags): Promise<void> {
  const pools = await kernelPools();
  const candidates = new Set<string>();
  for (const r of flags.root ?? []) candidates.add(path.resolve(r));
  if (flags.envDefaults?.root) candidates.add(path.resolve(flags.envDefaults.root));
  const containerdFile = flags.containerdConfig ?? flags.envDefaults?.containerdConfig;
  if (containerdFile) candidates.add(path.resolve((await resolve({ containerdConfig: containerdFile })).root ?? ''));
  candidates.add(path.join(CONTAINERD_DEFAULT_ROOT, DEVMAPPER_PLUGIN_ID));
  for (const p of pools) if (p.loopbackDirectory && path.basename(p.loopbackDirectory) === 'devicemapper') candidates.add(path.dirname(p.loopbackDirectory));
  const roots: ListedRoot[] = [];
  for (const root of [...candidates].sort()) {
    if (!existsSync(path.join(root, STATE_FILE))) continue;
    const state = await readState(root);
    const name = state.pool?.name ?? null;
    roots.push({ root, pool: name, directory: state.pool?.directory ?? null, active: pools.some((p) => p.name === name) });
  }
  const listed: ListedPool[] = pools.map((p) => ({ ...p, roots: roots.filter((r) => r.pool === p.name).map((r) => r.root) }));
  const result = { pools: listed, roots };
  ctx.result(result, () => {
    const poolRows = listed.map((p) => [p.name, `${binarySize(p.dataUsedBytes)}/${binarySize(p.dataTotalBytes)}`, percent(p.metadataUsedBytes, p.metadataTotalBytes), p.mode, p.loopbackDirectory ?? '-', p.roots.join(',') || '-']);
    const rootRows = roots.map((r) => [r.root, r.pool ?? '-', r.active ? 'yes' : 'no']);
    const pools = listed.length === 0 ? 'No thin pools in the kernel.\n' : table(['POOL', 'DATA', 'METADATA', 'MODE', 'LOOPBACK DIR', 'ROOTS'], poolRows);
    const rootsText = roots.length === 0 ? 'No snapshotter roots found (give --root DIR to look at one).\n' : table(['ROOT', 'POOL', 'ACTIVE'], rootRows);
    return `${pools}\n${rootsText}`;
  });
}
