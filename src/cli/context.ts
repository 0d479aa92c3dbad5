/**
 * Turning options into a pool and a snapshotter: flags first, then
 * `--storage-opt dm.*`, then a containerd config, then what the root's state
 * file remembers, then defaults.
 */
import { existsSync } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import * as dm from '../dm/device-mapper.js';
import { LoopDevice } from '../dm/loop.js';
import { parseThinPoolParams } from '../dm/targets/thin-pool.js';
import type { Snapshotter } from '../snapshotter/snapshotter.js';
import type { SnapshotterOptions } from '../snapshotter/options.js';
import { createLoopbackPool } from '../thin/loopback.js';
import { ThinPool, type LoopbackBacking } from '../thin/pool.js';
import type { ThinPoolApi } from '../thin/types.js';
import { readContainerdConfig, type ContainerdSection } from './containerd-config.js';
import { UsageError } from './errors.js';
import type { CliEnvironment } from './io.js';
import { readState, writeState, type CliState, type SnapshotterSettings } from './state.js';
import { parseStorageOptions, readDaemonJson, type StorageOptionWarning, type StorageOptions } from './storage-opts.js';

/** Which pool a command works on. */
export interface PoolSelection {
  /** A kernel pool's name or /dev/mapper path (containerd's pool_name, Docker's dm.thinpooldev). */
  name?: string;
  /** A loopback pool's directory (its `data` and `metadata` files). */
  directory?: string;
}

/** The pool selectors that environment variables (DEVMAPPER_ROOT, ...) can default. */
export interface EnvDefaults {
  root?: string;
  pool?: string;
  poolDir?: string;
  containerdConfig?: string;
  daemonJson?: string;
  /** DEVMAPPER_DEFAULT_SIZE: the default snapshot size (below --default-size, above the root's state). */
  defaultSize?: string;
}

/** The options every pool-using command shares (commander's camelCase names). */
export interface PoolFlags {
  root?: string;
  pool?: string;
  poolDir?: string;
  containerdConfig?: string;
  daemonJson?: string;
  storageOpt?: string[];
  json?: boolean;
  quiet?: boolean;
  /**
   * Values that came from environment variables rather than flags: they rank
   * below every flag (a --storage-opt or --containerd-config given on the
   * command line wins over DEVMAPPER_POOL), above the root's remembered state.
   */
  envDefaults?: EnvDefaults;
}

/** The options of snapshot commands. */
export interface SnapshotFlags extends PoolFlags {
  baseSize?: string;
  /** The size of snapshots that ask for none (Snapshotter defaultSnapshotSize). */
  defaultSize?: string;
  fs?: string;
  fsOptions?: string;
  mountOpt?: string[];
  asyncRemove?: boolean;
  discardBlocks?: boolean;
  minFreeSpace?: string;
}

/** Everything resolved from the flags, the config and the state. */
export interface Resolved {
  /** The snapshotter root, when one is known. */
  root: string | undefined;
  state: CliState;
  storage: StorageOptions;
  containerd: ContainerdSection | undefined;
  pool: PoolSelection;
}

function selection(name: string | undefined, directory: string | undefined): PoolSelection | undefined {
  if (name === undefined && directory === undefined) return undefined;
  return { ...(name !== undefined ? { name } : {}), ...(directory !== undefined ? { directory: path.resolve(directory) } : {}) };
}

/**
 * Resolves the pool and root from flags, `dm.*` options (a daemon.json's
 * first, then --storage-opt), a containerd config, environment defaults and
 * the root's state. Options accepted without effect go to `warn`.
 */
export async function resolve(flags: PoolFlags, warn?: (w: StorageOptionWarning) => void): Promise<Resolved> {
  const env = flags.envDefaults ?? {};
  const daemonJson = flags.daemonJson ?? env.daemonJson;
  const fromDaemonJson = daemonJson ? await readDaemonJson(daemonJson) : [];
  const storage = parseStorageOptions([...fromDaemonJson, ...(flags.storageOpt ?? [])], warn);
  const containerdFile = flags.containerdConfig ?? env.containerdConfig;
  const containerd = containerdFile ? await readContainerdConfig(containerdFile) : undefined;
  const rootFlag = flags.root ?? (flags.containerdConfig !== undefined ? containerd?.config.root_path : undefined) ?? env.root ?? containerd?.config.root_path;
  const root = rootFlag === undefined ? undefined : path.resolve(rootFlag);
  const state = root ? await readState(root) : ({ version: 1 } as CliState);
  const fromFlags = selection(flags.pool, flags.poolDir);
  const fromEnv = selection(env.pool, env.poolDir);
  let pool: PoolSelection;
  if (fromFlags) {
    pool = fromFlags;
  } else if (storage.thinPoolDev !== undefined) {
    pool = { name: storage.thinPoolDev };
  } else if (containerd?.config.pool_name) {
    pool = { name: containerd.config.pool_name };
  } else if (fromEnv) {
    pool = fromEnv;
  } else if (state.pool) {
    pool = { ...state.pool };
  } else {
    pool = {};
  }
  return { root, state, storage, containerd, pool };
}

