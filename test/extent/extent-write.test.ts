/**
 * The extent tree's write side against e2fsck and the kernel: files grown
 * one extent at a time until the tree is several levels deep, then cut down
 * by random punches and truncates. After each phase e2fsck -fn must find
 * nothing, and the file must read back (through our read path and, where
 * loop mounts work, through Linux) exactly as a byte model says.
 */
import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { useImages } from '../helpers/images.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { openWritableFs, type WritableFs } from '../helpers/writable-fs.js';
import { Rng } from '../helpers/prng.js';
import { canLoopMount, describeLoopSkip, withMountedImage } from '../helpers/loop.js';
import { openVolume } from '../../src/index.js';
import { allocatorsOf } from '../../src/alloc/allocators.js';
import {
  getOrAllocateBlocks, freeBlockRange, blockChangeCredits, maxNewMetadataBlocks, type FileBlockRequest,
} from '../../src/extent/file-blocks.js';
import type { Ext4Inode } from '../../src/inode/ext4-inode.js';
import { debugfs } from '../helpers/debugfs.js';

const images = useImages('extent-write');
const canLoop = await canLoopMount();
if (!canLoop) console.warn(await describeLoopSkip());

/** What the file should hold: per logical block, the fill byte (0 = hole). */
type Model = Map<number, number>;

function expected(model: Model, size: number, bs: number): Uint8Array {
  const out = new Uint8Array(size);
  for (const [lblk, fill] of model) {
    const from = lblk * bs;
    if (from < size) out.fill(fill, from, Math.min(size, from + bs));
  }
  return out;
}

async function inodeOf(img: string, path: string): Promise<number> {
  const vol = await openVolume(img, { readOnly: true });
  try {
    return Number((await vol.promises.stat(path)).ino);
  } finally {
    await vol.close();
  }
}

async function readBack(img: string, path: string): Promise<Uint8Array> {
  const vol = await openVolume(img, { readOnly: true });
  try {
    return await vol.promises.readFile(path);
  } finally {
    await vol.close();
  }
}

/** Runs one change of `inode`'s blocks in its own handle, with a reservation, as the data path will. */
async function change(w: WritableFs, inode: Ext4Inode, dataBlocks: number, fn: (req: FileBlockRequest) => Promise<void>): Promise<void> {
  const blocks = allocatorsOf(w.fs).blocks;
  const r = blocks.reserve(dataBlocks + maxNewMetadataBlocks(w.fs, inode), false);
  try {
    await w.journal.run(blockChangeCredits(w.fs, inode) + dataBlocks, async (h) => {
      await inode.dataSem.withExclusive(() => fn({ fs: w.fs, h, inode, r }));
      await w.inodes.writeInode(h, inode);
    });
  } finally {
    r.release();
  }
}

/** Allocates `lblk` (one block, goal `goal`), fills it with `fill`, and records it. */
async function writeBlock(w: WritableFs, inode: Ext4Inode, model: Model, lblk: number, fill: number, goal?: number): Promise<void> {
  const bs = w.fs.blockSize;
  await change(w, inode, 1, async (req) => {
    const run = await getOrAllocateBlocks(req, lblk, 1, { goal });
    await w.fs.device.write(run.pblk * bs, new Uint8Array(bs).fill(fill));
    inode.disk.size = Math.max(inode.disk.size, (lblk + 1) * bs);
  });
  model.set(lblk, fill);
}

async function depthOf(img: string, path: string): Promise<number> {
  const out = await debugfs(img, `ex ${path}`);
  const levels = out.split('\n').map((l) => /^\s*(\d+)\/\s*(\d+)/.exec(l)).filter((m) => m !== null).map((m) => Number(m[2]));
  return levels.length === 0 ? 0 : Math.max(...levels);
}

