/**
 * Group descriptor and bitmap codecs against real images: every descriptor
 * round-trips and its checksum (crc16 or crc32c flavour) verifies; values,
 * checksums and table locations match dumpe2fs's per-group report.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { isCorruption } from '../../src/base/errors.js';
import { AssertionError } from '../../src/base/assert.js';
import { blockBitmapChecksum, bitmapChecksumMatches, inodeBitmapChecksum, testBit } from '../../src/format/bitmap.js';
import { INCOMPAT_META_BG, RO_COMPAT_GDT_CSUM, RO_COMPAT_METADATA_CSUM } from '../../src/format/features.js';
import {
  BG_BLOCK_UNINIT,
  BG_INODE_UNINIT,
  BG_INODE_ZEROED,
  decodeGroupDesc,
  descPerBlockOf,
  encodeGroupDesc,
  groupDescBlock,
  groupDescBlockCount,
  groupDescChecksum,
  groupDescLocation,
  type GroupDesc,
  setGroupDescChecksum,
  verifyGroupDescChecksum,
} from '../../src/format/group-desc.js';
import { blockSizeOf, descSizeOf, fsChecksumSeed, groupCountOf, type Superblock } from '../../src/format/superblock.js';
import { debugfsBatch, dumpe2fs, readRange, readSuperblock } from '../helpers/debugfs.js';
import { IMAGE_KINDS, useImages } from '../helpers/images.js';

const images = useImages('group-desc');

/** What dumpe2fs prints for one group. */
interface GroupReport {
  csum?: number;
  flags?: string[];
  blockBitmap: number;
  blockBitmapCsum?: number;
  inodeBitmap: number;
  inodeBitmapCsum?: number;
  inodeTable: number;
  freeBlocks: number;
  freeInodes: number;
  dirs: number;
  unusedInodes?: number;
  descriptorsAt?: number;
}

function parseGroups(text: string): GroupReport[] {
  const sections = text.split(/^(?=Group \d+: )/m).filter((s) => s.startsWith('Group '));
  return sections.map((s) => {
    const head = /^Group \d+: \(Blocks [^)]*\)(?: csum 0x([0-9a-f]+))?(?: \[([^\]]*)\])?/.exec(s)!;
    const bb = /Block bitmap at (\d+)[^\n]*?(?:, csum 0x([0-9a-f]+))?\n/.exec(s)!;
    const ib = /Inode bitmap at (\d+)[^\n]*?(?:, csum 0x([0-9a-f]+))?\n/.exec(s)!;
    const it = /Inode table at (\d+)-/.exec(s)!;
    const counts = /(\d+) free (?:blocks|clusters), (\d+) free inodes, (\d+) directories(?:, (\d+) unused inodes)?/.exec(s)!;
    const desc = /Group descriptors? at (\d+)/.exec(s);
    const hex = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number.parseInt(v, 16));
    return {
      csum: hex(head[1]),
      flags: head[2]?.split(', '),
      blockBitmap: Number(bb[1]),
      blockBitmapCsum: hex(bb[2]),
      inodeBitmap: Number(ib[1]),
      inodeBitmapCsum: hex(ib[2]),
      inodeTable: Number(it[1]),
      freeBlocks: Number(counts[1]),
      freeInodes: Number(counts[2]),
      dirs: Number(counts[3]),
      unusedInodes: counts[4] === undefined ? undefined : Number(counts[4]),
      descriptorsAt: desc ? Number(desc[1]) : undefined,
    };
  });
}

interface Loaded {
  img: string;
  sb: Superblock;
  seed: number;
  raws: Uint8Array[];
  descs: GroupDesc[];
  report: GroupReport[];
}

async function load(img: string, toleratedExit = false): Promise<Loaded> {
  const sb = await readSuperblock(img);
  const bs = blockSizeOf(sb);
  const ds = descSizeOf(sb);
  const raws: Uint8Array[] = [];
  const descs: GroupDesc[] = [];
  for (let g = 0; g < groupCountOf(sb); g++) {
    const { block, offset } = groupDescLocation(sb, g);
    const raw = await readRange(img, block * bs + offset, ds);
    raws.push(raw);
    descs.push(decodeGroupDesc(raw, ds, g));
  }
  // toleratedExit: dumpe2fs reports everything but exits non-zero when bitmap checksums disagree.
  const text = await dumpe2fs(img, [], { anyExit: toleratedExit });
  return { img, sb, seed: fsChecksumSeed(sb), raws, descs, report: parseGroups(text) };
}