/** Writes a warning on stderr: a text line, or with --json a `{"warning":{...}}` line. */
export function printWarning(env: CliEnvironment, json: boolean, w: StorageOptionWarning): void {
  env.stderr.write(json ? `${JSON.stringify({ warning: w })}\n` : `devmapper: warning: ${w.option} has no effect here: ${w.message}\n`);
}

/** The error for a command that needs a pool and got none. */
export function noPool(): UsageError {
  return new UsageError('which pool? Give --pool NAME, --pool-dir DIR, --root DIR (of a root that knows its pool) or --containerd-config FILE');
}

/** Major and minor of a device node. */
async function deviceNumberOf(devicePath: string): Promise<string> {
  const { rdev } = await stat(devicePath);
  const big = BigInt(rdev);
  const major = Number(((big >> 8n) & 0xfffn) | ((big >> 32n) & ~0xfffn));
  const minor = Number((big & 0xffn) | ((big >> 12n) & ~0xffn));
  return `${major}:${minor}`;
}

/**
 * The name of the active pool whose data device is the loop device over
 * `dataFile`, if any: a loopback pool is found under whatever name it was
 * created with.
 */
export async function activePoolOver(dataFile: string): Promise<string | undefined> {
  const loops = await LoopDevice.find(dataFile);
  if (loops.length === 0) return undefined;
  const numbers = new Set<string>();
  for (const loop of loops) {
    numbers.add(await deviceNumberOf(loop.path));
    numbers.add(loop.path);
  }
  for (const entry of await dm.list()) {
    const rows = await dm.table(entry.name).catch(() => []);
    const row = rows[0];
    if (rows.length !== 1 || row?.targetType !== 'thin-pool') continue;
    if (numbers.has(parseThinPoolParams(row.params).dataDevice)) return entry.name;
  }
  return undefined;
}

/**
 * Opens the loopback pool in `directory`: the active pool over its files
 * (under any name), else the files re-attached and the pool loaded under
 * `nameHint` or the directory's derived name.
 *
 * @throws UsageError when the directory holds no pool.
 */
export async function openLoopbackDirectory(directory: string, options: { nameHint?: string; minFreeSpacePercent: number }): Promise<ThinPool> {
  if (!existsSync(path.join(directory, 'data')) || !existsSync(path.join(directory, 'metadata'))) {
    throw new UsageError(`${directory} holds no loopback pool (no data and metadata files); create one with \`devmapper pool create --pool-dir ${directory}\``);
  }
  const real = await realpath(directory);
  const backing: LoopbackBacking = { directory: real, dataFile: path.join(real, 'data'), metadataFile: path.join(real, 'metadata') };
  const active = await activePoolOver(backing.dataFile);
  if (active) return ThinPool.open(active, { minFreeSpacePercent: options.minFreeSpacePercent, loopback: backing });
  return createLoopbackPool({ directory: real, minFreeSpacePercent: options.minFreeSpacePercent, ...(options.nameHint ? { name: options.nameHint } : {}) });
}

/** Opens the selected kernel pool. */
export async function openPool(selection: PoolSelection, minFreeSpacePercent: number): Promise<ThinPool> {
  if (selection.directory) return openLoopbackDirectory(selection.directory, { minFreeSpacePercent, ...(selection.name ? { nameHint: selection.name } : {}) });
  if (selection.name) return ThinPool.open(selection.name, { minFreeSpacePercent });
  throw noPool();
}

