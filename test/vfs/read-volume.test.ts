/**
 * The read-only volume's fs/promises surface, checked against the Linux
 * kernel reading the same image through a loop mount (the oracle), and
 * against the source tree where no mount is possible.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { openVolume, type Volume } from '../../src/index.js';
import { generateTree, hostPathsBelow, type TreeManifest } from '../helpers/tree.js';
import { useTmpDir } from '../helpers/tmp.js';
import { mountImage, canLoopMount, describeLoopSkip, type MountedImage } from '../helpers/loop.js';
import { debugfs } from '../helpers/debugfs.js';
import { embedInDisk, mkfs } from '../helpers/images.js';
import { expectFsckClean, fsckIndexDirs } from '../helpers/fsck.js';
import { readXattrs } from '../../src/host/host-ops.js';
import { runChecked } from '../helpers/run.js';

const tmp = useTmpDir('read-volume');
let manifest: TreeManifest;
let img: string;
let vol: Volume;
let mnt: MountedImage | undefined;
const canLoop = await canLoopMount();
if (!canLoop) console.warn(`SKIPPED (kernel comparisons in read-volume): ${await describeLoopSkip()}`);

beforeAll(async () => {
  const src = tmp.sub('src');
  manifest = await generateTree(src, { seed: 7, scale: 'small' });
  // A symlink loop and a long name, for error cases.
  await fsp.symlink('loop-b', path.join(src, 'loop-a'));
  await fsp.symlink('loop-a', path.join(src, 'loop-b'));
  await fsp.mkdir(path.join(src, 'plain-dir'));
  await fsp.writeFile(path.join(src, 'plain-dir', 'f.txt'), 'hello\n');
  img = tmp.file('default.img');
  await mkfs(img, { args: ['-b', '4096'], root: src, size: '256M' });
  vol = await openVolume(img, { readOnly: true });
  if (canLoop) mnt = await mountImage(img, { readOnly: true });
});

afterAll(async () => {
  await vol?.close();
  await mnt?.unmount();
  await expectFsckClean(img);
});

describe('against the kernel', () => {
  it.skipIf(!canLoop)('lstat of every entry matches the kernel (ino, mode, links, owner, size, blocks, ns times, rdev)', async () => {
    const paths = ['', ...(await hostPathsBelow(mnt!.dir))];
    expect(paths.length).toBeGreaterThan(100);
    for (const p of paths) {
      const k = await fsp.lstat(path.join(mnt!.dir, p), { bigint: true });
      const o = await vol.promises.lstat(p === '' ? '/' : p, { bigint: true });
      const pick = (s: typeof k | typeof o) => ({
        ino: s.ino, mode: s.mode, nlink: s.nlink, uid: s.uid, gid: s.gid, size: s.size, blocks: s.blocks,
        mtimeNs: s.mtimeNs, ctimeNs: s.ctimeNs, atimeNs: s.atimeNs, birthtimeNs: s.birthtimeNs, rdev: s.rdev,
        dir: s.isDirectory(), file: s.isFile(), link: s.isSymbolicLink(), fifo: s.isFIFO(), chr: s.isCharacterDevice(),
      });
      expect(pick(o), p).toEqual(pick(k));
    }
  });

  it.skipIf(!canLoop)('readdir, readFile, readlink and xattrs match the kernel for every entry', async () => {
    const paths = ['', ...(await hostPathsBelow(mnt!.dir))];
    const kernelX = await readXattrs(paths.map((p) => path.join(mnt!.dir, p)));
    expect(kernelX.errors).toEqual([]);
    let xattrsSeen = 0;
    for (const p of paths) {
      const kp = path.join(mnt!.dir, p);
      const vp = p === '' ? '/' : p;
      const st = await fsp.lstat(kp);
      if (st.isDirectory()) {
        const k = (await fsp.readdir(kp)).sort();
        expect((await vol.promises.readdir(vp)).sort(), p).toEqual(k);
        const d = await vol.promises.readdir(vp, { withFileTypes: true });
        const kd = await fsp.readdir(kp, { withFileTypes: true });
        const types = (xs: Array<{ name: string; isDirectory(): boolean; isSymbolicLink(): boolean; isFile(): boolean }>) =>
          xs.map((e) => `${e.name}:${e.isDirectory() ? 'd' : e.isSymbolicLink() ? 'l' : e.isFile() ? 'f' : 'o'}`).sort();
        expect(types(d), p).toEqual(types(kd));
      } else if (st.isFile()) {
        const k = await fsp.readFile(kp);
        const o = await vol.promises.readFile(vp);
        expect(o.length, p).toBe(k.length);
        expect(Buffer.compare(o, k), p).toBe(0);
      } else if (st.isSymbolicLink()) {
        expect(await vol.promises.readlink(vp), p).toBe(await fsp.readlink(kp));
      }
      const kx = kernelX.xattrs.get(kp) ?? new Map<string, Buffer>();
      const names = (await vol.promises.listxattr(vp, { noFollow: true })).sort();
      expect(names, p).toEqual([...kx.keys()].sort());
      for (const [name, value] of kx) {
        xattrsSeen++;
        expect((await vol.promises.getxattr(vp, name, { noFollow: true })).toString('hex'), `${p} ${name}`).toBe(value.toString('hex'));
      }
    }
    expect(xattrsSeen).toBeGreaterThan(0);
  });

  it.skipIf(!canLoop)('realpath and stat follow symlinks as the kernel does', async () => {
    for (const p of await hostPathsBelow(mnt!.dir)) {
      const kp = path.join(mnt!.dir, p);
      let kreal: string | undefined;
      let kcode: string | undefined;
      try { kreal = await fsp.realpath(kp); } catch (e) { kcode = (e as NodeJS.ErrnoException).code; }
      // An absolute symlink escapes the mount point on the host: nothing to compare.
      if (kreal !== undefined && !kreal.startsWith(mnt!.dir)) continue;
      if (kreal === undefined) {
        await expect(vol.promises.realpath(p), p).rejects.toMatchObject({ code: kcode });
      } else {
        expect(await vol.promises.realpath(p), p).toBe(kreal.slice(mnt!.dir.length) || '/');
        expect((await vol.promises.stat(p)).ino, p).toBe((await fsp.stat(kp)).ino);
      }
    }
  });
});

describe('reading', () => {
  it('reads files through handles at any position, streams, and reports data ranges', async () => {
    const holeFile = '/' + manifest.holeFile;
    const whole = await vol.promises.readFile(holeFile);
    const h = await vol.promises.open(holeFile);
    try {
      const buf = Buffer.alloc(10000);
      const { bytesRead } = await h.read(buf, 0, buf.length, 1000);
      expect(bytesRead).toBe(Math.min(10000, whole.length - 1000));
      expect(Buffer.compare(buf.subarray(0, bytesRead), whole.subarray(1000, 1000 + bytesRead))).toBe(0);
      const ranges = await h.dataRanges();
      expect(ranges.length).toBeGreaterThanOrEqual(2);
      // Everything outside the data ranges reads as zeros.
      let prev = 0;
      for (const r of ranges) {
        expect(whole.subarray(prev, r.start).every((b) => b === 0)).toBe(true);
        prev = r.end;
      }
      const chunks: Buffer[] = [];
      for await (const c of h.createReadStream({ start: 5, end: 70000 })) chunks.push(c as Buffer);
      expect(Buffer.compare(Buffer.concat(chunks), whole.subarray(5, 70001))).toBe(0);
    } finally {
      await h.close();
    }
    const src = await fsp.readFile(path.join(manifest.root, manifest.holeFile));
    expect(Buffer.compare(whole, src)).toBe(0);
  });

  it('reads with the Node API shapes: encodings, opendir, statfs, access', async () => {
    expect(await vol.promises.readFile('/plain-dir/f.txt', 'utf8')).toBe('hello\n');
    const dir = await vol.promises.opendir('/plain-dir');
    const names: string[] = [];
    for await (const d of dir) names.push(d.name);
    expect(names).toEqual(['f.txt']);
    const sf = await vol.promises.statfs('/');
    expect(sf.type).toBe(0xef53);
    expect(sf.bsize).toBe(4096);
    await vol.promises.access('/plain-dir/f.txt');
    const bufNames = await vol.promises.readdir('/plain-dir', 'buffer');
    expect(bufNames[0]).toBeInstanceOf(Buffer);
  });
});

describe('unwritten extents', () => {
  it('read as zeros even though their blocks hold old bytes, and are not data ranges', async () => {
    // The image starts as 0xAA everywhere; without discard, free blocks keep it,
    // so blocks fallocated as unwritten hold 0xAA that must never be shown.
    const src = tmp.sub('uw-src');
    const fh = await fsp.open(path.join(src, 'holey'), 'w');
    await fh.write(Buffer.alloc(4096, 0x41), 0, 4096, 0);
    await fh.write(Buffer.alloc(4096, 0x42), 0, 4096, 1 << 20);
    await fh.close();
    const uwImg = tmp.file('unwritten.img');
    await fsp.writeFile(uwImg, Buffer.alloc(64 << 20, 0xaa));
    await runChecked('mkfs.ext4', ['-q', '-F', '-b', '4096', '-E', 'nodiscard', '-d', src, uwImg]);
    await runChecked('debugfs', ['-w', '-R', 'fallocate /holey 1 255', uwImg]);
    const ex = (await runChecked('debugfs', ['-R', 'ex /holey', uwImg])).stdout;
    expect(ex).toMatch(/1 -\s+255\s+\d+ -\s+\d+\s+255 Uninit/);
    const v = await openVolume(uwImg, { readOnly: true });
    try {
      const data = await v.promises.readFile('/holey');
      expect(data.length).toBe((1 << 20) + 4096);
      expect(data.subarray(0, 4096).every((b) => b === 0x41)).toBe(true);
      expect(data.subarray(4096, 1 << 20).every((b) => b === 0)).toBe(true);
      expect(data.subarray(1 << 20).every((b) => b === 0x42)).toBe(true);
      const h = await v.promises.open('/holey');
      expect(await h.dataRanges()).toEqual([{ start: 0, end: 4096 }, { start: 1 << 20, end: (1 << 20) + 4096 }]);
      await h.close();
    } finally {
      await v.close();
    }
    await expectFsckClean(uwImg);
  });
});

describe('hashed directories', () => {
  it('finds every name through the htree index of directories indexed by e2fsck -D, for each hash', async () => {
    // mke2fs -d never indexes directories; e2fsck -D rebuilds them as htrees.
    const src = tmp.sub('htree-src');
    const names: string[] = [];
    for (let i = 0; i < 3000; i++) names.push(`n${i}-${'q'.repeat(i % 50)}\u00e9`);
    await fsp.mkdir(path.join(src, 'big'));
    for (const n of names) await fsp.writeFile(path.join(src, 'big', n), n);
    for (const [hash, extra] of [['half_md4', []], ['tea', ['-b', '1024']], ['legacy', ['-O', '^metadata_csum']]] as const) {
      const hImg = tmp.file(`htree-${hash}.img`);
      await mkfs(hImg, { args: extra, root: src, size: '64M' });
      await debugfs(hImg, `ssv def_hash_version ${hash}`, true);
      const fsck = await fsckIndexDirs(hImg);
      expect(fsck.ok, fsck.output).toBe(true);
      const dump = await debugfs(hImg, 'htree /big');
      expect(dump, hash).toContain('Root node dump');
      const v = await openVolume(hImg, { readOnly: true });
      try {
        // Lookups before any listing of the directory go through the index.
        for (const n of names) {
          const st = await v.promises.stat(`/big/${n}`);
          expect(st.size, `${hash} ${n}`).toBe(Buffer.byteLength(n));
        }
        await expect(v.promises.stat('/big/not-there')).rejects.toMatchObject({ code: 'ENOENT' });
        expect((await v.promises.readdir('/big')).sort()).toEqual([...names].sort());
      } finally {
        await v.close();
      }
      await expectFsckClean(hImg);
    }
  });
});

describe('errors', () => {
  it('are Node-style, with code, negative errno, syscall and path', async () => {
    await expect(vol.promises.readFile('/nope')).rejects.toMatchObject({
      code: 'ENOENT', errno: -2, syscall: 'open', path: '/nope', message: "ENOENT: no such file or directory, open '/nope'",
    });
    await expect(vol.promises.stat('/plain-dir/f.txt/x')).rejects.toMatchObject({ code: 'ENOTDIR', syscall: 'stat' });
    await expect(vol.promises.readFile('/plain-dir')).rejects.toMatchObject({ code: 'EISDIR' });
    await expect(vol.promises.stat('/loop-a')).rejects.toMatchObject({ code: 'ELOOP', errno: -40 });
    await expect(vol.promises.lstat('/loop-a')).resolves.toBeDefined();
    await expect(vol.promises.readdir('/plain-dir/f.txt')).rejects.toMatchObject({ code: 'ENOTDIR', syscall: 'scandir' });
    await expect(vol.promises.stat('/' + 'x'.repeat(256))).rejects.toMatchObject({ code: 'ENAMETOOLONG' });
    await expect(vol.promises.open('/plain-dir/f.txt', 'w')).rejects.toMatchObject({ code: 'EROFS' });
    await expect(vol.promises.readlink('/plain-dir')).rejects.toMatchObject({ code: 'EINVAL', syscall: 'readlink' });
    await expect(vol.promises.getxattr('/plain-dir', 'user.none')).rejects.toMatchObject({ code: 'ENODATA' });
  });

  it('refuses incompatible features by name; opens a needs_recovery image with an empty journal', async () => {
    const cf = tmp.file('casefold.img');
    await mkfs(cf, { args: ['-O', 'casefold'], size: '16M' });
    await expect(openVolume(cf, { readOnly: true })).rejects.toMatchObject({ code: 'ENOTSUP', message: expect.stringContaining('casefold') });
    const rec = tmp.file('recover.img');
    await mkfs(rec, { size: '16M' });
    await debugfs(rec, 'feature needs_recovery', true);
    // The flag without logged transactions: nothing to replay, so it opens, as Linux mounts it
    // (journal replay itself is tested in test/journal/).
    const rv = await openVolume(rec, { readOnly: true });
    expect(await rv.promises.readdir('/')).toContain('lost+found');
    await rv.close();
  });

  it('opens a filesystem at an offset inside a larger disk image', async () => {
    const disk = tmp.file('disk.img');
    await embedInDisk(img, disk, 300 << 20);
    const v = await openVolume(disk, { readOnly: true, offset: 1024 * 1024 });
    try {
      expect(await v.promises.readFile('/plain-dir/f.txt', 'utf8')).toBe('hello\n');
    } finally {
      await v.close();
    }
    await expect(openVolume(disk, { readOnly: true })).rejects.toMatchObject({ code: 'EFSCORRUPTED' });
  });
});
