/**
 * The directory write side under the namespace operations of a writable
 * volume (volume.promises): files and directories created by the thousand
 * (so directories turn into htrees and split), renamed across directories
 * (over existing names too), hard-linked, unlinked, and directories moved
 * (".." rewritten, in linear and indexed directories) and removed. The
 * result is checked against a model by e2fsck, by the kernel and by our own
 * volume reopened read-only.
 */
import { describe, expect, it } from 'vitest';
import * as nodeFs from 'node:fs/promises';
import * as path from 'node:path';
import { openVolume } from '../../src/index.js';
import { useImages } from '../helpers/images.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { debugfs } from '../helpers/debugfs.js';
import { canLoopMount, describeLoopSkip, withMountedImage } from '../helpers/loop.js';
import { Rng } from '../helpers/prng.js';
import { testSeed } from './dir-harness.js';

const images = useImages('dir-vfs');
const canLoop = await canLoopMount();
if (!canLoop) console.warn(await describeLoopSkip());

/** Every directory of the tree -> its children (name -> 'f' file or 'd' directory). */
type Tree = Map<string, Map<string, 'f' | 'd'>>;

function nameFor(rng: Rng, taken: Map<string, unknown>): string {
  for (;;) {
    const len = rng.chance(0.1) ? 255 : rng.int(1, 60);
    let s = '';
    for (let i = 0; i < len; i++) s += 'abcdefghijklmnopqrstuvwxyz0123456789_-.'[rng.int(0, 38)];
    if (s !== '.' && s !== '..' && !taken.has(s)) return s;
  }
}

async function listing(read: (p: string) => Promise<string[]>, isDir: (p: string) => Promise<boolean>, dirs: Iterable<string>): Promise<Tree> {
  const t: Tree = new Map();
  for (const d of dirs) {
    const m = new Map<string, 'f' | 'd'>();
    for (const n of await read(d)) m.set(n, (await isDir(d === '/' ? `/${n}` : `${d}/${n}`)) ? 'd' : 'f');
    t.set(d, m);
  }
  return t;
}

function sorted(t: Tree): Array<[string, Array<[string, string]>]> {
  return [...t].sort(([a], [b]) => (a < b ? -1 : 1)).map(([d, m]) => [d, [...m].sort(([a], [b]) => (a < b ? -1 : 1))]);
}

