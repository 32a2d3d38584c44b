/**
 * computeLayout: everything mke2fs 1.47 decides before it writes a byte —
 * block size, group geometry, where every group's tables go, the journal
 * and orphan file sizes — for a device of a given size. Pure: the caller
 * gets its own block map, with the superblock copies and tables marked, to
 * place the rest (root, lost+found, resize inode, journal, orphan file).
 */
import { FsError } from '../base/errors.js';
import { BlockMap } from './block-map.js';
import { hasFeature, setFeature } from './features.js';
import { computeGeometry, groupEnd, groupStart, type Geometry } from './geometry.js';
import { allocateGroupTables, reserveSuperAndGdt, superAndGdtRange, type GroupTables } from './group-tables.js';
import type { MkfsOptions } from './options.js';
import { computeParams, type MkfsParams } from './params.js';

export interface Layout {
  params: MkfsParams;
  geometry: Geometry;
  /** Per group: block bitmap, inode bitmap and inode table locations. */
  tables: GroupTables[];
  /** Journal length in blocks (0 without a journal). */
  journalBlocks: number;
  /** Orphan file length in blocks (0 without orphan_file). */
  orphanFileBlocks: number;
  /** s_overhead_clusters: superblock copies, descriptors, tables, journal and the blocks before the first group. */
  overheadClusters: number;
  /** Block bitmap with the superblock copies, descriptors and group tables marked. */
  map: BlockMap;
}

/** jbd2's limits on a journal mke2fs creates. */
const MIN_JOURNAL_BLOCKS = 1024;
const MAX_JOURNAL_BLOCKS = 10_240_000;

/** ext2fs_default_journal_size: the journal length for a filesystem of `blocks` blocks, or -1 when it is too small for one. */
export function defaultJournalBlocks(blocks: number): number {
  if (blocks < 2048) return -1;
  if (blocks < 32768) return 1024;
  if (blocks < 256 * 1024) return 4096;
  if (blocks < 512 * 1024) return 8192;
  if (blocks < 4096 * 1024) return 16384;
  if (blocks < 8192 * 1024) return 32768;
  if (blocks < 16384 * 1024) return 65536;
  if (blocks < 32768 * 1024) return 131072;
  return 262144;
}

/** ext2fs_default_orphan_file_blocks (e2fsprogs 1.47.0): 1/4096 of the filesystem, between 32 and 512 blocks. */
export function defaultOrphanFileBlocks(blocks: number): number {
  if (blocks < 128 * 1024) return 32;
  if (blocks < 2 * 1024 * 1024) return Math.floor(blocks / 4096);
  return 512;
}

/** Free blocks as ext2fs_initialize counts them, before the tables are placed (they are counted only without flex_bg). */
function freeBlocksAfterInit(g: Geometry): number {
  let free = 0;
  for (let group = 0; group < g.groupCount; group++) {
    free += groupEnd(g, group) - groupStart(g, group) + 1 - superAndGdtRange(g, group).count;
  }
  if (g.sb.logGroupsPerFlex === 0) free -= g.groupCount * (2 + g.inodeBlocksPerGroup);
  return free;
}

function journalLength(p: MkfsParams, g: Geometry): number {
  if (!hasFeature(p.features, 'has_journal')) return 0;
  const dflt = defaultJournalBlocks(g.blocksCount);
  if (dflt < 0) {
    // Too small for a journal: mke2fs goes on without one (and without the orphan file it needs).
    for (const words of [p.features, g.sb]) {
      setFeature(words, 'has_journal', false);
      setFeature(words, 'orphan_file', false);
    }
    return 0;
  }
  if (p.journalBlocks === undefined) return dflt;
  const n = p.journalBlocks;
  if (n < MIN_JOURNAL_BLOCKS || n > MAX_JOURNAL_BLOCKS) {
    throw new FsError('EINVAL', `the journal must be between ${MIN_JOURNAL_BLOCKS} and ${MAX_JOURNAL_BLOCKS} blocks (asked for ${n})`);
  }
  if (n > Math.floor(freeBlocksAfterInit(g) / 2)) throw new FsError('EINVAL', `a journal of ${n} blocks is too big for this filesystem`);
  return n;
}

/**
 * The layout mke2fs 1.47 would choose for `options` on a device (or file)
 * of `deviceSize` bytes. `options.size`, when given, is the filesystem size
 * and must not exceed the device.
 */
export function computeLayout(options: MkfsOptions, deviceSize: number): Layout {
  const explicitSize = options.size !== undefined;
  const fsBytes = options.size ?? deviceSize;
  if (fsBytes > deviceSize) throw new FsError('EINVAL', `filesystem size ${fsBytes} exceeds the device size ${deviceSize}`);
  const params = computeParams(options, fsBytes, explicitSize);
  const geometry = computeGeometry(params);
  const map = new BlockMap(geometry);
  reserveSuperAndGdt(geometry, map);
  const tables = allocateGroupTables(geometry, map);
  const journalBlocks = journalLength(params, geometry);
  const orphanFileBlocks = hasFeature(geometry.sb, 'orphan_file') ? defaultOrphanFileBlocks(geometry.blocksCount) : 0;
  const overheadClusters = map.countUsed(geometry.firstDataBlock, geometry.blocksCount - 1) + journalBlocks + geometry.firstDataBlock;
  return { params, geometry, tables, journalBlocks, orphanFileBlocks, overheadClusters, map };
}
