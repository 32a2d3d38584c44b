/**
 * Extent nodes and the ext2/3 block map against what debugfs reports for
 * images built by mkfs.ext4 from a host tree of fragmented and sparse files.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { open, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  decodeExtentNode, encodeExtentNode, extentBlockChecksum, extentTailOffset, verifyExtentBlock, writeExtentBlockChecksum,
  EXT4_EXT_MAGIC, EXT_INIT_MAX_LEN, type ExtentNode, type ExtentLeaf,
} from '../../src/format/extent.js';
import { decodeBlockMapSlots, indirectPath, maxBlockMapBlocks, readU32Array } from '../../src/format/indirect.js';
import { isCorruption } from '../../src/base/errors.js';
import {
  debugfs, fsChecksumSeed, hasMetadataCsum, iblockOf, inodeChecksumSeed, parseExTable, parseStat, parseStatBlockMap, readBlock,
  readRawInode, readRawSuper, type ExRow, type RawSuper,
} from '../helpers/debugfs.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { mkfs } from '../helpers/images.js';
import { Rng } from '../helpers/prng.js';
import { useTmpDir } from '../helpers/tmp.js';

const tmp = useTmpDir('extent');

/** A file with data in every other block (a hole between), `blocks` blocks long. */
async function writeFragmented(path: string, blocks: number, blockSize: number): Promise<void> {
  const fh = await open(path, 'w');
  try {
    for (let b = 0; b < blocks; b += 2) await fh.write(Buffer.alloc(blockSize, (b % 251) + 1), 0, blockSize, b * blockSize);
  } finally {
    await fh.close();
  }
}

/** A sparse file with one block of data at each given logical block. */
async function writeSparse(path: string, lblks: number[], blockSize: number): Promise<void> {
  const fh = await open(path, 'w');
  try {
    for (const l of lblks) await fh.write(Buffer.alloc(blockSize, (l % 200) + 7), 0, blockSize, l * blockSize);
  } finally {
    await fh.close();
  }
}

interface Walked { rows: Array<Omit<ExRow, 'maxLevel' | 'lblkEnd' | 'pblkEnd'> & { lblkEnd?: number; pblkEnd?: number }>; blocks: number }

/** Walks an extent tree from i_block, checking each block node's checksum and round trip on the way. */
async function walkTree(image: string, sb: RawSuper, ino: number, inodeSeed: number): Promise<Walked> {
  const raw = await readRawInode(image, ino, sb);
  const iblock = iblockOf(raw);
  const root = decodeExtentNode(iblock, { ino });
  // Root round trip: the header and live entries come back exactly. The
  // unused slots are not compared: libext2fs leaves the old leaf entries
  // there when it pushes them down into a new block.
  const again = new Uint8Array(60);
  encodeExtentNode(root, again);
  const live = 12 + 12 * root.header.entries;
  expect(Buffer.from(again.subarray(0, live)).equals(Buffer.from(iblock.subarray(0, live)))).toBe(true);

  const out: Walked = { rows: [], blocks: 0 };
  const csum = hasMetadataCsum(sb);
  const visit = async (node: ExtentNode, level: number): Promise<void> => {
    if (node.kind === 'index') {
      for (let i = 0; i < node.indexes.length; i++) {
        const idx = node.indexes[i];
        const next = node.indexes[i + 1];
        out.rows.push({
          level, entry: i + 1, entries: node.indexes.length, lblkStart: idx.lblk, pblkStart: idx.pblk, length: -1, uninit: false,
          ...(next ? { lblkEnd: next.lblk - 1 } : {}),
        });
        const block = await readBlock(image, idx.pblk, sb.blockSize);
        out.blocks++;
        const child = decodeExtentNode(block, { ino, blockNr: idx.pblk }, node.header.depth - 1);
        expect(child.header.depth).toBe(node.header.depth - 1);
        expect(child.header.max).toBe((sb.blockSize - 12) / 12 | 0);
        if (csum) {
          expect(verifyExtentBlock(inodeSeed, block)).toBe(true);
          const tail = extentTailOffset(child.header);
          expect(extentBlockChecksum(inodeSeed, block)).toBe(Buffer.from(block).readUInt32LE(tail));
        }
        // Block round trip: header and entries exactly; when the free slots
        // are zero on disk (they are in e2fsprogs' fresh blocks), the whole
        // block including the recomputed tail.
        const copy = new Uint8Array(sb.blockSize);
        encodeExtentNode(child, copy);
        const used = 12 + 12 * child.header.entries;
        const tail = extentTailOffset(child.header);
        expect(Buffer.from(copy.subarray(0, used)).equals(Buffer.from(block.subarray(0, used)))).toBe(true);
        if (csum && block.subarray(used, tail).every((x) => x === 0)) {
          writeExtentBlockChecksum(inodeSeed, copy);
          expect(Buffer.from(copy.subarray(0, tail + 4)).equals(Buffer.from(block.subarray(0, tail + 4)))).toBe(true);
        }
        await visit(child, level + 1);
      }
    } else {
      node.leaves.forEach((e: ExtentLeaf, i) => {
        out.rows.push({
          level, entry: i + 1, entries: node.leaves.length, lblkStart: e.lblk, lblkEnd: e.lblk + e.len - 1,
          pblkStart: e.pblk, pblkEnd: e.pblk + e.len - 1, length: e.len, uninit: e.unwritten,
        });
      });
    }
  };
  await visit(root, 0);
  return out;
}

