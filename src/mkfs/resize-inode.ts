/**
 * The resize inode (inode 7, resize_inode feature): a block-mapped file
 * that owns the reserved GDT blocks, so that online resize can turn them
 * into descriptor blocks without moving anything (libext2fs res_gdt.c).
 *
 * Its double-indirect block lists the primary reserved GDT blocks (slot
 * (desc_blocks + i) mod addrs-per-block for the i-th); each primary
 * reserved GDT block, read as an indirect block, lists that block's copies
 * in the backup groups (1, 3, 5, 7, 9, 25, 27, ... with sparse_super).
 */
import { writeU32Array } from '../format/indirect.js';
import { groupHasSuperblock } from '../format/superblock.js';
import type { Geometry } from './geometry.js';

/** Groups holding backups of the superblock and descriptors, ascending (group 0 excluded). */
export function backupGroups(g: Geometry): number[] {
  const out: number[] = [];
  for (let group = 1; group < g.groupCount; group++) {
    if (groupHasSuperblock(g.sb, group)) out.push(group);
  }
  return out;
}

export interface ResizeInodeBlocks {
  /** The double-indirect block and the primary reserved GDT blocks, with their contents. */
  blocks: Array<{ block: number; bytes: Uint8Array }>;
  /** Blocks the inode owns: the double-indirect block, every reserved GDT block and its backups. */
  blockCount: number;
}

export function resizeInodeBlocks(g: Geometry, dindBlock: number): ResizeInodeBlocks {
  const apb = g.addrPerBlock;
  const sbBlock = g.firstDataBlock === 0 && g.blockSize === 1024 ? 1 : g.firstDataBlock;
  const backups = backupGroups(g);
  const dind = new Uint32Array(apb);
  const blocks: Array<{ block: number; bytes: Uint8Array }> = [];
  let blockCount = 1;
  for (let i = 0; i < g.reservedGdtBlocks; i++) {
    const gdtBlock = sbBlock + 1 + g.descBlocks + i;
    dind[(g.descBlocks + i) % apb] = gdtBlock;
    const list = new Uint32Array(apb);
    backups.forEach((group, k) => { list[k] = gdtBlock + group * g.blocksPerGroup; });
    const bytes = new Uint8Array(g.blockSize);
    writeU32Array(list, bytes);
    blocks.push({ block: gdtBlock, bytes });
    blockCount += 1 + backups.length;
  }
  const dindBytes = new Uint8Array(g.blockSize);
  writeU32Array(dind, dindBytes);
  blocks.push({ block: dindBlock, bytes: dindBytes });
  return { blocks, blockCount };
}
