/**
 * Changes applied twice: to an ext4kit volume, and to a host directory
 * through the kernel (node:fs and the batched host helpers), so that the
 * host directory is the expected state of the image afterwards. Each change
 * records the paths whose times it moves; `settleTimes` then gives all of
 * them the same explicit times on both sides, so trees can be compared to
 * the nanosecond without "now" getting in the way.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { VolumePromises } from '../../src/index.js';
import { mknodBatch, setTimesNs, setXattrs } from '../../src/host/host-ops.js';
import { runChecked } from '../helpers/run.js';

export interface Change {
  what: string;
  vol(p: VolumePromises): Promise<void>;
  host(abs: (rel: string) => string): Promise<void>;
  /** Paths (relative, '/'-separated) whose mtime the change moves: what it made or changed, and the directories it changed. */
  touched: string[];
  /** A rename: paths touched earlier move with it. */
  moves?: { from: string; to: string };
}

const S_IFMT = 0o170000;
const parentOf = (rel: string): string => (rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '');
const vp = (rel: string): string => `/${rel}`;

/** cp as the tests use it: everything kept (sparse files stay sparse), and failing to keep an xattr is an error. */
export async function copyTree(from: string, to: string): Promise<void> {
  await runChecked('cp', ['-dR', '--preserve=mode,ownership,timestamps,links,xattr', `${from}/.`, `${to}/`], { timeoutMs: 300_000 });
}

/** Runs each change on the volume and on the host copy; returns every touched path. */
export async function applyChanges(p: VolumePromises, hostRoot: string, changes: readonly Change[]): Promise<Set<string>> {
  const abs = (rel: string): string => path.join(hostRoot, rel);
  const touched = new Set<string>();
  for (const c of changes) {
    try {
      await c.vol(p);
    } catch (e) {
      throw new Error(`ext4kit: ${c.what}: ${String(e)}`, { cause: e });
    }
    await c.host(abs);
    if (c.moves !== undefined) {
      const { from, to } = c.moves;
      for (const t of [...touched]) {
        if (t === from || t.startsWith(`${from}/`)) {
          touched.delete(t);
          touched.add(to + t.slice(from.length));
        }
      }
    }
    for (const t of c.touched) touched.add(t);
  }
  return touched;
}

