/**
 * `devmapper snapshot ...`: containerd's snapshotter operations (prepare,
 * view, commit, rm, ls, stat, usage, mounts, cleanup) on a thin pool, one
 * process per operation, with the pool and settings remembered in the root.
 */
import { Command } from 'commander';
import type { Info, Mount } from '../snapshotter/types.js';
import { parseSize } from '../snapshotter/sizes.js';
import { openSnapshotter, DEFAULT_BASE_SIZE, type OpenSnapshotter, type SnapshotFlags } from './context.js';
import { binarySize, report, table } from './format.js';
import { poolOptions } from './pool.js';
import { action, collect, labels, leaf, type CommandContext } from './command.js';
import { withProgress } from './progress.js';
import { withSizeLabel } from './snapshot-size.js';
import { MAX_SIZE_LABEL } from '../snapshotter/snapshot-size.js';

const SIZE_HELP = 'the snapshot\'s size, e.g. 20G (binary units; the containerd.io/snapshot/max-size label); default: the parent\'s, or the base size';
import { writeState } from './state.js';

/** Adds the snapshotter's options (containerd's keys; flags override the root's remembered settings). */
function snapshotterOptions(command: Command): Command {
  return poolOptions(command)
    .option('--base-size <size>', 'virtual size of every snapshot (containerd base_image_size, dm.basesize; default 10GB)')
    .option('--fs <type>', 'ext4 (default), xfs or none for raw block devices (containerd fs_type, dm.fs)')
    .option('--fs-options <options>', 'mkfs options (containerd fs_options; "-O ^has_journal" style or an ext4 -E string)')
    .option('--mount-opt <opt>', 'a mount option added to every mount (repeatable; dm.mountopt)', collect)
    .option('--async-remove', 'rm only marks devices; cleanup deletes them (containerd async_remove)')
    .option('--no-async-remove', 'rm deletes devices at once')
    .option('--discard-blocks', "discard a device's blocks before deleting it (containerd discard_blocks, dm.blkdiscard)")
    .option('--no-discard-blocks', 'delete devices without discarding')
    .option('--min-free-space <percent|size>', 'refuse new snapshots below this free pool space (default 10%)');
}

/** Runs `fn` on an open snapshotter and closes it (the pool and active devices stay in the kernel). */
async function withSnapshotter<T>(ctx: CommandContext, flags: SnapshotFlags, fn: (s: OpenSnapshotter) => Promise<T>): Promise<T> {
  const opened = await openSnapshotter(flags, ctx.env);
  try {
    return await fn(opened);
  } finally {
    await opened.close();
  }
}