describe.each(IMAGE_KINDS)('group descriptors of a $name image', (kind) => {
  let l: Loaded;
  beforeAll(async () => {
    l = await load(await images.mkfsKind(kind));
  });

  it('every descriptor re-encodes to identical bytes', () => {
    const ds = descSizeOf(l.sb);
    l.descs.forEach((gd, g) => {
      const out = new Uint8Array(ds);
      encodeGroupDesc(gd, out, ds);
      expect(Buffer.from(out).equals(Buffer.from(l.raws[g])), `group ${g}`).toBe(true);
    });
  });

  it('every descriptor checksum verifies and equals what dumpe2fs prints', () => {
    const csum = (l.sb.featureRoCompat & (RO_COMPAT_METADATA_CSUM | RO_COMPAT_GDT_CSUM)) !== 0;
    l.descs.forEach((gd, g) => {
      const computed = groupDescChecksum(l.sb, l.seed, g, l.raws[g]);
      if (!csum) {
        expect(computed).toBeUndefined();
        expect(l.report[g].csum).toBeUndefined();
        return;
      }
      expect(verifyGroupDescChecksum(l.sb, l.seed, g, l.raws[g]), `group ${g}`).toBe(true);
      expect(computed).toBe(gd.checksum);
      expect(l.report[g].csum, `group ${g}`).toBe(gd.checksum);
    });
  });

  it('the checksum covers the group number', () => {
    if (l.descs.length < 2 || groupDescChecksum(l.sb, l.seed, 0, l.raws[0]) === undefined) return;
    expect(verifyGroupDescChecksum(l.sb, l.seed, 1, l.raws[0])).toBe(false);
  });

  it('values match dumpe2fs group lines', () => {
    expect(l.report.length).toBe(l.descs.length);
    l.descs.forEach((gd, g) => {
      const r = l.report[g];
      expect(gd.blockBitmap, `group ${g}`).toBe(r.blockBitmap);
      expect(gd.inodeBitmap, `group ${g}`).toBe(r.inodeBitmap);
      expect(gd.inodeTable, `group ${g}`).toBe(r.inodeTable);
      expect(gd.freeBlocksCount, `group ${g}`).toBe(r.freeBlocks);
      expect(gd.freeInodesCount, `group ${g}`).toBe(r.freeInodes);
      expect(gd.usedDirsCount, `group ${g}`).toBe(r.dirs);
      if (r.unusedInodes !== undefined) expect(gd.itableUnused, `group ${g}`).toBe(r.unusedInodes);
      if (r.flags !== undefined) {
        const want: string[] = [];
        if (gd.flags & BG_INODE_UNINIT) want.push('INODE_UNINIT');
        if (gd.flags & BG_BLOCK_UNINIT) want.push('BLOCK_UNINIT');
        if (gd.flags & BG_INODE_ZEROED) want.push('ITABLE_ZEROED');
        expect(r.flags, `group ${g}`).toEqual(want);
      }
      if (r.blockBitmapCsum !== undefined) expect(gd.blockBitmapCsum, `group ${g}`).toBe(r.blockBitmapCsum);
      if (r.inodeBitmapCsum !== undefined) expect(gd.inodeBitmapCsum, `group ${g}`).toBe(r.inodeBitmapCsum);
    });
  });

  it('bitmap checksums stored in the descriptors match the bitmaps', async () => {
    if ((l.sb.featureRoCompat & RO_COMPAT_METADATA_CSUM) === 0) return;
    const bs = blockSizeOf(l.sb);
    const ds = descSizeOf(l.sb);
    let checked = 0;
    for (const [g, gd] of l.descs.entries()) {
      if ((gd.flags & BG_BLOCK_UNINIT) === 0) {
        const bm = await readRange(l.img, gd.blockBitmap * bs, bs);
        const c = blockBitmapChecksum(l.seed, bm, l.sb.clustersPerGroup);
        expect(bitmapChecksumMatches(gd.blockBitmapCsum, c, ds), `block bitmap of group ${g}`).toBe(true);
        checked++;
      }
      if ((gd.flags & BG_INODE_UNINIT) === 0) {
        const bm = await readRange(l.img, gd.inodeBitmap * bs, bs);
        const c = inodeBitmapChecksum(l.seed, bm, l.sb.inodesPerGroup);
        expect(bitmapChecksumMatches(gd.inodeBitmapCsum, c, ds), `inode bitmap of group ${g}`).toBe(true);
        // Inodes 1..firstIno-1 are reserved, so group 0 has them in use.
        if (g === 0) expect(testBit(bm, 0) && testBit(bm, l.sb.firstIno - 2)).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(0);
  });

  it('descriptor table blocks are where dumpe2fs says', () => {
    const perBlock = descPerBlockOf(l.sb);
    const meta = (l.sb.featureIncompat & INCOMPAT_META_BG) !== 0;
    expect(l.report[0].descriptorsAt).toBe(groupDescBlock(l.sb, 0));
    for (let i = 0; i < groupDescBlockCount(l.sb); i++) {
      const firstGroup = i * perBlock;
      if (meta && i >= l.sb.firstMetaBg) {
        // Each meta group's descriptor block sits in its first group.
        expect(l.report[firstGroup].descriptorsAt, `descriptor block ${i}`).toBe(groupDescBlock(l.sb, i));
      } else {
        expect(groupDescBlock(l.sb, i)).toBe(groupDescBlock(l.sb, 0) + i);
      }
    }
    if (meta) expect(groupDescBlockCount(l.sb)).toBeGreaterThan(1);
  });
});

describe('high halves of 64-byte descriptors', () => {
  // mke2fs never needs them (a group holds fewer than 2^16 clusters and
  // inodes), so debugfs writes them and dumpe2fs reads them back.
  it('decode to what debugfs set_bg stored and dumpe2fs reports', async () => {
    const img = await images.mkfs({ size: '64M', name: 'set-bg.img' });
    const cmds = [
      'set_bg 1 itable_unused 65541',
      'set_bg 1 free_inodes_count 131078',
      'set_bg 1 used_dirs_count 196615',
      'set_bg 1 free_blocks_count 262152',
      'set_bg 1 block_bitmap_csum 0x12345678',
      'set_bg 1 inode_bitmap_csum 0x9abcdef0',
      'set_bg 1 exclude_bitmap 0x123456789',
      'set_bg 1 checksum calc',
    ];
    await debugfsBatch(img, cmds, true);
    const l = await load(img, true);
    const gd = l.descs[1];
    const r = l.report[1];
    // Distinct high halves (1..4) so a field read from a neighbour's offset shows.
    const want = [0x1_0005, 0x2_0006, 0x3_0007, 0x4_0008];
    expect([gd.itableUnused, gd.freeInodesCount, gd.usedDirsCount, gd.freeBlocksCount]).toEqual(want);
    expect([r.unusedInodes, r.freeInodes, r.dirs, r.freeBlocks]).toEqual(want);
    expect(gd.blockBitmapCsum).toBe(0x12345678);
    expect(gd.inodeBitmapCsum).toBe(0x9abcdef0);
    expect(gd.excludeBitmap).toBe(0x123456789);
    expect(verifyGroupDescChecksum(l.sb, l.seed, 1, l.raws[1])).toBe(true);
    expect(r.csum).toBe(gd.checksum);
    const out = new Uint8Array(64);
    encodeGroupDesc(gd, out, 64);
    expect(Buffer.from(out).equals(Buffer.from(l.raws[1]))).toBe(true);
  });
});

describe('group descriptor edge cases', () => {
  let l: Loaded;
  let gdt: Loaded;
  beforeAll(async () => {
    l = await load(await images.mkfs({ size: '64M', name: 'edge.img' }));
    gdt = await load(await images.mkfs({ args: ['-O', '^metadata_csum,uninit_bg'], size: '64M', name: 'edge-gdt.img' }));
  });

  it('the crc16 and crc32c flavours are different functions', () => {
    const asCrc32c: Superblock = { ...gdt.sb, featureRoCompat: gdt.sb.featureRoCompat | RO_COMPAT_METADATA_CSUM };
    expect(verifyGroupDescChecksum(gdt.sb, gdt.seed, 0, gdt.raws[0])).toBe(true);
    expect(verifyGroupDescChecksum(asCrc32c, gdt.seed, 0, gdt.raws[0])).toBe(false);
  });

  it('a changed byte fails verification and setGroupDescChecksum repairs it', () => {
    for (const x of [l, gdt]) {
      const raw = x.raws[0].slice();
      raw[0x0c] ^= 1; // free blocks count
      expect(verifyGroupDescChecksum(x.sb, x.seed, 0, raw)).toBe(false);
      setGroupDescChecksum(x.sb, x.seed, 0, raw);
      expect(verifyGroupDescChecksum(x.sb, x.seed, 0, raw)).toBe(true);
    }
  });

  it('descriptors are 32 bytes without 64bit whatever s_desc_size says', () => {
    const no64: Superblock = { ...gdt.sb, featureIncompat: gdt.sb.featureIncompat & ~0x80, descSize: 64 };
    expect(descSizeOf(no64)).toBe(32);
    expect(descSizeOf(l.sb)).toBe(l.sb.descSize);
  });

  it('a block number beyond 2^53 is corruption naming the group', () => {
    const raw = l.raws[0].slice();
    raw.fill(0xff, 0x28, 0x2c); // bg_inode_table_hi
    let caught: unknown;
    try {
      decodeGroupDesc(raw, 64, 0);
    } catch (e) {
      caught = e;
    }
    expect(isCorruption(caught) && caught.structure === 'group descriptor' && caught.number === 0).toBe(true);
  });

  it('a 32-byte descriptor refuses values that need the high halves, and keeps only 16 bitmap checksum bits', () => {
    const gd = decodeGroupDesc(l.raws[0], 64);
    const out = new Uint8Array(32);
    expect(() => encodeGroupDesc({ ...gd, inodeTable: 2 ** 32 }, out, 32)).toThrow(AssertionError);
    expect(() => encodeGroupDesc({ ...gd, freeInodesCount: 0x10000 }, out, 32)).toThrow(AssertionError);
    encodeGroupDesc({ ...gd, blockBitmapCsum: 0x12345678 }, out, 32);
    expect(decodeGroupDesc(out, 32).blockBitmapCsum).toBe(0x5678);
    expect(bitmapChecksumMatches(0x5678, 0x12345678, 32)).toBe(true);
    expect(bitmapChecksumMatches(0x5678, 0x12345678, 64)).toBe(false);
  });
});
