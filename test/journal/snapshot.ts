/**
 * A filesystem tree reduced to one line per path (type, mode, owners, size,
 * link count, inode number, all four times in nanoseconds, a content hash
 * or link target, xattrs), read either through ext4kit or through the host
 * (a kernel mount), so two readers of the same filesystem can be compared
 * with one `toEqual` whose diff names the paths that differ.
 */
import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { Volume } from '../../src/index.js';
import { readXattrs } from '../../src/host/host-ops.js';

interface StatLike {
  mode: bigint; uid: bigint; gid: bigint; size: bigint; nlink: bigint; ino: bigint;
  atimeNs: bigint; mtimeNs: bigint; ctimeNs: bigint;
  isDirectory(): boolean; isFile(): boolean; isSymbolicLink(): boolean;
}

function line(st: StatLike, body: string, xattrs: Map<string, Buffer> | undefined): string {
  const xa = [...(xattrs ?? new Map<string, Buffer>())].sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([n, v]) => `${n}=${v.toString('hex')}`).join(',');
  return `mode=${st.mode.toString(8)} uid=${st.uid} gid=${st.gid} size=${st.size} nlink=${st.nlink} ino=${st.ino} ` +
    `atime=${st.atimeNs} mtime=${st.mtimeNs} ctime=${st.ctimeNs} ${body} xattrs[${xa}]`;
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** The tree as ext4kit reads it. */
export async function snapshotVolume(vol: Volume): Promise<Map<string, string>> {
  const p = vol.promises;
  const out = new Map<string, string>();
  const walk = async (rel: string): Promise<void> => {
    const abs = rel === '' ? '/' : rel;
    const st = await p.lstat(abs, { bigint: true });
    let body = '';
    if (st.isFile()) body = `sha=${sha(await p.readFile(abs))}`;
    else if (st.isSymbolicLink()) body = `target=${await p.readlink(abs)}`;
    const xattrs = new Map<string, Buffer>();
    for (const n of await p.listxattr(abs, { noFollow: true })) xattrs.set(n, await p.getxattr(abs, n, { noFollow: true }));
    out.set(abs, line(st, body, xattrs));
    if (st.isDirectory()) for (const name of (await p.readdir(abs)).sort()) await walk(`${rel}/${name}`);
  };
  await walk('');
  return out;
}

/** The tree as the host (the kernel, through a mount at `root`) reads it. */
export async function snapshotHost(root: string): Promise<Map<string, string>> {
  const paths: string[] = [];
  const stats = new Map<string, { st: StatLike; body: string }>();
  const walk = async (rel: string): Promise<void> => {
    const abs = path.join(root, rel);
    const st = await fsp.lstat(abs, { bigint: true });
    let body = '';
    if (st.isFile()) body = `sha=${sha(await fsp.readFile(abs))}`;
    else if (st.isSymbolicLink()) body = `target=${await fsp.readlink(abs)}`;
    paths.push(abs);
    stats.set(abs, { st, body });
    if (st.isDirectory()) for (const name of (await fsp.readdir(abs)).sort()) await walk(`${rel}/${name}`);
  };
  await walk('');
  const { xattrs, errors } = await readXattrs(paths);
  if (errors.length > 0) throw new Error(`reading xattrs: ${JSON.stringify(errors.slice(0, 3))}`);
  const out = new Map<string, string>();
  for (const abs of paths) {
    const { st, body } = stats.get(abs)!;
    const rel = path.relative(root, abs);
    out.set(rel === '' ? '/' : `/${rel}`, line(st, body, xattrs.get(abs)));
  }
  return out;
}
