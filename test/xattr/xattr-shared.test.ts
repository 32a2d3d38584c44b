/**
 * Shared xattr blocks: one block named by several inodes' i_file_acl, with
 * h_refcount counting them. Changing the attributes of one inode must copy
 * the block (the others keep theirs, byte for byte), dropping a reference
 * must decrement the count, and the last reference must free the block.
 *
 * Two sources of shared blocks:
 *  - the kernel, which shares identical blocks (mbcache) when files get the
 *    same attributes through a loop mount (skipped visibly without one);
 *  - an mkfs.ext4 -d image whose identical blocks are merged with debugfs
 *    (`sif ... file_acl`, `freeb`) and the refcount patched, the result
 *    checked by e2fsck -fn before use.
 * After the changes: e2fsck -fn (it recounts every reference and i_blocks),
 * debugfs and the kernel read what the model says, and the untouched
 * inodes still name the shared block.
 */
import { describe, expect, it } from 'vitest';
import { makeTree, useImages } from '../helpers/images.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { canLoopMount, describeLoopSkip, withMountedImage } from '../helpers/loop.js';
import { readHostXattrs, setHostXattrs } from '../helpers/host-xattr.js';
import { debugfs, debugfsBatch, parseStat, readBlock, readRawSuper, writeRange, fsChecksumSeed, hasMetadataCsum, inodeNumber } from '../helpers/debugfs.js';
import { Rng } from '../helpers/prng.js';
import { runCommand, TOOL_ENV } from '../helpers/run.js';
import { openWritableFs } from '../helpers/writable-fs.js';
import { changeXattr } from '../../src/xattr/xattr-set.js';
import { xattrBlockChecksum } from '../../src/format/xattr.js';
import { debugfsXattrsOf } from './xattr-oracle.js';

const CTIME = { sec: 1_700_000_000, nsec: 0 };
const images = useImages('xattr-shared');
const canLoop = await canLoopMount();
if (!canLoop) console.warn(`SKIPPED (kernel-shared xattr blocks): ${await describeLoopSkip()}`);

const N = 6;
const FILES = Array.from({ length: N }, (_, i) => `f${i}`);
const rng = new Rng(77);
const BIG = rng.bytes(300);
const B2 = rng.bytes(200);
const SMALL = Buffer.from('tiny');

type Attrs = Map<string, Buffer>;
const initialAttrs = (): Attrs => new Map([['user.big', BIG], ['user.b2', B2]]);

async function fileAcl(img: string, file: string): Promise<number> {
  return parseStat(await debugfs(img, `stat /${file}`)).fileAcl;
}

async function refcount(img: string, block: number): Promise<number> {
  const sb = await readRawSuper(img);
  return Buffer.from(await readBlock(img, block, sb.blockSize)).readUInt32LE(4);
}

/** An mkfs -d image whose files f0..f5 all name one xattr block (refcount 6). */
async function mergedByDebugfs(): Promise<string> {
  const root = images.tmp.fresh('tree');
  await makeTree(root, FILES.map((f) => ({ path: f, data: f })));
  await setHostXattrs(Object.fromEntries(FILES.map((f) => [`${root}/${f}`, [[Buffer.from('user.big'), BIG], [Buffer.from('user.b2'), B2]]])));
  const img = await images.mkfs({ size: '16M', args: ['-b', '4096'], root, name: 'merged.img' });
  const shared = await fileAcl(img, 'f0');
  const requests: string[] = [];
  for (const f of FILES.slice(1)) {
    requests.push(`freeb ${await fileAcl(img, f)}`, `sif /${f} file_acl ${shared}`);
  }
  await debugfsBatch(img, requests, true);
  const sb = await readRawSuper(img);
  const block = Buffer.from(await readBlock(img, shared, sb.blockSize));
  block.writeUInt32LE(N, 4);
  if (hasMetadataCsum(sb)) block.writeUInt32LE(xattrBlockChecksum(fsChecksumSeed(sb), shared, block), 16);
  await writeRange(img, shared * sb.blockSize, block);
  // debugfs's freeb leaves the free block counts behind; let e2fsck recount them.
  const fix = await runCommand('e2fsck', ['-fy', img], { timeoutMs: 60_000, env: TOOL_ENV });
  expect([0, 1], fix.stdout).toContain(fix.code);
  const problems = fix.stdout.split('\n').filter((l) => l !== '' && !/^(Pass \d|Fix\? yes|Free blocks count wrong)/.test(l) && !l.startsWith(img));
  expect(problems).toEqual([]);
  await expectFsckClean(img);
  return img;
}

