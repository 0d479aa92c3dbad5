/**
 * `devmapper snapshot ...`: containerd's snapshotter operations (prepare,
 * view, commit, rm, ls, tree, stat, usage, mounts, resize, cleanup) on a thin pool,
 * one process per operation, with the pool and settings remembered in the
 * root. These are the definitions; what they do is in snapshot-actions.ts,
 * imported only when one of them runs.
 */
import { Command } from 'commander';
import type { SnapshotFlags } from './context.js';
import { defaultSizeOption, poolOptions } from './pool.js';
import { action, collect, group, leaf, type CommandContext } from './command.js';

/** The settings a new snapshot is made with (containerd's keys; flags override the root's remembered settings). */
function creationOptions(command: Command): Command {
  return defaultSizeOption(command.option('--base-size <size>', 'virtual size of every snapshot (containerd base_image_size, dm.basesize; default 10GB)'))
    .option('--fs <type>', 'ext4 (default), xfs or none for raw block devices (containerd fs_type, dm.fs)')
    .option('--fs-options <options>', 'mkfs options (containerd fs_options; "-O ^has_journal" style or an ext4 -E string)')
    .option('--mount-opt <opt>', 'a mount option added to every mount (repeatable; dm.mountopt)', collect)
    .option('--min-free-space <percent|size>', 'refuse new snapshots below this free pool space (default 10%)')
    .option('--label <key=value>', 'a label (repeatable)', collect)
    .option('--size <size>', SIZE_HELP);
}

const SIZE_HELP = "the snapshot's size, e.g. 20G (binary units; the containerd.io/snapshot/max-size label); default: the parent's, or the base size";

/** How removed snapshots' devices go (kept in the root like the other settings). */
function removalOptions(command: Command): Command {
  return command
    .option('--async-remove', 'rm only marks devices; cleanup deletes them (containerd async_remove)')
    .option('--no-async-remove', 'rm deletes devices at once')
    .option('--discard-blocks', "discard a device's blocks before deleting it (containerd discard_blocks, dm.blkdiscard)")
    .option('--no-discard-blocks', 'delete devices without discarding');
}

type Flags = SnapshotFlags & { label?: string[]; filter?: string[]; size?: string };

const actions = (): Promise<typeof import('./snapshot-actions.js')> => import('./snapshot-actions.js');

/** The `snapshot` command group. */
export function snapshotCommands(ctx: CommandContext): Command {
  const snapshot = group(
    new Command('snapshot')
      .alias('snapshots')
      .description(
        "containerd's snapshotter operations on a thin pool. Every command needs the root (--root, DEVMAPPER_ROOT or --containerd-config); " +
          'the pool and settings given once are remembered there.',
      ),
  );
  const add = (command: Command, fn: (...args: never[]) => Promise<void>, progress = false): void => {
    snapshot.addCommand(leaf(poolOptions(command), { progress }).action(action(ctx, fn as (...args: unknown[]) => Promise<void>)));
  };

  add(
    creationOptions(
      new Command('prepare')
        .description('create an active (writable) snapshot KEY on the committed PARENT (or an empty filesystem) and print its mounts')
        .argument('<key>')
        .argument('[parent]'),
    ),
    async (key: string, parent: string | undefined, flags: Flags) => (await actions()).create(ctx, 'prepare', key, parent, flags),
    true,
  );
  add(
    creationOptions(
      new Command('view')
        .description('create a read-only view KEY of the committed PARENT and print its mounts')
        .argument('<key>')
        .argument('[parent]'),
    ),
    async (key: string, parent: string | undefined, flags: Flags) => (await actions()).create(ctx, 'view', key, parent, flags),
    true,
  );
  add(
    new Command('commit')
      .description('commit the active snapshot KEY as NAME (unmount it first)')
      .argument('<name>')
      .argument('<key>')
      .option('--label <key=value>', 'a label of the committed snapshot (repeatable)', collect),
    async (name: string, key: string, flags: Flags) => (await actions()).commit(ctx, name, key, flags),
  );
  add(
    removalOptions(new Command('rm').alias('remove').description('remove snapshots (children first; unmount active ones first)').argument('<key...>')),
    async (keys: string[], flags: Flags) => (await actions()).remove(ctx, keys, flags),
    true,
  );
  add(
    new Command('ls')
      .alias('list')
      .description('list snapshots; filters use containerd\'s syntax (e.g. kind==committed, labels."a.b"==c, parent==base); several --filter: any matches')
      .option('--filter <filter>', 'a filter (repeatable)', collect),
    async (flags: Flags) => (await actions()).list(ctx, flags),
  );
  add(
    new Command('tree').description('the parent chains as a tree: every snapshot under its parent, or only the subtree under KEY').argument('[key]'),
    async (key: string | undefined, flags: Flags) => (await actions()).tree(ctx, key, flags),
  );
  add(new Command('stat').alias('info').description("a snapshot's metadata").argument('<key>'), async (key: string, flags: Flags) => (await actions()).stat(ctx, key, flags));
  add(
    new Command('usage').description('space each snapshot uses without its parent (all snapshots when no key is given)').argument('[key...]'),
    async (keys: string[], flags: Flags) => (await actions()).usage(ctx, keys, flags),
  );
  add(
    new Command('mounts')
      .description('the mounts of an active snapshot or view; with TARGET, the mount commands (as `ctr snapshots mounts`)')
      .argument('<key>')
      .argument('[target]'),
    async (key: string, target: string | undefined, flags: Flags) => (await actions()).mounts(ctx, key, target, flags),
  );
  add(
    new Command('resize')
      .description('grow the active snapshot KEY and its filesystem to SIZE (online when mounted; never shrinks)')
      .argument('<key>')
      .argument('<size>'),
    async (key: string, size: string, flags: Flags) => (await actions()).resize(ctx, key, size, flags),
  );
  add(
    removalOptions(new Command('cleanup').description('delete devices whose snapshots are gone (after async remove or an interrupted removal)')),
    async (flags: Flags) => (await actions()).cleanup(ctx, flags),
    true,
  );
  return snapshot;
}
