/**
 * Hashed directories: a 5,000-entry directory indexed by e2fsck -D (mke2fs
 * -d writes it linear) under several block sizes, hash algorithms and hash
 * signedness, compared with debugfs `htree` and `ls`.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  decodeDxNode, decodeDxRoot, dxBlockChecksum, dxLookup, dxNodeLimit, dxRootLimit, encodeDxNode, encodeDxRoot, isDxNodeBlock,
  verifyDxBlock, writeDxChecksum, DX_ROOT_COUNT_OFFSET, DX_NODE_COUNT_OFFSET, type DxEntry,
} from '../../src/format/htree.js';
import { dirHash, effectiveHashVersion, EXT2_FLAGS_UNSIGNED_HASH } from '../../src/format/dirhash.js';
import { parseDirBlock, parseDirRecords, verifyDirBlock, type DirEntry } from '../../src/format/dirent.js';
import { isCorruption } from '../../src/base/errors.js';
import {
  dataBlocks, debugfs, fsChecksumSeed, hasMetadataCsum, inodeChecksumSeed, parseHtree, parseLs, parseStat, readBlock, readRawSuper,
  type HtreeDump, type RawSuper,
} from '../helpers/debugfs.js';
import { expectFsckClean, fsckIndexDirs } from '../helpers/fsck.js';
import { mkfs } from '../helpers/images.js';
import { Rng } from '../helpers/prng.js';
import { useTmpDir } from '../helpers/tmp.js';

const tmp = useTmpDir('htree');

const COUNT = 5000;

function entryName(i: number): string {
  // Every 7th name carries UTF-8 bytes >= 0x80, where signed and unsigned hashes differ.
  return i % 7 === 0 ? `fichier_été_${i}` : `file_with_long_name_${i}`;
}

function latin1(b: Uint8Array): string {
  return Buffer.from(b).toString('latin1');
}

const kinds = [
  { name: '4k metadata_csum, half_md4 signed', blockSize: 4096, features: undefined, hash: 'half_md4', unsigned: false },
  { name: '1k metadata_csum, tea unsigned (two levels)', blockSize: 1024, features: undefined, hash: 'tea', unsigned: true },
  { name: '4k without metadata_csum, legacy signed', blockSize: 4096, features: '^metadata_csum', hash: 'legacy', unsigned: false },
  { name: '1k without metadata_csum, half_md4 unsigned (two levels)', blockSize: 1024, features: '^metadata_csum', hash: 'half_md4', unsigned: true },
];

describe.each(kinds)('htree on $name', ({ blockSize, features, hash, unsigned }) => {
  let dir = '';
  let image = '';
  let sb: RawSuper;
  let dump: HtreeDump;
  let ino = 0;
  let seed = 0;
  let blocks: Uint8Array[] = [];
  let csum = false;
  beforeAll(async () => {
    dir = tmp.fresh('htree');
    const big = join(dir, 'root', 'big');
    await mkdir(big, { recursive: true });
    for (let i = 0; i < COUNT; i++) await writeFile(join(big, entryName(i)), '');
    image = join(dir, 'img');
    await mkfs(image, {
      args: ['-b', String(blockSize), ...(features ? ['-O', features] : []), '-E', 'hash_seed=0b7c8a44-1f3e-4d2b-9a65-3c1e2f4d5a6b'],
      size: '64M', root: join(dir, 'root'),
    });
    await debugfs(image, `ssv def_hash_version ${hash}`, true);
    await debugfs(image, `ssv flags ${unsigned ? 2 : 1}`, true);
    // e2fsck -D rebuilds every directory, indexing the big one.
    const r = await fsckIndexDirs(image);
    expect(r.ok, r.output).toBe(true);
    sb = await readRawSuper(image);
    csum = hasMetadataCsum(sb);
    dump = parseHtree(await debugfs(image, 'htree /big'));
    const st = parseStat(await debugfs(image, 'stat /big'));
    expect(st.flags & 0x1000).not.toBe(0); // EXT4_INDEX_FL
    ino = st.ino;
    seed = inodeChecksumSeed(fsChecksumSeed(sb), st.ino, st.generation);
    const map = await dataBlocks(image, '/big');
    map.forEach((b, i) => expect(b.lblk).toBe(i));
    blocks = await Promise.all(map.map(({ pblk }) => readBlock(image, pblk, sb.blockSize)));
  });

  it('the image is clean and the hash settings took', async () => {
    await expectFsckClean(image);
    expect((sb.flags & EXT2_FLAGS_UNSIGNED_HASH) !== 0).toBe(unsigned);
    expect(dump.hashVersion).toBe({ legacy: 0, half_md4: 1, tea: 2 }[hash]);
    expect(dump.indirectLevels).toBe(blockSize === 1024 ? 1 : 0);
  });

  it('dx_root decodes to what debugfs htree shows; checksum verifies', () => {
    const root = decodeDxRoot(blocks[0], { ino, lblk: 0 }, { hasTail: csum, largeDir: false, dirBlocks: blocks.length });
    expect(root.hashVersion).toBe(dump.hashVersion);
    expect(root.indirectLevels).toBe(dump.indirectLevels);
    expect(root.count).toBe(dump.root.count);
    expect(root.limit).toBe(dump.root.limit);
    expect(root.limit).toBe(dxRootLimit(blockSize, csum));
    expect(root.entries).toEqual(dump.root.entries);
    expect(root.dotInode).toBe(ino);
    expect(root.dotdotInode).toBe(2);
    expect(root.countOffset).toBe(DX_ROOT_COUNT_OFFSET);
    if (csum) {
      expect(verifyDxBlock(seed, blocks[0])).toBe(true);
      expect(verifyDxBlock(seed, blocks[0], root.countOffset, root.count, root.limit)).toBe(true);
      expect(dxBlockChecksum(seed, blocks[0], root.countOffset, root.count, root.limit)).toBe(dump.root.checksum);
      const bad = blocks[0].slice();
      bad[36] ^= 0x10;
      expect(verifyDxBlock(seed, bad)).toBe(false);
    } else {
      expect(dump.root.checksum).toBeUndefined();
    }
  });

  it('dx_node blocks decode to what debugfs htree shows; checksums verify', () => {
    expect(dump.nodes.size).toBe(dump.indirectLevels === 1 ? dump.root.count : 0);
    for (const [lblk, n] of dump.nodes) {
      const data = blocks[lblk];
      expect(isDxNodeBlock(data)).toBe(true);
      const node = decodeDxNode(data, { ino, lblk }, { hasTail: csum, dirBlocks: blocks.length });
      expect({ count: node.count, limit: node.limit, entries: node.entries }).toEqual({ count: n.count, limit: n.limit, entries: n.entries });
      expect(node.limit).toBe(dxNodeLimit(blockSize, csum));
      expect(node.countOffset).toBe(DX_NODE_COUNT_OFFSET);
      if (csum) {
        expect(verifyDxBlock(seed, data)).toBe(true);
        expect(dxBlockChecksum(seed, data, node.countOffset, node.count, node.limit)).toBe(n.checksum);
      }
    }
  });

  it('leaves hold exactly the entries debugfs lists for them, with its hashes; leaf checksums verify', () => {
    const version = effectiveHashVersion(dump.hashVersion, sb.flags);
    let names = 0;
    for (const [lblk, leaf] of dump.leaves) {
      const data = blocks[lblk];
      expect(isDxNodeBlock(data)).toBe(false);
      const entries = parseDirBlock(data, { ino, lblk }, { hasFileType: true, hasTail: csum });
      expect(entries.map((e) => ({ inode: e.inode, recLen: e.recLen, name: latin1(e.name) })))
        .toEqual(leaf.entries.map((e) => ({ inode: e.inode, recLen: e.recLen, name: e.name })));
      const hashes = entries.map((e) => dirHash(e.name, version, sb.hashSeed));
      expect(hashes).toEqual(leaf.entries.map((e) => ({ hash: e.hash, minorHash: e.minorHash })));
      if (csum) {
        expect(verifyDirBlock(seed, data)).toBe(true);
        expect(Buffer.from(data).readUInt32LE(data.length - 4)).toBe(leaf.checksum);
      }
      names += entries.length;
    }
    expect(names).toBe(COUNT);
  });

  it('dxLookup descends from the root to the leaf that holds each name', () => {
    const version = effectiveHashVersion(dump.hashVersion, sb.flags);
    const opts = { hasTail: csum, largeDir: false, dirBlocks: blocks.length };
    const root = decodeDxRoot(blocks[0], { ino }, opts);
    const leafOf = new Map<string, number>();
    for (const [lblk, leaf] of dump.leaves) for (const e of leaf.entries) leafOf.set(e.name, lblk);
    for (let i = 0; i < COUNT; i++) {
      const name = Buffer.from(entryName(i));
      const { hash: h } = dirHash(name, version, sb.hashSeed);
      let entries: DxEntry[] = root.entries;
      for (let level = 0; level < root.indirectLevels; level++) {
        const child = entries[dxLookup(entries, h)].block;
        entries = decodeDxNode(blocks[child], { ino, lblk: child }, opts).entries;
      }
      const leaf = entries[dxLookup(entries, h)].block;
      expect(leaf, entryName(i)).toBe(leafOf.get(latin1(name)));
    }
  });

  it('every record of every block equals debugfs ls, in order', async () => {
    const records: DirEntry[] = [];
    blocks.forEach((data, lblk) => records.push(...parseDirRecords(data, { ino, lblk }, { hasFileType: true, hasTail: csum })));
    const ls = parseLs(await debugfs(image, 'ls /big'));
    expect(records.map((e) => ({ inode: e.inode, recLen: e.recLen, name: latin1(e.name) }))).toEqual(ls);
    expect(ls.filter((e) => e.inode !== 0).length).toBe(COUNT + 2);
  });

  it('root and nodes re-encode exactly (live entries and tail; whole block where the free slots are zero)', () => {
    const check = (orig: Uint8Array, encoded: Uint8Array, countOffset: number, count: number, limit: number): void => {
      if (csum) writeDxChecksum(seed, encoded);
      const live = countOffset + 8 * count;
      expect(Buffer.from(encoded.subarray(0, live)).equals(Buffer.from(orig.subarray(0, live)))).toBe(true);
      const tail = countOffset + 8 * limit;
      if (csum) expect(Buffer.from(encoded.subarray(tail)).equals(Buffer.from(orig.subarray(tail)))).toBe(true);
      if (orig.subarray(live, tail).every((b) => b === 0)) expect(Buffer.from(encoded).equals(Buffer.from(orig))).toBe(true);
    };
    const root = decodeDxRoot(blocks[0], { ino }, { hasTail: csum, largeDir: false });
    const r2 = new Uint8Array(blockSize);
    encodeDxRoot(root, r2, { hasTail: csum });
    check(blocks[0], r2, root.countOffset, root.count, root.limit);
    for (const lblk of dump.nodes.keys()) {
      const node = decodeDxNode(blocks[lblk], { ino, lblk }, { hasTail: csum });
      const n2 = new Uint8Array(blockSize);
      encodeDxNode(node, n2, { hasTail: csum });
      check(blocks[lblk], n2, node.countOffset, node.count, node.limit);
    }
  });

  it('corrupt index blocks give EFSCORRUPTED; random damage never crashes', () => {
    const root = blocks[0];
    const dv = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);
    const count = dv(root).getUint16(34, true);
    const limit = dv(root).getUint16(32, true);
    const cases: Array<[string, (b: Uint8Array) => void, RegExp]> = [
      ['count 0', (b) => dv(b).setUint16(34, 0, true), /count 0/],
      ['count > limit', (b) => dv(b).setUint16(34, limit + 1, true), /count/],
      ['limit', (b) => dv(b).setUint16(32, limit - 1, true), /limit/],
      ['info_length', (b) => { b[29] = 12; }, /info_length/],
      ['indirect levels', (b) => { b[30] = 2; }, /indirect_levels 2 exceeds 1/],
      ['reserved_zero', (b) => { b[24] = 1; }, /reserved_zero/],
      ['hash version', (b) => { b[28] = 5; }, /hash version 5/],
      ['incompat flag', (b) => { b[31] = 1; }, /flags/],
      ['"." malformed', (b) => { b[8] = 0x41; }, /"\."/],
      ['".." rec_len', (b) => dv(b).setUint16(16, 12, true), /"\.\."/],
      ['child block 0', (b) => dv(b).setUint32(36, 0, true), /block 0/],
      ['child past the end', (b) => dv(b).setUint32(36, blocks.length, true), /past the directory/],
    ];
    if (count >= 3) cases.push(['hash order', (b) => dv(b).setUint32(40 + 8, 0, true), /below the previous/]);
    for (const [what, mutate, msg] of cases) {
      const b = root.slice();
      mutate(b);
      let err: unknown;
      try {
        decodeDxRoot(b, { ino, lblk: 0, blockNr: 77 }, { hasTail: csum, largeDir: false, dirBlocks: blocks.length });
      } catch (e) {
        err = e;
      }
      expect(isCorruption(err), what).toBe(true);
      expect(String(err), what).toMatch(msg);
      expect(String(err), what).toContain(`directory block 77: inode ${ino} htree root`);
    }
    // large_dir allows a second index level below the root, never a third.
    const two = root.slice();
    two[30] = 2;
    expect(decodeDxRoot(two, { ino }, { hasTail: csum, largeDir: true }).indirectLevels).toBe(2);
    two[30] = 3;
    expect(() => decodeDxRoot(two, { ino }, { hasTail: csum, largeDir: true })).toThrow(/indirect_levels 3 exceeds 2/);
    // A node whose fake entry names an inode is not a node.
    for (const lblk of dump.nodes.keys()) {
      const b = blocks[lblk].slice();
      dv(b).setUint32(0, 5, true);
      expect(() => decodeDxNode(b, { ino, lblk }, { hasTail: csum })).toThrow(/fake directory entry/);
    }
    const rng = new Rng(4242);
    for (const base of [root, ...[...dump.nodes.keys()].map((l) => blocks[l])]) {
      for (let i = 0; i < 1500; i++) {
        const b = base.slice();
        for (let k = 0; k < 3; k++) b[rng.int(0, 95)] ^= 1 << rng.int(0, 7);
        for (const f of [
          (): unknown => decodeDxRoot(b, { ino }, { hasTail: csum, largeDir: true, dirBlocks: blocks.length }),
          (): unknown => decodeDxNode(b, { ino }, { hasTail: csum, dirBlocks: blocks.length }),
          (): unknown => verifyDxBlock(seed, b),
        ]) {
          try {
            f();
          } catch (e) {
            expect(isCorruption(e)).toBe(true);
          }
        }
      }
    }
  });
});

describe('dxLookup', () => {
  it('picks the last entry whose hash is <= the target, entry 0 for anything below entry 1', () => {
    const entries = [{ hash: 0, block: 1 }, { hash: 100, block: 2 }, { hash: 200, block: 3 }, { hash: 200, block: 4 }, { hash: 0xfffffff0, block: 5 }];
    const at = (h: number): number => dxLookup(entries, h);
    expect(at(0)).toBe(0);
    expect(at(99)).toBe(0);
    expect(at(100)).toBe(1);
    expect(at(199)).toBe(1);
    expect(at(200)).toBe(3);
    expect(at(0xffffffef)).toBe(3);
    expect(at(0xfffffffe)).toBe(4);
    expect(dxLookup([{ hash: 0, block: 1 }], 12345)).toBe(0);
  });
});
