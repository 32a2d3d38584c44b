/**
 * Shared machinery of the directory write tests: operations run the way the
 * vfs layer will run them (directory rwsem, one journal handle with the
 * credits and block reservation the dir layer asks for, the directory inode
 * written before the handle stops), a model of what each directory must
 * hold, and the checks of an image against that model through every
 * oracle: e2fsck, debugfs `ls -l` and `htree`, our own read path (listing
 * and hashed lookup), and the kernel through a read-only loop mount.
 */
import { expect } from 'vitest';
import * as nodeFs from 'node:fs/promises';
import * as path from 'node:path';
import { allocatorsOf } from '../../src/alloc/allocators.js';
import { Ext4Super } from '../../src/super/ext4-super.js';
import { FileDevice } from '../../src/device/file-device.js';
import { InodeTable } from '../../src/inode/inode-table.js';
import { Ext4Inode } from '../../src/inode/ext4-inode.js';
import { DirReader } from '../../src/dir/dir-reader.js';
import {
  addEntry, deleteEntry, replaceEntry, setDotDot, initDirBlocks, dirInsertCredits, maxDirInsertBlocks,
  DIR_ENTRY_CHANGE_CREDITS, initDirBlocksNeeded, initDirCredits,
} from '../../src/dir/dir-write.js';
import * as I from '../../src/format/inode.js';
import { EXT4_FT_DIR } from '../../src/format/dirent.js';
import { EXT4_EXT_MAGIC, encodeExtentNode, extentNodeCapacity } from '../../src/format/extent.js';
import type { Handle } from '../../src/journal/transaction.js';
import { debugfs, parseHtree, unescapeName, type HtreeDump } from '../helpers/debugfs.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { withMountedImage } from '../helpers/loop.js';
import { Rng } from '../helpers/prng.js';
import type { WritableFs } from '../helpers/writable-fs.js';

/** What a directory must hold: name (bytes as latin1) -> inode and file type. */
export type DirModel = Map<string, { ino: number; fileType: number }>;

export const latin1 = (name: Uint8Array): string => Buffer.from(name).toString('latin1');
export const bytes = (key: string): Uint8Array => Buffer.from(key, 'latin1');

/** Characters of generated names: no '/', NUL, space or backslash (debugfs's listing splits on spaces). */
const ALPHABET = Buffer.from('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+=,@');

/**
 * A random name not in `taken`: lengths spread over 1..255 with extra weight
 * on short ones and on the maximum, some with bytes >= 0x80 (not UTF-8, so
 * they exercise the byte paths and the signed/unsigned hash difference).
 */
export function randomName(rng: Rng, taken: ReadonlySet<string> | DirModel, opts: { minLen?: number; maxLen?: number } = {}): Uint8Array {
  const min = opts.minLen ?? 1;
  const max = opts.maxLen ?? 255;
  for (;;) {
    const r = rng.float();
    let len = r < 0.1 ? max : r < 0.6 ? rng.int(min, Math.min(max, 24)) : rng.int(min, max);
    len = Math.max(min, Math.min(max, len));
    const name = new Uint8Array(len);
    const high = rng.chance(0.1);
    for (let i = 0; i < len; i++) name[i] = high && rng.chance(0.3) ? rng.int(0x80, 0xff) : ALPHABET[rng.int(0, ALPHABET.length - 1)];
    const key = latin1(name);
    if (key === '.' || key === '..' || taken.has(key)) continue;
    return name;
  }
}

/** Runs `fn` under `dir`'s rwsem in one handle, then writes the directory inode. */
async function inHandle(w: WritableFs, dir: Ext4Inode, credits: number, fn: (h: Handle) => Promise<void>): Promise<void> {
  await dir.rwsem.withExclusive(() => w.journal.run(credits, async (h) => {
    await fn(h);
    await w.inodes.writeInode(h, dir);
  }));
}

