/**
 * Extended attributes of mkfs -d's inodes: the host's attributes turned
 * into ext4's stored form (format/xattr-name.ts: namespace index and
 * suffix, POSIX ACLs in ext4's compact form), placed as Linux's setxattr
 * would place them one after the other: into the inode body while they
 * fit, the rest into one attribute block, sorted as the kernel's block
 * lookup needs. Identical blocks are shared, with a reference count, as
 * the kernel's mbcache shares them (mke2fs never does; both are valid).
 */
import { FsError } from '../base/errors.js';
import { diskValueOf, xattrKeyOf } from '../format/xattr-name.js';
import {
  compareXattrEntries, encodeInodeXattrs, encodeXattrBlock, writeXattrBlockChecksum, XATTR_BLOCK_HEADER_SIZE, XATTR_IBODY_HEADER_SIZE,
  xattrSpaceNeeded, type XattrInput,
} from '../format/xattr.js';
import { writeU32LE } from '../format/le.js';

/** Linux's EXT4_XATTR_REFCOUNT_MAX: a block is shared by at most this many inodes. */
const REFCOUNT_MAX = 1024;
/** h_refcount's offset in the block header. */
const H_REFCOUNT_OFFSET = 4;

/** Where an inode's attributes go. */
export interface PlacedXattrs {
  ibody: XattrInput[];
  /** Sorted; empty when the inode needs no block. */
  block: XattrInput[];
}

const NONE: PlacedXattrs = { ibody: [], block: [] };

/**
 * Places `attrs` (full name -> value, as the host lists them) after the
 * entries that must be in the inode body (`first`: system.data of inline
 * data). `ibodyCapacity` is 0 for inodes without an in-inode area.
 * Attributes ext4 cannot store are reported and left out.
 */
export function placeXattrs(
  attrs: ReadonlyMap<string, Uint8Array> | undefined, first: readonly XattrInput[], isDir: boolean,
  capacity: { ibody: number; block: number }, onError: (name: string, e: unknown) => void,
): PlacedXattrs {
  if ((attrs === undefined || attrs.size === 0) && first.length === 0) return NONE;
  const ibody = [...first];
  const block: XattrInput[] = [];
  for (const [name, raw] of attrs ?? []) {
    try {
      const key = xattrKeyOf(name);
      const value = diskValueOf(key, raw, isDir);
      // An ACL header without entries means "no ACL" (posix_acl_from_xattr).
      if (value === undefined) continue;
      const entry: XattrInput = { nameIndex: key.nameIndex, name: key.name, value };
      if (capacity.ibody > 0 && xattrSpaceNeeded([...ibody, entry]) <= capacity.ibody) {
        ibody.push(entry);
        continue;
      }
      if (xattrSpaceNeeded([...block, entry]) > capacity.block) {
        throw new FsError('ENOSPC', 'no room for the extended attribute in the inode or its xattr block');
      }
      block.push(entry);
    } catch (e) {
      onError(name, e);
    }
  }
  block.sort(compareXattrEntries);
  return { ibody, block };
}

/** Bytes for the in-inode entry list, its terminator and the values, in an area of `areaBytes` (i_extra_isize onwards). */
export function ibodyCapacityOf(areaBytes: number): number {
  return Math.max(0, areaBytes - XATTR_IBODY_HEADER_SIZE);
}

/** Bytes for the block's entry list, terminator and values. */
export function blockCapacityOf(blockSize: number): number {
  return blockSize - XATTR_BLOCK_HEADER_SIZE;
}

/** The in-inode area (`areaBytes` long) holding `entries`. */
export function encodeIbody(entries: readonly XattrInput[], areaBytes: number): Uint8Array {
  const area = new Uint8Array(areaBytes);
  encodeInodeXattrs(entries, area);
  return area;
}

/**
 * Attribute blocks of the new filesystem: each distinct block content gets
 * one block, shared by every inode with the same attributes.
 */
export class XattrBlocks {
  private readonly byContent = new Map<string, { bytes: Uint8Array; block: number; refs: number }>();
  private readonly all: Array<{ bytes: Uint8Array; block: number; refs: number }> = [];

  constructor(private readonly blockSize: number, private readonly allocate: () => number) {}

  /** The block holding `entries` (allocated on first use); counts one more reference. */
  blockFor(entries: readonly XattrInput[]): number {
    const bytes = encodeXattrBlock(entries, this.blockSize);
    const key = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
    let b = this.byContent.get(key);
    if (b === undefined || b.refs >= REFCOUNT_MAX) {
      b = { bytes, block: this.allocate(), refs: 0 };
      this.byContent.set(key, b);
      this.all.push(b);
    }
    b.refs++;
    return b.block;
  }

  /** Every block with its final reference count and checksum (metadata_csum when `fsSeed` is given). */
  encode(fsSeed: number | undefined): Array<{ block: number; bytes: Uint8Array }> {
    return this.all.map((b) => {
      writeU32LE(b.bytes, H_REFCOUNT_OFFSET, b.refs);
      if (fsSeed !== undefined) writeXattrBlockChecksum(fsSeed, b.block, b.bytes);
      return { block: b.block, bytes: b.bytes };
    });
  }
}
