/**
 * `cp -a` as root leaves chown out where the owner a new file gets is already
 * the image's (cp-apply.ts). That must hold wherever the copy goes, so the
 * owners are checked against the source tree when the destination gives new
 * entries another group than root's:
 *  - inside a set-group-ID directory of another group (System V rule: new
 *    entries take the directory's group, new directories the bit too);
 *  - on an ext4 mounted with `grpid` (BSD rule: new entries always take the
 *    directory's group), with its root in another group.
 * Owners are only kept by root, so the tests need root; the grpid case also
 * needs loop mounts.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectSameTree } from '../helpers/compare-tree.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { buildImage, createSparse, mkfs } from '../helpers/images.js';
import { canLoopMount, describeLoopSkip, withMountedImage } from '../helpers/loop.js';
import { useTmpDir } from '../helpers/tmp.js';
import { generateTree, restoreTimes, type TreeManifest } from '../helpers/tree.js';
import { runBuiltCli } from './built-cli.js';

const tmp = useTmpDir('cp-owners');
const asRoot = process.getuid?.() === 0;
const loopOk = asRoot && (await canLoopMount());
const loopSkip = await describeLoopSkip();
/** A group no entry of the generated tree has. */
const OTHER_GID = 4321;

let tree: TreeManifest;
let img: string;

async function copyAndCompare(dest: string): Promise<void> {
  const r = await runBuiltCli(['cp', '-a', `${img}:/`, dest], { timeoutMs: 180_000 });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  await restoreTimes(tree);
  await expectSameTree(tree.root, dest, { times: 's', wrapTimes32: true, owners: true, xattrs: true, ignore: ['lost+found', ...tree.trailingHoleFiles] });
}

describe('cp -a as root keeps the image\'s owners where new files get another group', () => {
  if (!asRoot) {
    it.skip('SKIPPED: owners are only kept when running as root', () => undefined);
    return;
  }

  beforeAll(async () => {
    tree = await generateTree(tmp.file('src'), { seed: 777, scale: 'small' });
    // Root's files and directories in a directory of another group: where the
    // destination's rules give new entries that group, each needs its chown.
    const mixed = join(tree.root, 'mixed');
    fs.mkdirSync(join(mixed, 'sub'), { recursive: true });
    fs.writeFileSync(join(mixed, 'root-file'), 'r');
    fs.writeFileSync(join(mixed, 'sub', 'root-file'), 's');
    fs.chownSync(mixed, 0, 1234);
    img = tmp.file('tree.img');
    await buildImage('default', tree.root, img);
  }, 120_000);

  it('inside a set-group-ID directory of another group', async () => {
    const parent = tmp.sub('setgid');
    fs.chownSync(parent, 0, OTHER_GID);
    fs.chmodSync(parent, 0o2775);
    await copyAndCompare(join(parent, 'out'));
    await expectFsckClean(img);
  }, 180_000);

  it('on an ext4 mounted with grpid, whose root is in another group', async () => {
    if (!loopOk) {
      console.log(loopSkip || 'SKIPPED: loop mounts are not available');
      return;
    }
    const target = tmp.file('grpid.img');
    createSparse(target, 256 << 20);
    await mkfs(target, { args: ['-b', '4096'] });
    await withMountedImage(target, { options: ['grpid'] }, async (m) => {
      fs.chownSync(m.dir, 0, OTHER_GID);
      await copyAndCompare(join(m.dir, 'out'));
    });
    await expectFsckClean(target);
  }, 180_000);
});
