/**
 * Directory changes at scale, on images made by mkfs.ext4: thousands of
 * names of every length (1..255 bytes, some not UTF-8) added to one
 * directory, a random part deleted, some re-pointed at other inodes
 * (rename over a name), subdirectories moved in and out (".." and link
 * counts), then more names added. After each phase the image is closed and
 * checked against the model by e2fsck -fn, debugfs (ls -l, and a walk of
 * the htree), our own read path (readdir, and a hashed lookup of every
 * name), and the kernel (readdir and lstat of every name).
 *
 * Kinds: 4 KiB blocks with and without metadata_csum (the latter with
 * 50,000 names: a two-level index), 1 KiB blocks with the tea hash in its
 * unsigned variant, and ^dir_index (the directory stays linear and grows a
 * block at a time).
 */
import { describe, expect, it } from 'vitest';
import { useImages } from '../helpers/images.js';
import { debugfs, type HtreeDump } from '../helpers/debugfs.js';
import { canLoopMount, describeLoopSkip } from '../helpers/loop.js';
import { Rng } from '../helpers/prng.js';
import { openWritableFs, type WritableFs } from '../helpers/writable-fs.js';
import { EXT4_FT_DIR, EXT4_FT_FIFO, EXT4_FT_REG_FILE, EXT4_FT_SYMLINK } from '../../src/format/dirent.js';
import { EXT4_INDEX_FL } from '../../src/format/inode.js';
import type { Ext4Inode } from '../../src/inode/ext4-inode.js';
import {
  addOne, bytes, checkImage, deleteOne, fixLinks, inodesOf, latin1, moveDir, randomName, replaceOne, testSeed, type DirModel,
} from './dir-harness.js';

const images = useImages('dir-write');
const canLoop = await canLoopMount();
if (!canLoop) console.warn(await describeLoopSkip());

interface Kind {
  name: string;
  args: string[];
  size: string;
  entries: number;
  /** debugfs -w requests run on the fresh image (hash algorithm and signedness). */
  tweak?: string[];
  indexed: boolean;
  /** Index levels below the root expected after the first phase. */
  levels?: number;
  /** ^filetype: entries carry no type (0). */
  noFileType?: boolean;
}

const KINDS: Kind[] = [
  { name: '4 KiB blocks, metadata_csum', args: ['-b', '4096'], size: '256M', entries: 5000, indexed: true, levels: 0 },
  { name: '4 KiB blocks, no metadata_csum, 50,000 names', args: ['-b', '4096', '-O', '^metadata_csum'], size: '512M', entries: 50_000, indexed: true, levels: 1 },
  {
    name: '1 KiB blocks, metadata_csum, unsigned tea hash', args: ['-b', '1024'], size: '128M', entries: 5000, indexed: true, levels: 1,
    tweak: ['ssv def_hash_version tea', 'ssv flags 2'],
  },
  { name: '4 KiB blocks, ^dir_index', args: ['-b', '4096', '-O', '^dir_index'], size: '256M', entries: 5000, indexed: false },
  {
    name: '2 KiB blocks, ^filetype, legacy hash', args: ['-b', '2048', '-O', '^filetype'], size: '128M', entries: 3000, indexed: true, levels: 0,
    tweak: ['ssv def_hash_version legacy'], noFileType: true,
  },
];

const TARGETS = ['/t/f0', '/t/f1', '/t/f2', '/t/f3', '/t/f4', '/t/f5', '/t/l0', '/t/p0'];
const TARGET_TYPES = [EXT4_FT_REG_FILE, EXT4_FT_REG_FILE, EXT4_FT_REG_FILE, EXT4_FT_REG_FILE, EXT4_FT_REG_FILE, EXT4_FT_REG_FILE, EXT4_FT_SYMLINK, EXT4_FT_FIFO];
const SUBDIRS = 8;

