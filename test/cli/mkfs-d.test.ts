/**
 * `ext4kit mkfs -d TREE IMG SIZE` (the bulk builder in src/mkfs/bulk-*.ts)
 * for each block size, with and without inline_data, 64bit and
 * metadata_csum: e2fsck -fn finds nothing, and the kernel reading the
 * image through a loop mount sees the generated tree byte for byte with
 * modes, owners, nanosecond times, hard links, special files and xattrs.
 * The full-size tree is also read back by ext4kit (every inode against
 * the kernel's lstat; a copy out compared with the source), then changed
 * through a writable volume, after which e2fsck is still clean and the
 * kernel sees exactly the changes. Without loop mounts, debugfs rdump and
 * ext4kit's own copy out are the readers.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openVolume } from '../../src/index.js';
import { applyChanges, change, copyTree, settleTimes, type Change } from '../e2e/tree-changes.js';
import { keystream } from '../helpers/prng.js';
import { expectSameTree } from '../helpers/compare-tree.js';
import { debugfs } from '../helpers/debugfs.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { canLoopMount, describeLoopSkip, withMountedImage } from '../helpers/loop.js';
import { useTmpDir } from '../helpers/tmp.js';
import { generateTree, hostPathsBelow, restoreTimes, type TreeManifest } from '../helpers/tree.js';
import { runBuiltCli } from './built-cli.js';

const tmp = useTmpDir('mkfs-d');
const loopOk = await canLoopMount();
const loopSkip = await describeLoopSkip();
const cli = (...args: string[]) => runBuiltCli(args, { env: { LC_ALL: 'C', TZ: 'UTC' }, timeoutMs: 300_000 });

let m: TreeManifest;
beforeAll(async () => {
  // Sized for 1 KiB blocks too (slow symlinks and xattrs that fit one block).
  m = await generateTree(tmp.file('src'), { seed: 23, scale: 'small', blockSize: 1024 });
}, 120_000);

const kinds: Array<[string, string[]]> = [
  ['4 KiB blocks (defaults)', []],
  ['1 KiB blocks', ['-b', '1024']],
  ['2 KiB blocks, no 64bit', ['-b', '2048', '-O', '^64bit']],
  ['4 KiB blocks, inline_data', ['-O', 'inline_data']],
  ['1 KiB blocks, inline_data, no 64bit', ['-b', '1024', '-O', 'inline_data,^64bit']],
];

describe('mkfs -d TREE', () => {
  let n = 0;
  for (const [name, args] of kinds) {
    it(`${name}: e2fsck is clean and the kernel sees the tree${loopOk ? '' : ` (kernel part skipped: ${loopSkip})`}`, async () => {
      const img = tmp.file(`mkfs-${++n}.img`);
      await restoreTimes(m);
      const r = await cli('mkfs', '-q', ...args, '-d', m.root, img, '512M');
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.out).toBe('');
      await expectFsckClean(img);
      if (loopOk) {
        await restoreTimes(m);
        await withMountedImage(img, { readOnly: true }, async (mnt) => {
          await expectSameTree(m.root, mnt.dir, { times: 'ns', owners: true, xattrs: true });
          const [a, b] = [fs.statSync(m.root, { bigint: true }), fs.statSync(mnt.dir, { bigint: true })];
          expect([b.mode, b.uid, b.gid, b.mtimeNs]).toEqual([a.mode, a.uid, a.gid, a.mtimeNs]);
        });
      } else {
        const out = tmp.fresh('rdump');
        await debugfs(img, `rdump / ${out}`);
        await expectSameTree(m.root, out, { times: 'none', owners: false, xattrs: false });
      }
    }, 300_000);
  }

  it('an entry the image cannot hold is reported by its host path, the rest is copied, and the exit status is 1', async () => {
    const src = tmp.fresh('unstorable');
    fs.writeFileSync(path.join(src, 'kept'), 'kept');
    const link = path.join(src, 'too-long');
    fs.symlinkSync('t'.repeat(1500), link);
    const img = tmp.file('unstorable.img');
    const r = await cli('mkfs', '-q', '-b', '1024', '-d', src, img, '16M');
    expect(r.stderr).toBe(`ext4kit: mkfs: ${link}: symlink target of 1500 bytes does not fit a 1024-byte block (ENAMETOOLONG)\n`);
    expect(r.code).toBe(1);
    await expectFsckClean(img);
    expect((await debugfs(img, 'ls /')).split(/\s+/).filter((w) => /^[a-z+-]+$/.test(w)).sort()).toEqual(['kept', 'lost+found']);
  });

  it('a -d that is not a folder fails before anything is written', async () => {
    const img = tmp.file('never.img');
    const file = tmp.file('plain-file');
    fs.writeFileSync(file, 'x');
    const r = await cli('mkfs', '-d', file, img, '16M');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ext4kit: mkfs: ${img}: ${file} is not a directory (ENOTDIR)\n`);
    expect(fs.existsSync(img)).toBe(false);
    const r2 = await cli('mkfs', '-d', tmp.file('missing-dir'), img, '16M');
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/no such file or directory \(ENOENT\)\n$/);
    expect(fs.existsSync(img)).toBe(false);
  });
});

/** What a writable volume does to the tree mkfs -d made (and the host copy gets the same). */
function changesFor(m: TreeManifest): Change[] {
  const data = (label: string, n: number): Buffer => keystream(`mkfs-d/${label}`, n);
  const inHtree = [...m.emptyFiles, ...m.smallFiles].filter((f) => f.startsWith(`${m.htreeDir}/`));
  return [
    change.writeFile(`${m.htreeDir}/added-by-ext4kit`, data('added', 5000)),
    change.mkdir(`${m.htreeDir}/a-new-directory`),
    change.rename(inHtree[0], `${m.htreeDir}/renamed-in-place`),
    change.rename(inHtree[1], 'tree/moved-out-of-htree'),
    change.unlink(inHtree[2]),
    change.appendFile(m.bigFiles[0], data('append', 100_000)),
    change.writeAt(m.sparseFile!, 3 * 4096 + 5, data('into-hole', 10_000)),
    change.truncate(m.manyExtentsFile, 5000),
    change.truncate(m.holeFile, 3 << 20),
    change.setxattr(m.bigXattr.path, 'user.more', Buffer.from('added later')),
    change.setxattr(m.hardLinkGroups[1][0], 'user.shared', Buffer.from('changed')),
    change.unlink(m.hardLinkGroups[1][1]),
    change.symlink('s'.repeat(300), 'tree/new-slow-link'),
    change.writeFile('names/small-new', data('small', 40)),
    change.rmRecursive('deep/level2/level3'),
  ];
}

