/**
 * Proves the test helpers right, with the Linux kernel as the independent
 * reader: a tree generated here, put into an image by mkfs.ext4 -d (or by the
 * kernel through cp), must read back through a loop mount exactly as
 * compareTrees says; and compareTrees must notice each kind of difference,
 * so a passing comparison means something.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { mknodBatch, readXattrs, setTimesNs, setXattrs } from '../src/host/host-ops.js';
import { compareTrees, expectSameTree } from './helpers/compare-tree.js';
import { expectFsckClean, fsckClean } from './helpers/fsck.js';
import { debugfs, dumpe2fs } from './helpers/debugfs.js';
import { E2E_IMAGE_KINDS, KERNEL_EXTRAS_DIR, buildImage, buildKernelImage } from './helpers/images.js';
import { canLoopMount, describeLoopSkip, withMountedImage } from './helpers/loop.js';
import { runChecked } from './helpers/run.js';
import { useTmpDir } from './helpers/tmp.js';
import { generateTree, restoreTimes, type TreeManifest } from './helpers/tree.js';

const tmp = useTmpDir('oracles');
const canLoop = await canLoopMount();
const skipReason = await describeLoopSkip();
if (!canLoop) console.warn(skipReason);

function sha256File(p: string): string {
  return createHash('sha256').update(fs.readFileSync(p)).digest('hex');
}

let full: TreeManifest;
let small: TreeManifest;

beforeAll(async () => {
  full = await generateTree(tmp.file('full'), { seed: 1234 });
  small = await generateTree(tmp.file('small'), { seed: 99, scale: 'small' });
});

describe('generateTree', () => {
  it('makes what its manifest says', () => {
    const at = (rel: string): string => path.join(full.root, rel);
    expect(fs.readdirSync(at(full.htreeDir)).length).toBe(5000);
    const sparse = fs.statSync(at(full.sparseFile!));
    expect(sparse.size).toBe(5 * 1024 ** 3);
    expect(sparse.blocks * 512).toBeLessThan(8 << 20);
    const hole = fs.statSync(at(full.holeFile));
    expect(hole.blocks * 512).toBeLessThan(hole.size - (1 << 20) + 8192);
    expect(full.counts.entries).toBeGreaterThan(7000);
    expect(full.counts.maxDepth).toBeGreaterThanOrEqual(8);
    for (const p of full.fifos) expect(fs.lstatSync(at(p)).isFIFO(), p).toBe(true);
    for (const p of full.sockets) expect(fs.lstatSync(at(p)).isSocket(), p).toBe(true);
    for (const p of full.charDevices) expect(fs.lstatSync(at(p)).isCharacterDevice(), p).toBe(true);
    for (const p of full.blockDevices) expect(fs.lstatSync(at(p)).isBlockDevice(), p).toBe(true);
    for (const p of full.fastSymlinks) expect(fs.readlinkSync(at(p), 'buffer').length, p).toBeLessThan(60);
    for (const p of full.slowSymlinks) expect(fs.readlinkSync(at(p), 'buffer').length, p).toBeGreaterThanOrEqual(60);
    for (const p of full.danglingSymlinks) expect(fs.existsSync(at(p)), p).toBe(false);
    for (const g of full.hardLinkGroups) {
      const inos = new Set(g.map((p) => fs.lstatSync(at(p)).ino));
      expect(inos.size, g.join()).toBe(1);
      expect(fs.lstatSync(at(g[0])).nlink).toBe(g.length);
    }
    for (const { path: p, mode } of full.oddModes) expect(fs.lstatSync(at(p)).mode & 0o7777, p).toBe(mode);
    for (const { path: p, uid, gid } of full.owners) expect([fs.lstatSync(at(p)).uid, fs.lstatSync(at(p)).gid], p).toEqual([uid, gid]);
    expect(full.longNames.some((p) => Buffer.byteLength(path.basename(p)) === 255)).toBe(true);
    for (const p of full.smallFiles) expect(fs.statSync(at(p)).size, p).toBeLessThanOrEqual(60);
    expect(full.post2038.length).toBeGreaterThan(0);
    expect(full.pre1970.length).toBeGreaterThan(0);
  });

  it('sets times to the exact nanosecond and xattrs as listed', async () => {
    const t = small.times.get('times/year-2100')!;
    expect(fs.lstatSync(path.join(small.root, 'times/year-2100'), { bigint: true }).mtimeNs).toBe(t.mtimeNs);
    for (const [rel, want] of small.times) {
      const st = fs.lstatSync(path.join(small.root, rel), { bigint: true });
      expect(st.mtimeNs, rel).toBe(want.mtimeNs);
    }
    const big = path.join(small.root, small.bigXattr.path);
    const { xattrs } = await readXattrs([big]);
    expect(xattrs.get(big)!.get(small.bigXattr.name)!.length).toBe(small.bigXattr.size);
  });

  it('is deterministic: the same seed gives the same tree, another seed does not', async () => {
    const again = await generateTree(tmp.file('small-again'), { seed: 99, scale: 'small' });
    await restoreTimes(small);
    expect(await compareTrees(small.root, again.root, { times: 'ns', owners: true, xattrs: true, atime: true })).toEqual([]);
    const other = await generateTree(tmp.file('small-other'), { seed: 100, scale: 'small' });
    expect((await compareTrees(small.root, other.root, { times: 'ns', owners: true, xattrs: true })).length).toBeGreaterThan(20);
  });
});

describe('compareTrees', () => {
  it('finds each kind of deliberate difference, and nothing else', async () => {
    const copy = tmp.file('mutated');
    // cp, not our code, makes the copy: the comparison must start out equal.
    await restoreTimes(small);
    await runChecked('cp', ['-dR', '--preserve=mode,ownership,timestamps,links,xattr', small.root, copy]);
    await restoreTimes(small);
    const opts = { times: 'ns', owners: true, xattrs: true, atime: true } as const;
    expect(await compareTrees(small.root, copy, opts)).toEqual([]);

    const at = (rel: string): string => path.join(copy, rel);
    const medium = small.mediumFiles.find((p) => p.startsWith('tree/') && fs.statSync(path.join(small.root, p)).size > 1000)!;
    const fd = fs.openSync(at(medium), 'r+');
    const byte = Buffer.alloc(1);
    fs.readSync(fd, byte, 0, 1, 100);
    byte[0] = byte[0] ^ 0x01;
    fs.writeSync(fd, byte, 0, 1, 100);
    fs.closeSync(fd);
    fs.chmodSync(at('sizes/size-1'), 0o600);
    fs.lchownSync(at('sizes/size-59'), 4242, 4242);
    const group = small.hardLinkGroups.find((g) => g.length === 3 && !g[0].includes('fifo'))!;
    const broken = group[2];
    const { xattrs: groupXattrs } = await readXattrs([at(group[0])]);
    const mode = fs.lstatSync(at(broken)).mode & 0o7777;
    fs.rmSync(at(broken));
    fs.copyFileSync(at(group[0]), at(broken));
    fs.chmodSync(at(broken), mode);
    expect(await setXattrs([...groupXattrs.get(at(group[0]))!].map(([name, value]) => ({ path: at(broken), name, value })))).toEqual([]);
    expect(await setXattrs([{ path: at(small.bigXattr.path), name: small.bigXattr.name, value: Buffer.from('changed') }])).toEqual([]);
    fs.rmSync(at('links/len-30'));
    fs.symlinkSync('y'.repeat(30), at('links/len-30'));
    fs.rmSync(at('special/fifo-private'));
    fs.writeFileSync(at('special/extra'), '');
    fs.rmSync(at('special/socket'));
    fs.writeFileSync(at('special/socket'), '');
    const device = small.charDevices[0];
    if (device !== undefined) {
      const st = fs.lstatSync(at(device));
      fs.rmSync(at(device));
      expect(await mknodBatch([{ path: at(device), mode: st.mode, rdev: st.rdev + 1 }])).toEqual([]);
    }
    // Every change above moved some times; put them all back, then change exactly one by 1 ns.
    await restoreTimes(small);
    await restoreTimes(small, copy, { ignoreMissing: true });
    const t = small.times.get('times/plus-1ns')!;
    const td = small.times.get('links')!;
    expect(await setTimesNs([
      { path: at('times/plus-1ns'), atimeNs: t.atimeNs, mtimeNs: t.mtimeNs + 1n },
      { path: at('links'), atimeNs: td.atimeNs, mtimeNs: td.mtimeNs + 1_000_000_000n },
    ])).toEqual([]);

    const diffs = await compareTrees(small.root, copy, opts);
    const expected = [
      `content differs: ${medium}`,
      'mode differs: sizes/size-1',
      'owner differs: sizes/size-59',
      `hard links differ: ${group[0]}`,
      `link count differs: ${group[0]}`,
      `link count differs: ${broken}`,
      `xattr differs: ${small.bigXattr.path}: ${small.bigXattr.name}`,
      'mtime differs (ns): times/plus-1ns',
      'symlink target differs: links/len-30',
      'missing in actual: special/fifo-private',
      'extra in actual: special/extra',
      'type differs: special/socket',
      'mtime differs (ns): links: expected',
      ...(small.charDevices.length > 0 ? [`device number differs: ${small.charDevices[0]}`] : []),
    ];
    for (const e of expected) expect(diffs.filter((d) => d.startsWith(e)), `${e}\nin:\n${diffs.join('\n')}`).toHaveLength(1);
    // The other names of the group report their link count too; nothing else may differ.
    const rest = diffs.filter((d) => !expected.some((e) => d.startsWith(e)));
    expect(rest.every((d) => /^link count differs: /.test(d) && group.some((g) => d.includes(g))), rest.join('\n')).toBe(true);

    // At whole seconds, a 1 ns change is invisible; so is the content when contents are off.
    const coarse = await compareTrees(small.root, copy, { times: 's', owners: false, xattrs: false, contents: false });
    expect(coarse.some((d) => d.includes('times/plus-1ns') || d.includes('owner') || d.includes('content') || d.includes('xattr'))).toBe(false);
  });

  it('compares sparse files by their data, not their holes', async () => {
    const a = tmp.sub('sparse-a');
    const b = tmp.sub('sparse-b');
    const size = 5 * 1024 ** 3;
    for (const d of [a, b]) {
      const fd = fs.openSync(path.join(d, 'f'), 'w');
      fs.writeSync(fd, Buffer.from('start'), 0, 5, 0);
      fs.ftruncateSync(fd, size);
      fs.closeSync(fd);
    }
    const mtime = { atimeNs: 5n, mtimeNs: 5n };
    const sync = async (): Promise<void> => {
      expect(await setTimesNs([{ path: path.join(a, 'f'), ...mtime }, { path: path.join(b, 'f'), ...mtime }])).toEqual([]);
    };
    await sync();
    const t0 = performance.now();
    expect(await compareTrees(a, b, { times: 'ns', owners: true, xattrs: true })).toEqual([]);
    expect(performance.now() - t0).toBeLessThan(5000);
    // Zeros written into a hole are still equal content.
    const fd = fs.openSync(path.join(b, 'f'), 'r+');
    fs.writeSync(fd, Buffer.alloc(4096), 0, 4096, 3 * 1024 ** 3);
    await sync();
    expect(await compareTrees(a, b, { times: 'ns', owners: true, xattrs: true })).toEqual([]);
    fs.writeSync(fd, Buffer.from([7]), 0, 1, 3 * 1024 ** 3 + 100);
    fs.closeSync(fd);
    await sync();
    expect(await compareTrees(a, b, { times: 'ns', owners: true, xattrs: true })).toEqual([`content differs: f: first at byte ${3 * 1024 ** 3 + 100} of ${size}`]);
  });
});

describe.skipIf(!canLoop)('images read back by the kernel', () => {
  it('mkfs.ext4 -d of the full tree: e2fsck clean, the kernel sees the same tree', async () => {
    await restoreTimes(full);
    const img = await buildImage('default', full.root, tmp.file('full-default.img'));
    await expectFsckClean(img.path);
    expect(await debugfs(img.path, `htree /${full.htreeDir}`)).toMatch(/Root node dump:/);
    await withMountedImage(img.path, { readOnly: true }, async (m) => {
      // mke2fs read the source and moved its atimes; put them back to compare atimes too.
      await restoreTimes(full);
      await expectSameTree(full.root, m.dir, { times: 's', owners: true, xattrs: true, atime: true, wrapTimes32: true });
      // mke2fs really does wrap post-2038 seconds: without the wrap exactly those entries differ.
      await restoreTimes(full);
      const unwrapped = await compareTrees(full.root, m.dir, { times: 's', owners: false, xattrs: false, contents: false, atime: true });
      const paths = new Set(unwrapped.map((d) => /^(?:m|a)time differs \(s\): (.*): expected/.exec(d)?.[1] ?? d));
      expect([...paths].sort()).toEqual([...full.post2038].sort());
    });
  });

  it('buildKernelImage: e2fsck clean, an indexed directory, an extent tree of depth 1, the same tree at ns', async () => {
    await restoreTimes(full);
    const info = await buildKernelImage(full.root, tmp.file('kernel.img'));
    await expectFsckClean(info.path);
    const dirStat = await debugfs(info.path, `stat /${info.indexedDir.path}`);
    expect(Number.parseInt(/Flags: (0x[0-9a-f]+)/.exec(dirStat)![1], 16) & 0x1000, dirStat).toBe(0x1000);
    const ex = await debugfs(info.path, `ex /${info.fragmented.path}`);
    // Rows are "level/max-level ...": a row at level 1 means the tree has depth >= 1.
    expect(ex, ex).toMatch(/^\s*1\/\s*\d+\s/m);
    await withMountedImage(info.path, { readOnly: true }, async (m) => {
      await restoreTimes(full);
      await expectSameTree(full.root, m.dir, { times: 'ns', owners: true, xattrs: true, atime: true, ignore: ['lost+found', KERNEL_EXTRAS_DIR] });
      for (const f of [info.appended, info.appendedB, info.fragmented]) {
        expect(fs.statSync(path.join(m.dir, f.path)).size, f.path).toBe(f.size);
        expect(sha256File(path.join(m.dir, f.path)), f.path).toBe(f.sha256);
      }
      expect(fs.readdirSync(path.join(m.dir, info.indexedDir.path)).length).toBe(info.indexedDir.entries);
    });
  });

  it.each(E2E_IMAGE_KINDS.map((k) => [k.name, k] as const))('kind %s: mkfs -d builds what the kind says, and the kernel reads the small tree back', async (name, kind) => {
    const src = kind.blockSize === 4096 ? small : await generateTree(tmp.file(`small-${name}`), { seed: 7, scale: 'small', blockSize: kind.blockSize });
    await restoreTimes(src);
    const img = await buildImage(kind, src.root, tmp.file(`${name}.img`));
    await expectFsckClean(img.path);
    const head = await dumpe2fs(img.path, ['-h']);
    const features = /Filesystem features:\s*(.*)/.exec(head)![1].split(/\s+/);
    for (const f of kind.features) expect(features, `${name} lacks ${f}`).toContain(f);
    for (const f of kind.absentFeatures) expect(features, `${name} has ${f}`).not.toContain(f);
    expect(Number(/Block size:\s*(\d+)/.exec(head)![1])).toBe(kind.blockSize);
    expect(Number(/Inode size:\s*(\d+)/.exec(head)![1])).toBe(kind.inodeSize);
    const st = await debugfs(img.path, 'stat /sizes/size-4097');
    expect(st.includes('EXTENTS:'), st).toBe(kind.extents);
    const tiny = await debugfs(img.path, 'stat /sizes/size-59');
    expect(/Size of inline data: \d+/.test(tiny), tiny).toBe(kind.inline);
    await withMountedImage(img.path, { readOnly: true }, async (m) => {
      await restoreTimes(src);
      // The quirk the kind records must be real (and this test tells when mke2fs fixes it).
      for (const f of src.trailingHoleFiles) {
        const shortened = fs.statSync(path.join(m.dir, f)).size !== fs.statSync(path.join(src.root, f)).size;
        expect(shortened, f).toBe(kind.mkfsLosesTrailingHoles);
      }
      const ignore = ['lost+found', ...(kind.mkfsLosesTrailingHoles ? src.trailingHoleFiles : [])];
      await expectSameTree(src.root, m.dir, { times: kind.timePrecision, owners: true, xattrs: true, atime: true, wrapTimes32: kind.wrapTimes32, ignore });
    });
  });
});

describe('fsckClean', () => {
  it('fsckClean reports a damaged image', async () => {
    const img = await buildImage('default', small.root, tmp.file('damaged.img'));
    // Zero the root directory's inode through debugfs: every check after that must fail.
    await debugfs(img.path, 'clri <2>', true);
    const r = await fsckClean(img.path);
    expect(r.ok).toBe(false);
    expect(r.output).toMatch(/Root inode/i);
  });
});
