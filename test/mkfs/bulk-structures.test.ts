/**
 * The structures mkfs -d's bulk builder makes that the generated test tree
 * does not reach, through the library call (`mkfs(img, { populate })`):
 * extent trees two levels deep, a hashed directory with an index level
 * below its root, a host lost+found filled into the image's, attribute
 * blocks shared by several inodes, a target whose old bytes are not
 * discarded, and what happens to entries ext4 cannot hold. Each image is
 * checked by e2fsck -fn and, where loop mounts work, read back by the
 * kernel and compared with the source tree.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { mkfs, openVolume } from '../../src/index.js';
import { setTimesNs, setXattrs } from '../../src/host/host-ops.js';
import { expectSameTree, type CompareOptions } from '../helpers/compare-tree.js';
import { debugfs } from '../helpers/debugfs.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { canLoopMount, describeLoopSkip, withMountedImage } from '../helpers/loop.js';
import { keystream } from '../helpers/prng.js';
import { useTmpDir } from '../helpers/tmp.js';

const tmp = useTmpDir('bulk-structures');
const loopOk = await canLoopMount();
const loopSkip = loopOk ? '' : ` (kernel part skipped: ${await describeLoopSkip()})`;
const EXACT: CompareOptions = { times: 'ns', owners: true, xattrs: true };
const FIXED = { uuid: '0b5e4d1c-8f0e-4a3b-9d2c-1a2b3c4d5e6f', hashSeed: '5f6e7d8c-1234-4abc-8def-0123456789ab', time: 1_700_000_000 };

/** The kernel reads the image as the host tree (when loop mounts work). */
async function expectKernelSees(img: string, src: string, opts: CompareOptions = EXACT): Promise<void> {
  if (!loopOk) return;
  await withMountedImage(img, { readOnly: true }, (mnt) => expectSameTree(src, mnt.dir, opts));
}

/** The depth of the extent tree a debugfs `ex` listing shows, and how many leaf blocks it has. */
function extentLevels(ex: string): { depth: number; leaves: number } {
  const rows = [...ex.matchAll(/^\s*(\d+)\/\s*(\d+)\s+\d+\/\s*\d+\s/gm)].map((m) => ({ level: Number(m[1]), depth: Number(m[2]) }));
  const depth = Math.max(0, ...rows.map((r) => r.depth));
  // Each index entry one level above the leaves points at one leaf block.
  return { depth, leaves: rows.filter((r) => r.level === depth - 1).length };
}

/** Gives every entry below `root` (and the root) fixed times, so reading the tree (which moves atimes) changes nothing. */
async function pinTimes(root: string): Promise<void> {
  const paths = [root, ...(fs.readdirSync(root, { recursive: true }) as string[]).map((p) => path.join(root, p))];
  const errors = await setTimesNs(paths.map((p, i) => ({ path: p, atimeNs: 1_600_000_000_123_456_789n + BigInt(i), mtimeNs: 1_500_000_000_987_654_321n - BigInt(i) })));
  expect(errors).toEqual([]);
}