describe('extent tree changes', () => {
  for (const kind of [
    { name: '1 KiB blocks, metadata_csum', args: ['-b', '1024', '-O', '^has_journal'], size: '64M', extents: 1500 },
    { name: '4 KiB blocks, no checksums', args: ['-O', '^has_journal,^metadata_csum'], size: '128M', extents: 900 },
  ]) {
    it(`${kind.name}: grow to a deep tree, punch, truncate`, async () => {
      const img = await images.mkfs({ size: kind.size, args: kind.args, tree: [{ path: 'f', data: '' }, { path: 'keep', data: 'x'.repeat(5000) }] });
      const ino = await inodeOf(img, '/f');
      const rng = new Rng(0x5eed + kind.extents);
      const model: Model = new Map();
      let w = await openWritableFs(img);
      let inode = await w.inodes.get(ino);
      inode.refCount++;
      const bs = w.fs.blockSize;
      // Every other logical block, each placed away from its neighbours so no two merge.
      const base = w.fs.sb.blocksCount >> 1;
      for (let k = 0; k < kind.extents; k++) {
        await writeBlock(w, inode, model, 2 * k, 1 + (k % 250), base + 3 * k);
      }
      // A run that merges: sequential blocks after the last one, default goal.
      for (let k = 0; k < 40; k++) await writeBlock(w, inode, model, 2 * kind.extents + k, 7);
      await w.close();
      await expectFsckClean(img);
      expect(await depthOf(img, '/f')).toBeGreaterThanOrEqual(2);
      let size = (2 * kind.extents + 40) * bs;
      expect(Buffer.from(await readBack(img, '/f')).equals(Buffer.from(expected(model, size, bs)))).toBe(true);

      // Punch random ranges (some inside one extent, splitting it), then refill some holes.
      w = await openWritableFs(img);
      inode = await w.inodes.get(ino);
      inode.refCount++;
      for (let n = 0; n < 60; n++) {
        const start = rng.int(0, 2 * kind.extents);
        const len = rng.int(1, 40);
        let done = false;
        while (!done) await change(w, inode, 0, async (req) => { done = await freeBlockRange(req, start, len); });
        for (let b = start; b < start + len; b++) model.delete(b);
      }
      for (let n = 0; n < 100; n++) {
        const lblk = rng.int(0, 2 * kind.extents);
        if (!model.has(lblk)) await writeBlock(w, inode, model, lblk, 200 + (n % 50));
      }
      await w.close();
      await expectFsckClean(img);
      expect(Buffer.from(await readBack(img, '/f')).equals(Buffer.from(expected(model, size, bs)))).toBe(true);

      // Truncate in steps down to nothing (several handles per step).
      for (const keepBlocks of [Math.floor(kind.extents * 1.5), kind.extents >> 1, 3, 0]) {
        w = await openWritableFs(img);
        inode = await w.inodes.get(ino);
        inode.refCount++;
        let done = false;
        while (!done) {
          await change(w, inode, 0, async (req) => {
            done = await freeBlockRange(req, keepBlocks, 2 ** 32 - 1 - keepBlocks);
            inode.disk.size = Math.min(inode.disk.size, keepBlocks * bs);
          });
        }
        for (const lblk of [...model.keys()]) if (lblk >= keepBlocks) model.delete(lblk);
        size = Math.min(size, keepBlocks * bs);
        await w.close();
        await expectFsckClean(img);
        expect(Buffer.from(await readBack(img, '/f')).equals(Buffer.from(expected(model, size, bs)))).toBe(true);
      }
      const st = await debugfs(img, 'stat /f');
      expect(st).toMatch(/Blockcount: 0\b/);
      // The other file was not touched.
      expect(Buffer.from(await readBack(img, '/keep')).toString()).toBe('x'.repeat(5000));
    }, 300_000);
  }

  it.skipIf(!canLoop)('Linux reads a deep tree we built', async () => {
    const img = await images.mkfs({ size: '64M', args: ['-b', '1024'], tree: [{ path: 'f', data: '' }] });
    const ino = await inodeOf(img, '/f');
    const model: Model = new Map();
    const w = await openWritableFs(img);
    const inode = await w.inodes.get(ino);
    inode.refCount++;
    const base = w.fs.sb.blocksCount >> 1;
    for (let k = 0; k < 700; k++) await writeBlock(w, inode, model, 3 * k, 1 + (k % 200), base + 2 * k);
    await w.close();
    await expectFsckClean(img);
    const size = 700 * 3 * 1024 - 2048;
    await withMountedImage(img, { readOnly: true }, async (m) => {
      const got = await readFile(`${m.dir}/f`);
      expect(got.length).toBe(size);
      expect(Buffer.from(got).equals(Buffer.from(expected(model, size, 1024)))).toBe(true);
    });
  }, 300_000);
});
