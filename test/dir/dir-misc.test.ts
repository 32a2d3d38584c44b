/**
 * The rest of the directory write contract: new directories (first block,
 * ".." and link counts), emptiness, moving an indexed directory (".." in
 * the htree root), ordinary errors thrown before anything changes (so the
 * journal keeps running), inline and block-mapped directories, and the
 * dentry cache staying coherent with every change.
 */
import { describe, expect, it } from 'vitest';
import { useImages } from '../helpers/images.js';
import { canLoopMount, describeLoopSkip } from '../helpers/loop.js';
import { Rng } from '../helpers/prng.js';
import { openWritableFs, type WritableFs } from '../helpers/writable-fs.js';
import { EXT4_FT_DIR, EXT4_FT_REG_FILE, EXT4_FT_SYMLINK } from '../../src/format/dirent.js';
import { allocatorsOf } from '../../src/alloc/allocators.js';
import { DirReader } from '../../src/dir/dir-reader.js';
import { addEntry, deleteEntry, dirInsertCredits, isEmptyDir, maxDirInsertBlocks, DIR_ENTRY_CHANGE_CREDITS, replaceEntry } from '../../src/dir/dir-write.js';
import { isFsError } from '../../src/base/errors.js';
import type { Ext4Inode } from '../../src/inode/ext4-inode.js';
import type { Handle } from '../../src/journal/transaction.js';
import {
  addOne, bytes, checkImage, deleteOne, fixLinks, inodesOf, latin1, makeDir, moveDir, randomName, replaceOne, testSeed, type DirModel,
} from './dir-harness.js';

const images = useImages('dir-misc');
const canLoop = await canLoopMount();
if (!canLoop) console.warn(await describeLoopSkip());

const enc = (s: string): Uint8Array => Buffer.from(s, 'latin1');

/** Runs `fn` in a handle and returns the error it threw (the test fails if it did not throw). */
async function refused(w: WritableFs, credits: number, fn: (h: Handle) => Promise<unknown>): Promise<string> {
  try {
    await w.journal.run(credits, fn);
  } catch (e) {
    expect(w.journal.aborted, 'an ordinary error aborted the journal').toBe(false);
    return isFsError(e) ? e.code : String(e);
  }
  throw new Error('expected the call to fail');
}