/** ext4kit's read-only volume decodes every inode as the kernel does. */
async function expectVolumeMatchesKernel(img: string, mntDir: string): Promise<void> {
  const vol = await openVolume(img, { readOnly: true });
  try {
    for (const p of ['', ...(await hostPathsBelow(mntDir))]) {
      const k = await fsp.lstat(path.join(mntDir, p), { bigint: true });
      const o = await vol.promises.lstat(p === '' ? '/' : p, { bigint: true });
      const pick = (st: typeof k | typeof o) => ({
        ino: st.ino, mode: st.mode, nlink: st.nlink, uid: st.uid, gid: st.gid, size: st.size, blocks: st.blocks,
        mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, atimeNs: st.atimeNs, birthtimeNs: st.birthtimeNs, rdev: st.rdev,
      });
      expect(pick(o), p).toEqual(pick(k));
    }
  } finally {
    await vol.close();
  }
}

const fullKinds: Array<{ name: string; args: string[]; blockSize: number }> = [
  { name: '4 KiB blocks (defaults)', args: [], blockSize: 4096 },
  { name: '1 KiB blocks', args: ['-b', '1024'], blockSize: 1024 },
  { name: 'no 64bit', args: ['-O', '^64bit'], blockSize: 4096 },
  { name: 'no metadata_csum', args: ['-O', '^metadata_csum'], blockSize: 4096 },
  { name: 'inline_data', args: ['-O', 'inline_data'], blockSize: 4096 },
];

describe('mkfs -d of the full-size tree (a 5,000-name directory, a 5 GiB sparse file, thousands of entries)', () => {
  const trees = new Map<number, TreeManifest>();
  const treeFor = async (blockSize: number): Promise<TreeManifest> => {
    let t = trees.get(blockSize);
    if (t === undefined) {
      t = await generateTree(tmp.file(`full-${blockSize}`), { seed: 5, scale: 'full', blockSize });
      trees.set(blockSize, t);
    }
    return t;
  };
  let n = 0;
  for (const kind of fullKinds) {
    it(`${kind.name}: e2fsck is clean, the big directory is hashed, the kernel and ext4kit read the tree, and a writable volume can change it${loopOk ? '' : ` (kernel parts skipped: ${loopSkip})`}`, async () => {
      const full = await treeFor(kind.blockSize);
      const dir = tmp.fresh(`full-${++n}`);
      const img = path.join(dir, 'image.img');
      await restoreTimes(full);
      const r = await cli('mkfs', '-q', ...kind.args, '-d', full.root, img, '2G');
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      await expectFsckClean(img);
      expect(await debugfs(img, `htree /${full.htreeDir}`)).toMatch(/Root node dump:/);
      const sparse = await debugfs(img, `stat /${full.sparseFile!}`);
      expect(Number(/Blockcount: (\d+)/.exec(sparse)![1]) * 512).toBeLessThan(64 << 20);

      // ext4kit's reader: a copy out of the image is the tree.
      const out = path.join(dir, 'out');
      const c = await cli('cp', '-a', `${img}:/`, out);
      expect(c.stderr).toBe('');
      expect(c.code).toBe(0);
      await expectSameTree(full.root, out, { times: 'ns', owners: true, xattrs: true });

      if (loopOk) {
        await restoreTimes(full);
        await withMountedImage(img, { readOnly: true }, async (mnt) => {
          await expectSameTree(full.root, mnt.dir, { times: 'ns', owners: true, xattrs: true });
          const [a, b] = [fs.statSync(full.root, { bigint: true }), fs.statSync(mnt.dir, { bigint: true })];
          expect([b.mode, b.uid, b.gid, b.mtimeNs]).toEqual([a.mode, a.uid, a.gid, a.mtimeNs]);
          await expectVolumeMatchesKernel(img, mnt.dir);
        });
      }

      // A writable volume changes it (the htree directory included); the host copy gets the same changes.
      const expected = path.join(dir, 'expected');
      await fsp.mkdir(expected);
      await copyTree(full.root, expected);
      const vol = await openVolume(img);
      try {
        const touched = await applyChanges(vol.promises, expected, changesFor(full));
        await settleTimes(vol.promises, expected, touched, (i) => 1_600_000_000 + 1000 * i);
      } finally {
        await vol.close();
      }
      await expectFsckClean(img);
      if (loopOk) {
        await withMountedImage(img, { readOnly: true }, (mnt) => expectSameTree(expected, mnt.dir, { times: 'ns', owners: true, xattrs: true }));
      }
    }, 600_000);
  }
});
