/**
 * The final state of every group once everything is placed: descriptors
 * (free counts, directories, flags, unused inode count, checksums) and the
 * two bitmaps, as libext2fs writes them when mke2fs closes the filesystem.
 *
 * With descriptor checksums (metadata_csum or uninit_bg):
 *  - INODE_UNINIT marks a group with no inode in use;
 *  - BLOCK_UNINIT marks a group, other than the last, whose only used
 *    blocks are its own superblock and descriptor copies (and, without
 *    flex_bg, its own bitmaps and inode table) — the kernel can rebuild
 *    such a bitmap from the layout, so it is not written;
 *  - bg_itable_unused counts the inodes at the end of the table never used.
 * ITABLE_ZEROED is set when the inode tables are known to read as zeros.
 */
import { assert } from '../base/assert.js';
import { blockBitmapChecksum, inodeBitmapChecksum, setBit } from '../format/bitmap.js';
import {
  BG_BLOCK_UNINIT, BG_INODE_UNINIT, BG_INODE_ZEROED, encodeGroupDesc, setGroupDescChecksum, type GroupDesc,
} from '../format/group-desc.js';
import { hasFeature } from './features.js';
import { groupEnd, groupOfInode, groupStart, type Geometry } from './geometry.js';
import { superAndGdtRange } from './group-tables.js';
import type { Layout } from './layout.js';

export interface GroupState {
  desc: GroupDesc;
  /** The block bitmap block, or undefined when BLOCK_UNINIT leaves it unwritten. */
  blockBitmap: Uint8Array | undefined;
  /** The inode bitmap block, or undefined when INODE_UNINIT leaves it unwritten. */
  inodeBitmap: Uint8Array | undefined;
  /** Inodes at the start of the table that must be initialized (the rest are unused). */
  initializedInodes: number;
}

export interface GroupStateInput {
  usedInodes: readonly number[];
  directories: readonly number[];
  /** Whether the inode tables read as zeros (ITABLE_ZEROED). */
  itableZeroed: boolean;
  /** Metadata checksum seed (metadata_csum), else undefined. */
  fsSeed: number | undefined;
}

/** The on-disk bitmap block: the group's bits, padded with ones to the end of the block. */
function bitmapBlock(blockSize: number, bits: Uint8Array, nbits: number): Uint8Array {
  const block = new Uint8Array(blockSize).fill(0xff);
  assert(nbits % 8 === 0, 'bitmap length is a multiple of 8');
  block.set(bits.subarray(0, nbits / 8));
  return block;
}

export function computeGroupStates(layout: Layout, input: GroupStateInput): GroupState[] {
  const g = layout.geometry;
  const bs = g.blockSize;
  const csumFlag = hasFeature(g.sb, 'metadata_csum') || hasFeature(g.sb, 'uninit_bg');
  const flex = g.sb.logGroupsPerFlex > 0;
  const ipg = g.inodesPerGroup;

  const inodesByGroup = new Map<number, number[]>();
  for (const ino of input.usedInodes) {
    const group = groupOfInode(g, ino);
    const list = inodesByGroup.get(group) ?? [];
    list.push(ino);
    inodesByGroup.set(group, list);
  }
  const dirsByGroup = new Map<number, number>();
  for (const ino of input.directories) dirsByGroup.set(groupOfInode(g, ino), (dirsByGroup.get(groupOfInode(g, ino)) ?? 0) + 1);

  const states: GroupState[] = [];
  let reservedLeft = g.sb.firstIno;
  for (let group = 0; group < g.groupCount; group++) {
    const start = groupStart(g, group);
    const end = groupEnd(g, group);
    const used = layout.map.countUsed(start, end);
    const t = layout.tables[group];
    const baseline = superAndGdtRange(g, group).count + (flex ? 0 : 2 + g.inodeBlocksPerGroup);
    const inodes = inodesByGroup.get(group) ?? [];

    // ext2fs_initialize counts the reserved inodes as used, spilling into later groups when needed.
    let unused = 0;
    if (csumFlag) {
      unused = ipg;
      if (reservedLeft > 0) {
        const take = Math.min(unused, reservedLeft);
        unused -= take;
        reservedLeft -= take;
      }
      for (const ino of inodes) unused = Math.min(unused, ipg - (ino - group * ipg));
    }

    let flags = input.itableZeroed ? BG_INODE_ZEROED : 0;
    if (csumFlag) {
      if (inodes.length === 0) flags |= BG_INODE_UNINIT;
      if (group !== g.groupCount - 1 && used === baseline) flags |= BG_BLOCK_UNINIT;
    }

    let blockBitmap: Uint8Array | undefined;
    let blockBitmapCsum = 0;
    if ((flags & BG_BLOCK_UNINIT) === 0) {
      const nbits = end - start + 1;
      const bits = layout.map.groupBitmap(group);
      // The last group's bitmap is padded with ones past the end of the filesystem.
      for (let i = nbits; i < g.blocksPerGroup; i++) setBit(bits, i);
      blockBitmap = bitmapBlock(bs, bits, g.blocksPerGroup);
      if (input.fsSeed !== undefined) blockBitmapCsum = blockBitmapChecksum(input.fsSeed, blockBitmap, g.blocksPerGroup);
    }
    let inodeBitmap: Uint8Array | undefined;
    let inodeBitmapCsum = 0;
    if ((flags & BG_INODE_UNINIT) === 0) {
      const bits = new Uint8Array(ipg / 8);
      for (const ino of inodes) setBit(bits, ino - 1 - group * ipg);
      inodeBitmap = bitmapBlock(bs, bits, ipg);
      if (input.fsSeed !== undefined) inodeBitmapCsum = inodeBitmapChecksum(input.fsSeed, inodeBitmap, ipg);
    }

    const desc: GroupDesc = {
      blockBitmap: t.blockBitmap,
      inodeBitmap: t.inodeBitmap,
      inodeTable: t.inodeTable,
      freeBlocksCount: end - start + 1 - used,
      freeInodesCount: ipg - inodes.length,
      usedDirsCount: dirsByGroup.get(group) ?? 0,
      flags,
      excludeBitmap: 0,
      blockBitmapCsum,
      inodeBitmapCsum,
      itableUnused: unused,
      checksum: 0,
      reserved: 0,
      tail: new Uint8Array(Math.max(0, g.descSize - 64)),
    };
    states.push({ desc, blockBitmap, inodeBitmap, initializedInodes: ipg - unused });
  }
  return states;
}

/** The descriptor table blocks, each descriptor checksummed as the features ask. */
export function encodeDescriptorTable(g: Geometry, states: readonly GroupState[], fsSeed: number): Uint8Array {
  const table = new Uint8Array(g.descBlocks * g.blockSize);
  states.forEach((s, group) => {
    const bytes = table.subarray(group * g.descSize, (group + 1) * g.descSize);
    encodeGroupDesc(s.desc, bytes, g.descSize);
    setGroupDescChecksum(g.sb, fsSeed, group, bytes);
  });
  return table;
}
