/**
 * Extended attributes against the host kernel (which set them and reports
 * them back), debugfs ea_list, and blocks written by e2fsprogs (mke2fs -d)
 * and by the kernel (loop mount). Also inline-data file contents, which live
 * partly in the system.data attribute.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  aclDiskToXattr, aclXattrToDisk, compareXattrEntries, encodeInodeXattrs, encodeXattrBlock, parseInodeXattrs, parseXattrBlock,
  readXattrBlockHeader, splitXattrName, verifyXattrBlock, writeXattrBlockChecksum, xattrBlockChecksum, xattrBlockHash, xattrEntryHash,
  xattrEntryHashMatches, xattrNamePrefix, XATTR_INDEX_POSIX_ACL_ACCESS, XATTR_INDEX_POSIX_ACL_DEFAULT, XATTR_INDEX_USER,
  XATTR_INDEX_SYSTEM, type XattrEntry,
} from '../../src/format/xattr.js';
import { findSystemData, inlineDataBytes, splitInlineData } from '../../src/format/inline-data.js';
import { isCorruption } from '../../src/base/errors.js';
import {
  debugfs, fsChecksumSeed, hasMetadataCsum, iblockOf, parseEaList, parseStat, readBlock, readRawInode, readRawSuper, type RawSuper,
} from '../helpers/debugfs.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { ACL_UNDEFINED_ID as NONE, aclXattrValue as aclXattr, readHostXattrs, setHostXattrs, type HostXattr } from '../helpers/host-xattr.js';
import { mkfs } from '../helpers/images.js';
import { Rng } from '../helpers/prng.js';
import { canLoopMount, withMountedImage } from '../helpers/loop.js';
import { useTmpDir } from '../helpers/tmp.js';

const tmp = useTmpDir('xattr');

const enc = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));
const latin1 = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

/** Raw name bytes of an entry: prefix + stored suffix, as the kernel lists it. */
function rawName(e: XattrEntry): string {
  return (xattrNamePrefix(e.nameIndex) ?? '') + latin1(e.name);
}


function bytes(n: number, seed: number): Uint8Array {
  return new Uint8Array(new Rng(seed).bytes(n));
}

/** The host tree: file name -> attributes in the order they are set. */
function hostSpec(bigValue: number, manyCount: number): Record<string, HostXattr[]> {
  const many: HostXattr[] = [];
  for (let i = 0; i < manyCount; i++) many.push([enc(`user.attr_${String(i).padStart(2, '0')}`), bytes(20 + (i % 5), i)]);
  return {
    small: [[enc('user.a'), enc('value-a')], [enc('user.b'), bytes(10, 1)]],
    big: [[enc('user.big'), bytes(bigValue, 2)], [enc('user.s'), enc('x')]],
    many,
    acl: [[enc('system.posix_acl_access'), aclXattr([[1, 6, NONE], [2, 4, 1000], [4, 4, NONE], [8, 5, 2000], [0x10, 5, NONE], [0x20, 0, NONE]])]],
    mixed: [[enc('trusted.t'), enc('tv')], [enc('security.s'), enc('sv')], [enc('user.empty'), new Uint8Array(0)], [enc('user.\xe9t\xe9'), enc('v')],
      [enc('user.pad'), bytes(300, 3)]],
  };
}

const kinds = [
  { name: '4k metadata_csum', mk: ['-b', '4096'], bigValue: 3000, manyCount: 40 },
  { name: '1k metadata_csum', mk: ['-b', '1024'], bigValue: 800, manyCount: 14 },
  { name: '4k without metadata_csum', mk: ['-b', '4096', '-O', '^metadata_csum'], bigValue: 3000, manyCount: 40 },
];

/**
 * Zero-length values are the one place e2fsprogs and Linux lay out
 * differently: e2fsprogs stores the current value boundary as the offset,
 * Linux (and our encoder) 0; readers ignore it. Copy those two bytes over.
 */
function sameEmptyValueOffsets(encoded: Uint8Array, original: Uint8Array, entries: XattrEntry[], first: number): void {
  let off = first;
  for (const e of entries) {
    if (e.valueSize === 0) encoded.set(original.subarray(off + 2, off + 4), off + 2);
    off += (16 + e.name.length + 3) & ~3;
  }
}