describe('directory writes against e2fsck, debugfs, our reader and the kernel', () => {
  for (const kind of KINDS) {
    it(kind.name, { timeout: 900_000 }, async () => {
      const seed = testSeed(`dir-write ${kind.name}`);
      const rng = new Rng(seed);
      const img = await images.mkfs({
        size: kind.size, args: kind.args,
        tree: [
          { path: 'd', kind: 'dir' },
          { path: 't/f0', data: 'zero' }, ...[1, 2, 3, 4, 5].map((i) => ({ path: `t/f${i}`, data: '' })),
          { path: 't/l0', kind: 'symlink' as const, target: 'f0' }, { path: 't/p0', kind: 'fifo' as const },
          ...Array.from({ length: SUBDIRS }, (_, i) => ({ path: `m/s${i}/inner`, data: `in ${i}` })),
        ],
      });
      if (kind.tweak !== undefined) for (const req of kind.tweak) await debugfs(img, req, true);
      const [dIno, mIno, ...rest] = await inodesOf(img, ['/d', '/m', ...TARGETS, ...Array.from({ length: SUBDIRS }, (_, i) => `/m/s${i}`)]);
      const targets = rest.slice(0, TARGETS.length);
      const subdirs = rest.slice(TARGETS.length);
      const model: DirModel = new Map();
      const dirType = kind.noFileType === true ? 0 : EXT4_FT_DIR;
      const mModel: DirModel = new Map(subdirs.map((ino, i) => [`s${i}`, { ino, fileType: dirType }]));
      const dirsInD = new Set<string>();
      const deleted: Uint8Array[] = [];

      const pickTarget = (): { ino: number; fileType: number } => {
        const i = rng.int(0, targets.length - 1);
        return { ino: targets[i], fileType: kind.noFileType === true ? 0 : TARGET_TYPES[i] };
      };
      const open = async (): Promise<{ w: WritableFs; d: Ext4Inode; m: Ext4Inode }> => {
        const w = await openWritableFs(img);
        const d = await w.inodes.get(dIno);
        const m = await w.inodes.get(mIno);
        d.refCount++;
        m.refCount++;
        return { w, d, m };
      };
      const moveIn = async (w: WritableFs, d: Ext4Inode, m: Ext4Inode): Promise<void> => {
        const [key, e] = [...mModel][rng.int(0, mModel.size - 1)];
        const newName = randomName(rng, model);
        await moveDir(w, m, d, bytes(key), newName, await w.inodes.get(e.ino));
        mModel.delete(key);
        model.set(latin1(newName), e);
        dirsInD.add(latin1(newName));
      };
      const moveOut = async (w: WritableFs, d: Ext4Inode, m: Ext4Inode): Promise<void> => {
        const key = [...dirsInD][rng.int(0, dirsInD.size - 1)];
        const e = model.get(key)!;
        const newName = randomName(rng, mModel, { maxLen: 40 });
        await moveDir(w, d, m, bytes(key), newName, await w.inodes.get(e.ino));
        model.delete(key);
        dirsInD.delete(key);
        mModel.set(latin1(newName), e);
      };
      const finish = async (w: WritableFs): Promise<void> => {
        await fixLinks(w, targets, [model]);
        await w.close();
      };
      const check = async (): Promise<Array<HtreeDump | undefined>> => {
        return checkImage(img, [{ path: '/d', ino: dIno, model }, { path: '/m', ino: mIno, model: mModel }], { kernel: canLoop, absent: deleted.slice(0, 200) });
      };

      // Phase 1: fill, moving some subdirectories in along the way.
      let { w, d, m } = await open();
      for (let i = 0; i < kind.entries; i++) {
        const name = randomName(rng, model);
        const t = pickTarget();
        await addOne(w, d, name, t.ino, t.fileType);
        model.set(latin1(name), t);
        if (i % Math.floor(kind.entries / 6) === 7 && mModel.size > 2) await moveIn(w, d, m);
      }
      expect((d.disk.flags & EXT4_INDEX_FL) !== 0).toBe(kind.indexed);
      await finish(w);
      const dumps = await check();
      if (kind.levels !== undefined) expect(dumps[0]?.indirectLevels).toBe(kind.levels);

      // Phase 2: delete about 40%, re-point about 10% of the rest, move a subdirectory back out.
      ({ w, d, m } = await open());
      for (const key of [...model.keys()]) {
        if (dirsInD.has(key)) continue;
        if (rng.chance(0.4)) {
          expect(await deleteOne(w, d, bytes(key))).toBe(model.get(key)!.ino);
          model.delete(key);
          deleted.push(bytes(key));
        } else if (rng.chance(0.1)) {
          const t = pickTarget();
          expect(await replaceOne(w, d, bytes(key), t.ino, t.fileType)).toBe(model.get(key)!.ino);
          model.set(key, t);
        }
      }
      if (dirsInD.size > 0) await moveOut(w, d, m);
      await finish(w);
      await check();

      // Phase 3: add a third as many again, a quarter of them names deleted before.
      ({ w, d, m } = await open());
      for (let i = 0; i < Math.floor(kind.entries / 3); i++) {
        const reuse = rng.chance(0.25) && deleted.length > 0 ? deleted.splice(rng.int(0, deleted.length - 1), 1)[0] : undefined;
        const name = reuse !== undefined && !model.has(latin1(reuse)) ? reuse : randomName(rng, model);
        const t = pickTarget();
        await addOne(w, d, name, t.ino, t.fileType);
        model.set(latin1(name), t);
      }
      if (mModel.size > 0) await moveIn(w, d, m);
      await finish(w);
      await check();
    });
  }
});