/** The `ex` rows in the shape `walkTree` produces (index lengths and the last index end depend on i_size, so they are left out). */
function expectedRows(rows: ExRow[]): Walked['rows'] {
  return rows.map((r) => {
    const isIndex = r.level < r.maxLevel;
    if (!isIndex) {
      return { level: r.level, entry: r.entry, entries: r.entries, lblkStart: r.lblkStart, lblkEnd: r.lblkEnd, pblkStart: r.pblkStart, pblkEnd: r.pblkEnd, length: r.length, uninit: r.uninit };
    }
    const last = r.entry === r.entries;
    return {
      level: r.level, entry: r.entry, entries: r.entries, lblkStart: r.lblkStart, pblkStart: r.pblkStart, length: -1, uninit: false,
      ...(last ? {} : { lblkEnd: r.lblkEnd }),
    };
  });
}

const kinds = [
  { name: '4k metadata_csum', blockSize: 4096, features: undefined, files: [['frag', 400], ['frag2', 2400]] },
  { name: '1k metadata_csum', blockSize: 1024, features: undefined, files: [['frag', 800], ['frag2', 120]] },
  { name: '4k without metadata_csum', blockSize: 4096, features: '^metadata_csum', files: [['frag', 400]] },
] as const;

describe.each(kinds)('extent trees on $name', ({ blockSize, features, files }) => {
  let dir = '';
  let image = '';
  let sb: RawSuper;
  beforeAll(async () => {
    dir = tmp.fresh('extents');
    await mkdir(join(dir, 'root'));
    for (const [name, blocks] of files) await writeFragmented(join(dir, 'root', name), blocks, blockSize);
    const fh = await open(join(dir, 'root', 'contig'), 'w');
    await fh.write(Buffer.alloc(blockSize * 50, 0x5a));
    await fh.close();
    image = join(dir, 'img');
    await mkfs(image, { args: ['-b', String(blockSize), ...(features ? ['-O', features] : [])], size: '64M', root: join(dir, 'root') });
    // Unwritten extents: debugfs fallocate on an empty file.
    await debugfs(image, 'write /dev/null prealloc', true);
    await debugfs(image, 'fallocate /prealloc 0 99', true);
    sb = await readRawSuper(image);
  });

  for (const file of [...files.map((f) => f[0]), 'contig', 'prealloc']) {
    it(`${file}: decoded tree equals debugfs ex, checksums verify, round trip exact`, async () => {
      const st = parseStat(await debugfs(image, `stat /${file}`));
      const rows = parseExTable(await debugfs(image, `ex /${file}`));
      expect(rows.length).toBeGreaterThan(0);
      const seed = inodeChecksumSeed(fsChecksumSeed(sb), st.ino, st.generation);
      const walked = await walkTree(image, sb, st.ino, seed);
      expect(walked.rows).toEqual(expectedRows(rows));
      if (file.startsWith('frag')) expect(rows[0].maxLevel).toBeGreaterThanOrEqual(1);
      if (file === 'prealloc') expect(walked.rows.some((r) => r.uninit)).toBe(true);
    });
  }

  it('depth reaches 2 when the root cannot hold all leaves', async () => {
    const rows = parseExTable(await debugfs(image, 'ex /frag'));
    const expectedDepth = blockSize === 1024 ? 2 : 1;
    expect(rows[0].maxLevel).toBe(expectedDepth);
  });

  it('image is clean after the debugfs edits', async () => {
    await expectFsckClean(image);
  });

  it('checksum fails on any changed byte before the tail', async () => {
    if (!hasMetadataCsum(sb)) return;
    const rows = parseExTable(await debugfs(image, 'ex /frag'));
    const pblk = rows[0].pblkStart;
    const st = parseStat(await debugfs(image, 'stat /frag'));
    const seed = inodeChecksumSeed(fsChecksumSeed(sb), st.ino, st.generation);
    const block = await readBlock(image, pblk, sb.blockSize);
    expect(verifyExtentBlock(seed, block)).toBe(true);
    for (const at of [0, 13, 100, extentTailOffset({ max: (sb.blockSize - 12) / 12 | 0 }) - 1]) {
      const b = block.slice();
      b[at] ^= 0x40;
      expect(verifyExtentBlock(seed, b)).toBe(false);
    }
    expect(verifyExtentBlock(seed ^ 1, block)).toBe(false);
  });

  it('corrupt nodes give EFSCORRUPTED, never another error', async () => {
    const rows = parseExTable(await debugfs(image, 'ex /frag'));
    // A leaf block: what the deepest index row points to.
    const leafRow = rows.find((r) => r.level === r.maxLevel - 1)!;
    const block = await readBlock(image, leafRow.pblkStart, sb.blockSize);
    const dv = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);
    const mutations: Array<[string, (b: Uint8Array) => void]> = [
      ['magic', (b) => dv(b).setUint16(0, 0xf30b, true)],
      ['entries > max', (b) => dv(b).setUint16(2, dv(b).getUint16(4, true) + 1, true)],
      ['max 0', (b) => dv(b).setUint16(4, 0, true)],
      ['max beyond block', (b) => dv(b).setUint16(4, (sb.blockSize - 12) / 12 + 1, true)],
      ['depth 6', (b) => dv(b).setUint16(6, 6, true)],
      ['zero length', (b) => dv(b).setUint16(12 + 4, 0, true)],
      ['overlap', (b) => dv(b).setUint32(12 + 12, dv(b).getUint32(12, true), true)],
      ['out of order', (b) => dv(b).setUint32(12, 0xfffff000, true)],
      ['wraps 2^32', (b) => { const n = dv(b).getUint16(2, true); dv(b).setUint32(12 + 12 * (n - 1), 0xffffffff, true); }],
      ['points to block 0', (b) => { dv(b).setUint32(12 + 8, 0, true); dv(b).setUint16(12 + 6, 0, true); }],
    ];
    for (const [what, mutate] of mutations) {
      const b = block.slice();
      mutate(b);
      let err: unknown;
      try {
        decodeExtentNode(b, { ino: 12, blockNr: leafRow.pblkStart }, 0);
      } catch (e) {
        err = e;
      }
      expect(isCorruption(err), what).toBe(true);
      expect((err as { code: string }).code).toBe('EFSCORRUPTED');
      expect(String(err)).toContain(`extent block ${leafRow.pblkStart}`);
    }
    // Random damage: either decodes or is a corruption error.
    const rng = new Rng(12345);
    for (let i = 0; i < 2000; i++) {
      const b = block.slice();
      for (let k = 0; k < 4; k++) b[rng.int(0, 63)] ^= 1 << rng.int(0, 7);
      try {
        decodeExtentNode(b, { ino: 12, blockNr: 1 });
      } catch (e) {
        expect(isCorruption(e)).toBe(true);
      }
    }
  });
});

