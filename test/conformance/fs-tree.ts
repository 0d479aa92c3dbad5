/**
 * File trees for the real-device conformance cases: a deterministic list of
 * operations per layer (creates, writes, deletes, renames, chmod, chown,
 * hard links, symlinks, directories), applied both to a mounted snapshot
 * and to a plain reference directory, and a canonical description of a
 * tree to compare the two.
 */
import { createHash } from 'node:crypto';
import { chmod, chown, link, lstat, mkdir, readFile, readdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** One entry of a tree, as compared. */
export interface TreeEntry {
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  uid: number;
  gid: number;
  /** Files: size and content hash. */
  size?: number;
  sha256?: string;
  /** Symlinks: the target. */
  target?: string;
  /** Files: the first path (sorted) sharing the inode, when hard-linked. */
  linkGroup?: string;
}

/** A tree: relative path → entry. */
export type Tree = Record<string, TreeEntry>;

/**
 * Describes the tree under `root` (not following symlinks). Hard links are
 * named by their group's first path, so inode numbers do not leak in.
 */
export async function readTree(root: string): Promise<Tree> {
  const tree: Tree = {};
  const inodes = new Map<bigint, string[]>();
  async function walk(dir: string): Promise<void> {
    for (const name of (await readdir(dir)).sort()) {
      const full = path.join(dir, name);
      const rel = path.relative(root, full);
      const st = await lstat(full, { bigint: true });
      const base = { mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid) };
      if (st.isDirectory()) {
        tree[rel] = { type: 'dir', ...base };
        await walk(full);
      } else if (st.isSymbolicLink()) {
        tree[rel] = { type: 'symlink', ...base, target: await readlink(full) };
      } else {
        const content = await readFile(full);
        tree[rel] = { type: 'file', ...base, size: content.length, sha256: createHash('sha256').update(content).digest('hex') };
        const group = inodes.get(st.ino) ?? [];
        group.push(rel);
        inodes.set(st.ino, group);
      }
    }
  }
  await walk(root);
  for (const group of inodes.values()) {
    if (group.length < 2) continue;
    const first = [...group].sort()[0] ?? '';
    for (const rel of group) {
      const entry = tree[rel];
      if (entry) entry.linkGroup = first;
    }
  }
  return tree;
}

/** One operation on a tree. */
export type TreeOp =
  | { op: 'mkdir'; path: string }
  | { op: 'write'; path: string; content: string }
  | { op: 'append'; path: string; content: string }
  | { op: 'delete'; path: string }
  | { op: 'rename'; from: string; to: string }
  | { op: 'chmod'; path: string; mode: number }
  | { op: 'chown'; path: string; uid: number; gid: number }
  | { op: 'link'; from: string; to: string }
  | { op: 'symlink'; target: string; path: string };

/** Applies operations under `root`. */
export async function applyOps(root: string, ops: readonly TreeOp[]): Promise<void> {
  const at = (p: string) => path.join(root, p);
  for (const o of ops) {
    switch (o.op) {
      case 'mkdir':
        await mkdir(at(o.path), { recursive: true });
        break;
      case 'write':
        await writeFile(at(o.path), o.content);
        break;
      case 'append':
        await writeFile(at(o.path), o.content, { flag: 'a' });
        break;
      case 'delete':
        await rm(at(o.path), { recursive: true, force: true });
        break;
      case 'rename':
        await rename(at(o.from), at(o.to));
        break;
      case 'chmod':
        await chmod(at(o.path), o.mode);
        break;
      case 'chown':
        await chown(at(o.path), o.uid, o.gid);
        break;
      case 'link':
        await link(at(o.from), at(o.to));
        break;
      case 'symlink':
        await symlink(o.target, at(o.path));
        break;
    }
  }
}

/** A small deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The operations of layer `layer`, chosen from the current tree (so that
 * deletes, renames and links hit existing files, including files of lower
 * layers). Deterministic for a given layer and tree.
 */
export function layerOps(layer: number, current: Tree): TreeOp[] {
  const random = prng(layer * 7919 + 1);
  const pick = <T>(items: readonly T[]): T | undefined => items[Math.floor(random() * items.length)];
  const files = Object.keys(current).filter((p) => current[p]?.type === 'file');
  const dirs = ['', ...Object.keys(current).filter((p) => current[p]?.type === 'dir')];
  const ops: TreeOp[] = [];
  const taken = new Set(Object.keys(current));
  const fresh = (stem: string): string => {
    const dir = pick(dirs) ?? '';
    let n = 0;
    let p = path.join(dir, `${stem}-${layer}`);
    while (taken.has(p)) p = path.join(dir, `${stem}-${layer}-${++n}`);
    taken.add(p);
    return p;
  };
  if (layer % 8 === 0) ops.push({ op: 'mkdir', path: fresh('dir') });
  const count = 3 + Math.floor(random() * 4);
  const touched = new Set<string>();
  for (let i = 0; i < count; i++) {
    const choice = random();
    const victim = files.filter((f) => !touched.has(f));
    const file = pick(victim);
    if (choice < 0.3 || !file) {
      ops.push({ op: 'write', path: fresh('file'), content: `layer ${layer} item ${i}\n`.repeat(1 + Math.floor(random() * 200)) });
      continue;
    }
    touched.add(file);
    if (choice < 0.4) ops.push({ op: 'append', path: file, content: `appended in layer ${layer}\n` });
    else if (choice < 0.5) ops.push({ op: 'delete', path: file });
    else if (choice < 0.6) ops.push({ op: 'rename', from: file, to: fresh('renamed') });
    else if (choice < 0.7) ops.push({ op: 'chmod', path: file, mode: pick([0o600, 0o640, 0o644, 0o700, 0o755]) ?? 0o644 });
    else if (choice < 0.8) ops.push({ op: 'chown', path: file, uid: 1000 + layer, gid: 2000 + (layer % 7) });
    else if (choice < 0.9) ops.push({ op: 'link', from: file, to: fresh('hardlink') });
    else ops.push({ op: 'symlink', target: file, path: fresh('symlink') });
  }
  return ops;
}