async function dataUsed(opened: OpenSnapshotter): Promise<number> {
  return (await opened.pool.status()).data.usedBytes;
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=,@%+-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`;
}

/** The `mount` command line for a mount (what `ctr snapshots mounts` prints). */
export function mountCommand(m: Mount, target: string): string {
  const args = ['mount', ...(m.type === 'bind' ? [] : ['-t', m.type]), ...(m.options.length > 0 ? ['-o', m.options.join(',')] : []), m.source, target];
  return args.map(shellQuote).join(' ');
}

function mountsText(mounts: readonly Mount[]): string {
  return table(
    ['TYPE', 'SOURCE', 'OPTIONS'],
    mounts.map((m) => [m.type, m.source, m.options.join(',') || '-']),
  );
}

function infoText(info: Info): string {
  const pairs: Array<[string, string]> = [
    ['Name', info.name],
    ['Parent', info.parent ?? ''],
    ['Kind', info.kind],
    ['Created', info.created.toISOString()],
    ['Updated', info.updated.toISOString()],
  ];
  for (const [k, v] of Object.entries(info.labels)) pairs.push([`Label ${k}`, v]);
  return report(pairs).replace(/^ /gm, '');
}

async function create(
  ctx: CommandContext,
  kind: 'prepare' | 'view',
  key: string,
  parent: string | undefined,
  flags: SnapshotFlags & { label?: string[]; size?: string },
): Promise<void> {
  const snapshotLabels = withSizeLabel(labels(flags.label), flags.size);
  const mounts = await withSnapshotter(ctx, flags, async (opened) => {
    const { snapshotter, settings } = opened;
    const options = snapshotLabels ? { labels: snapshotLabels } : undefined;
    const work = () => (kind === 'prepare' ? snapshotter.prepare(key, parent, options) : snapshotter.view(key, parent, options));
    // A snapshot without parent is a snapshot of the base device, formatted once: the slow part, with a bar.
    const fs = settings.fsType ?? 'ext4';
    const baseKey = JSON.stringify([fs, settings.baseImageSize ?? DEFAULT_BASE_SIZE, settings.fsOptions ?? null]);
    if (parent !== undefined || fs === 'none' || (opened.state.bases ?? []).includes(baseKey)) return work();
    const before = await dataUsed(opened);
    const result = await withProgress(
      ctx.env.stderr,
      ctx.progress,
      { label: `formatting the base device (${fs}, ${binarySize(parseSize(settings.baseImageSize ?? DEFAULT_BASE_SIZE))}): allocating and zeroing`, sample: async () => (await dataUsed(opened)) - before },
      work,
    );
    await writeState(opened.root, { ...opened.state, bases: [...(opened.state.bases ?? []), baseKey] });
    return result;
  });
  ctx.result(mounts, () => {
    const first = mounts[0];
    const hint = first ? `\nMount it with: ${mountCommand(first, '<target>')}\n` : '';
    return `${mountsText(mounts)}${hint}`;
  });
}

async function resize(ctx: CommandContext, key: string, size: string, flags: SnapshotFlags): Promise<void> {
  const info = await withSnapshotter(ctx, flags, ({ snapshotter }) => snapshotter.resize(key, size));
  ctx.result(info, () => `Resized ${key} to ${binarySize(Number(info.labels[MAX_SIZE_LABEL]))}\n`);
}

async function commit(ctx: CommandContext, name: string, key: string, flags: SnapshotFlags & { label?: string[] }): Promise<void> {
  const snapshotLabels = labels(flags.label);
  const info = await withSnapshotter(ctx, flags, async ({ snapshotter }) => {
    await snapshotter.commit(name, key, snapshotLabels ? { labels: snapshotLabels } : undefined);
    return snapshotter.stat(name);
  });
  ctx.result(info, `Committed ${key} as ${name}\n`);
}

async function remove(ctx: CommandContext, keys: string[], flags: SnapshotFlags): Promise<void> {
  await withSnapshotter(ctx, flags, async (opened) => {
    const { snapshotter, settings } = opened;
    for (const key of keys) {
      if (!settings.discardBlocks || settings.asyncRemove || !ctx.progress) {
        await snapshotter.remove(key);
        continue;
      }
      // Discarding gives the snapshot's own blocks back to the pool: the bar follows the pool's used space.
      const [own, before] = await Promise.all([snapshotter.usage(key), dataUsed(opened)]);
      await withProgress(ctx.env.stderr, true, { label: `discarding ${key}`, totalBytes: own.size, sample: async () => before - (await dataUsed(opened)) }, () => snapshotter.remove(key));
    }
  });
  ctx.result({ removed: keys }, keys.map((k) => `Removed ${k}\n`).join(''));
}

async function list(ctx: CommandContext, flags: SnapshotFlags & { filter?: string[] }): Promise<void> {
  const infos = await withSnapshotter(ctx, flags, async ({ snapshotter }) => {
    const all: Info[] = [];
    for await (const info of snapshotter.walk(...(flags.filter ?? []))) all.push(info);
    return all.sort((a, b) => a.name.localeCompare(b.name));
  });
  ctx.result(infos, () => table(['KEY', 'PARENT', 'KIND'], infos.map((i) => [i.name, i.parent ?? '', i.kind])));
}

async function stat(ctx: CommandContext, key: string, flags: SnapshotFlags): Promise<void> {
  const info = await withSnapshotter(ctx, flags, ({ snapshotter }) => snapshotter.stat(key));
  ctx.result(info, () => infoText(info));
}

async function usage(ctx: CommandContext, keys: string[], flags: SnapshotFlags): Promise<void> {
  const rows = await withSnapshotter(ctx, flags, async ({ snapshotter }) => {
    let names = keys;
    if (names.length === 0) {
      names = [];
      for await (const info of snapshotter.walk()) names.push(info.name);
      names.sort((a, b) => a.localeCompare(b));
    }
    const out: Array<{ name: string; size: number; inodes: number }> = [];
    for (const name of names) out.push({ name, ...(await snapshotter.usage(name)) });
    return out;
  });
  ctx.result(rows, () => table(['KEY', 'SIZE', 'INODES'], rows.map((r) => [r.name, binarySize(r.size), String(r.inodes)])));
}

async function mounts(ctx: CommandContext, key: string, target: string | undefined, flags: SnapshotFlags): Promise<void> {
  const list = await withSnapshotter(ctx, flags, ({ snapshotter }) => snapshotter.mounts(key));
  ctx.result(list, () => (target === undefined ? mountsText(list) : `${list.map((m) => mountCommand(m, target)).join('\n')}\n`));
}

async function cleanup(ctx: CommandContext, flags: SnapshotFlags): Promise<void> {
  const freed = await withSnapshotter(ctx, flags, async (opened) => {
    const before = await dataUsed(opened);
    await withProgress(
      ctx.env.stderr,
      ctx.progress && opened.settings.discardBlocks === true,
      { label: 'deleting removed devices (discarding)', sample: async () => before - (await dataUsed(opened)) },
      () => opened.snapshotter.cleanup(),
    );
    return Math.max(0, before - (await dataUsed(opened)));
  });
  ctx.result({ freedBytes: freed }, `Cleaned up: ${binarySize(freed)} of pool data freed\n`);
}

/** The `snapshot` command group. */
export function snapshotCommands(ctx: CommandContext): Command {
  const group = new Command('snapshot')
    .alias('snapshots')
    .description(
      "containerd's snapshotter operations on a thin pool. Every command needs the root (--root or --containerd-config); " +
        'the pool and settings given once are remembered there.',
    );
  const add = (command: Command, fn: (...args: never[]) => Promise<void>): void => {
    leaf(snapshotterOptions(command)).action(action(ctx, fn as (...args: unknown[]) => Promise<void>));
    group.addCommand(command);
  };

  add(
    new Command('prepare')
      .description('create an active (writable) snapshot KEY on the committed PARENT (or an empty filesystem) and print its mounts')
      .argument('<key>')
      .argument('[parent]')
      .option('--label <key=value>', 'a label (repeatable)', collect)
      .option('--size <size>', SIZE_HELP),
    (key: string, parent: string | undefined, flags: SnapshotFlags & { label?: string[]; size?: string }) => create(ctx, 'prepare', key, parent, flags),
  );
  add(
    new Command('view')
      .description('create a read-only view KEY of the committed PARENT and print its mounts')
      .argument('<key>')
      .argument('[parent]')
      .option('--label <key=value>', 'a label (repeatable)', collect)
      .option('--size <size>', SIZE_HELP),
    (key: string, parent: string | undefined, flags: SnapshotFlags & { label?: string[]; size?: string }) => create(ctx, 'view', key, parent, flags),
  );
  add(
    new Command('commit')
      .description('commit the active snapshot KEY as NAME (unmount it first)')
      .argument('<name>')
      .argument('<key>')
      .option('--label <key=value>', 'a label of the committed snapshot (repeatable)', collect),
    (name: string, key: string, flags: SnapshotFlags & { label?: string[] }) => commit(ctx, name, key, flags),
  );
  add(
    new Command('rm').alias('remove').description('remove snapshots (children first; unmount active ones first)').argument('<key...>'),
    (keys: string[], flags: SnapshotFlags) => remove(ctx, keys, flags),
  );
  add(
    new Command('ls')
      .alias('list')
      .description('list snapshots; filters use containerd\'s syntax (e.g. kind==committed, labels."a.b"==c, parent==base); several --filter: any matches')
      .option('--filter <filter>', 'a filter (repeatable)', collect),
    (flags: SnapshotFlags & { filter?: string[] }) => list(ctx, flags),
  );
  add(new Command('stat').alias('info').description("a snapshot's metadata").argument('<key>'), (key: string, flags: SnapshotFlags) => stat(ctx, key, flags));
  add(
    new Command('usage').description('space each snapshot uses without its parent (all snapshots when no key is given)').argument('[key...]'),
    (keys: string[], flags: SnapshotFlags) => usage(ctx, keys, flags),
  );
  add(
    new Command('mounts')
      .description('the mounts of an active snapshot or view; with TARGET, the mount commands (as `ctr snapshots mounts`)')
      .argument('<key>')
      .argument('[target]'),
    (key: string, target: string | undefined, flags: SnapshotFlags) => mounts(ctx, key, target, flags),
  );
  add(
    new Command('resize')
      .description('grow the active snapshot KEY and its filesystem to SIZE (online when mounted; never shrinks)')
      .argument('<key>')
      .argument('<size>'),
    (key: string, size: string, flags: SnapshotFlags) => resize(ctx, key, size, flags),
  );
  add(new Command('cleanup').description('delete devices whose snapshots are gone (after async remove or an interrupted removal)'), (flags: SnapshotFlags) => cleanup(ctx, flags));
  return group;
}
