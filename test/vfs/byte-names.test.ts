/**
 * Names that are not valid UTF-8 (Linux allows any bytes but '/' and NUL):
 * readdir with encoding 'buffer' returns them exactly, and Buffer paths
 * reach them — through linear and hashed directories, and through symlinks
 * whose targets are such bytes. The kernel's view of the same image is the
 * oracle (Node's fs takes Buffer paths too).
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openVolume } from '../../src/index.js';
import { expectFsckClean, fsckIndexDirs } from '../helpers/fsck.js';
import { mkfs } from '../helpers/images.js';
import { debugfs } from '../helpers/debugfs.js';
import { canLoopMount, withMountedImage } from '../helpers/loop.js';
import { useTmpDir } from '../helpers/tmp.js';
import { runChecked } from '../helpers/run.js';
import { expectSameTree } from '../helpers/compare-tree.js';
import { runBuiltCli } from '../cli/built-cli.js';

const tmp = useTmpDir('byte-names');
const loopOk = await canLoopMount();

const b = (...parts: Array<string | number[]>): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

describe('names that are not UTF-8', () => {
  it('are listed as bytes and reachable by Buffer paths, in linear and hashed directories and through symlinks', async () => {
    const src = Buffer.from(tmp.sub('src'));
    const latin1File = b('caf', [0xe9]);
    const oddDir = b([0xff, 0xfe], '-dir');
    const inner = b('inner-', [0x80, 0x81]);
    await fsp.writeFile(Buffer.concat([src, b('/'), latin1File]), 'latin-1 name\n');
    await fsp.mkdir(Buffer.concat([src, b('/'), oddDir]));
    await fsp.writeFile(Buffer.concat([src, b('/'), oddDir, b('/'), inner]), 'inner\n');
    // A symlink whose target bytes are not UTF-8 either.
    await fsp.symlink(Buffer.concat([oddDir, b('/'), inner]), Buffer.concat([src, b('/link-', [0xc3])]));
    // A directory big enough for e2fsck -D to index, with odd names among ordinary ones.
    await fsp.mkdir(Buffer.concat([src, b('/big')]));
    const bigNames: Buffer[] = [];
    for (let i = 0; i < 600; i++) {
      const n = i % 3 === 0 ? b(`n${i}-`, [0xa0 + (i % 90), 0xff]) : b(`n${i}-ascii`);
      bigNames.push(n);
      await fsp.writeFile(Buffer.concat([src, b('/big/'), n]), String(i));
    }
    const img = tmp.file('names.img');
    await mkfs(img, { args: ['-b', '1024'], root: src.toString('latin1'), size: '32M' });
    const fsck = await fsckIndexDirs(img);
    expect(fsck.ok, fsck.output).toBe(true);
    expect(await debugfs(img, 'htree /big')).toContain('Root node dump');

    const v = await openVolume(img, { readOnly: true });
    try {
      const top = await v.promises.readdir('/', 'buffer');
      expect(top.some((n) => n.equals(latin1File))).toBe(true);
      expect(top.some((n) => n.equals(oddDir))).toBe(true);
      expect((await v.promises.readFile(Buffer.concat([b('/'), latin1File]))).toString()).toBe('latin-1 name\n');
      expect((await v.promises.readFile(Buffer.concat([b('/'), oddDir, b('/'), inner]))).toString()).toBe('inner\n');
      // Through the symlink, whose target is bytes.
      expect((await v.promises.readFile(b('/link-', [0xc3]))).toString()).toBe('inner\n');
      expect((await v.promises.readlink(b('/link-', [0xc3]), 'buffer')).equals(Buffer.concat([oddDir, b('/'), inner]))).toBe(true);
      // The string a lossy decoding gives names nothing.
      await expect(v.promises.stat(`/${latin1File.toString('utf8')}`)).rejects.toMatchObject({ code: 'ENOENT' });
      // Every name of the indexed directory, by its bytes.
      const listed = await v.promises.readdir('/big', 'buffer');
      expect(listed.map((n) => n.toString('hex')).sort()).toEqual(bigNames.map((n) => n.toString('hex')).sort());
      for (const [i, n] of bigNames.entries()) {
        expect((await v.promises.readFile(Buffer.concat([b('/big/'), n]))).toString()).toBe(String(i));
      }
      // The CLI copies them exactly: compare with GNU cp -a from the kernel's mount.
      const ours = tmp.file('ours');
      const r = await runBuiltCli(['cp', '-a', `${img}:/`, ours], { timeoutMs: 120_000 });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      if (loopOk) {
        const ref = tmp.file('kernel-copy');
        await withMountedImage(img, { readOnly: true }, async (mnt) => {
          await runChecked('cp', ['-a', `${mnt.dir}/.`, ref]);
        });
        await expectSameTree(ref, ours, { times: 'ns', owners: process.getuid?.() === 0, xattrs: true, ignore: [] });
        await withMountedImage(img, { readOnly: true }, async (mnt) => {
          const root = Buffer.from(mnt.dir);
          for (const p of [Buffer.concat([b('/'), latin1File]), Buffer.concat([b('/'), oddDir, b('/'), inner]), b('/link-', [0xc3])]) {
            const k = await fsp.lstat(Buffer.concat([root, p]), { bigint: true });
            const o = await v.promises.lstat(p, { bigint: true });
            expect(o.ino).toBe(k.ino);
            expect(o.mode).toBe(k.mode);
          }
          const kernelNames = await fsp.readdir(path.join(mnt.dir, 'big'), { encoding: 'buffer' });
          expect(kernelNames.map((n) => n.toString('hex')).sort()).toEqual(listed.map((n) => n.toString('hex')).sort());
        });
      } else {
        console.warn('SKIPPED (byte-names kernel comparison): needs root and a working loop mount');
      }
    } finally {
      await v.close();
    }
    await expectFsckClean(img);
  });
});
