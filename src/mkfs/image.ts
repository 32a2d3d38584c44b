/**
 * Turns a finished layout into the bytes of the image: superblock and
 * descriptor copies, bitmaps, inode tables, the special files' blocks, and
 * the ranges that must be zeroed when the device was not discarded.
 */
import type { Superblock } from '../format/superblock.js';
import { SUPERBLOCK_OFFSET } from '../format/superblock-constants.js';
import { hasFeature } from './features.js';
import { groupSuperAndGdt, type Geometry } from './geometry.js';
import { encodeDescriptorTable, type GroupState } from './group-state.js';
import { superAndGdtRange } from './group-tables.js';
import { InodeTables } from './inode-tables.js';
import type { Layout } from './layout.js';
import type { SpecialFiles } from './special-files.js';
import { encodeSuperblockCopy } from './superblock-init.js';
import type { WriteSet } from './write-set.js';

export interface ImageInput {
  layout: Layout;
  files: SpecialFiles;
  groups: readonly GroupState[];
  /** Checksum seed for descriptors and inodes (fsChecksumSeed). */
  fsSeed: number;
  /** The device's old contents read as zeros: nothing needs zeroing. */
  zeroed: boolean;
  /** Zero every inode table in full (lazy_itable_init off on a device that was not discarded). */
  zeroInodeTables: boolean;
  /** Every inode already encoded (special files included); default: the special files' inodes. */
  inodeTables?: InodeTables;
}

/** mke2fs wipes this much at the end of the filesystem (old RAID superblocks live there). */
const END_WIPE_BYTES = 65536;
/** BSD disklabel magic at byte 64 of sector 0, which mke2fs leaves alone. */
const BSD_DISKMAGIC = 0x82564557;
const BSD_MAGICDISK = 0x57455682;

/** Blocks of the inode tables: each group's initialized inodes, encoded; the rest stays zero. */
function inodeTableWrites(g: Geometry, input: ImageInput, out: WriteSet): void {
  const bs = g.blockSize;
  let tables = input.inodeTables;
  if (tables === undefined) {
    tables = new InodeTables(g, hasFeature(g.sb, 'metadata_csum') ? input.fsSeed : undefined);
    for (const [ino, inode] of input.files.inodes) tables.put(ino, inode);
  }
  input.groups.forEach((state, group) => {
    const table = input.layout.tables[group].inodeTable;
    const tableBytes = g.inodeBlocksPerGroup * bs;
    const initBytes = Math.ceil((state.initializedInodes * g.inodeSize) / bs) * bs;
    const bytes = tables.groupBytes(group);
    const putBytes = bytes === undefined ? 0 : bytes.length;
    if (bytes !== undefined) out.put(table * bs, bytes);
    // What the kernel will read must be zero; with lazy init the unused rest is left to it.
    const mustZero = input.zeroInodeTables ? tableBytes : initBytes;
    if (!input.zeroed && mustZero > putBytes) out.zero(table * bs + putBytes, mustZero - putBytes);
  });
}

/** Superblock, descriptor and reserved GDT copies of every group. */
function superblockWrites(g: Geometry, sb: Superblock, input: ImageInput, out: WriteSet): void {
  const bs = g.blockSize;
  const table = encodeDescriptorTable(g, input.groups, input.fsSeed);
  for (let group = 0; group < g.groupCount; group++) {
    const loc = groupSuperAndGdt(g, group);
    if (loc === undefined) continue;
    const sbOffset = group === 0 ? SUPERBLOCK_OFFSET : loc.superBlock * bs;
    out.put(sbOffset, encodeSuperblockCopy(sb, group));
    // The rest of a backup superblock's block is unused.
    if (!input.zeroed && group > 0 && bs > 1024) out.zero(sbOffset + 1024, bs - 1024);
    out.put(loc.gdtStart * bs, table);
    const range = superAndGdtRange(g, group);
    const rsvStart = loc.gdtStart + g.descBlocks;
    const rsvCount = range.start + range.count - rsvStart;
    // Backup reserved GDT blocks hold nothing until an online resize copies descriptors there.
    if (!input.zeroed && group > 0 && rsvCount > 0) out.zero(rsvStart * bs, rsvCount * bs);
  }
}

/** Bitmaps of every group; those left uninitialized are zeroed when the device may hold old data. */
function bitmapWrites(g: Geometry, input: ImageInput, out: WriteSet): void {
  const bs = g.blockSize;
  input.groups.forEach((state, group) => {
    const t = input.layout.tables[group];
    if (state.blockBitmap !== undefined) out.put(t.blockBitmap * bs, state.blockBitmap);
    else if (!input.zeroed) out.zero(t.blockBitmap * bs, bs);
    if (state.inodeBitmap !== undefined) out.put(t.inodeBitmap * bs, state.inodeBitmap);
    else if (!input.zeroed) out.zero(t.inodeBitmap * bs, bs);
  });
}

/**
 * Everything to write for the finished filesystem. `sector0` is the
 * device's first 512 bytes (to keep a BSD disklabel, as mke2fs does), or
 * undefined when the device was discarded.
 */
export function imageWrites(sb: Superblock, input: ImageInput, sector0: Uint8Array | undefined, out: WriteSet): void {
  const g = input.layout.geometry;
  const bs = g.blockSize;
  if (!input.zeroed) {
    // The boot sectors and what is left of the superblock's area, unless a BSD disklabel lives there.
    const magic = sector0 === undefined ? 0 : new DataView(sector0.buffer, sector0.byteOffset, 512).getUint32(64, true);
    if (magic !== BSD_DISKMAGIC && magic !== BSD_MAGICDISK) out.zero(0, 1024);
    if (bs > 2048) out.zero(2048, bs - 2048);
    const rsv = END_WIPE_BYTES / bs;
    let start = g.blocksCount - (g.blocksCount % rsv);
    if (start > rsv) start -= rsv;
    if (start > 0) out.zero(start * bs, (g.blocksCount - start) * bs);
  }
  superblockWrites(g, sb, input, out);
  bitmapWrites(g, input, out);
  inodeTableWrites(g, input, out);
  for (const b of input.files.blocks) out.put(b.block * bs, b.bytes);
  for (const z of input.files.zeroRanges) out.zero(z.start * bs, z.count * bs);
}