interface FileXattrs { ino: number; inode: XattrEntry[]; block: XattrEntry[]; blockNr: number; blockData?: Uint8Array; raw: Uint8Array; areaStart: number }

async function readFileXattrs(image: string, sb: RawSuper, path: string): Promise<FileXattrs> {
  const st = parseStat(await debugfs(image, `stat ${path}`));
  const raw = await readRawInode(image, st.ino, sb);
  const areaStart = 128 + st.extraIsize!;
  const inode = parseInodeXattrs(raw, areaStart, sb.inodeSize, st.ino);
  if (st.fileAcl === 0) return { ino: st.ino, inode, block: [], blockNr: 0, raw, areaStart };
  const blockData = await readBlock(image, st.fileAcl, sb.blockSize);
  return { ino: st.ino, inode, block: parseXattrBlock(blockData, st.fileAcl), blockNr: st.fileAcl, blockData, raw, areaStart };
}

describe.each(kinds)('xattrs written by mke2fs -d on $name', ({ mk, bigValue, manyCount }) => {
  let dir = '';
  let image = '';
  let sb: RawSuper;
  let host: Record<string, Map<string, Uint8Array>> = {};
  const spec = hostSpec(bigValue, manyCount);
  beforeAll(async () => {
    dir = tmp.fresh('mke2fs');
    const root = join(dir, 'root');
    await mkdir(root);
    const paths: Record<string, HostXattr[]> = {};
    for (const [f, attrs] of Object.entries(spec)) {
      await writeFile(join(root, f), f);
      paths[join(root, f)] = attrs;
    }
    await mkdir(join(root, 'dacl'));
    paths[join(root, 'dacl')] = [[enc('system.posix_acl_default'), aclXattr([[1, 7, NONE], [4, 5, NONE], [0x20, 5, NONE]])]];
    await setHostXattrs(paths);
    const got = await readHostXattrs(Object.keys(paths));
    for (const p of Object.keys(paths)) host[p.slice(root.length)] = got[p]!;
    image = join(dir, 'img');
    await mkfs(image, { args: [...mk, '-I', '256'], size: '32M', root });
    sb = await readRawSuper(image);
  });
  afterAll(() => {
    host = {};
  });

  it('the image is clean', async () => {
    await expectFsckClean(image);
  });

  it('every file: decoded names and values equal what the host kernel reports, ACLs converted to its form', async () => {
    let sawBlock = false;
    let sawInode = false;
    for (const [path, expected] of Object.entries(host)) {
      const x = await readFileXattrs(image, sb, path);
      const ours = new Map<string, Uint8Array>();
      for (const e of [...x.inode, ...x.block]) {
        expect(e.value, rawName(e)).toBeDefined();
        const isAcl = e.nameIndex === XATTR_INDEX_POSIX_ACL_ACCESS || e.nameIndex === XATTR_INDEX_POSIX_ACL_DEFAULT;
        ours.set(rawName(e), isAcl ? aclDiskToXattr(e.value!, x.ino) : e.value!);
      }
      expect([...ours.keys()].sort(), path).toEqual([...expected.keys()].sort());
      for (const [n, v] of expected) expect(Buffer.from(ours.get(n)!).equals(Buffer.from(v)), `${path} ${n}`).toBe(true);
      sawBlock ||= x.block.length > 0;
      sawInode ||= x.inode.length > 0;
    }
    expect(sawBlock && sawInode).toBe(true);
  });

  it('every file: names and sizes equal debugfs ea_list (ACLs at their on-disk size)', async () => {
    for (const path of Object.keys(host)) {
      const x = await readFileXattrs(image, sb, path);
      const listed = parseEaList(await debugfs(image, `ea_list ${path}`));
      const ours = [...x.inode, ...x.block].map((e) => ({ name: rawName(e), size: e.valueSize }));
      expect(ours.sort((a, b) => a.name.localeCompare(b.name)), path)
        .toEqual(listed.map((l) => ({ name: l.name, size: l.size })).sort((a, b) => a.name.localeCompare(b.name)));
    }
  });

  it('ACLs: the on-disk form converts to the kernel xattr form and back', async () => {
    for (const path of ['/acl', '/dacl']) {
      const x = await readFileXattrs(image, sb, path);
      const e = [...x.inode, ...x.block].find((a) => a.nameIndex === XATTR_INDEX_POSIX_ACL_ACCESS || a.nameIndex === XATTR_INDEX_POSIX_ACL_DEFAULT)!;
      const hostValue = [...host[path].values()][0];
      expect(aclDiskToXattr(e.value!)).toEqual(hostValue);
      expect(aclXattrToDisk(hostValue)).toEqual(e.value);
    }
  });

  it('blocks: checksum, header hash and entry hashes verify; a changed byte fails the checksum', async () => {
    const csum = hasMetadataCsum(sb);
    const fsSeed = fsChecksumSeed(sb);
    let blocksSeen = 0;
    for (const path of Object.keys(host)) {
      const x = await readFileXattrs(image, sb, path);
      if (!x.blockData) continue;
      blocksSeen++;
      const h = readXattrBlockHeader(x.blockData);
      expect(h.refcount).toBe(1);
      // e2fsprogs 1.47 leaves h_hash 0 (never shared); Linux fills it in.
      expect(h.hash === 0 || h.hash === xattrBlockHash(x.block)).toBe(true);
      for (const e of x.block) {
        expect(xattrEntryHashMatches(e), `${path} ${e.fullName}`).toBe(true);
        // e2fsprogs 1.47 hashes name bytes unsigned, like Linux 6.2+.
        expect(e.hash, `${path} ${e.fullName}`).toBe(xattrEntryHash(e, e.value!));
      }
      if (csum) {
        expect(verifyXattrBlock(fsSeed, x.blockNr, x.blockData)).toBe(true);
        expect(xattrBlockChecksum(fsSeed, x.blockNr, x.blockData)).toBe(h.checksum);
        expect(verifyXattrBlock(fsSeed, x.blockNr + 1, x.blockData)).toBe(false);
        const bad = x.blockData.slice();
        bad[bad.length - 1] ^= 1;
        expect(verifyXattrBlock(fsSeed, x.blockNr, bad)).toBe(false);
      } else {
        expect(h.checksum).toBe(0);
      }
      // In-inode entries carry hash 0 (e2fsprogs and Linux alike), or a right one.
      for (const e of x.inode) expect(e.hash === 0 || xattrEntryHashMatches(e)).toBe(true);
    }
    expect(blocksSeen).toBeGreaterThanOrEqual(3);
  });

  it('round trip: blocks re-encode byte for byte (hashes and checksum recomputed), in-inode areas too', async () => {
    const fsSeed = fsChecksumSeed(sb);
    for (const path of Object.keys(host)) {
      const x = await readFileXattrs(image, sb, path);
      if (x.blockData) {
        const h = readXattrBlockHeader(x.blockData);
        const inputs = x.block.map((e) => ({ nameIndex: e.nameIndex, name: e.name, value: e.value! }));
        const again = encodeXattrBlock(inputs, sb.blockSize, { refcount: h.refcount, blockHash: h.hash });
        sameEmptyValueOffsets(again, x.blockData, x.block, 32);
        if (hasMetadataCsum(sb)) writeXattrBlockChecksum(fsSeed, x.blockNr, again);
        expect(Buffer.from(again).equals(Buffer.from(x.blockData)), path).toBe(true);
      }
      if (x.inode.length > 0) {
        const area = x.raw.slice(x.areaStart);
        const again = new Uint8Array(area.length).fill(0xaa);
        // No hashes given: in-inode entries get 0, as both tools write them.
        encodeInodeXattrs(x.inode.map((e) => ({ nameIndex: e.nameIndex, name: e.name, value: e.value! })), again);
        sameEmptyValueOffsets(again, area, x.inode, 4);
        expect(Buffer.from(again).equals(Buffer.from(area)), path).toBe(true);
      }
    }
  });

  it('corrupt attribute blocks give EFSCORRUPTED; random damage never crashes', async () => {
    const x = await readFileXattrs(image, sb, '/many');
    const block = x.blockData!;
    const dv = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);
    const cases: Array<[string, (b: Uint8Array) => void, RegExp]> = [
      ['magic', (b) => dv(b).setUint32(0, 0xea020001, true), /magic/],
      ['h_blocks', (b) => dv(b).setUint32(8, 2, true), /h_blocks 2/],
      ['value past the end', (b) => dv(b).setUint16(32 + 2, b.length - 4, true), /outside the value area/],
      ['value over the entries', (b) => dv(b).setUint16(32 + 2, 40, true), /outside the value area|overlap/],
      ['value size huge', (b) => dv(b).setUint32(32 + 8, 0x2000000, true), /exceeds/],
      ['name with NUL', (b) => { b[32 + 16] = 0; }, /NUL/],
      ['no terminator', (b) => { for (let o = 32; o < b.length; o += 4) if (dv(b).getUint32(o, true) === 0) { b.fill(0x41, o, b.length); break; } }, /runs past|outside|overlap|exceeds|NUL/],
      ['values overlap', (b) => dv(b).setUint16(32 + 2, dv(b).getUint16(32 + 20 + (((16 + b[32] + 3) & ~3) - 20) + 2, true), true), /overlap/],
      ['ea_inode of size 0', (b) => { dv(b).setUint32(32 + 4, 99, true); dv(b).setUint32(32 + 8, 0, true); }, /size 0/],
    ];
    for (const [what, mutate, msg] of cases) {
      const b = block.slice();
      mutate(b);
      let err: unknown;
      try {
        parseXattrBlock(b, x.blockNr);
      } catch (e) {
        err = e;
      }
      expect(isCorruption(err), what).toBe(true);
      expect(String(err), what).toMatch(msg);
      expect(String(err), what).toContain(`xattr block ${x.blockNr}`);
    }
    const rng = new Rng(777);
    for (let i = 0; i < 3000; i++) {
      const b = block.slice();
      for (let k = 0; k < 3; k++) b[rng.int(0, 399)] ^= 1 << rng.int(0, 7);
      try {
        parseXattrBlock(b, 5);
      } catch (e) {
        expect(isCorruption(e)).toBe(true);
      }
      const r = x.raw.slice();
      r.set(b.subarray(28, 28 + r.length - x.areaStart), x.areaStart);
      try {
        parseInodeXattrs(r, x.areaStart, r.length, x.ino);
      } catch (e) {
        expect(isCorruption(e)).toBe(true);
      }
    }
  });
});

