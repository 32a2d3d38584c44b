/**
 * Linux as the judge of what mkfs makes: every variant is loop-mounted, a
 * small tree is written by the kernel (directories, many small files, a
 * multi-megabyte file, a symlink), unmounted, checked with e2fsck -fn, and
 * read back through ext4kit's reader. Includes targets whose old contents
 * were not discarded: an existing file full of garbage, and a block device
 * (a loop device), where mkfs must zero what the kernel will read.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { mkfs, openVolume, type MkfsOptions } from '../../src/index.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { canLoopMount, describeLoopSkip, withMountedImage } from '../helpers/loop.js';
import { keystream } from '../helpers/prng.js';
import { runChecked } from '../helpers/run.js';
import { useTmpDir } from '../helpers/tmp.js';
import { GiB, MiB } from './parity-cases.js';

const tmp = useTmpDir('mkfs-kernel');
const loopOk = await canLoopMount();
const loopSkip = await describeLoopSkip();

const BIG = keystream('mkfs-kernel big file', 5 * MiB + 123);

/** Writes the tree through the kernel, then checks it reads back the same through ext4kit. */
async function exerciseWithKernel(img: string): Promise<void> {
  await withMountedImage(img, {}, async (m) => {
    const lf = await fsp.readdir(path.join(m.dir, 'lost+found'));
    expect(lf).toEqual([]);
    await fsp.mkdir(path.join(m.dir, 'a/b/c'), { recursive: true });
    for (let i = 0; i < 300; i++) await fsp.writeFile(path.join(m.dir, 'a', `f${i}`), `file ${i}\n`);
    await fsp.writeFile(path.join(m.dir, 'a/b/c/big'), BIG);
    await fsp.symlink('a/b/c/big', path.join(m.dir, 'link'));
  });
  await expectFsckClean(img);
  const v = await openVolume(img, { readOnly: true });
  try {
    expect((await v.promises.readdir('/')).sort()).toEqual(['a', 'link', 'lost+found']);
    expect((await v.promises.readdir('/a')).length).toBe(301);
    expect(await v.promises.readFile('/a/f299', 'utf8')).toBe('file 299\n');
    expect((await v.promises.readFile('/link')).equals(BIG)).toBe(true);
  } finally {
    await v.close();
  }
}

interface Variant { name: string; size: number; options: MkfsOptions }

const VARIANTS: readonly Variant[] = [
  { name: 'defaults, 1K blocks', size: 64 * MiB, options: {} },
  { name: 'defaults, 4K blocks', size: GiB, options: {} },
  { name: '2K blocks', size: 256 * MiB, options: { blockSize: 2048 } },
  { name: '^64bit', size: 512 * MiB, options: { blockSize: 4096, features: ['^64bit'] } },
  { name: '^metadata_csum', size: 64 * MiB, options: { features: ['^metadata_csum'] } },
  { name: '^metadata_csum,uninit_bg', size: 64 * MiB, options: { features: ['^metadata_csum', 'uninit_bg'] } },
  { name: 'inline_data', size: 64 * MiB, options: { features: ['inline_data'] } },
  { name: '^has_journal', size: 64 * MiB, options: { features: ['^has_journal'] } },
  { name: '^flex_bg', size: 300 * MiB, options: { features: ['^flex_bg'] } },
  { name: '^resize_inode', size: 300 * MiB, options: { features: ['^resize_inode'] } },
  { name: '^extent,^64bit', size: 64 * MiB, options: { features: ['^extent', '^64bit'] } },
  { name: '-I 128', size: 64 * MiB, options: { inodeSize: 128 } },
  { name: '-N 2000', size: 64 * MiB, options: { inodes: 2000 } },
  { name: '-J size=1024 on 5G (journal extent tree with a leaf block)', size: 5 * GiB, options: { journalSizeMB: 1024 } },
  { name: 'root owned by 1000:1000', size: 64 * MiB, options: { rootOwner: { uid: 1000, gid: 1000 } } },
];

describe('Linux mounts what mkfs makes, writes to it, and e2fsck finds nothing wrong', () => {
  if (!loopOk) {
    it.skip(loopSkip, () => undefined);
    return;
  }
  for (const v of VARIANTS) {
    it(v.name, async () => {
      const img = tmp.file(`${v.name.replace(/[^\w]+/g, '_')}.img`);
      await mkfs(img, { ...v.options, size: v.size });
      await expectFsckClean(img);
      await exerciseWithKernel(img);
    }, 300_000);
  }

  it('an existing file full of old data (not discarded: lazy inode tables, zeroed journal)', async () => {
    const img = tmp.file('garbage.img');
    // Larger than the filesystem, so mkfs cannot truncate the old contents away.
    await fsp.writeFile(img, keystream('mkfs-kernel garbage', 70 * MiB));
    await mkfs(img, { size: 64 * MiB, force: true });
    expect((await fsp.stat(img)).size).toBe(70 * MiB);
    await expectFsckClean(img);
    await exerciseWithKernel(img);
  }, 300_000);

  it('a block device (loop device over old data)', async () => {
    const backing = tmp.file('blockdev.img');
    await fsp.writeFile(backing, keystream('mkfs-kernel blockdev', 48 * MiB));
    const dev = (await runChecked('losetup', ['--find', '--show', backing])).stdout.trim();
    try {
      const r = await mkfs(dev, { lazyItableInit: false });
      expect(r.blocksCount).toBe(48 * 1024);
      await expect(mkfs(dev)).rejects.toMatchObject({ code: 'EEXIST' });
    } finally {
      await runChecked('losetup', ['-d', dev]);
    }
    await expectFsckClean(backing);
    await exerciseWithKernel(backing);
  }, 300_000);
});