/** The snapshotter settings in force: flags, then dm.* options, then the containerd config, then the state. */
export function snapshotterSettings(flags: SnapshotFlags, r: Resolved): SnapshotterSettings {
  const c = r.containerd?.config;
  const s = r.state.snapshotter ?? {};
  const st = r.storage;
  const pick = <T>(...values: Array<T | undefined>): T | undefined => values.find((v) => v !== undefined);
  const settings: SnapshotterSettings = {};
  const baseImageSize = pick(flags.baseSize, st.baseSize, c?.base_image_size, s.baseImageSize);
  if (baseImageSize !== undefined) settings.baseImageSize = baseImageSize;
  const defaultSnapshotSize = pick(flags.defaultSize, flags.envDefaults?.defaultSize, s.defaultSnapshotSize);
  if (defaultSnapshotSize !== undefined) settings.defaultSnapshotSize = defaultSnapshotSize;
  const fsType = pick(flags.fs, st.fs, c?.fs_type || undefined, s.fsType);
  if (fsType !== undefined) settings.fsType = fsType;
  const fsOptions = pick<string | string[]>(flags.fsOptions, st.mkfsArgs, c?.fs_options, s.fsOptions);
  if (fsOptions !== undefined) settings.fsOptions = fsOptions;
  const mountOptions = pick(flags.mountOpt, st.mountOptions, s.mountOptions);
  if (mountOptions !== undefined) settings.mountOptions = mountOptions;
  const asyncRemove = pick(flags.asyncRemove, st.deferredDeletion, c?.async_remove, s.asyncRemove);
  if (asyncRemove !== undefined) settings.asyncRemove = asyncRemove;
  const discardBlocks = pick(flags.discardBlocks, st.blkDiscard, c?.discard_blocks, s.discardBlocks);
  if (discardBlocks !== undefined) settings.discardBlocks = discardBlocks;
  const minFreeSpace = pick(flags.minFreeSpace, st.minFreeSpace, s.minFreeSpace);
  if (minFreeSpace !== undefined) settings.minFreeSpace = minFreeSpace;
  return settings;
}

/** Docker's default base size, used when nothing sets one. */
export const DEFAULT_BASE_SIZE = '10GB';

/** An open snapshotter and the pool under it; `close()` closes both (the pool stays in the kernel). */
export interface OpenSnapshotter {
  snapshotter: Snapshotter;
  pool: ThinPoolApi;
  root: string;
  settings: SnapshotterSettings;
  state: CliState;
  close(): Promise<void>;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Opens the snapshotter of the snapshot commands and remembers the pool and
 * settings in the root's state file for the next invocation.
 */
export async function openSnapshotter(flags: SnapshotFlags, env: CliEnvironment): Promise<OpenSnapshotter> {
  const r = await resolve(flags, (w) => printWarning(env, flags.json === true, w));
  if (!r.root) throw new UsageError('the snapshot commands need --root DIR (containerd root_path) or --containerd-config FILE');
  const root = r.root;
  if (!r.pool.name && !r.pool.directory) throw noPool();
  const settings = snapshotterSettings(flags, r);
  const options: Omit<SnapshotterOptions, 'pool'> = {
    rootPath: root,
    baseImageSize: settings.baseImageSize ?? DEFAULT_BASE_SIZE,
    ...(settings.defaultSnapshotSize !== undefined ? { defaultSnapshotSize: settings.defaultSnapshotSize } : {}),
    ...(settings.fsType !== undefined ? { fsType: settings.fsType } : {}),
    ...(settings.fsOptions !== undefined ? { fsOptions: settings.fsOptions } : {}),
    ...(settings.mountOptions !== undefined ? { mountOptions: settings.mountOptions } : {}),
    ...(settings.asyncRemove !== undefined ? { asyncRemove: settings.asyncRemove } : {}),
    ...(settings.discardBlocks !== undefined ? { discardBlocks: settings.discardBlocks } : {}),
    ...(settings.minFreeSpace !== undefined ? { minFreeSpace: settings.minFreeSpace } : {}),
  };
  // The snapshotter's minFreeSpace governs; the pool's own guard is turned off.
  const pool = env.openSnapshotPool ? await env.openSnapshotPool(r.pool) : await openPool(r.pool, 0);
  let snapshotter: Snapshotter;
  try {
    // Loaded here, not with the module: the pool commands need none of the snapshotter.
    const { Snapshotter } = await import('../snapshotter/snapshotter.js');
    snapshotter = await Snapshotter.open({ ...options, pool });
  } catch (e) {
    await pool.close();
    throw e;
  }
  const poolRecord: CliState['pool'] = { name: pool.name, ...(r.pool.directory ? { directory: r.pool.directory } : {}) };
  const state: CliState = { ...r.state, version: 1, pool: poolRecord, snapshotter: settings };
  if (!sameJson(state.pool, r.state.pool) || !sameJson(state.snapshotter, r.state.snapshotter)) await writeState(root, state);
  return {
    snapshotter,
    pool,
    root,
    settings,
    state,
    async close() {
      try {
        await snapshotter.close();
      } finally {
        await pool.close();
      }
    },
  };
}
