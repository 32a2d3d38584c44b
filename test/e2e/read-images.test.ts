/**
 * The proof of the read path, end to end: for every image kind, a generated
 * tree goes into an image written by the real tools, comes back out through
 * `ext4kit cp -a` (the built executable, on the real engine), and must be the
 * same tree: contents, modes, owners, atimes and mtimes at the precision the
 * image stores, symlink targets, link counts and hard links, special files,
 * xattrs and ACLs. Reading must leave the image untouched and e2fsck-clean.
 *
 * Images written by the kernel (loop mount) store nanoseconds and are laid
 * out differently (delayed allocation, htrees grown entry by entry, deep
 * extent trees); for those the copy is checked to the nanosecond against the
 * source, and against what GNU cp -a copies out of the kernel's own mount.
 */
import * as fs from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { runBuiltCli } from '../cli/built-cli.js';
import { expectSameTree } from '../helpers/compare-tree.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { buildImage, buildKernelImage, E2E_IMAGE_KINDS, imageKind, type ImageKind } from '../helpers/images.js';
import { canLoopMount, describeLoopSkip, withMountedImage } from '../helpers/loop.js';
import { runChecked } from '../helpers/run.js';
import { useTmpDir } from '../helpers/tmp.js';
import { generateTree, restoreTimes, type TreeManifest } from '../helpers/tree.js';

const tmp = useTmpDir('read-images');
const asRoot = process.getuid?.() === 0;
const loopOk = await canLoopMount();
const loopSkip = await describeLoopSkip();

/**
 * One 'full' tree per block size the kinds need (mke2fs refuses symlink
 * targets and xattrs that do not fit a block, so small-block kinds get a
 * tree sized for them); generated once and shared by every kind.
 */
const trees = new Map<number, Promise<TreeManifest>>();
function treeFor(blockSize: number): Promise<TreeManifest> {
  const bs = blockSize >= 4096 ? 4096 : 1024;
  let t = trees.get(bs);
  if (t === undefined) {
    t = generateTree(tmp.file(`src-${bs}`), { seed: 20240501 + bs, scale: 'full', blockSize: bs });
    trees.set(bs, t);
  }
  return t;
}

beforeAll(async () => {
  await treeFor(4096);
  await treeFor(1024);
});

/** What reading must not change: size and every timestamp of the image file. */
function imageFingerprint(img: string): string {
  const st = fs.statSync(img, { bigint: true });
  return `${st.size} ${st.mtimeNs} ${st.ctimeNs}`;
}

async function copyOut(img: string, out: string): Promise<void> {
  const r = await runBuiltCli(['cp', '-a', `${img}:/`, out], { timeoutMs: 180_000 });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
}

describe('ext4kit cp -a reproduces the tree of every image kind', () => {
  for (const kind of E2E_IMAGE_KINDS) {
    it(kind.name, async () => {
      const m = await treeFor(kind.blockSize);
      // mke2fs and earlier comparisons read the source, which moves atimes: put them back first.
      await restoreTimes(m);
      const img = tmp.file(`${kind.name}.img`);
      const out = tmp.file(`${kind.name}-out`);
      await buildImage(kind, m.root, img);
      const before = imageFingerprint(img);
      await copyOut(img, out);
      // mke2fs read the source after noting its times: set them back before comparing.
      await restoreTimes(m);
      // mke2fs -d shortens files that end in a hole on inline_data images, so
      // for those the image, not the source, is the reference: debugfs reads it.
      const shortened = kind.mkfsLosesTrailingHoles ? m.trailingHoleFiles : [];
      await expectSameTree(m.root, out, {
        times: kind.timePrecision, wrapTimes32: kind.wrapTimes32, atime: true, owners: asRoot, xattrs: true,
        ignore: ['lost+found', ...shortened],
      });
      for (const rel of shortened) {
        const dumped = tmp.file(`${kind.name}-dump`);
        await runChecked('debugfs', ['-R', `dump /${rel} ${dumped}`, img]);
        const expected = await fs.promises.readFile(dumped);
        const actual = await fs.promises.readFile(`${out}/${rel}`);
        expect(actual.length, rel).toBe(expected.length);
        expect(Buffer.compare(actual, expected), rel).toBe(0);
      }
      expect(imageFingerprint(img)).toBe(before);
      await expectFsckClean(img);
      await fs.promises.rm(out, { recursive: true, force: true });
      await fs.promises.rm(img, { force: true });
    }, 240_000);
  }
});

/** Kernel-written images, checked at the precision the kernel stores. */
const KERNEL_KINDS: ReadonlyArray<ImageKind['name']> = ['default', 'inline_data'];

describe('images written by the kernel', () => {
  if (!loopOk) {
    it.skip(loopSkip, () => undefined);
    return;
  }
  for (const name of KERNEL_KINDS) {
    it(`${name}: to the nanosecond, and the same as cp -a from the kernel's mount`, async () => {
      const kind = imageKind(name);
      const m = await treeFor(4096);
      await restoreTimes(m);
      const img = tmp.file(`kernel-${name}.img`);
      // Two copies: comparing a tree reads its directories, which moves their atimes.
      const out = tmp.file(`kernel-${name}-out`);
      const out2 = tmp.file(`kernel-${name}-out2`);
      const ref = tmp.file(`kernel-${name}-ref`);
      const built = await buildKernelImage(m.root, img, { kind, dirEntries: 3000 });
      const before = imageFingerprint(img);
      await copyOut(img, out);
      await copyOut(img, out2);
      expect(imageFingerprint(img)).toBe(before);

      // Against the source: what the user put in, to the nanosecond (the kernel's extras are not in the source).
      await restoreTimes(m);
      await expectSameTree(m.root, out, {
        times: kind.kernelTimePrecision, atime: true, owners: asRoot, xattrs: true, ignore: ['lost+found', 'kernel-extras'],
      });
      // Against the kernel's reading of the same image, all of it (read-only mount: no atime updates).
      await withMountedImage(img, { readOnly: true }, async (mnt) => {
        await runChecked('cp', ['-a', `${mnt.dir}/.`, ref], { timeoutMs: 180_000 });
      });
      expect(imageFingerprint(img)).toBe(before);
      await expectSameTree(ref, out2, { times: 'ns', atime: true, owners: asRoot, xattrs: true, ignore: [], rootAttrs: true });
      // The kernel's extras really exercised what they are for.
      expect(fs.readdirSync(`${out}/${built.indexedDir.path}`)).toHaveLength(built.indexedDir.entries);
      expect(fs.statSync(`${out}/${built.fragmented.path}`).size).toBe(built.fragmented.size);

      await expectFsckClean(img);
      await Promise.all([out, out2, ref, img].map((p) => fs.promises.rm(p, { recursive: true, force: true })));
    }, 240_000);
  }
});