export async function addOne(w: WritableFs, dir: Ext4Inode, name: Uint8Array, ino: number, fileType: number): Promise<void> {
  const r = allocatorsOf(w.fs).blocks.reserve(maxDirInsertBlocks(w.fs, dir), false);
  try {
    await inHandle(w, dir, dirInsertCredits(w.fs, dir), (h) => addEntry(w.fs, h, dir, name, ino, fileType, r));
  } finally {
    r.release();
  }
}

export async function deleteOne(w: WritableFs, dir: Ext4Inode, name: Uint8Array): Promise<number> {
  let ino = 0;
  await inHandle(w, dir, DIR_ENTRY_CHANGE_CREDITS, async (h) => { ino = await deleteEntry(w.fs, h, dir, name); });
  return ino;
}

export async function replaceOne(w: WritableFs, dir: Ext4Inode, name: Uint8Array, ino: number, fileType: number): Promise<number> {
  let old = 0;
  await inHandle(w, dir, DIR_ENTRY_CHANGE_CREDITS, async (h) => { old = await replaceEntry(w.fs, h, dir, name, ino, fileType); });
  return old;
}

/** Moves subdirectory `name` of `from` to `to` under `newName`, as rename does: entries, "..", both parents' link counts. */
export async function moveDir(w: WritableFs, from: Ext4Inode, to: Ext4Inode, name: Uint8Array, newName: Uint8Array, child: Ext4Inode): Promise<void> {
  const [first, second] = from.ino < to.ino ? [from, to] : [to, from];
  const r = allocatorsOf(w.fs).blocks.reserve(maxDirInsertBlocks(w.fs, to), false);
  try {
    await first.rwsem.withExclusive(() => second.rwsem.withExclusive(() =>
      w.journal.run(dirInsertCredits(w.fs, to) + 3 * DIR_ENTRY_CHANGE_CREDITS, async (h) => {
        await addEntry(w.fs, h, to, newName, child.ino, EXT4_FT_DIR, r);
        expect(await deleteEntry(w.fs, h, from, name)).toBe(child.ino);
        await setDotDot(w.fs, h, child, to.ino);
        from.disk.linksCount--;
        to.disk.linksCount++;
        await w.inodes.writeInode(h, from);
        await w.inodes.writeInode(h, to);
        await w.inodes.writeInode(h, child);
      })));
  } finally {
    r.release();
  }
}

/**
 * A new, empty directory inode under `parent` (what mkdir's inode half
 * will do once the inode layer has it): allocated, mode 040755, an empty
 * extent root, links 2, then its first block by `initDirBlocks` and its
 * entry in `parent`.
 */
export async function makeDir(w: WritableFs, parent: Ext4Inode, name: Uint8Array): Promise<Ext4Inode> {
  const fs = w.fs;
  const alloc = allocatorsOf(fs);
  const ir = alloc.inodes.reserve();
  let made: Ext4Inode | undefined;
  try {
    await parent.rwsem.withExclusive(() => w.journal.run(60 + dirInsertCredits(fs, parent) + 40, async (h) => {
      const ino = await alloc.inodes.allocate(h, parent.ino, true);
      ir.take();
      const raw = new Uint8Array(fs.inodeSize);
      // i_extra_isize (offset 0x80): the extra fields Linux writes in large inodes.
      if (fs.inodeSize > 128) raw[0x80] = 32;
      const disk = I.decodeInode(raw, fs.inodeSize, ino);
      disk.mode = I.S_IFDIR | 0o755;
      disk.linksCount = 2;
      disk.flags = I.EXT4_EXTENTS_FL;
      disk.generation = 0x1234 + ino;
      const now = { sec: Math.floor(Date.now() / 1000), nsec: 0 };
      disk.atime = disk.ctime = disk.mtime = disk.crtime = now;
      encodeExtentNode({ kind: 'leaf', header: { magic: EXT4_EXT_MAGIC, entries: 0, max: extentNodeCapacity(I.I_BLOCK_SIZE), depth: 0, generation: 0 }, leaves: [] }, disk.block);
      const dir = new Ext4Inode(ino, disk, raw, fs.metadataCsum ? fs.csumSeed : undefined, fs.nextEsSeq());
      w.inodes.insert(dir);
      const r = alloc.blocks.reserve(initDirBlocksNeeded(fs, dir) + maxDirInsertBlocks(fs, parent), false);
      try {
        await initDirBlocks(fs, h, dir, parent.ino, r);
        await addEntry(fs, h, parent, name, ino, EXT4_FT_DIR, r);
      } finally {
        r.release();
      }
      parent.disk.linksCount++;
      await w.inodes.writeInode(h, dir);
      await w.inodes.writeInode(h, parent);
      made = dir;
    }));
  } finally {
    ir.release();
  }
  expect(initDirCredits(fs, made!)).toBeGreaterThan(0);
  return made!;
}

