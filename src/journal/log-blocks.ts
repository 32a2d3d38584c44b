/**
 * Decoding the blocks of the log itself (after the journal superblock):
 * descriptor blocks with their block tags, commit blocks and revoke blocks,
 * and the checksums jbd2 puts on each. Pure functions over a block's bytes.
 *
 * The tag layout depends on the journal's features:
 *  - checksum v3: 16 bytes (blocknr, flags as 32 bits, blocknr_high, crc32c);
 *  - otherwise 12 bytes (blocknr, 16-bit checksum, 16-bit flags,
 *    blocknr_high), plus 2 with checksum v2, minus the 4 bytes of
 *    blocknr_high without 64bit.
 * Either way the low 16 bits of the flags sit at byte 6, so jbd2 (and we)
 * read flags there for both layouts.
 */
import { corrupted } from '../base/errors.js';
import { crc32c, crc32cU32 } from '../format/crc32c.js';
import {
  JBD2_FEATURE_COMPAT_CHECKSUM, JBD2_FEATURE_INCOMPAT_64BIT, JBD2_FEATURE_INCOMPAT_CSUM_V2,
  JBD2_FEATURE_INCOMPAT_CSUM_V3, JBD2_SUPERBLOCK_V2, JOURNAL_HEADER_SIZE, type JournalSuperblock,
} from '../format/jbd2-superblock.js';
import { readU16BE, readU32BE } from '../format/le.js';

/** Tag flags (t_flags). */
export const JBD2_FLAG_ESCAPE = 1;
export const JBD2_FLAG_SAME_UUID = 2;
export const JBD2_FLAG_DELETED = 4;
export const JBD2_FLAG_LAST_TAG = 8;

/** The 4-byte checksum tail at the end of descriptor and revoke blocks (v2/v3). */
const TAIL_SIZE = 4;
/** Revoke block header: journal header plus r_count. */
const REVOKE_HEADER_SIZE = 16;
/** Commit block: h_chksum_type, h_chksum_size, h_chksum[0], h_commit_sec. */
const COMMIT_CHKSUM_TYPE = 12;
const COMMIT_CHKSUM_SIZE = 13;
const COMMIT_CHKSUM = 16;
const COMMIT_SEC = 0x30;

/** The feature switches recovery depends on, read once from the journal superblock. */
export interface LogFormat {
  blockSize: number;
  csumV2: boolean;
  csumV3: boolean;
  /** Checksum v1: a crc32 (big-endian polynomial) over each transaction in its commit block. */
  csumV1: boolean;
  is64: boolean;
  /** Bytes per block tag (without the UUID that follows tags lacking SAME_UUID). */
  tagBytes: number;
  /** Seed of every v2/v3 checksum: crc32c(~0, journal uuid). */
  csumSeed: number;
}

export function logFormat(jsb: JournalSuperblock): LogFormat {
  // A version 1 superblock has no feature words: jbd2 ignores what they hold.
  const v2sb = jsb.header.blockType === JBD2_SUPERBLOCK_V2;
  const incompat = v2sb ? jsb.featureIncompat : 0;
  const compat = v2sb ? jsb.featureCompat : 0;
  const csumV2 = (incompat & JBD2_FEATURE_INCOMPAT_CSUM_V2) !== 0;
  const csumV3 = (incompat & JBD2_FEATURE_INCOMPAT_CSUM_V3) !== 0;
  const is64 = (incompat & JBD2_FEATURE_INCOMPAT_64BIT) !== 0;
  let tagBytes: number;
  if (csumV3) tagBytes = 16;
  else tagBytes = 12 + (csumV2 ? 2 : 0) - (is64 ? 0 : 4);
  return {
    blockSize: jsb.blockSize,
    csumV2,
    csumV3,
    csumV1: (compat & JBD2_FEATURE_COMPAT_CHECKSUM) !== 0,
    is64,
    tagBytes,
    csumSeed: crc32c(~0, jsb.uuid),
  };
}

export function hasCsumV2or3(f: LogFormat): boolean {
  return f.csumV2 || f.csumV3;
}

export interface BlockTag {
  /** Filesystem block the logged copy belongs to. */
  blockNr: number;
  flags: number;
  /** t_checksum: 16 bits (v2) or 32 bits (v3); 0 otherwise. */
  checksum: number;
}

/**
 * The tags of a descriptor block, in order, as jbd2's count_tags and
 * replay loop walk them: stop at LAST_TAG or when the next tag would run
 * into the checksum tail. At most blockSize / tagBytes tags, so a garbage
 * descriptor costs a bounded amount.
 */