describe('mkfs -d structures', () => {
  for (const bs of [4096, 1024]) {
    it(`a file of scattered blocks gets a two-level extent tree (${bs}-byte blocks)${loopSkip}`, async () => {
      const src = tmp.fresh(`deep-extents-${bs}`);
      // More extents than four leaves hold: the root needs an index level above an index level.
      const perLeaf = (bs - 12) / 12 | 0;
      const chunks = 4 * perLeaf + 30;
      // Holes of 4 KiB or more between the blocks, so the host keeps them as holes too.
      const stride = Math.max(2 * bs, 8192);
      const fd = fs.openSync(path.join(src, 'scattered'), 'w');
      for (let i = 0; i < chunks; i++) fs.writeSync(fd, keystream(`deep/${bs}`, bs, i), 0, bs, i * stride);
      fs.closeSync(fd);
      fs.writeFileSync(path.join(src, 'after'), keystream('after', 3 * bs + 5));
      const img = tmp.file(`deep-extents-${bs}.img`);
      await mkfs(img, { size: 64 << 20, blockSize: bs, populate: { dir: src } });
      await expectFsckClean(img);
      const { depth, leaves } = extentLevels(await debugfs(img, 'ex /scattered'));
      expect(depth).toBe(2);
      expect(leaves).toBe(Math.ceil(chunks / perLeaf));
      await expectKernelSees(img, src);
      const vol = await openVolume(img, { readOnly: true });
      try {
        expect(Buffer.compare(await vol.promises.readFile('/scattered'), fs.readFileSync(path.join(src, 'scattered')))).toBe(0);
      } finally {
        await vol.close();
      }
    }, 120_000);
  }

  it(`sparse files keep their holes, an all-hole file included${loopSkip}`, async () => {
    const src = tmp.fresh('holes');
    const allHole = path.join(src, 'all-hole');
    fs.closeSync(fs.openSync(allHole, 'w'));
    fs.truncateSync(allHole, 64 << 20);
    const fd = fs.openSync(path.join(src, 'ends'), 'w');
    fs.writeSync(fd, keystream('ends', 5000), 0, 5000, 0);
    fs.writeSync(fd, keystream('ends2', 5000), 0, 5000, (40 << 20) - 5000);
    fs.closeSync(fd);
    const img = tmp.file('holes.img');
    await mkfs(img, { size: 64 << 20, blockSize: 4096, populate: { dir: src } });
    await expectFsckClean(img);
    const blockcount = async (n: string): Promise<number> => Number(/Blockcount: (\d+)/.exec(await debugfs(img, `stat /${n}`))![1]);
    expect(await blockcount('all-hole')).toBe(0);
    // Two data blocks at each end, host-rounded to 4 KiB.
    expect(await blockcount('ends')).toBe(4 * 8);
    await expectKernelSees(img, src);
  }, 120_000);

  it(`a directory of long names gets an htree with an index level below the root (1 KiB blocks), which a writable volume can grow${loopSkip}`, async () => {
    const src = tmp.fresh('two-level-htree');
    fs.mkdirSync(path.join(src, 'big'));
    // 250-byte names: three per 1 KiB leaf, so 500 names need more leaves than the root has slots.
    for (let i = 0; i < 500; i++) fs.writeFileSync(path.join(src, 'big', `${String(i).padStart(4, '0')}-${'n'.repeat(245)}`), `${i}`);
    const img = tmp.file('two-level-htree.img');
    await mkfs(img, { size: 64 << 20, blockSize: 1024, populate: { dir: src } });
    await expectFsckClean(img);
    expect(await debugfs(img, 'htree /big')).toMatch(/Indirect levels: 1/);
    await expectKernelSees(img, src);
    const vol = await openVolume(img);
    try {
      for (let i = 0; i < 50; i++) await vol.promises.writeFile(`/big/added-${i}-${'a'.repeat(200)}`, 'x');
      await vol.promises.unlink(`/big/0007-${'n'.repeat(245)}`);
    } finally {
      await vol.close();
    }
    await expectFsckClean(img);
  }, 120_000);

  it(`a lost+found in the host tree fills the image's, which keeps its pre-sized blocks${loopSkip}`, async () => {
    const src = tmp.fresh('lost-found');
    const lf = path.join(src, 'lost+found');
    fs.mkdirSync(lf, { mode: 0o700 });
    for (let i = 0; i < 300; i++) fs.writeFileSync(path.join(lf, `#${1000 + i}-recovered-file`), keystream('lf', 100, i));
    fs.writeFileSync(path.join(src, 'top'), 'top');
    fs.chmodSync(lf, 0o750);
    const img = tmp.file('lost-found.img');
    await mkfs(img, { size: 64 << 20, populate: { dir: src } });
    await expectFsckClean(img);
    // Still inode 11, not indexed (e2fsck reconnects files into it without an index).
    expect(await debugfs(img, 'stat /lost+found')).toMatch(/^Inode: 11\s/);
    expect(await debugfs(img, 'stat /lost+found')).not.toMatch(/Flags: .*0x1000/);
    await expectKernelSees(img, src, { ...EXACT, ignore: [] });
  }, 120_000);

  it(`identical xattrs share one attribute block, counted by its references${loopSkip}`, async () => {
    const src = tmp.fresh('shared-xattrs');
    const big = keystream('xattr', 2000);
    const names = ['a', 'b', 'c', 'd'];
    for (const n of names) fs.writeFileSync(path.join(src, n), n);
    const errors = await setXattrs(names.map((n) => ({ path: path.join(src, n), name: 'user.big', value: n === 'd' ? Buffer.from(big).reverse() : big })));
    expect(errors).toEqual([]);
    const img = tmp.file('shared-xattrs.img');
    await mkfs(img, { size: 64 << 20, blockSize: 4096, populate: { dir: src } });
    await expectFsckClean(img);
    const acl = async (n: string): Promise<number> => Number(/File ACL: (\d+)/.exec(await debugfs(img, `stat /${n}`))![1]);
    const blocks = await Promise.all(names.map(acl));
    expect(blocks[0]).not.toBe(0);
    expect(new Set(blocks.slice(0, 3)).size).toBe(1);
    expect(blocks[3]).not.toBe(blocks[0]);
    await expectKernelSees(img, src);
  }, 120_000);

  it(`a target whose old bytes stay (a file larger than the filesystem) is zeroed where it must be${loopSkip}`, async () => {
    const src = tmp.fresh('not-discarded');
    fs.mkdirSync(path.join(src, 'd'));
    for (let i = 0; i < 40; i++) fs.writeFileSync(path.join(src, 'd', `f${i}`), keystream('nd', 3000 * i, i));
    const img = tmp.file('not-discarded.img');
    // Old contents everywhere: a filesystem of 48 MiB at the start of a 64 MiB file is not discarded.
    const fh = await fsp.open(img, 'w');
    const junk = Buffer.alloc(1 << 20, 0xa5);
    for (let i = 0; i < 64; i++) await fh.write(junk);
    await fh.close();
    await mkfs(img, { size: 48 << 20, populate: { dir: src } });
    await expectFsckClean(img);
    await expectKernelSees(img, src);
  }, 120_000);

  it('the same tree, UUID, hash seed and time give the same image, byte for byte', async () => {
    const src = tmp.fresh('reproducible');
    fs.mkdirSync(path.join(src, 'many'));
    for (let i = 0; i < 400; i++) fs.writeFileSync(path.join(src, 'many', `file-${i}`), keystream('r', i * 37, i));
    const a = tmp.file('repro-a.img');
    const b = tmp.file('repro-b.img');
    await pinTimes(src);
    await mkfs(a, { size: 64 << 20, ...FIXED, populate: { dir: src } });
    await pinTimes(src);
    await mkfs(b, { size: 64 << 20, ...FIXED, populate: { dir: src } });
    await expectFsckClean(a);
    expect(Buffer.compare(fs.readFileSync(a), fs.readFileSync(b))).toBe(0);
  }, 120_000);

  it('entries ext4 cannot hold are reported, and everything else is copied', async () => {
    const src = tmp.fresh('unstorable');
    fs.writeFileSync(path.join(src, 'kept'), 'kept');
    // On 1 KiB blocks a symlink target must be shorter than 1024 bytes.
    fs.symlinkSync('t'.repeat(1500), path.join(src, 'long-link'));
    fs.symlinkSync('t'.repeat(1000), path.join(src, 'ok-link'));
    fs.writeFileSync(path.join(src, 'xattrs'), 'x');
    // Two 900-byte values: the block takes one, the other fits nowhere.
    expect(await setXattrs([
      { path: path.join(src, 'xattrs'), name: 'user.one', value: keystream('x1', 900) },
      { path: path.join(src, 'xattrs'), name: 'user.two', value: keystream('x2', 900) },
    ])).toEqual([]);
    const img = tmp.file('unstorable.img');
    const seen: Array<{ path: string; code: unknown; message: string }> = [];
    await mkfs(img, {
      size: 16 << 20, blockSize: 1024,
      populate: { dir: src, onError: (p, e) => seen.push({ path: p.toString(), code: (e as { code?: unknown }).code, message: String(e) }) },
    });
    expect(seen.map((s) => [path.basename(s.path), s.code])).toEqual([['long-link', 'ENAMETOOLONG'], ['xattrs', 'ENOSPC']]);
    // Which of the two is left out depends on the order the host lists them in.
    const dropped = /user\.(one|two)/.exec(seen[1].message)![0];
    await expectFsckClean(img);
    const vol = await openVolume(img, { readOnly: true });
    try {
      expect((await vol.promises.readdir('/')).sort()).toEqual(['kept', 'lost+found', 'ok-link', 'xattrs']);
      expect(await vol.promises.readlink('/ok-link')).toBe('t'.repeat(1000));
      expect([...(await vol.promises.listxattr('/xattrs'))]).toEqual([dropped === 'user.one' ? 'user.two' : 'user.one']);
    } finally {
      await vol.close();
    }

    // Without onError the first such entry fails mkfs, and a file mkfs created is removed again.
    const img2 = tmp.file('unstorable-2.img');
    await expect(mkfs(img2, { size: 16 << 20, blockSize: 1024, populate: { dir: src } })).rejects.toMatchObject({ code: 'ENAMETOOLONG' });
    expect(fs.existsSync(img2)).toBe(false);
  }, 120_000);
});
