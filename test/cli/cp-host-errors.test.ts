/**
 * What the host refuses during a tree copy is reported once, the rest of the
 * tree is still copied, and what depends on a failure (the contents of a
 * directory that could not be made) is skipped without more messages — the
 * same whether the host side runs on the main thread or on the copy's worker
 * thread (EXT4KIT_CP_THREADS=0 and =eager, through the built CLI).
 *
 * The destination is set up with things in the way: a file where the image
 * has a directory (twice: deep inside the tree, and where a whole subtree
 * goes) and a non-empty directory where the image has a file.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectSameTree } from '../helpers/compare-tree.js';
import { debugfs } from '../helpers/debugfs.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { createSparse, mkfs } from '../helpers/images.js';
import { useTmpDir } from '../helpers/tmp.js';
import { runBuiltCli } from './built-cli.js';

const tmp = useTmpDir('cp-host-errors');
let src: string;
let img: string;

/** Enough files that the copy fills several batches (512 records each), so the worker really takes over. */
function makeSource(root: string): void {
  for (const d of ['a', 'b', 'c', 'd', 'e']) {
    fs.mkdirSync(join(root, d, 'sub'), { recursive: true });
    for (let i = 0; i < 300; i++) fs.writeFileSync(join(root, d, `f${i}`), `${d}${i}\n`.repeat(i % 7));
    for (let i = 0; i < 20; i++) fs.writeFileSync(join(root, d, 'sub', `g${i}`), `${d}/sub ${i}\n`);
  }
  fs.writeFileSync(join(root, 'd', 'file.txt'), 'a file in the image\n');
  fs.mkdirSync(join(root, 'links'));
  fs.writeFileSync(join(root, 'links', 'x'), 'two names\n');
  fs.linkSync(join(root, 'links', 'x'), join(root, 'links', 'y'));
}

beforeAll(async () => {
  src = tmp.sub('src');
  makeSource(src);
  img = tmp.file('tree.img');
  createSparse(img, 64 << 20);
  await mkfs(img, { root: src, args: ['-b', '4096'] });
});

describe('cp -r reports what the host refuses and copies the rest', () => {
  const outcomes = new Map<string, { stderr: string[]; out: string }>();

  for (const threads of ['0', 'eager']) {
    it(`EXT4KIT_CP_THREADS=${threads}`, async () => {
      const out = tmp.sub(`out-${threads}`);
      fs.writeFileSync(join(out, 'e'), 'a file where the image has a directory\n');
      fs.mkdirSync(join(out, 'c'));
      fs.writeFileSync(join(out, 'c', 'sub'), 'a file where the image has a directory\n');
      fs.mkdirSync(join(out, 'd', 'file.txt'), { recursive: true });
      fs.writeFileSync(join(out, 'd', 'file.txt', 'keep'), 'x');

      const r = await runBuiltCli(['cp', '-r', `${img}:/`, out], { timeoutMs: 120_000, env: { EXT4KIT_CP_THREADS: threads } });
      expect(r.code).toBe(1);
      const lines = r.stderr.trimEnd().split('\n').sort();
      expect(lines).toEqual([
        `ext4kit: cp: ${join(out, 'c', 'sub')}: cannot overwrite non-directory with directory (ENOTDIR)`,
        `ext4kit: cp: ${join(out, 'd', 'file.txt')}: illegal operation on a directory (EISDIR)`,
        `ext4kit: cp: ${join(out, 'e')}: cannot overwrite non-directory with directory (ENOTDIR)`,
      ].sort());
      // What was in the way is untouched; everything else is the image's.
      expect(fs.readFileSync(join(out, 'c', 'sub'), 'utf8')).toBe('a file where the image has a directory\n');
      expect(fs.readFileSync(join(out, 'd', 'file.txt', 'keep'), 'utf8')).toBe('x');
      // c and d themselves have other link counts (a directory less, one more): their contents are compared on their own.
      const opts = { times: 'none', owners: false, xattrs: false } as const;
      await expectSameTree(src, out, { ...opts, ignore: ['lost+found', 'c', 'd', 'e', 'links'] });
      await expectSameTree(join(src, 'c'), join(out, 'c'), { ...opts, ignore: ['sub'] });
      await expectSameTree(join(src, 'd'), join(out, 'd'), { ...opts, ignore: ['file.txt'] });
      outcomes.set(threads, { stderr: lines, out });
    }, 120_000);
  }

  it('both threads modes agree', async () => {
    const one = outcomes.get('0');
    const two = outcomes.get('eager');
    expect(one && two).toBeTruthy();
    expect(two!.stderr.map((l) => l.replace(two!.out, 'OUT'))).toEqual(one!.stderr.map((l) => l.replace(one!.out, 'OUT')));
    await expectFsckClean(img);
  });
});

describe('cp -a: a later name of a file whose first name the host refuses', () => {
  for (const threads of ['0', 'eager']) {
    it(`is copied on its own, not linked (EXT4KIT_CP_THREADS=${threads})`, async () => {
      const out = tmp.sub(`links-${threads}`);
      // Both names blocked by non-empty directories: the first fails to open; the
      // second, copied on its own, fails the same way (a link attempt would say EEXIST).
      for (const name of ['x', 'y']) {
        fs.mkdirSync(join(out, 'links', name), { recursive: true });
        fs.writeFileSync(join(out, 'links', name, 'keep'), 'x');
      }
      const r = await runBuiltCli(['cp', '-a', `${img}:/links`, out], { timeoutMs: 120_000, env: { EXT4KIT_CP_THREADS: threads } });
      expect(r.code).toBe(1);
      expect(r.stderr.trimEnd().split('\n').sort()).toEqual([
        `ext4kit: cp: ${join(out, 'links', 'x')}: illegal operation on a directory (EISDIR)`,
        `ext4kit: cp: ${join(out, 'links', 'y')}: illegal operation on a directory (EISDIR)`,
      ]);

      // With only the first name blocked (the first in the directory, as debugfs lists it),
      // the second is a file of its own with the contents.
      const listed = await debugfs(img, 'ls /links');
      const order = [...listed.matchAll(/\) ([xy])\s/g)].map((m) => m[1]);
      expect(order.sort()).toEqual(['x', 'y']);
      const [first, second] = [...listed.matchAll(/\) ([xy])\s/g)].map((m) => m[1]);
      const out2 = tmp.sub(`links2-${threads}`);
      fs.mkdirSync(join(out2, 'links', first), { recursive: true });
      fs.writeFileSync(join(out2, 'links', first, 'keep'), 'x');
      const r2 = await runBuiltCli(['cp', '-a', `${img}:/links`, out2], { timeoutMs: 120_000, env: { EXT4KIT_CP_THREADS: threads } });
      expect(r2.code).toBe(1);
      expect(r2.stderr).toBe(`ext4kit: cp: ${join(out2, 'links', first)}: illegal operation on a directory (EISDIR)\n`);
      expect(fs.readFileSync(join(out2, 'links', second), 'utf8')).toBe('two names\n');
      expect(fs.statSync(join(out2, 'links', second)).nlink).toBe(1);
    }, 120_000);
  }
});