/** An empty image where the kernel gave f0..f5 identical attributes (it shares their block). */
async function sharedByKernel(): Promise<string> {
  const img = await images.mkfs({ size: '16M', args: ['-b', '4096'], name: 'kernel.img' });
  await withMountedImage(img, {}, async (m) => {
    await makeTree(m.dir, FILES.map((f) => ({ path: f, data: f })));
    await setHostXattrs(Object.fromEntries(FILES.map((f) => [`${m.dir}/${f}`, [[Buffer.from('user.big'), BIG], [Buffer.from('user.b2'), B2]]])));
  });
  return img;
}

async function exercise(img: string): Promise<void> {
  const shared = await fileAcl(img, 'f0');
  for (const f of FILES) expect(await fileAcl(img, f), `${f} shares the block`).toBe(shared);
  expect(await refcount(img, shared)).toBe(N);

  const model = new Map(FILES.map((f) => [f, initialAttrs()]));
  const v = await openWritableFs(img);
  try {
    const inos = new Map<string, number>();
    for (const f of FILES) inos.set(f, await inodeNumber(img, `/${f}`));
    const set = async (f: string, name: string, value: Buffer | undefined): Promise<void> => {
      await changeXattr(v.fs, v.inodes, await v.inodes.get(inos.get(f)!), name, value, 'either', CTIME);
      if (value === undefined) model.get(f)!.delete(name);
      else model.get(f)!.set(name, value);
    };
    // f1: a new value of the same size: copy-on-write.
    await set('f1', 'user.big', Buffer.from(BIG).reverse());
    // f2: one of the two block attributes removed: copy-on-write of the rest.
    await set('f2', 'user.b2', undefined);
    // f3: both removed: copy, then that private copy freed.
    await set('f3', 'user.big', undefined);
    await set('f3', 'user.b2', undefined);
    // f4: a small attribute fits in the inode body: the shared block is not touched.
    await set('f4', 'user.s', SMALL);
    for (const f of ['f1', 'f2', 'f3']) expect((await v.inodes.get(inos.get(f)!)).disk.fileAcl, f).not.toBe(shared);
    expect((await v.inodes.get(inos.get('f3')!)).disk.fileAcl).toBe(0);
    expect((await v.inodes.get(inos.get('f4')!)).disk.fileAcl).toBe(shared);
  } finally {
    await v.close();
  }
  await expectFsckClean(img);
  expect(await refcount(img, shared)).toBe(N - 3);
  for (const f of ['f0', 'f4', 'f5']) expect(await fileAcl(img, f)).toBe(shared);
  await expectSeen(img, model);

  // Now drop the remaining references one by one; the last one frees the block.
  const w = await openWritableFs(img);
  try {
    for (const f of ['f0', 'f4', 'f5']) {
      const inode = await w.inodes.get(await inodeNumber(img, `/${f}`));
      await changeXattr(w.fs, w.inodes, inode, 'user.big', undefined, 'replace', CTIME);
      await changeXattr(w.fs, w.inodes, inode, 'user.b2', undefined, 'replace', CTIME);
      model.get(f)!.delete('user.big');
      model.get(f)!.delete('user.b2');
      expect(inode.disk.fileAcl, `${f} after its block attributes went`).toBe(0);
    }
  } finally {
    await w.close();
  }
  await expectFsckClean(img);
  const out = await debugfs(img, `testb ${shared}`);
  expect(out).toMatch(/not in use/);
  await expectSeen(img, model);
}

async function expectSeen(img: string, model: Map<string, Attrs>): Promise<void> {
  const hex = (m: Map<string, Buffer | Uint8Array>): Array<[string, string]> =>
    [...m].map(([k, val]): [string, string] => [k, Buffer.from(val).toString('hex')]).sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const viaDebugfs = await debugfsXattrsOf(img, FILES.map((f) => `/${f}`));
  for (const f of FILES) expect(hex(viaDebugfs.get(`/${f}`)!), `debugfs ${f}`).toEqual(hex(model.get(f)!));
  if (!canLoop) return;
  await withMountedImage(img, { readOnly: true }, async (m) => {
    const seen = await readHostXattrs(FILES.map((f) => `${m.dir}/${f}`));
    for (const f of FILES) expect(hex(seen[`${m.dir}/${f}`]), `kernel ${f}`).toEqual(hex(model.get(f)!));
  });
}

describe('shared xattr blocks', () => {
  it('copy-on-write, reference counts and freeing on a block merged with debugfs', async () => {
    await exercise(await mergedByDebugfs());
  });

  it.skipIf(!canLoop)('copy-on-write, reference counts and freeing on a block the kernel shared', async () => {
    await exercise(await sharedByKernel());
  });
});
