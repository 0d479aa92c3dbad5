/**
 * Reads the devmapper section of a containerd config.toml, in either form
 * containerd accepts:
 *
 * ```toml
 * [plugins.devmapper]                                  # version 1 configs
 * [plugins."io.containerd.snapshotter.v1.devmapper"]   # version 2 and 3 configs
 * ```
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ContainerdDevmapperConfig } from '../snapshotter/options.js';
import { UsageError } from './errors.js';

/** The plugin's full id, the section name of version 2 and 3 configs. */
export const DEVMAPPER_PLUGIN_ID = 'io.containerd.snapshotter.v1.devmapper';

/** containerd's default `root` when the config sets none. */
export const CONTAINERD_DEFAULT_ROOT = '/var/lib/containerd';

/** The devmapper section, with root_path filled in as containerd would. */
export interface ContainerdSection {
  /** The config file it came from. */
  file: string;
  /** Which form the section was in. */
  section: 'plugins.devmapper' | `plugins."${typeof DEVMAPPER_PLUGIN_ID}"`;
  /** The section's keys; `root_path` defaults to `<root>/io.containerd.snapshotter.v1.devmapper`. */
  config: ContainerdDevmapperConfig & { root_path: string };
}

const STRING_KEYS = ['root_path', 'pool_name', 'base_image_size', 'fs_type', 'fs_options'] as const;
const BOOLEAN_KEYS = ['async_remove', 'discard_blocks'] as const;

function table(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date) ? (value as Record<string, unknown>) : undefined;
}

/**
 * Picks the devmapper section out of a parsed config.
 *
 * @throws UsageError when there is none, or a key has the wrong type.
 */
export function devmapperSection(document: Record<string, unknown>, file: string): ContainerdSection {
  const plugins = table(document.plugins);
  const full = table(plugins?.[DEVMAPPER_PLUGIN_ID]);
  const short = table(plugins?.devmapper);
  const raw = full ?? short;
  if (!raw) {
    throw new UsageError(`${file}: no [plugins.devmapper] or [plugins."${DEVMAPPER_PLUGIN_ID}"] section`);
  }
  const config: ContainerdDevmapperConfig = {};
  for (const key of STRING_KEYS) {
    const v = raw[key];
    if (v === undefined) continue;
    if (typeof v !== 'string') throw new UsageError(`${file}: ${key} must be a string`);
    config[key] = v;
  }
  for (const key of BOOLEAN_KEYS) {
    const v = raw[key];
    if (v === undefined) continue;
    if (typeof v !== 'boolean') throw new UsageError(`${file}: ${key} must be true or false`);
    config[key] = v;
  }
  const root = typeof document.root === 'string' && document.root !== '' ? document.root : CONTAINERD_DEFAULT_ROOT;
  const rootPath = config.root_path ? config.root_path : path.join(root, DEVMAPPER_PLUGIN_ID);
  return { file, section: full ? `plugins."${DEVMAPPER_PLUGIN_ID}"` : 'plugins.devmapper', config: { ...config, root_path: rootPath } };
}

/**
 * Reads a containerd config.toml and returns its devmapper section.
 *
 * @throws UsageError when the file cannot be read or parsed, or has no devmapper section.
 */
export async function readContainerdConfig(file: string): Promise<ContainerdSection> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--containerd-config ${file}: ${(e as Error).message}`);
  }
  let document: Record<string, unknown>;
  try {
    const { parse } = await import('smol-toml');
    document = parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new UsageError(`${file} is not valid TOML: ${(e as Error).message.split('\n')[0]}`);
  }
  return devmapperSection(document, file);
}
