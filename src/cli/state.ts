/**
 * What the CLI remembers between invocations, kept in the snapshotter's
 * root next to the metastore: which pool the root belongs to and the
 * snapshotter settings in force, so `devmapper snapshot prepare --root R k`
 * needs no other option after `devmapper pool create --root R ...`.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** The state file's name inside the root. */
export const STATE_FILE = 'devmapper-cli.json';

/** The snapshotter settings the CLI keeps (containerd's keys, camelCase). */
export interface SnapshotterSettings {
  baseImageSize?: string;
  /** The size of snapshots that ask for none (Snapshotter defaultSnapshotSize). */
  defaultSnapshotSize?: string;
  fsType?: string;
  /** A string (the formatter's rule) or mkfs arguments as a list. */
  fsOptions?: string | string[];
  mountOptions?: string[];
  asyncRemove?: boolean;
  discardBlocks?: boolean;
  minFreeSpace?: string;
}

/** The state file's content. */
export interface CliState {
  version: 1;
  /** The pool this root belongs to: a loopback directory, a kernel name, or both. */
  pool?: { name?: string; directory?: string };
  snapshotter?: SnapshotterSettings;
  /** Base devices the CLI has seen formatted, as "fs size options" keys (for progress labels only). */
  bases?: string[];
}

/** The state in `root`, or an empty one. */
export async function readState(root: string): Promise<CliState> {
  try {
    const parsed = JSON.parse(await readFile(path.join(root, STATE_FILE), 'utf8')) as Partial<CliState>;
    if (parsed && parsed.version === 1) return parsed as CliState;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read ${path.join(root, STATE_FILE)}: ${(e as Error).message}`);
  }
  return { version: 1 };
}

/** Writes the state atomically (temporary file, then rename); creates `root` (0700) when absent. */
export async function writeState(root: string, state: CliState): Promise<void> {
  await mkdir(root, { recursive: true, mode: 0o700 });
  const file = path.join(root, STATE_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, file);
}