export const change = {
  writeFile: (rel: string, data: Buffer, mode = 0o644): Change => ({
    what: `writeFile ${rel} (${data.length} bytes)`,
    vol: (p) => p.writeFile(vp(rel), data, { mode }),
    host: async (abs) => {
      await fsp.writeFile(abs(rel), data, { mode });
    },
    touched: [rel, parentOf(rel)],
  }),
  appendFile: (rel: string, data: Buffer): Change => ({
    what: `appendFile ${rel} (${data.length} bytes)`,
    vol: (p) => p.appendFile(vp(rel), data),
    host: (abs) => fsp.appendFile(abs(rel), data),
    touched: [rel],
  }),
  /** Writes at an offset through an open file ('r+'), past the end leaving a hole. */
  writeAt: (rel: string, pos: number, data: Buffer): Change => ({
    what: `write ${rel} at ${pos} (${data.length} bytes)`,
    vol: async (p) => writeThrough(await p.open(vp(rel), 'r+'), pos, data),
    host: async (abs) => writeThrough(await fsp.open(abs(rel), 'r+'), pos, data),
    touched: [rel],
  }),
  truncate: (rel: string, len: number): Change => ({
    what: `truncate ${rel} to ${len}`,
    vol: (p) => p.truncate(vp(rel), len),
    host: (abs) => fsp.truncate(abs(rel), len),
    touched: [rel],
  }),
  mkdir: (rel: string, mode = 0o755, recursive = false): Change => ({
    what: `mkdir ${rel}`,
    vol: async (p) => void (await p.mkdir(vp(rel), { mode, recursive })),
    host: async (abs) => void (await fsp.mkdir(abs(rel), { mode, recursive })),
    touched: recursive ? ancestorsAndSelf(rel) : [rel, parentOf(rel)],
  }),
  symlink: (target: string, rel: string): Change => ({
    what: `symlink ${rel} -> ${target}`,
    vol: (p) => p.symlink(target, vp(rel)),
    host: (abs) => fsp.symlink(target, abs(rel)),
    touched: [rel, parentOf(rel)],
  }),
  link: (from: string, to: string): Change => ({
    what: `link ${to} -> ${from}`,
    vol: (p) => p.link(vp(from), vp(to)),
    host: (abs) => fsp.link(abs(from), abs(to)),
    touched: [parentOf(to)],
  }),
  /** A device node, fifo or socket; `mode` includes the type bits, `rdev` as makedev gives it. */
  mknod: (rel: string, mode: number, rdev = 0): Change => ({
    what: `mknod ${rel} ${(mode & S_IFMT).toString(8)}`,
    vol: (p) => p.mknod(vp(rel), mode, rdev),
    host: async (abs) => {
      const errors = await mknodBatch([{ path: abs(rel), mode, rdev }]);
      if (errors.length > 0) throw new Error(`host mknod ${rel}: ${errors[0].message}`);
      // What mknod(2) gives under the umask the volume applies (022), whatever the helper process's umask.
      await fsp.chmod(abs(rel), mode & 0o7777 & ~0o022);
    },
    touched: [rel, parentOf(rel)],
  }),
  unlink: (rel: string): Change => ({
    what: `unlink ${rel}`,
    vol: (p) => p.unlink(vp(rel)),
    host: (abs) => fsp.unlink(abs(rel)),
    touched: [parentOf(rel)],
  }),
  rmdir: (rel: string): Change => ({
    what: `rmdir ${rel}`,
    vol: (p) => p.rmdir(vp(rel)),
    host: (abs) => fsp.rmdir(abs(rel)),
    touched: [parentOf(rel)],
  }),
  rmRecursive: (rel: string): Change => ({
    what: `rm -r ${rel}`,
    vol: (p) => p.rm(vp(rel), { recursive: true }),
    host: (abs) => fsp.rm(abs(rel), { recursive: true }),
    touched: [parentOf(rel)],
  }),
  rename: (from: string, to: string): Change => ({
    what: `rename ${from} -> ${to}`,
    vol: (p) => p.rename(vp(from), vp(to)),
    host: (abs) => fsp.rename(abs(from), abs(to)),
    touched: [parentOf(from), parentOf(to)],
    moves: { from, to },
  }),
  chmod: (rel: string, mode: number): Change => ({
    what: `chmod ${rel} ${mode.toString(8)}`,
    vol: (p) => p.chmod(vp(rel), mode),
    host: (abs) => fsp.chmod(abs(rel), mode),
    touched: [],
  }),
  chown: (rel: string, uid: number, gid: number): Change => ({
    what: `chown ${rel} ${uid}:${gid}`,
    vol: (p) => p.lchown(vp(rel), uid, gid),
    host: (abs) => fsp.lchown(abs(rel), uid, gid),
    touched: [],
  }),
  setxattr: (rel: string, name: string, value: Buffer): Change => ({
    what: `setxattr ${rel} ${name} (${value.length} bytes)`,
    vol: (p) => p.setxattr(vp(rel), name, value, { noFollow: true }),
    host: async (abs) => {
      const errors = await setXattrs([{ path: abs(rel), name, value }]);
      if (errors.length > 0) throw new Error(`host setxattr ${rel} ${name}: ${errors[0].message}`);
    },
    touched: [],
  }),
  removexattr: (rel: string, name: string): Change => ({
    what: `removexattr ${rel} ${name}`,
    vol: (p) => p.removexattr(vp(rel), name, { noFollow: true }),
    host: async (abs) => {
      await runChecked('python3', ['-I', '-S', '-c', 'import os, sys; os.removexattr(sys.argv[1], sys.argv[2], follow_symlinks=False)', abs(rel), name]);
    },
    touched: [],
  }),
};

/** Writes `data` at `pos` through an open file (ext4kit's or Node's), then closes it. */
async function writeThrough(h: { write(b: Uint8Array, o: number, l: number, pos: number): Promise<unknown>; close(): Promise<void> }, pos: number, data: Buffer): Promise<void> {
  try {
    await h.write(data, 0, data.length, pos);
  } finally {
    await h.close();
  }
}

function ancestorsAndSelf(rel: string): string[] {
  const parts = rel.split('/');
  return parts.map((_, i) => parts.slice(0, i).join('/')).concat(rel);
}

/** A time Node's utimes carries exactly (whole seconds and eighths) as seconds and as nanoseconds. */
export function exactTime(sec: number, eighths: number): { s: number; ns: bigint } {
  return { s: sec + eighths / 8, ns: BigInt(sec) * 1_000_000_000n + BigInt(eighths) * 125_000_000n };
}

/**
 * Gives every touched path that still exists explicit times, the same on
 * both sides (ext4kit's lutimes, the host's utimensat without following):
 * the i-th path gets seconds `secondsFor(i)` plus some eighths.
 */
export async function settleTimes(p: VolumePromises, hostRoot: string, touched: Iterable<string>, secondsFor: (i: number) => number): Promise<void> {
  const entries: Array<{ path: string; atimeNs: bigint; mtimeNs: bigint }> = [];
  let i = 0;
  for (const rel of [...touched].sort()) {
    const abs = path.join(hostRoot, rel);
    const exists = await fsp.lstat(abs).then(() => true, () => false);
    if (!exists) continue;
    const sec = secondsFor(i);
    const a = exactTime(sec, i % 8);
    const m = exactTime(sec + 7, (i + 3) % 8);
    i++;
    await p.lutimes(vp(rel), a.s, m.s);
    entries.push({ path: abs, atimeNs: a.ns, mtimeNs: m.ns });
  }
  const errors = await setTimesNs(entries);
  if (errors.length > 0) throw new Error(`host utimes: ${errors[0].message}`);
}