/** Sets the link counts of `targets` to 1 (their entry outside the tested directories) plus the references in `models`. */
export async function fixLinks(w: WritableFs, targets: readonly number[], models: readonly DirModel[]): Promise<void> {
  const refs = new Map<number, number>(targets.map((t) => [t, 1]));
  for (const m of models) for (const e of m.values()) if (refs.has(e.ino)) refs.set(e.ino, refs.get(e.ino)! + 1);
  for (const [ino, n] of refs) {
    const inode = await w.inodes.get(ino);
    if (inode.disk.linksCount === n) continue;
    await w.journal.run(2, async (h) => {
      inode.disk.linksCount = n;
      await w.inodes.writeInode(h, inode);
    });
  }
}

/** `ls -l` of a directory through debugfs: every live entry but "." and "..". */
export async function debugfsListing(img: string, dirPath: string): Promise<DirModel> {
  const out = await debugfs(img, `ls -l ${dirPath}`);
  const m: DirModel = new Map();
  for (const line of out.split('\n')) {
    const f = /^\s*(\d+)\s+\d+\s+\((\d+)\)\s+\d+\s+\d+\s+\d+\s+\S+\s+\S+\s(.*)$/.exec(line);
    if (f === null || f[1] === '0') continue;
    const name = unescapeName(f[3]);
    if (name === '.' || name === '..') continue;
    expect(m.has(name), `debugfs lists ${JSON.stringify(name)} twice`).toBe(false);
    m.set(name, { ino: Number(f[1]), fileType: Number(f[2]) });
  }
  return m;
}

export function expectSameModel(actual: DirModel, expected: DirModel, what: string): void {
  const missing = [...expected.keys()].filter((k) => !actual.has(k));
  const extra = [...actual.keys()].filter((k) => !expected.has(k));
  expect({ missing: missing.slice(0, 5), extra: extra.slice(0, 5), nMissing: missing.length, nExtra: extra.length }, what)
    .toEqual({ missing: [], extra: [], nMissing: 0, nExtra: 0 });
  const wrong = [...expected].filter(([k, v]) => actual.get(k)!.ino !== v.ino || actual.get(k)!.fileType !== v.fileType);
  expect(wrong.slice(0, 5), `${what}: entries with the wrong inode or type`).toEqual([]);
}

/** The htree of a directory as debugfs walks it; undefined for a linear directory. */
export async function debugfsHtree(img: string, dirPath: string): Promise<HtreeDump | undefined> {
  const out = await debugfs(img, `htree ${dirPath}`);
  if (!/Root node dump/.test(out)) return undefined;
  return parseHtree(out);
}

/** Every name the htree's leaves hold, as debugfs reaches them through the index. */
export function htreeNames(dump: HtreeDump): Set<string> {
  const names = new Set<string>();
  for (const leaf of dump.leaves.values()) for (const e of leaf.entries) if (e.inode !== 0) names.add(unescapeName(e.name));
  names.delete('.');
  names.delete('..');
  return names;
}

/**
 * Checks the directory at `dirPath` (inode `dirIno`) of a closed image
 * against `model`: e2fsck, debugfs's listing and (for an indexed
 * directory) its walk of the index, our read path listing and looking up
 * every name by hash (and some absent ones), and the kernel.
 */
