/**
 * The edges of the htree: growth to three index levels with large_dir, the
 * full two-level index without it (ENOSPC before anything changes, as
 * Linux), and runs of equal hashes split across leaves (the continuation
 * bit). 1 KiB blocks and long names reach the limits with the fewest
 * entries.
 */
import { describe, expect, it } from 'vitest';
import { useImages } from '../helpers/images.js';
import { debugfs, dxHashBatch, seedToUuid } from '../helpers/debugfs.js';
import { canLoopMount, describeLoopSkip } from '../helpers/loop.js';
import { Rng } from '../helpers/prng.js';
import { openWritableFs, type WritableFs } from '../helpers/writable-fs.js';
import { EXT4_FT_REG_FILE } from '../../src/format/dirent.js';
import { dirHash } from '../../src/format/dirhash.js';
import { readDxRoot } from '../../src/dir/dir-blocks.js';
import { isFsError } from '../../src/base/errors.js';
import type { Ext4Inode } from '../../src/inode/ext4-inode.js';
import { addOne, bytes, checkImage, deleteOne, fixLinks, inodesOf, latin1, randomName, testSeed, type DirModel } from './dir-harness.js';

const images = useImages('dir-levels');
const canLoop = await canLoopMount();
if (!canLoop) console.warn(await describeLoopSkip());

async function setup(args: string[], size: string): Promise<{ img: string; dIno: number; fIno: number }> {
  const img = await images.mkfs({ size, args: ['-b', '1024', ...args], tree: [{ path: 'd', kind: 'dir' }, { path: 'f', data: 'target' }] });
  const [dIno, fIno] = await inodesOf(img, ['/d', '/f']);
  return { img, dIno, fIno };
}

async function openDir(img: string, dIno: number): Promise<{ w: WritableFs; d: Ext4Inode }> {
  const w = await openWritableFs(img);
  const d = await w.inodes.get(dIno);
  d.refCount++;
  return { w, d };
}

