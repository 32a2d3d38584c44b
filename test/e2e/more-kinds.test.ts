/**
 * Less common on-disk layouts, read end to end: each image is made by
 * mkfs.ext4 from the small generated tree, then copied out twice — by the
 * Linux kernel (read-only loop mount, GNU cp -a) and by `ext4kit cp -a` —
 * and the two copies must be identical, to the nanosecond. The kernel is the
 * oracle here because mke2fs drops or reshapes some of the tree on these
 * layouts (no xattrs on revision 0, for instance).
 */
import * as fsp from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { runBuiltCli } from '../cli/built-cli.js';
import { expectSameTree } from '../helpers/compare-tree.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { mkfs } from '../helpers/images.js';
import { canLoopMount, describeLoopSkip, withMountedImage } from '../helpers/loop.js';
import { runChecked } from '../helpers/run.js';
import { useTmpDir } from '../helpers/tmp.js';
import { generateTree, restoreTimes } from '../helpers/tree.js';

const tmp = useTmpDir('more-kinds');
const loopOk = await canLoopMount();
const asRoot = process.getuid?.() === 0;

const LAYOUTS: ReadonlyArray<{ name: string; args: string[]; blockSize: number }> = [
  { name: 'bigalloc', args: ['-O', 'bigalloc', '-C', '16384'], blockSize: 4096 },
  { name: 'meta_bg', args: ['-b', '1024', '-O', 'meta_bg,^resize_inode'], blockSize: 1024 },
  { name: 'rev0', args: ['-r', '0', '-O', 'none'], blockSize: 4096 },
  { name: 'no_filetype', args: ['-O', '^filetype'], blockSize: 4096 },
  { name: 'no_dir_index', args: ['-O', '^dir_index'], blockSize: 4096 },
  { name: 'sparse_super2', args: ['-O', 'sparse_super2'], blockSize: 4096 },
  // Not quota: mke2fs -d leaves the quota files' usage stale (e2fsck complains about mke2fs's own image).
  { name: 'project', args: ['-O', 'project'], blockSize: 4096 },
  { name: 'ea_inode_large_dir', args: ['-O', 'ea_inode,large_dir'], blockSize: 4096 },
  { name: 'no_flex_bg_no_huge_file', args: ['-O', '^flex_bg,^huge_file'], blockSize: 4096 },
];

describe('less common layouts read exactly as the kernel reads them', () => {
  if (!loopOk) {
    it('needs loop mounts', async (ctx) => {
      console.warn(`SKIPPED (more-kinds): ${await describeLoopSkip()}`);
      ctx.skip();
    });
    return;
  }
  for (const layout of LAYOUTS) {
    it(layout.name, async () => {
      const src = tmp.sub(`src-${layout.name}`);
      const m = await generateTree(src, { seed: 11, scale: 'small', blockSize: layout.blockSize });
      await restoreTimes(m);
      const img = tmp.file(`${layout.name}.img`);
      await mkfs(img, { args: ['-b', String(layout.blockSize), ...layout.args.filter((a, i, all) => !(a === '-b' || all[i - 1] === '-b'))], root: src, size: '256M' });
      const ref = tmp.file(`${layout.name}-kernel`);
      await withMountedImage(img, { readOnly: true }, async (mnt) => {
        await runChecked('cp', ['-a', `${mnt.dir}/.`, ref]);
      });
      const out = tmp.file(`${layout.name}-ours`);
      const r = await runBuiltCli(['cp', '-a', `${img}:/`, out], { timeoutMs: 120_000 });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      await expectSameTree(ref, out, { times: 'ns', owners: asRoot, xattrs: true, ignore: [] });
      await fsp.rm(ref, { recursive: true, force: true });
      await fsp.rm(out, { recursive: true, force: true });
      await expectFsckClean(img);
    }, 120_000);
  }
});
