/**
 * The journal of a new filesystem: where it goes and its superblock.
 *
 * Placement follows libext2fs (mkjournal.c): the goal is the first block of
 * the group, among the middle group and its neighbours (with flex_bg: the
 * first flex group at or past the middle that has free blocks, and the next
 * group), that has the most free blocks; the journal then takes free runs
 * from there.
 *
 * The superblock is jbd2's version 2. Unlike mke2fs, which leaves the
 * feature words empty for the kernel to fill in at its first commit, ext4kit
 * writes the features the kernel would set: 64-bit block tags on a 64bit
 * filesystem and checksum v3 (crc32c) with metadata_csum. An empty journal
 * reads the same either way; the difference shows only in dumpe2fs's
 * "Journal features" and "Journal checksum" lines.
 */
import {
  encodeJournalSuperblock, JBD2_CRC32C_CHKSUM, JBD2_FEATURE_INCOMPAT_64BIT, JBD2_FEATURE_INCOMPAT_CSUM_V3, JBD2_MAGIC_NUMBER,
  JBD2_SUPERBLOCK_V2, setJournalSuperblockChecksum, type JournalSuperblock,
} from '../format/jbd2-superblock.js';
import type { BlockMap } from './block-map.js';
import { hasFeature } from './features.js';
import { groupEnd, groupOfBlock, groupStart, type Geometry } from './geometry.js';

function freeInGroup(g: Geometry, map: BlockMap, group: number): number {
  const start = groupStart(g, group);
  const end = groupEnd(g, group);
  return end - start + 1 - map.countUsed(start, end);
}

/** get_midpoint_journal_block: the first block of the emptiest group near the middle. */
export function midpointJournalGoal(g: Geometry, map: BlockMap): number {
  let group = groupOfBlock(g, Math.floor((g.blocksCount - g.firstDataBlock) / 2));
  const flexSize = 1 << g.sb.logGroupsPerFlex;
  let start: number;
  if (g.sb.logGroupsPerFlex > 0 && group > flexSize) {
    group &= ~(flexSize - 1);
    while (group < g.groupCount && freeInGroup(g, map, group) === 0) group++;
    if (group === g.groupCount) group = 0;
    start = group;
  } else {
    start = group > 0 ? group - 1 : group;
  }
  const end = group + 1 < g.groupCount ? group + 1 : group;
  let best = start;
  for (let i = start + 1; i <= end; i++) {
    if (freeInGroup(g, map, i) > freeInGroup(g, map, best)) best = i;
  }
  return groupStart(g, best);
}

/** The journal's first block: an empty jbd2 v2 superblock for a journal of `blocks` blocks. */
export function journalSuperblockBlock(g: Geometry, blocks: number): Uint8Array {
  const csum = hasFeature(g.sb, 'metadata_csum');
  let incompat = 0;
  if (hasFeature(g.sb, '64bit')) incompat |= JBD2_FEATURE_INCOMPAT_64BIT;
  if (csum) incompat |= JBD2_FEATURE_INCOMPAT_CSUM_V3;
  const jsb: JournalSuperblock = {
    header: { magic: JBD2_MAGIC_NUMBER, blockType: JBD2_SUPERBLOCK_V2, sequence: 0 },
    blockSize: g.blockSize,
    maxLen: blocks,
    first: 1,
    sequence: 1,
    start: 0,
    errno: 0,
    featureCompat: 0,
    featureIncompat: incompat,
    featureRoCompat: 0,
    uuid: g.sb.uuid.slice(),
    nrUsers: 1,
    dynSuper: 0,
    maxTransaction: 0,
    maxTransData: 0,
    checksumType: csum ? JBD2_CRC32C_CHKSUM : 0,
    padding2: new Uint8Array(3),
    numFcBlocks: 0,
    head: 0,
    padding: new Uint8Array(0xfc - 0x5c),
    checksum: 0,
    users: new Uint8Array(16 * 48),
  };
  const block = new Uint8Array(g.blockSize);
  encodeJournalSuperblock(jsb, block);
  if (csum) setJournalSuperblockChecksum(block);
  return block;
}