describe('htree limits', () => {
  it('large_dir: grows a third index level, then deletes and re-adds', { timeout: 1_200_000 }, async () => {
    const rng = new Rng(testSeed('dir-levels large_dir'));
    const { img, dIno, fIno } = await setup(['-O', 'large_dir'], '256M');
    const model: DirModel = new Map();
    let { w, d } = await openDir(img, dIno);
    let levels = 0;
    let extra = 0;
    for (let i = 0; i < 120_000 && extra < 1500; i++) {
      const name = randomName(rng, model, { minLen: 200 });
      await addOne(w, d, name, fIno, EXT4_FT_REG_FILE);
      model.set(latin1(name), { ino: fIno, fileType: EXT4_FT_REG_FILE });
      if (levels < 2 && i % 256 === 0 && d.isIndexedDir) levels = (await readDxRoot(w.fs, d)).indirectLevels;
      if (levels === 2) extra++;
    }
    expect(levels).toBe(2);
    console.log(`large_dir: ${model.size} names, ${d.disk.size / 1024} blocks for three index levels`);
    await fixLinks(w, [fIno], [model]);
    await w.close();
    const [dump] = await checkImage(img, [{ path: '/d', ino: dIno, model }], { kernel: canLoop });
    expect(dump?.indirectLevels).toBe(2);
    expect(dump?.nodes.size).toBeGreaterThan(dump!.root.count);

    ({ w, d } = await openDir(img, dIno));
    const removed: string[] = [];
    for (const key of [...model.keys()]) {
      if (rng.chance(0.3)) {
        expect(await deleteOne(w, d, bytes(key))).toBe(fIno);
        model.delete(key);
        removed.push(key);
      }
    }
    for (const key of removed.slice(0, 2000)) {
      await addOne(w, d, bytes(key), fIno, EXT4_FT_REG_FILE);
      model.set(key, { ino: fIno, fileType: EXT4_FT_REG_FILE });
    }
    await fixLinks(w, [fIno], [model]);
    await w.close();
    await checkImage(img, [{ path: '/d', ino: dIno, model }], { kernel: canLoop, absent: removed.slice(2000, 2200).map(bytes) });
  });

  it('without large_dir: a full two-level index refuses the add with ENOSPC and changes nothing', { timeout: 1_200_000 }, async () => {
    const rng = new Rng(testSeed('dir-levels no large_dir'));
    const { img, dIno, fIno } = await setup([], '256M');
    const model: DirModel = new Map();
    const { w, d } = await openDir(img, dIno);
    let refused: unknown;
    const sizeBefore = { size: 0, blocks: 0 };
    for (let i = 0; i < 120_000; i++) {
      const name = randomName(rng, model, { minLen: 200 });
      sizeBefore.size = d.disk.size;
      sizeBefore.blocks = d.disk.blocks;
      try {
        await addOne(w, d, name, fIno, EXT4_FT_REG_FILE);
      } catch (e) {
        refused = e;
        break;
      }
      model.set(latin1(name), { ino: fIno, fileType: EXT4_FT_REG_FILE });
    }
    expect(isFsError(refused) && refused.code).toBe('ENOSPC');
    console.log(`no large_dir: index full after ${model.size} names, ${d.disk.size / 1024} blocks`);
    expect(w.journal.aborted).toBe(false);
    expect({ size: d.disk.size, blocks: d.disk.blocks }).toEqual(sizeBefore);
    expect((await readDxRoot(w.fs, d)).indirectLevels).toBe(1);
    // Deleting makes room in leaves (the index stays full): those names fit again.
    const keys = [...model.keys()].slice(0, 300);
    for (const key of keys) await deleteOne(w, d, bytes(key));
    for (const key of keys) await addOne(w, d, bytes(key), fIno, EXT4_FT_REG_FILE);
    await fixLinks(w, [fIno], [model]);
    await w.close();
    const [dump] = await checkImage(img, [{ path: '/d', ino: dIno, model }], { kernel: canLoop });
    expect(dump?.indirectLevels).toBe(1);
  });

  it('runs of equal hashes split across leaves (continuation bit)', { timeout: 600_000 }, async () => {
    const rng = new Rng(testSeed('dir-levels collisions'));
    const { img, dIno, fIno } = await setup([], '64M');
    // A fixed seed, so the colliding names found below are known before the directory exists.
    const seed = [0x01234567, 0x89abcdef, 0x02468ace, 0x13579bdf];
    await debugfs(img, `ssv hash_seed ${seedToUuid(seed)}`, true);
    // half_md4 (mkfs's default); the names are ASCII, so signed and unsigned agree.
    const version = 1;
    const groups = findCollisions(version, seed, 2_000_000);
    expect(groups.length).toBeGreaterThan(300);
    // The oracle agrees that they collide (a sample, hashed by debugfs).
    const sample = groups.slice(0, 40);
    const theirs = await dxHashBatch(sample.flat(), version, seed);
    let at = 0;
    for (const g of sample) {
      for (let k = 1; k < g.length; k++) expect(theirs[at + k].hash).toBe(theirs[at].hash);
      at += g.length;
    }

    const names = groups.flat();
    for (let i = names.length - 1; i > 0; i--) {
      const j = rng.int(0, i);
      [names[i], names[j]] = [names[j], names[i]];
    }
    const model: DirModel = new Map();
    let { w, d } = await openDir(img, dIno);
    for (const name of names) {
      await addOne(w, d, name, fIno, EXT4_FT_REG_FILE);
      model.set(latin1(name), { ino: fIno, fileType: EXT4_FT_REG_FILE });
    }
    await fixLinks(w, [fIno], [model]);
    await w.close();
    const [dump] = await checkImage(img, [{ path: '/d', ino: dIno, model }], { kernel: canLoop });
    const continued = [...dump!.root.entries, ...[...dump!.nodes.values()].flatMap((n) => n.entries)].filter((e) => (e.hash & 1) === 1);
    expect(continued.length).toBeGreaterThan(0);

    // Delete one name of every other group (lookups that may cross into the next leaf), then add them back.
    ({ w, d } = await openDir(img, dIno));
    const gone = groups.filter((_, i) => i % 2 === 0).map((g) => g[g.length - 1]);
    for (const name of gone) {
      expect(await deleteOne(w, d, name)).toBe(fIno);
      model.delete(latin1(name));
    }
    await fixLinks(w, [fIno], [model]);
    await w.close();
    await checkImage(img, [{ path: '/d', ino: dIno, model }], { kernel: canLoop, absent: gone.slice(0, 100) });
    ({ w, d } = await openDir(img, dIno));
    for (const name of gone) {
      await addOne(w, d, name, fIno, EXT4_FT_REG_FILE);
      model.set(latin1(name), { ino: fIno, fileType: EXT4_FT_REG_FILE });
    }
    await fixLinks(w, [fIno], [model]);
    await w.close();
    await checkImage(img, [{ path: '/d', ino: dIno, model }], { kernel: canLoop });
  });
});

/**
 * Groups of names with equal major hashes, by a birthday search over `n`
 * short names ("c" + base 36 counter): with 2^21 names and 31-bit hashes,
 * about a thousand pairs.
 */
function findCollisions(version: number, seed: readonly number[], n: number): Uint8Array[][] {
  const nameOf = (i: number): Uint8Array => Buffer.from(`c${i.toString(36)}`, 'latin1');
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) keys[i] = dirHash(nameOf(i), version, seed).hash * 2 ** 21 + i;
  keys.sort();
  const groups: Uint8Array[][] = [];
  for (let i = 0; i < n;) {
    const h = Math.floor(keys[i] / 2 ** 21);
    let j = i + 1;
    while (j < n && Math.floor(keys[j] / 2 ** 21) === h) j++;
    if (j - i > 1) groups.push(Array.from(keys.subarray(i, j), (k) => nameOf(k % 2 ** 21)));
    i = j;
  }
  return groups;
}
