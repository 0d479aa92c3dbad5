/**
 * What the `snapshot` commands do, on an open snapshotter. Loaded only when
 * one of them runs (snapshot.ts holds their definitions).
 */
import type { Info, Mount } from '../snapshotter/types.js';
import { parseSize } from '../snapshotter/sizes.js';
import { openSnapshotter, DEFAULT_BASE_SIZE, type OpenSnapshotter, type SnapshotFlags } from './context.js';
import { binarySize, report, table } from './format.js';
import { labels, type CommandContext } from './command.js';
import type { ProgressSpec } from './progress.js';
import { writeState } from './state.js';
import { withSizeLabel } from './snapshot-size.js';
import { MAX_SIZE_LABEL } from '../snapshotter/snapshot-size.js';

/** Runs `fn` on an open snapshotter and closes it (the pool and active devices stay in the kernel). */
async function withSnapshotter<T>(ctx: CommandContext, flags: SnapshotFlags, fn: (s: OpenSnapshotter) => Promise<T>): Promise<T> {
  const opened = await openSnapshotter(flags, ctx.env);
  try {
    return await fn(opened);
  } finally {
    await opened.close();
  }
}

/** Runs `work` with a progress bar when `enabled`; the bar's module (log-update) loads only then. */
async function withProgress<T>(ctx: CommandContext, enabled: boolean, spec: ProgressSpec, work: () => Promise<T>): Promise<T> {
  if (!enabled) return work();
  const progress = await import('./progress.js');
  return progress.withProgress(ctx.env.stderr, true, spec, work);
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

/** `snapshot prepare` and `snapshot view`. */
export async function create(
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
      ctx,
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

/** `snapshot commit`. */
/** `snapshot resize`: grows an active snapshot and its filesystem. */
export async function resize(ctx: CommandContext, key: string, size: string, flags: SnapshotFlags): Promise<void> {
  const info = await withSnapshotter(ctx, flags, ({ snapshotter }) => snapshotter.resize(key, size));
  ctx.result(info, () => `Resized ${key} to ${binarySize(Number(info.labels[MAX_SIZE_LABEL]))}\n`);
}

export async function commit(ctx: CommandContext, name: string, key: string, flags: SnapshotFlags & { label?: string[] }): Promise<void> {
  const snapshotLabels = labels(flags.label);
  const info = await withSnapshotter(ctx, flags, async ({ snapshotter }) => {
    await snapshotter.commit(name, key, snapshotLabels ? { labels: snapshotLabels } : undefined);
    return snapshotter.stat(name);
  });
  ctx.result(info, `Committed ${key} as ${name}\n`);
}

/** `snapshot remove`. */
export async function remove(ctx: CommandContext, keys: string[], flags: SnapshotFlags): Promise<void> {
  await withSnapshotter(ctx, flags, async (opened) => {
    const { snapshotter, settings } = opened;
    for (const key of keys) {
      if (!settings.discardBlocks || settings.asyncRemove || !ctx.progress) {
        await snapshotter.remove(key);
        continue;
      }
      // Discarding gives the snapshot's own blocks back to the pool: the bar follows the pool's used space.
      const [own, before] = await Promise.all([snapshotter.usage(key), dataUsed(opened)]);
      await withProgress(ctx, true, { label: `discarding ${key}`, totalBytes: own.size, sample: async () => before - (await dataUsed(opened)) }, () => snapshotter.remove(key));
    }
  });
  ctx.result({ removed: keys }, keys.map((k) => `Removed ${k}\n`).join(''));
}

/** `snapshot list`. */
export async function list(ctx: CommandContext, flags: SnapshotFlags & { filter?: string[] }): Promise<void> {
  const infos = await withSnapshotter(ctx, flags, async ({ snapshotter }) => {
    const all: Info[] = [];
    for await (const info of snapshotter.walk(...(flags.filter ?? []))) all.push(info);
    return all.sort((a, b) => a.name.localeCompare(b.name));
  });
  ctx.result(infos, () => table(['KEY', 'PARENT', 'KIND'], infos.map((i) => [i.name, i.parent ?? '', i.kind])));
}

/** `snapshot stat`. */
export async function stat(ctx: CommandContext, key: string, flags: SnapshotFlags): Promise<void> {
  const info = await withSnapshotter(ctx, flags, ({ snapshotter }) => snapshotter.stat(key));
  ctx.result(info, () => infoText(info));
}

/** `snapshot usage`. */
export async function usage(ctx: CommandContext, keys: string[], flags: SnapshotFlags): Promise<void> {
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

/** `snapshot mounts`. */
export async function mounts(ctx: CommandContext, key: string, target: string | undefined, flags: SnapshotFlags): Promise<void> {
  const list = await withSnapshotter(ctx, flags, ({ snapshotter }) => snapshotter.mounts(key));
  ctx.result(list, () => (target === undefined ? mountsText(list) : `${list.map((m) => mountCommand(m, target)).join('\n')}\n`));
}

/** `snapshot cleanup`. */
export async function cleanup(ctx: CommandContext, flags: SnapshotFlags): Promise<void> {
  const freed = await withSnapshotter(ctx, flags, async (opened) => {
    const before = await dataUsed(opened);
    await withProgress(
      ctx,
      ctx.progress && opened.settings.discardBlocks === true,
      { label: 'deleting removed devices (discarding)', sample: async () => before - (await dataUsed(opened)) },
      () => opened.snapshotter.cleanup(),
    );
    return Math.max(0, before - (await dataUsed(opened)));
  });
  ctx.result({ freedBytes: freed }, `Cleaned up: ${binarySize(freed)} of pool data freed\n`);
}


/** A snapshot and the snapshots made from it, as `snapshot tree --json` prints them. */
export interface SnapshotNode {
  name: string;
  kind: Info['kind'];
  children: SnapshotNode[];
}

/**
 * The parent chains as a forest: each snapshot under its parent, roots
 * (parentless snapshots, and any whose parent is missing) at the top, names
 * sorted at every level.
 */
export function snapshotForest(infos: readonly Info[]): SnapshotNode[] {
  const nodes = new Map(infos.map((i) => [i.name, { name: i.name, kind: i.kind, children: [] as SnapshotNode[] }]));
  const roots: SnapshotNode[] = [];
  for (const info of [...infos].sort((a, b) => a.name.localeCompare(b.name))) {
    const node = nodes.get(info.name);
    if (!node) continue;
    const parent = info.parent === undefined ? undefined : nodes.get(info.parent);
    (parent ? parent.children : roots).push(node);
  }
  return roots;
}

/** The forest drawn with box characters, one snapshot a line: `name (kind)`. */
export function treeText(forest: readonly SnapshotNode[]): string {
  const lines: string[] = [];
  const walk = (node: SnapshotNode, prefix: string, last: boolean, top: boolean): void => {
    lines.push(`${top ? '' : `${prefix}${last ? '└── ' : '├── '}`}${node.name} (${node.kind})`);
    const childPrefix = top ? '' : `${prefix}${last ? '    ' : '│   '}`;
    node.children.forEach((child, i) => walk(child, childPrefix, i === node.children.length - 1, false));
  };
  for (const root of forest) walk(root, '', true, true);
  return lines.length === 0 ? 'No snapshots.\n' : `${lines.join('\n')}\n`;
}

/** `snapshot tree`: every parent chain, or the subtree under KEY. */
export async function tree(ctx: CommandContext, key: string | undefined, flags: SnapshotFlags): Promise<void> {
  const forest = await withSnapshotter(ctx, flags, async ({ snapshotter }) => {
    const all: Info[] = [];
    for await (const info of snapshotter.walk()) all.push(info);
    if (key === undefined) return snapshotForest(all);
    await snapshotter.stat(key); // a typed NOT_FOUND for a missing key
    const find = (nodes: readonly SnapshotNode[]): SnapshotNode | undefined => {
      for (const n of nodes) {
        if (n.name === key) return n;
        const inner = find(n.children);
        if (inner) return inner;
      }
      return undefined;
    };
    const node = find(snapshotForest(all));
    return node ? [node] : [];
  });
  ctx.result(forest, () => treeText(forest));
}