describe('namespace operations on large directories', () => {
  it('create, rename, link, unlink, mkdir, rmdir', { timeout: 900_000 }, async () => {
    const rng = new Rng(testSeed('dir-vfs'));
    const img = await images.mkfs({ size: '256M', args: ['-b', '1024'] });
    const tree: Tree = new Map([['/', new Map([['lost+found', 'd' as const]])], ['/lost+found', new Map()]]);
    const child = (p: string): string => (p === '/' ? '' : p);
    const vol = await openVolume(img);
    const fsp = vol.promises;
    const mkdir = async (parent: string, name: string): Promise<string> => {
      const p = `${child(parent)}/${name}`;
      await fsp.mkdir(p);
      tree.get(parent)!.set(name, 'd');
      tree.set(p, new Map());
      return p;
    };
    const a = await mkdir('/', 'a');
    const b = await mkdir('/', 'b');
    // Two big directories of files.
    for (const dir of [a, b]) {
      for (let i = 0; i < 1500; i++) {
        const name = nameFor(rng, tree.get(dir)!);
        await fsp.writeFile(`${dir}/${name}`, i % 7 === 0 ? `content ${i}` : '');
        tree.get(dir)!.set(name, 'f');
      }
    }
    // Subdirectories of a; one of them big (indexed).
    const subs: string[] = [];
    for (let i = 0; i < 30; i++) subs.push(await mkdir(a, `sub-${i}`));
    for (const big of [subs[0], subs[1]]) {
      for (let i = 0; i < 600; i++) {
        const name = nameFor(rng, tree.get(big)!);
        await fsp.writeFile(`${big}/${name}`, '');
        tree.get(big)!.set(name, 'f');
      }
    }
    // Renames of files from a to b, a third of them over existing names.
    for (let i = 0; i < 400; i++) {
      const files = [...tree.get(a)!].filter(([, k]) => k === 'f').map(([n]) => n);
      const from = files[rng.int(0, files.length - 1)];
      const bFiles = [...tree.get(b)!.keys()];
      const to = rng.chance(0.33) ? bFiles[rng.int(0, bFiles.length - 1)] : nameFor(rng, tree.get(b)!);
      await fsp.rename(`${a}/${from}`, `${b}/${to}`);
      tree.get(a)!.delete(from);
      tree.get(b)!.set(to, 'f');
    }
    // Hard links into a, unlinks from b.
    for (let i = 0; i < 200; i++) {
      const bFiles = [...tree.get(b)!.keys()];
      const src = bFiles[rng.int(0, bFiles.length - 1)];
      const name = nameFor(rng, tree.get(a)!);
      await fsp.link(`${b}/${src}`, `${a}/${name}`);
      tree.get(a)!.set(name, 'f');
    }
    for (let i = 0; i < 500; i++) {
      const bFiles = [...tree.get(b)!.keys()];
      const victim = bFiles[rng.int(0, bFiles.length - 1)];
      await fsp.unlink(`${b}/${victim}`);
      tree.get(b)!.delete(victim);
    }
    // Directories move from a to b (the two big ones among them), one renamed over an empty one.
    for (let i = 0; i < 12; i++) {
      const from = subs[i];
      const name = i === 3 ? 'sub-over' : `moved-${i}`;
      if (i === 3) await mkdir(b, 'sub-over');
      const to = `${b}/${name}`;
      await fsp.rename(from, to);
      tree.get(a)!.delete(path.basename(from));
      tree.get(b)!.set(name, 'd');
      tree.set(to, tree.get(from)!);
      tree.delete(from);
    }
    // Non-empty directories refuse rmdir; emptied ones go, the indexed one included.
    await expect(fsp.rmdir(`${b}/moved-1`)).rejects.toMatchObject({ code: 'ENOTEMPTY' });
    for (const n of [...tree.get(`${b}/moved-1`)!.keys()]) await fsp.unlink(`${b}/moved-1/${n}`);
    await fsp.rmdir(`${b}/moved-1`);
    tree.get(b)!.delete('moved-1');
    tree.delete(`${b}/moved-1`);
    for (let i = 20; i < 30; i++) {
      await fsp.rmdir(subs[i]);
      tree.get(a)!.delete(path.basename(subs[i]));
      tree.delete(subs[i]);
    }
    await vol.close();

    await expectFsckClean(img);
    for (const indexed of [a, b, `${b}/moved-0`]) expect(await debugfs(img, `htree ${indexed}`)).toMatch(/Root node dump/);
    const ours = await openVolume(img, { readOnly: true });
    try {
      const got = await listing((p) => ours.promises.readdir(p), async (p) => (await ours.promises.lstat(p)).isDirectory(), tree.keys());
      expect(sorted(got)).toEqual(sorted(tree));
    } finally {
      await ours.close();
    }
    if (canLoop) {
      await withMountedImage(img, { readOnly: true }, async (m) => {
        const at = (p: string): string => path.join(m.dir, p);
        const got = await listing((p) => nodeFs.readdir(at(p)), async (p) => (await nodeFs.lstat(at(p))).isDirectory(), tree.keys());
        expect(sorted(got)).toEqual(sorted(tree));
        // ".." of every directory is its parent.
        for (const d of tree.keys()) {
          if (d === '/') continue;
          expect((await nodeFs.stat(path.join(at(d), '..'))).ino).toBe((await nodeFs.stat(at(path.dirname(d)))).ino);
        }
      });
    }
  });
});