describe('directory write contract', () => {
  it('new directories, emptiness, and moving an indexed directory', { timeout: 300_000 }, async () => {
    const rng = new Rng(testSeed('dir-misc mkdir'));
    for (const args of [['-b', '4096'], ['-b', '1024', '-O', '^metadata_csum']]) {
      const img = await images.mkfs({ size: '128M', args, tree: [{ path: 'd', kind: 'dir' }, { path: 'm', kind: 'dir' }, { path: 'f', data: 'x' }] });
      const [dIno, mIno, fIno] = await inodesOf(img, ['/d', '/m', '/f']);
      let w = await openWritableFs(img);
      let d = await w.inodes.get(dIno);
      const m = await w.inodes.get(mIno);
      const dModel: DirModel = new Map();
      const mModel: DirModel = new Map();
      const subs: Array<{ dir: Ext4Inode; model: DirModel; name: string }> = [];
      for (let i = 0; i < 6; i++) {
        const name = `sub${i}`;
        const dir = await makeDir(w, d, enc(name));
        expect(await isEmptyDir(w.fs, dir)).toBe(true);
        dModel.set(name, { ino: dir.ino, fileType: EXT4_FT_DIR });
        subs.push({ dir, model: new Map(), name });
      }
      // sub0 grows into an indexed directory; sub1 gets a few names; the rest stay empty.
      for (let i = 0; i < 400; i++) {
        const name = randomName(rng, subs[0].model, { minLen: 30 });
        await addOne(w, subs[0].dir, name, fIno, EXT4_FT_REG_FILE);
        subs[0].model.set(latin1(name), { ino: fIno, fileType: EXT4_FT_REG_FILE });
      }
      expect(subs[0].dir.isIndexedDir).toBe(true);
      await addOne(w, subs[1].dir, enc('only'), fIno, EXT4_FT_REG_FILE);
      subs[1].model.set('only', { ino: fIno, fileType: EXT4_FT_REG_FILE });
      expect(await isEmptyDir(w.fs, subs[0].dir)).toBe(false);
      expect(await isEmptyDir(w.fs, subs[1].dir)).toBe(false);
      // A new directory inside the indexed one, then the indexed one moves from d to m.
      const nested = await makeDir(w, subs[0].dir, enc('nested'));
      subs[0].model.set('nested', { ino: nested.ino, fileType: EXT4_FT_DIR });
      await moveDir(w, d, m, enc('sub0'), enc('moved'), subs[0].dir);
      dModel.delete('sub0');
      mModel.set('moved', { ino: subs[0].dir.ino, fileType: EXT4_FT_DIR });
      await fixLinks(w, [fIno], [subs[0].model, subs[1].model]);
      await w.close();
      await checkImage(img, [
        { path: '/d', ino: dIno, model: dModel }, { path: '/m', ino: mIno, model: mModel },
        { path: '/m/moved', ino: subs[0].dir.ino, model: subs[0].model }, { path: '/d/sub1', ino: subs[1].dir.ino, model: subs[1].model },
        { path: '/m/moved/nested', ino: nested.ino, model: new Map() },
      ], { kernel: canLoop });

      // Emptied, the indexed directory keeps its index and counts as empty.
      w = await openWritableFs(img);
      d = await w.inodes.get(dIno);
      const moved = await w.inodes.get(subs[0].dir.ino);
      for (const key of [...subs[0].model.keys()]) {
        if (key === 'nested') continue;
        await deleteOne(w, moved, bytes(key));
        subs[0].model.delete(key);
      }
      expect(await isEmptyDir(w.fs, moved)).toBe(false);
      await moveDir(w, moved, d, enc('nested'), enc('nested-here'), await w.inodes.get(nested.ino));
      subs[0].model.delete('nested');
      dModel.set('nested-here', { ino: nested.ino, fileType: EXT4_FT_DIR });
      expect(await isEmptyDir(w.fs, moved)).toBe(true);
      expect(moved.isIndexedDir).toBe(true);
      await fixLinks(w, [fIno], [subs[1].model]);
      await w.close();
      await checkImage(img, [
        { path: '/d', ino: dIno, model: dModel }, { path: '/m/moved', ino: moved.ino, model: subs[0].model },
      ], { kernel: canLoop });
    }
  });

  it('ordinary errors come before any change', { timeout: 120_000 }, async () => {
    const img = await images.mkfs({ size: '64M', args: ['-b', '1024'], tree: [{ path: 'd/a', data: '' }, { path: 'd/b', data: '' }] });
    const [dIno, aIno, bIno] = await inodesOf(img, ['/d', '/d/a', '/d/b']);
    const w = await openWritableFs(img);
    const d = await w.inodes.get(dIno);
    const fs = w.fs;
    const r = allocatorsOf(fs).blocks.reserve(maxDirInsertBlocks(fs, d), false);
    const credits = dirInsertCredits(fs, d);
    expect(await refused(w, credits, (h) => addEntry(fs, h, d, enc('a'), bIno, EXT4_FT_REG_FILE, r))).toBe('EEXIST');
    expect(await refused(w, credits, (h) => addEntry(fs, h, d, new Uint8Array(256).fill(0x61), bIno, EXT4_FT_REG_FILE, r))).toBe('ENAMETOOLONG');
    expect(await refused(w, credits, (h) => addEntry(fs, h, d, enc('..'), bIno, EXT4_FT_REG_FILE, r))).toBe('EINVAL');
    expect(await refused(w, credits, (h) => addEntry(fs, h, d, enc('x/y'), bIno, EXT4_FT_REG_FILE, r))).toBe('EINVAL');
    expect(await refused(w, DIR_ENTRY_CHANGE_CREDITS, (h) => deleteEntry(fs, h, d, enc('c')))).toBe('ENOENT');
    expect(await refused(w, DIR_ENTRY_CHANGE_CREDITS, (h) => replaceEntry(fs, h, d, enc('c'), aIno, EXT4_FT_REG_FILE))).toBe('ENOENT');
    const f = await w.inodes.get(aIno);
    expect(await refused(w, credits, (h) => addEntry(fs, h, f, enc('z'), bIno, EXT4_FT_REG_FILE, r))).toBe('ENOTDIR');
    r.release();
    await w.close();
    await checkImage(img, [{ path: '/d', ino: dIno, model: new Map([['a', { ino: aIno, fileType: EXT4_FT_REG_FILE }], ['b', { ino: bIno, fileType: EXT4_FT_REG_FILE }]]) }], { kernel: false });
  });

  it('inline directories: grow in the inode, convert to a block, move, and start inline', { timeout: 120_000 }, async () => {
    const files = (dir: string): Array<{ path: string; data: string }> => Array.from({ length: 24 }, (_, i) => ({ path: `${dir}/file-with-a-longish-name-${i}`, data: '' }));
    const img = await images.mkfs({
      size: '64M', args: ['-O', 'inline_data'],
      tree: [...files('a'), ...files('b'), { path: 'a/x/y', data: 'in x' }, { path: 'a/e', kind: 'dir' }, { path: 'f', data: '' }],
    });
    const [aIno, bIno, xIno, eIno, yIno, fIno] = await inodesOf(img, ['/a', '/b', '/a/x', '/a/e', '/a/x/y', '/f']);
    const w = await openWritableFs(img);
    const [a, b, x, e] = await Promise.all([aIno, bIno, xIno, eIno].map((i) => w.inodes.get(i)));
    expect([a.hasInlineData, b.hasInlineData, x.hasInlineData, e.hasInlineData]).toEqual([false, false, true, true]);
    expect(await isEmptyDir(w.fs, x)).toBe(false);
    expect(await isEmptyDir(w.fs, e)).toBe(true);
    const r = allocatorsOf(w.fs).blocks.reserve(maxDirInsertBlocks(w.fs, x), false);
    await x.rwsem.withExclusive(async () => {
      expect(await refused(w, dirInsertCredits(w.fs, x), (h) => addEntry(w.fs, h, x, enc('y'), fIno, EXT4_FT_REG_FILE, r))).toBe('EEXIST');
      expect(await refused(w, DIR_ENTRY_CHANGE_CREDITS, (h) => deleteEntry(w.fs, h, x, enc('nothing')))).toBe('ENOENT');
    });
    r.release();
    // x fills its inode, then turns into a block directory (and later an indexed one).
    const xModel: DirModel = new Map([['y', { ino: yIno, fileType: EXT4_FT_REG_FILE }]]);
    const eModel: DirModel = new Map();
    let converted = -1;
    for (let i = 0; i < 120; i++) {
      const name = `n${i}`;
      await addOne(w, x, enc(name), fIno, EXT4_FT_REG_FILE);
      xModel.set(name, { ino: fIno, fileType: EXT4_FT_REG_FILE });
      if (converted < 0 && !x.hasInlineData) converted = i;
    }
    expect(converted).toBeGreaterThan(0);
    // e gets a couple of names and stays inline; one is re-pointed, one deleted.
    for (const name of ['p', 'q', 'r']) {
      await addOne(w, e, enc(name), fIno, EXT4_FT_REG_FILE);
      eModel.set(name, { ino: fIno, fileType: EXT4_FT_REG_FILE });
    }
    expect(e.hasInlineData).toBe(true);
    expect(await replaceOne(w, e, enc('q'), yIno, EXT4_FT_REG_FILE)).toBe(fIno);
    eModel.set('q', { ino: yIno, fileType: EXT4_FT_REG_FILE });
    expect(await deleteOne(w, e, enc('r'))).toBe(fIno);
    eModel.delete('r');
    // Moving the inline directory e from a to b rewrites its ".." inside the inode.
    await moveDir(w, a, b, enc('e'), enc('e-moved'), e);
    // A new directory on this filesystem starts inline.
    const fresh = await makeDir(w, b, enc('fresh'));
    expect(fresh.hasInlineData).toBe(true);
    const y = await w.inodes.get(yIno);
    await w.journal.run(2, async (h) => {
      y.disk.linksCount = 2;
      await w.inodes.writeInode(h, y);
    });
    await fixLinks(w, [fIno], [xModel, eModel]);
    await w.close();
    await checkImage(img, [
      { path: '/a/x', ino: xIno, model: xModel }, { path: '/b/e-moved', ino: eIno, model: eModel }, { path: '/b/fresh', ino: fresh.ino, model: new Map() },
    ], { kernel: canLoop });
  });

  it('ext3 (block-mapped) directories grow through indirect blocks', { timeout: 120_000 }, async () => {
    const img = await images.mkfs({ size: '64M', args: ['-t', 'ext3'], tree: [{ path: 'd', kind: 'dir' }, { path: 'f', data: 'x' }] });
    const [dIno, fIno] = await inodesOf(img, ['/d', '/f']);
    const w = await openWritableFs(img);
    const d = await w.inodes.get(dIno);
    const model: DirModel = new Map();
    // 1,000 names of 56 bytes: 16 blocks at 4 KiB, past the 12 direct slots of i_block.
    for (let i = 0; i < 1000; i++) {
      const name = `entry-${i}-${'n'.repeat(40)}`;
      await addOne(w, d, enc(name), fIno, EXT4_FT_REG_FILE);
      model.set(name, { ino: fIno, fileType: EXT4_FT_REG_FILE });
    }
    expect(d.size / w.fs.blockSize).toBeGreaterThan(12);
    await deleteOne(w, d, enc([...model.keys()][3]));
    model.delete([...model.keys()][3]);
    await fixLinks(w, [fIno], [model]);
    await w.close();
    await checkImage(img, [{ path: '/d', ino: dIno, model }], { kernel: canLoop });
  });

  it('a dentry cache over the same filesystem sees every change at once', { timeout: 120_000 }, async () => {
    const img = await images.mkfs({ size: '64M', args: ['-b', '4096'], tree: [{ path: 'd/a', data: '' }, { path: 'f', data: '' }, { path: 'l', kind: 'symlink', target: 'f' }] });
    const [dIno, aIno, fIno, lIno] = await inodesOf(img, ['/d', '/d/a', '/f', '/l']);
    const w = await openWritableFs(img);
    const d = await w.inodes.get(dIno);
    const reader = new DirReader(w.fs);
    const names = async (): Promise<string[]> => (await reader.list(d)).map((e) => latin1(e.name)).sort();
    expect(await names()).toEqual(['a']);
    // The listing is now cached; lookups are answered from it.
    await addOne(w, d, enc('b'), fIno, EXT4_FT_REG_FILE);
    expect(await reader.lookup(d, 'b')).toEqual({ ino: fIno, fileType: EXT4_FT_REG_FILE });
    await replaceOne(w, d, enc('b'), lIno, EXT4_FT_SYMLINK);
    expect(await reader.lookup(d, 'b')).toEqual({ ino: lIno, fileType: EXT4_FT_SYMLINK });
    await deleteOne(w, d, enc('a'));
    expect(await reader.lookup(d, 'a')).toBeUndefined();
    // Enough names to convert the directory to an htree while cached.
    for (let i = 0; i < 300; i++) await addOne(w, d, enc(`n${i}-${'z'.repeat(20)}`), fIno, EXT4_FT_REG_FILE);
    expect(d.isIndexedDir).toBe(true);
    expect(await reader.lookup(d, `n299-${'z'.repeat(20)}`)).toEqual({ ino: fIno, fileType: EXT4_FT_REG_FILE });
    expect((await names()).length).toBe(301);
    const model: DirModel = new Map((await reader.list(d)).map((e) => [latin1(e.name), { ino: e.ino, fileType: e.fileType }]));
    await fixLinks(w, [fIno, lIno], [model]);
    // "a" lost its only name above; it gets one back.
    await addOne(w, d, enc('a'), aIno, EXT4_FT_REG_FILE);
    model.set('a', { ino: aIno, fileType: EXT4_FT_REG_FILE });
    expect(await reader.lookup(d, 'a')).toEqual({ ino: aIno, fileType: EXT4_FT_REG_FILE });
    await w.close();
    await checkImage(img, [{ path: '/d', ino: dIno, model }], { kernel: false });
  });
});
