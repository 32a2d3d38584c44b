/**
 * `ext4kit mkfs -d TREE IMG SIZE` for each block size, with and without
 * inline_data and 64bit: e2fsck -fn finds nothing, and the kernel reading
 * the image through a loop mount sees the generated tree byte for byte with
 * modes, owners, nanosecond times, hard links, special files and xattrs.
 * Without loop mounts, debugfs rdump is the reader (names, types, contents).
 */
import * as fs from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectSameTree } from '../helpers/compare-tree.js';
import { debugfs } from '../helpers/debugfs.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { canLoopMount, describeLoopSkip, withMountedImage } from '../helpers/loop.js';
import { useTmpDir } from '../helpers/tmp.js';
import { generateTree, restoreTimes, type TreeManifest } from '../helpers/tree.js';
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

describe('mkfs -d of the full-size tree (a 5,000-name directory, a 5 GiB sparse file, thousands of entries)', () => {
  it(`the big directory is hashed (htree), e2fsck is clean, and the kernel sees the tree${loopOk ? '' : ` (kernel part skipped: ${loopSkip})`}`, async () => {
    const full = await generateTree(tmp.file('full'), { seed: 5, scale: 'full' });
    const img = tmp.file('full.img');
    await restoreTimes(full);
    const r = await cli('mkfs', '-q', '-d', full.root, img, '2G');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    await expectFsckClean(img);
    expect(await debugfs(img, `htree /${full.htreeDir}`)).toMatch(/Root node dump:/);
    const sparse = await debugfs(img, `stat /${full.sparseFile!}`);
    expect(Number(/Blockcount: (\d+)/.exec(sparse)![1]) * 512).toBeLessThan(64 << 20);
    if (loopOk) {
      await restoreTimes(full);
      await withMountedImage(img, { readOnly: true }, async (mnt) => {
        await expectSameTree(full.root, mnt.dir, { times: 'ns', owners: true, xattrs: true });
      });
    }
  }, 600_000);
});