export async function checkImage(img: string, dirs: ReadonlyArray<{ path: string; ino: number; model: DirModel }>, opts: { kernel: boolean; absent?: Uint8Array[] }): Promise<Array<HtreeDump | undefined>> {
  await expectFsckClean(img);
  const dumps: Array<HtreeDump | undefined> = [];
  for (const d of dirs) {
    expectSameModel(await debugfsListing(img, d.path), d.model, `debugfs ls -l ${d.path}`);
    const dump = await debugfsHtree(img, d.path);
    if (dump !== undefined) {
      expect([...htreeNames(dump)].sort()).toEqual([...d.model.keys()].sort());
      for (const node of [dump.root, ...dump.nodes.values()]) expect(node.entries.length).toBe(node.count);
    }
    dumps.push(dump);
  }
  await checkOwnReadPath(img, dirs, opts.absent ?? []);
  if (opts.kernel) await checkKernel(img, dirs);
  return dumps;
}

async function checkOwnReadPath(img: string, dirs: ReadonlyArray<{ ino: number; model: DirModel }>, absent: Uint8Array[]): Promise<void> {
  const dev = await FileDevice.open(img, { readOnly: true });
  try {
    const fs = await Ext4Super.mount(dev, { readOnly: true, cacheBytes: 32 << 20 });
    const inodes = new InodeTable(fs);
    for (const d of dirs) {
      const dir = await inodes.get(d.ino);
      // For an indexed directory, a dentry cache too small to hold the
      // listing, so every lookup walks the index; a linear one is searched
      // by listing it, which the default cache then holds.
      const reader = dir.isIndexedDir ? new DirReader(fs, 4) : new DirReader(fs);
      const listed: DirModel = new Map();
      for (const e of await reader.list(dir)) listed.set(latin1(e.name), { ino: e.ino, fileType: e.fileType });
      expectSameModel(listed, d.model, `our readdir of inode ${d.ino}`);
      const wrong: string[] = [];
      for (const [key, v] of d.model) {
        const hit = await reader.lookupBytes(dir, bytes(key));
        if (hit?.ino !== v.ino) wrong.push(key);
      }
      expect(wrong.slice(0, 5), `names our lookup misses in inode ${d.ino}`).toEqual([]);
      for (const name of absent) {
        if (!d.model.has(latin1(name))) expect(await reader.lookupBytes(dir, name)).toBeUndefined();
      }
    }
  } finally {
    await dev.close();
  }
}

async function checkKernel(img: string, dirs: ReadonlyArray<{ path: string; model: DirModel }>): Promise<void> {
  await withMountedImage(img, { readOnly: true }, async (m) => {
    for (const d of dirs) {
      const where = path.join(m.dir, d.path);
      const names = await nodeFs.readdir(where, { encoding: 'buffer' });
      const kernel: DirModel = new Map();
      const wrong: string[] = [];
      for (const n of names) {
        const key = latin1(n);
        const st = await nodeFs.lstat(Buffer.concat([Buffer.from(where + '/'), n]));
        kernel.set(key, { ino: st.ino, fileType: d.model.get(key)?.fileType ?? -1 });
        if (d.model.has(key) && d.model.get(key)!.ino !== st.ino) wrong.push(key);
      }
      expectSameModel(kernel, d.model, `the kernel's readdir of ${d.path}`);
      expect(wrong.slice(0, 5), 'names whose inode differs in the kernel').toEqual([]);
    }
  });
}

/** Inode numbers of paths in an image, read with debugfs. */
export async function inodesOf(img: string, paths: readonly string[]): Promise<number[]> {
  const out: number[] = [];
  for (const p of paths) {
    const s = await debugfs(img, `stat ${p}`);
    const m = /Inode: (\d+)/.exec(s);
    if (m === null) throw new Error(`no inode for ${p}: ${s}`);
    out.push(Number(m[1]));
  }
  return out;
}

/** A seed from the environment (to replay a failure) or a fresh one, printed either way. */
export function testSeed(label: string): number {
  const env = process.env.EXT4KIT_SEED;
  const seed = env !== undefined && env !== '' ? Number(env) : (Date.now() ^ (Math.random() * 2 ** 32)) >>> 0;
  console.log(`${label}: seed ${seed} (EXT4KIT_SEED=${seed} to replay)`);
  return seed;
}