describe('xattrs written by the kernel', () => {
  let image = '';
  let ok = false;
  beforeAll(async () => {
    ok = await canLoopMount();
    if (!ok) return;
    image = join(tmp.fresh('kernel'), 'img');
    await mkfs(image, { args: ['-b', '4096', '-I', '256'], size: '32M' });
    await withMountedImage(image, {}, async ({ dir: mnt }) => {
      await writeFile(join(mnt, 'k'), 'k');
      // Set in the order Linux sorts block entries, so the block layout is
      // the one a single fresh encode produces.
      const attrs: HostXattr[] = [
        [enc('user.a'), enc('in-inode')],
        [enc('user.\xe9\xe8'), bytes(200, 8)],
        [enc('user.big1'), bytes(1500, 9)],
        [enc('user.big2'), bytes(900, 10)],
        [enc('trusted.zz'), bytes(600, 11)],
      ];
      await setHostXattrs({ [join(mnt, 'k')]: attrs });
    });
  });

  it('in-inode hashes, block order, block hash and checksum match, and the block re-encodes exactly', async (ctx) => {
    if (!ok) {
      console.warn('SKIPPED (kernel-written xattr block): needs root and a working loop mount');
      ctx.skip();
    }
    const sb = await readRawSuper(image);
    const x = await readFileXattrs(image, sb, '/k');
    expect(x.inode.length).toBeGreaterThan(0);
    expect(x.block.length).toBeGreaterThan(0);
    // Linux hashes block entries (name bytes unsigned since 6.2) and leaves
    // in-inode ones 0.
    for (const e of x.block) expect(e.hash, e.fullName).toBe(xattrEntryHash(e, e.value!));
    for (const e of x.inode) expect(e.hash, e.fullName).toBe(0);
    const high = x.block.find((e) => e.name.some((b) => b >= 0x80))!;
    expect(high).toBeDefined();
    expect(high.hash).not.toBe(xattrEntryHash(high, high.value!, true));
    expect(readXattrBlockHeader(x.blockData!).hash).toBe(xattrBlockHash(x.block));
    const sorted = [...x.block].sort(compareXattrEntries);
    expect(x.block.map((e) => e.fullName)).toEqual(sorted.map((e) => e.fullName));
    const fsSeed = fsChecksumSeed(sb);
    expect(verifyXattrBlock(fsSeed, x.blockNr, x.blockData!)).toBe(true);
    const again = encodeXattrBlock(x.block.map((e) => ({ nameIndex: e.nameIndex, name: e.name, value: e.value! })), sb.blockSize);
    writeXattrBlockChecksum(fsSeed, x.blockNr, again);
    expect(Buffer.from(again).equals(Buffer.from(x.blockData!))).toBe(true);
    const area = new Uint8Array(sb.inodeSize - x.areaStart);
    encodeInodeXattrs(x.inode.map((e) => ({ nameIndex: e.nameIndex, name: e.name, value: e.value! })), area);
    expect(Buffer.from(area).equals(Buffer.from(x.raw.subarray(x.areaStart)))).toBe(true);
    await expectFsckClean(image);
  });
});