describe('extent codec details', () => {
  it('ee_len 32768 is an initialized extent of 32768 blocks; above it, unwritten', () => {
    const buf = new Uint8Array(60);
    const dv = new DataView(buf.buffer);
    dv.setUint16(0, EXT4_EXT_MAGIC, true);
    dv.setUint16(2, 2, true);
    dv.setUint16(4, 4, true);
    dv.setUint32(12, 0, true);
    dv.setUint16(16, EXT_INIT_MAX_LEN, true);
    dv.setUint32(20, 1000, true);
    dv.setUint32(24, 40000, true);
    dv.setUint16(28, EXT_INIT_MAX_LEN + 5, true);
    dv.setUint16(30, 1, true); // ee_start_hi
    dv.setUint32(32, 7, true);
    const n = decodeExtentNode(buf, { ino: 5 });
    expect(n.kind).toBe('leaf');
    if (n.kind !== 'leaf') return;
    expect(n.leaves[0]).toEqual({ lblk: 0, len: 32768, unwritten: false, pblk: 1000 });
    expect(n.leaves[1]).toEqual({ lblk: 40000, len: 5, unwritten: true, pblk: 2 ** 32 + 7 });
    const again = new Uint8Array(60);
    encodeExtentNode(n, again);
    expect(again).toEqual(buf);
  });

  it('index nodes with no entries are corrupt; an empty leaf root is an empty file', () => {
    const buf = new Uint8Array(60);
    const dv = new DataView(buf.buffer);
    dv.setUint16(0, EXT4_EXT_MAGIC, true);
    dv.setUint16(4, 4, true);
    expect(decodeExtentNode(buf, { ino: 5 })).toMatchObject({ kind: 'leaf', leaves: [] });
    dv.setUint16(6, 1, true);
    expect(() => decodeExtentNode(buf, { ino: 5 })).toThrow(/inode 5: .*no entries/);
  });
});