export function descriptorTags(f: LogFormat, block: Uint8Array): BlockTag[] {
  const end = f.blockSize - (hasCsumV2or3(f) ? TAIL_SIZE : 0);
  const tags: BlockTag[] = [];
  let off = JOURNAL_HEADER_SIZE;
  while (off + f.tagBytes <= end) {
    const flags = readU16BE(block, off + 6);
    let blockNr = readU32BE(block, off);
    // blocknr_high is at byte 8 in both layouts; only 64-bit journals have it.
    if (f.is64) blockNr += readU32BE(block, off + 8) * 0x1_0000_0000;
    let checksum = 0;
    if (f.csumV3) checksum = readU32BE(block, off + 12);
    else if (f.csumV2) checksum = readU16BE(block, off + 4);
    tags.push({ blockNr, flags, checksum });
    off += f.tagBytes;
    if ((flags & JBD2_FLAG_SAME_UUID) === 0) off += 16;
    if ((flags & JBD2_FLAG_LAST_TAG) !== 0) break;
  }
  return tags;
}

/** crc32c(seed, block with the 4 bytes at `csumOff` taken as zero). */
function csumWithHole(seed: number, block: Uint8Array, csumOff: number): number {
  let c = crc32c(seed, block, 0, csumOff);
  c = crc32cU32(c, 0);
  return crc32c(c, block, csumOff + 4, block.length);
}

/** Descriptor and revoke blocks: the tail checksum (true when the journal has none). */
export function verifyBlockTail(f: LogFormat, block: Uint8Array): boolean {
  if (!hasCsumV2or3(f)) return true;
  const off = f.blockSize - TAIL_SIZE;
  return readU32BE(block, off) === csumWithHole(f.csumSeed, block, off);
}

/** Commit blocks: h_chksum[0] over the whole block (true when the journal has no v2/v3 checksums). */
export function verifyCommitBlock(f: LogFormat, block: Uint8Array): boolean {
  if (!hasCsumV2or3(f)) return true;
  return readU32BE(block, COMMIT_CHKSUM) === csumWithHole(f.csumSeed, block, COMMIT_CHKSUM);
}

/**
 * A logged data block against its tag: crc32c over the transaction's
 * sequence (big-endian, as it is on disk) and the block as it sits in the
 * log (still escaped). Checksum v2 keeps only the low 16 bits.
 */
export function verifyDataBlock(f: LogFormat, tag: BlockTag, block: Uint8Array, sequence: number): boolean {
  if (!hasCsumV2or3(f)) return true;
  const seq = new Uint8Array(4);
  new DataView(seq.buffer).setUint32(0, sequence >>> 0, false);
  const c = crc32c(crc32c(f.csumSeed, seq), block);
  return f.csumV3 ? tag.checksum === c : tag.checksum === (c & 0xffff);
}

export interface CommitInfo {
  checksumType: number;
  checksumSize: number;
  /** h_chksum[0] */
  checksum: number;
  /** h_commit_sec (seconds; exact up to 2^53) */
  commitSec: number;
}

export function decodeCommitBlock(block: Uint8Array): CommitInfo {
  return {
    checksumType: block[COMMIT_CHKSUM_TYPE],
    checksumSize: block[COMMIT_CHKSUM_SIZE],
    checksum: readU32BE(block, COMMIT_CHKSUM),
    commitSec: readU32BE(block, COMMIT_SEC) * 0x1_0000_0000 + readU32BE(block, COMMIT_SEC + 4),
  };
}

/**
 * The block numbers a revoke block lists. r_count counts the bytes in use
 * (header included); jbd2 rejects a count that reaches into the tail.
 */
export function revokeRecords(f: LogFormat, block: Uint8Array, jblk: number): number[] {
  const count = readU32BE(block, JOURNAL_HEADER_SIZE);
  const limit = f.blockSize - (hasCsumV2or3(f) ? TAIL_SIZE : 0);
  if (count > limit) throw corrupted('journal revoke block', jblk, `r_count ${count} is larger than the block's ${limit} usable bytes`);
  const recLen = f.is64 ? 8 : 4;
  const out: number[] = [];
  for (let off = REVOKE_HEADER_SIZE; off + recLen <= count; off += recLen) {
    out.push(f.is64 ? readU32BE(block, off) * 0x1_0000_0000 + readU32BE(block, off + 4) : readU32BE(block, off));
  }
  return out;
}

const CRC32_BE_TABLE = ((): Uint32Array => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = (c & 0x80000000) !== 0 ? (c << 1) ^ 0x04c11db7 : c << 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/**
 * crc32_be as Linux computes it (MSB first, no inversion): the checksum v1
 * of a transaction chains it over the descriptor and every data block.
 */
export function crc32Be(seed: number, data: Uint8Array): number {
  let c = seed >>> 0;
  for (let i = 0; i < data.length; i++) c = ((c << 8) ^ CRC32_BE_TABLE[((c >>> 24) ^ data[i]) & 0xff]) >>> 0;
  return c;
}
