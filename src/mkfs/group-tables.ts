/**
 * Where each group's block bitmap, inode bitmap and inode table go
 * (libext2fs alloc_tables.c), after the superblock and descriptor copies
 * have been reserved (ext2fs_reserve_super_and_bgd).
 *
 * Without flex_bg every group holds its own tables, first fit from its
 * start. With flex_bg the tables of a flex group (16 groups) are packed at
 * the start of its first group: all its block bitmaps, then all its inode
 * bitmaps, then all its inode tables, each run `table_offset` apart, so the
 * metadata of 16 groups can be read in a few large requests. The last flex
 * group packs by the number of groups it really has.
 */
import { FsError } from '../base/errors.js';
import type { BlockMap } from './block-map.js';
import { groupEnd, groupStart, groupSuperAndGdt, type Geometry } from './geometry.js';

export interface GroupTables {
  blockBitmap: number;
  inodeBitmap: number;
  inodeTable: number;
}

/** The superblock copy, descriptor copy and reserved GDT blocks of a group, as [start, count] (empty when none). */
export function superAndGdtRange(g: Geometry, group: number): { start: number; count: number } {
  const loc = groupSuperAndGdt(g, group);
  if (loc === undefined) return { start: 0, count: 0 };
  const count = Math.min(1 + g.descBlocks + g.reservedGdtBlocks, g.blocksCount - loc.superBlock);
  return { start: loc.superBlock, count };
}

/** Marks every group's superblock copy, descriptor copy and reserved GDT blocks as used. */
export function reserveSuperAndGdt(g: Geometry, map: BlockMap): void {
  for (let group = 0; group < g.groupCount; group++) {
    const r = superAndGdtRange(g, group);
    if (r.count > 0) map.markRange(r.start, r.count);
  }
}

function flexOffset(g: Geometry, map: BlockMap, group: number, startBlk: number, remGroups: number, elemSize: number): number {
  const flexSize = 1 << g.sb.logGroupsPerFlex;
  let size = remGroups * elemSize;
  const cap = Math.floor(g.blocksPerGroup / 4);
  if (size > cap) size = cap;
  // The previous group's tables end here: keep packing if there is room.
  if (startBlk !== 0 && startBlk < g.blocksCount) {
    const b = map.getFreeBlocks(startBlk, startBlk + size, elemSize);
    if (b !== -1) return b;
  }
  const flexStart = groupStart(g, flexSize * Math.floor(group / flexSize));
  const lastGroup = Math.min(group | (flexSize - 1), g.groupCount - 1);
  const lastBlk = groupEnd(g, lastGroup);
  for (const [from, n] of [[flexStart, size], [flexStart, elemSize], [0, elemSize]] as const) {
    const b = map.getFreeBlocks(from, lastBlk, n);
    if (b !== -1) return b;
  }
  return 0;
}

function allocate(map: BlockMap, start: number, last: number, fallbackStart: number, n: number, what: string): number {
  let b = map.getFreeBlocks(start, last, n);
  if (b === -1 && fallbackStart !== start) b = map.getFreeBlocks(fallbackStart, last, n);
  if (b === -1) throw new FsError('ENOSPC', `no room for ${what}`);
  map.markRange(b, n);
  return b;
}

/** ext2fs_allocate_tables: every group's bitmaps and inode table, marked in `map`. */
export function allocateGroupTables(g: Geometry, map: BlockMap): GroupTables[] {
  const tables: GroupTables[] = [];
  const flexSize = g.sb.logGroupsPerFlex > 0 ? 1 << g.sb.logGroupsPerFlex : 0;
  const ipb = g.inodeBlocksPerGroup;
  for (let group = 0; group < g.groupCount; group++) {
    const first = groupStart(g, group);
    if (flexSize === 0) {
      const last = groupEnd(g, group);
      const blockBitmap = allocate(map, first, last, first, 1, `the block bitmap of group ${group}`);
      const inodeBitmap = allocate(map, first, last, first, 1, `the inode bitmap of group ${group}`);
      const inodeTable = allocate(map, first, last, first, ipb, `the inode table of group ${group}`);
      tables.push({ blockBitmap, inodeBitmap, inodeTable });
      continue;
    }
    const lastGroup = Math.min(group | (flexSize - 1), g.groupCount - 1);
    const remGroups = lastGroup - group + 1;
    const last = groupEnd(g, lastGroup);
    const firstInFlex = group % flexSize === 0;
    const prev = firstInFlex ? undefined : tables[group - 1];
    // Distance between the block bitmap, inode bitmap and inode table runs.
    let tableOffset = flexSize;
    if (firstInFlex && lastGroup === g.groupCount - 1) {
      tableOffset = lastGroup & (flexSize - 1);
      tableOffset = tableOffset === 0 ? flexSize : tableOffset + 1;
    }

    const bbStart = flexOffset(g, map, group, prev === undefined ? 0 : prev.blockBitmap + 1, remGroups, 1);
    const blockBitmap = allocate(map, bbStart, last, first, 1, `the block bitmap of group ${group}`);
    const ibStart = flexOffset(g, map, group, prev === undefined ? blockBitmap + tableOffset : prev.inodeBitmap + 1, remGroups, 1);
    const inodeBitmap = allocate(map, ibStart, last, first, 1, `the inode bitmap of group ${group}`);
    const itStart = flexOffset(g, map, group, prev === undefined ? inodeBitmap + tableOffset : prev.inodeTable + ipb, remGroups, ipb);
    const inodeTable = allocate(map, itStart, last, itStart, ipb, `the inode table of group ${group}`);
    tables.push({ blockBitmap, inodeBitmap, inodeTable });
  }
  return tables;
}