describe('block map (ext2) on a 1k image', () => {
  let dir = '';
  let image = '';
  let sb: RawSuper;
  const sparseBlocks = [0, 5, 11, 12, 267, 268, 300, 65803, 65804, 70000, 5_000_000];
  beforeAll(async () => {
    dir = tmp.fresh('blockmap');
    await mkdir(join(dir, 'root'));
    const fh = await open(join(dir, 'root', 'big'), 'w');
    await fh.write(Buffer.alloc(400 * 1024, 0x33));
    await fh.close();
    await writeSparse(join(dir, 'root', 'sparse'), sparseBlocks, 1024);
    image = join(dir, 'img');
    await mkfs(image, { args: ['-t', 'ext2', '-b', '1024'], size: '32M', root: join(dir, 'root') });
    sb = await readRawSuper(image);
  });

  it('indirectPath splits logical blocks at 12, 12+a, 12+a+a^2', () => {
    expect(indirectPath(11, 256)).toEqual({ level: 0, offsets: [11] });
    expect(indirectPath(12, 256)).toEqual({ level: 1, offsets: [12, 0] });
    expect(indirectPath(267, 256)).toEqual({ level: 1, offsets: [12, 255] });
    expect(indirectPath(268, 256)).toEqual({ level: 2, offsets: [13, 0, 0] });
    expect(indirectPath(268 + 65535, 256)).toEqual({ level: 2, offsets: [13, 255, 255] });
    expect(indirectPath(268 + 65536, 256)).toEqual({ level: 3, offsets: [14, 0, 0, 0] });
    expect(maxBlockMapBlocks(1024)).toBe(12 + 256 + 65536 + 16777216);
    expect(maxBlockMapBlocks(65536)).toBe(2 ** 32);
    expect(() => indirectPath(maxBlockMapBlocks(1024), 256)).toThrow(/EFBIG/);
  });

  for (const file of ['big', 'sparse']) {
    it(`${file}: walking i_block and the indirect blocks gives debugfs's map`, async () => {
      const st = parseStat(await debugfs(image, `stat /${file}`));
      expect(st.flags & 0x80000).toBe(0);
      const { data, meta } = parseStatBlockMap(st.blockList);
      expect(data.size).toBeGreaterThan(0);
      const raw = await readRawInode(image, st.ino, sb);
      const slots = decodeBlockMapSlots(iblockOf(raw));
      const apb = sb.blockSize / 4;
      const seenMeta = new Set<number>();
      const lookup = async (lblk: number): Promise<number> => {
        const { level, offsets } = indirectPath(lblk, apb);
        let arr: Uint32Array = slots;
        for (let i = 0; i < level; i++) {
          const ptr = arr[offsets[i]];
          if (ptr === 0) return 0;
          seenMeta.add(ptr);
          arr = readU32Array(await readBlock(image, ptr, sb.blockSize));
        }
        return arr[offsets[level]];
      };
      for (const [lblk, pblk] of data) expect(await lookup(lblk), `logical ${lblk}`).toBe(pblk);
      // Every indirect block debugfs lists is one the walk went through, and no other.
      expect([...seenMeta].sort((a, b) => a - b)).toEqual(meta.map((m) => m.pblk).sort((a, b) => a - b));
      if (file === 'sparse') {
        expect([...data.keys()]).toEqual(sparseBlocks);
        for (const hole of [1, 13, 269, 65805, 69999, 4_999_999]) expect(await lookup(hole)).toBe(0);
        expect(meta.some((m) => m.kind === 'TIND')).toBe(true);
      } else {
        expect(meta.some((m) => m.kind === 'DIND')).toBe(true);
      }
    });
  }
});