describe('inline data files', () => {
  let dir = '';
  let image = '';
  let sb: RawSuper;
  const contents: Record<string, Uint8Array> = { t0: new Uint8Array(0), t10: bytes(10, 1), t60: bytes(60, 2), t100: bytes(100, 3) };
  beforeAll(async () => {
    dir = tmp.fresh('inline');
    await mkdir(join(dir, 'root'));
    for (const [n, c] of Object.entries(contents)) await writeFile(join(dir, 'root', n), c);
    image = join(dir, 'img');
    await mkfs(image, { args: ['-O', 'inline_data', '-I', '256'], size: '16M', root: join(dir, 'root') });
    sb = await readRawSuper(image);
  });

  for (const name of ['t0', 't10', 't60', 't100']) {
    it(`${name}: i_block + system.data give the host file's bytes`, async () => {
      const st = parseStat(await debugfs(image, `stat /${name}`));
      expect(st.flags & 0x10000000).not.toBe(0);
      const raw = await readRawInode(image, st.ino, sb);
      const xattrs = parseInodeXattrs(raw, 128 + st.extraIsize!, sb.inodeSize, st.ino);
      const sys = findSystemData(xattrs);
      expect(sys?.fullName).toBe('system.data');
      expect(sys?.nameIndex).toBe(XATTR_INDEX_SYSTEM);
      const listed = parseEaList(await debugfs(image, `ea_list /${name}`));
      expect(listed.find((l) => l.name === 'system.data')?.size).toBe(sys!.valueSize);
      const data = inlineDataBytes(iblockOf(raw), sys!.value, st.size, st.ino);
      expect(Buffer.from(data).equals(Buffer.from(contents[name]))).toBe(true);
      const split = splitInlineData(data);
      expect(Buffer.from(split.systemData).equals(Buffer.from(sys!.value!))).toBe(true);
      expect(Buffer.from(split.iblock.subarray(0, Math.min(60, data.length))).equals(Buffer.from(iblockOf(raw).subarray(0, Math.min(60, data.length))))).toBe(true);
    });
  }

  it('a size beyond what is stored inline is corruption', () => {
    expect(() => inlineDataBytes(new Uint8Array(60), new Uint8Array(10), 71, 12)).toThrow(/inode 12: inline data size 71/);
  });
});

describe('xattr names', () => {
  it('split into index and suffix as the kernel handlers do', () => {
    expect(splitXattrName('user.foo')).toEqual({ nameIndex: XATTR_INDEX_USER, name: enc('foo') });
    expect(splitXattrName('system.posix_acl_access')).toEqual({ nameIndex: XATTR_INDEX_POSIX_ACL_ACCESS, name: new Uint8Array(0) });
    expect(splitXattrName('system.data')).toEqual({ nameIndex: XATTR_INDEX_SYSTEM, name: enc('data') });
    expect(splitXattrName('bogus.x')).toBeUndefined();
  });

  it('malformed ACL values: EFSCORRUPTED from disk, EINVAL from the user', () => {
    expect(() => aclDiskToXattr(new Uint8Array([2, 0, 0, 0]), 9)).toThrow(/inode 9: POSIX ACL/);
    expect(() => aclDiskToXattr(new Uint8Array([1, 0, 0, 0, 2, 0, 6, 0]), 9)).toThrow(/truncated/);
    expect(() => aclXattrToDisk(new Uint8Array([2, 0, 0, 0, 1, 0]))).toThrow(/EINVAL/);
  });
});
