/**
 * A description of a host tree for comparing two copies of it: per
 * relative path the type, mode, owner, times, size, allocated blocks,
 * content digest, link target, device number, xattrs, and which paths are
 * hard links of one another.
 */
import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { readXattrs } from '../../src/host/host-ops.js';

export interface NodeInfo {
  mode: number;
  uid: number;
  gid: number;
  size: bigint;
  blocks: bigint;
  atimeNs: bigint;
  mtimeNs: bigint;
  rdev: bigint;
  nlink: bigint;
  ino: bigint;
  digest?: string;
  target?: string;
  xattrs: Record<string, string>;
}

export type Snapshot = Map<string, NodeInfo>;

/** Relative paths of everything below `root` (Node 20's recursive readdir descends into symlinked directories). */
export async function walk(root: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const d of await fsp.readdir(join(root, rel), { withFileTypes: true })) {
    const r = rel === '' ? d.name : `${rel}/${d.name}`;
    out.push(r);
    if (d.isDirectory()) out.push(...(await walk(root, r)));
  }
  return out;
}

export async function snapshot(root: string, withContents = true): Promise<Snapshot> {
  const rels = ['', ...(await walk(root))];
  const snap: Snapshot = new Map();
  for (const rel of rels) {
    const full = join(root, rel);
    const st = await fsp.lstat(full, { bigint: true });
    const info: NodeInfo = {
      mode: Number(st.mode), uid: Number(st.uid), gid: Number(st.gid), size: st.size, blocks: st.blocks,
      atimeNs: st.atimeNs, mtimeNs: st.mtimeNs, rdev: st.rdev, nlink: st.nlink, ino: st.ino, xattrs: {},
    };
    if (st.isSymbolicLink()) info.target = await fsp.readlink(full);
    snap.set(rel, info);
  }
  // Contents are read only after every stat: reading moves atimes, also those of other names of the file.
  for (const [rel, info] of snap) {
    if (withContents && (info.mode & 0o170000) === 0o100000) {
      info.digest = createHash('sha256').update(await fsp.readFile(join(root, rel))).digest('hex');
    }
  }
  const { xattrs } = await readXattrs(rels.map((r) => join(root, r)));
  for (const rel of rels) {
    const m = xattrs.get(join(root, rel));
    if (m === undefined) continue;
    for (const [k, v] of [...m.entries()].sort()) snap.get(rel)!.xattrs[k] = v.toString('base64');
  }
  return snap;
}

/** Which paths share an inode, as sorted groups of relative paths (only groups of two or more). */
export function linkGroups(s: Snapshot): string[][] {
  const byIno = new Map<bigint, string[]>();
  for (const [rel, n] of s) {
    if ((n.mode & 0o170000) === 0o040000) continue;
    byIno.set(n.ino, [...(byIno.get(n.ino) ?? []), rel]);
  }
  return [...byIno.values()].filter((g) => g.length > 1).map((g) => g.sort()).sort((a, b) => a[0].localeCompare(b[0]));
}

export interface ViewOptions { owners?: boolean; mtime?: boolean; atime?: boolean; xattrs?: boolean; dirMtime?: boolean }

/** The parts of a snapshot two copies must agree on, as plain data that vitest can diff readably. */
export function view(s: Snapshot, o: ViewOptions = {}): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [rel, n] of [...s.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const isDir = (n.mode & 0o170000) === 0o040000;
    const v: Record<string, unknown> = { mode: n.mode.toString(8) };
    if (!isDir) v.size = n.size.toString();
    if (n.digest !== undefined) v.digest = n.digest;
    if (n.target !== undefined) v.target = n.target;
    if (n.rdev !== 0n) v.rdev = n.rdev.toString();
    if (o.owners === true) { v.uid = n.uid; v.gid = n.gid; }
    if (o.mtime === true && (!isDir || o.dirMtime !== false)) v.mtimeNs = n.mtimeNs.toString();
    if (o.atime === true && !isDir) v.atimeNs = n.atimeNs.toString();
    if (o.xattrs === true) v.xattrs = n.xattrs;
    out[rel === '' ? '.' : rel] = v;
  }
  return out;
}
