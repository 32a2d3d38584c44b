/**
 * The blocks of the log itself (after the journal superblock): descriptor
 * blocks with their block tags, commit blocks and revoke blocks, and the
 * checksums jbd2 puts on each, decoded for recovery and encoded for the log
 * writer. Pure functions over a block's bytes.
 *
 * The tag layout depends on the journal's features:
 *  - checksum v3: 16 bytes (blocknr, flags as 32 bits, blocknr_high, crc32c);
 *  - otherwise 12 bytes (blocknr, 16-bit checksum, 16-bit flags,
 *    blocknr_high), plus 2 with checksum v2, minus the 4 bytes of
 *    blocknr_high without 64bit.
 * Either way the low 16 bits of the flags sit at byte 6, so jbd2 (and we)
 * read flags there for both layouts.
 */
import { assert } from '../base/assert.js';
import { corrupted } from '../base/errors.js';
import { crc32c, crc32cU32 } from '../format/crc32c.js';
import {
  encodeJournalHeader, JBD2_COMMIT_BLOCK, JBD2_CRC32_CHKSUM, JBD2_DESCRIPTOR_BLOCK, JBD2_FEATURE_COMPAT_CHECKSUM,
  JBD2_FEATURE_INCOMPAT_64BIT, JBD2_FEATURE_INCOMPAT_CSUM_V2, JBD2_FEATURE_INCOMPAT_CSUM_V3, JBD2_MAGIC_NUMBER,
  JBD2_REVOKE_BLOCK, JBD2_SUPERBLOCK_V2, JOURNAL_HEADER_SIZE, type JournalSuperblock,
} from '../format/jbd2-superblock.js';
import { hi32, lo32, readU16BE, readU32BE, writeU16BE, writeU32BE } from '../format/le.js';

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
const COMMIT_NSEC = 0x38;
/** The UUID that follows the first tag of a descriptor (and any tag without SAME_UUID). */
const TAG_UUID_SIZE = 16;

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

function tailBytes(f: LogFormat): number {
  return hasCsumV2or3(f) ? TAIL_SIZE : 0;
}

/**
 * Tags the log writer puts in one descriptor block. jbd2's commit closes a
 * descriptor once fewer than a tag, a UUID and the tail are left after the
 * last tag; its credit estimate (jbd2_descriptor_blocks_per_trans) counts
 * the same: header, the first tag's UUID, the tail, 16 bytes of slack.
 */
export function tagsPerDescriptor(f: LogFormat): number {
  return Math.floor((f.blockSize - JOURNAL_HEADER_SIZE - TAG_UUID_SIZE - tailBytes(f) - 16) / f.tagBytes);
}

/** Bytes per revoke record: 64-bit block numbers only with the 64bit journal feature. */
function revokeRecordBytes(f: LogFormat): number {
  return f.is64 ? 8 : 4;
}

/** Revoke records that fit in one revoke block (jbd2's journal_revoke_records_per_block). */
export function revokeRecordsPerBlock(f: LogFormat): number {
  return Math.floor((f.blockSize - REVOKE_HEADER_SIZE - tailBytes(f)) / revokeRecordBytes(f));
}

/** The largest filesystem block number a tag or revoke record of this journal can name. */
export function maxLoggableBlock(f: LogFormat): number {
  return f.is64 ? Number.MAX_SAFE_INTEGER : 0xffff_ffff;
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
  const end = f.blockSize - tailBytes(f);
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
    if ((flags & JBD2_FLAG_SAME_UUID) === 0) off += TAG_UUID_SIZE;
    if ((flags & JBD2_FLAG_LAST_TAG) !== 0) break;
  }
  return tags;
}

/**
 * Writes a descriptor block for `tags` into `block` (zeroed first): the
 * header, each tag in the journal's layout with the journal UUID after the
 * first one (the rest say SAME_UUID), LAST_TAG on the last, and the tail
 * checksum. `tags[i].flags` carries only ESCAPE; the other flags are set here.
 */
export function encodeDescriptorBlock(f: LogFormat, block: Uint8Array, sequence: number, tags: readonly BlockTag[], uuid: Uint8Array): void {
  assert(block.length === f.blockSize, 'descriptor buffer is one journal block');
  assert(tags.length >= 1 && tags.length <= tagsPerDescriptor(f), () => `${tags.length} tags do not fit one descriptor block`);
  assert(uuid.length === TAG_UUID_SIZE, 'journal uuid is 16 bytes');
  block.fill(0);
  encodeJournalHeader({ magic: JBD2_MAGIC_NUMBER, blockType: JBD2_DESCRIPTOR_BLOCK, sequence }, block);
  let off = JOURNAL_HEADER_SIZE;
  for (let i = 0; i < tags.length; i++) {
    const t = tags[i];
    assert(Number.isSafeInteger(t.blockNr) && t.blockNr >= 0 && t.blockNr <= maxLoggableBlock(f), () => `block ${t.blockNr} cannot be tagged in this journal`);
    let flags = t.flags & JBD2_FLAG_ESCAPE;
    if (i > 0) flags |= JBD2_FLAG_SAME_UUID;
    if (i === tags.length - 1) flags |= JBD2_FLAG_LAST_TAG;
    writeU32BE(block, off, lo32(t.blockNr));
    if (f.csumV3) {
      // journal_block_tag3_t: t_flags is 32 bits wide here.
      writeU32BE(block, off + 4, flags);
      writeU32BE(block, off + 12, t.checksum);
    } else {
      // journal_block_tag_t: t_checksum (16 bits, v2 only), then t_flags.
      writeU16BE(block, off + 4, f.csumV2 ? t.checksum & 0xffff : 0);
      writeU16BE(block, off + 6, flags);
    }
    if (f.is64) writeU32BE(block, off + 8, hi32(t.blockNr));
    off += f.tagBytes;
    if (i === 0) {
      block.set(uuid, off);
      off += TAG_UUID_SIZE;
    }
  }
  setBlockTail(f, block);
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

/** Stores the tail checksum of a descriptor or revoke block (nothing without checksum v2/v3). */
function setBlockTail(f: LogFormat, block: Uint8Array): void {
  if (!hasCsumV2or3(f)) return;
  const off = f.blockSize - TAIL_SIZE;
  writeU32BE(block, off, csumWithHole(f.csumSeed, block, off));
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
  const c = dataBlockChecksum(f, block, sequence);
  return f.csumV3 ? tag.checksum === c : tag.checksum === (c & 0xffff);
}

/**
 * The tag checksum of a logged block (0 without checksum v2/v3): over the
 * block as it goes into the log, so an escaped block counts with its first
 * word zeroed (`escaped`), whatever `block` itself holds there.
 */
export function dataBlockChecksum(f: LogFormat, block: Uint8Array, sequence: number, escaped = false): number {
  if (!hasCsumV2or3(f)) return 0;
  let c = crc32c(f.csumSeed, sequenceBytes(sequence));
  if (escaped) {
    c = crc32cU32(c, 0);
    return crc32c(c, block, 4, block.length);
  }
  return crc32c(c, block);
}

function sequenceBytes(sequence: number): Uint8Array {
  const seq = new Uint8Array(4);
  writeU32BE(seq, 0, sequence >>> 0);
  return seq;
}

/** Whether a block must be logged escaped: it opens with the journal magic, which would read as a log block. */
export function needsEscape(block: Uint8Array): boolean {
  return readU32BE(block, 0) === JBD2_MAGIC_NUMBER;
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

/** A commit time: seconds and nanoseconds since the epoch. */
export interface CommitTime {
  sec: number;
  nsec: number;
}

/**
 * Writes a commit block into `block` (zeroed first): the header, the commit
 * time, the checksum v1 crc32 of the transaction when the journal has v1
 * (`crc32Sum`), and the v2/v3 checksum over the whole block.
 */
export function encodeCommitBlock(f: LogFormat, block: Uint8Array, sequence: number, time: CommitTime, crc32Sum = 0): void {
  assert(block.length === f.blockSize, 'commit buffer is one journal block');
  block.fill(0);
  encodeJournalHeader({ magic: JBD2_MAGIC_NUMBER, blockType: JBD2_COMMIT_BLOCK, sequence }, block);
  writeU32BE(block, COMMIT_SEC, hi32(time.sec));
  writeU32BE(block, COMMIT_SEC + 4, lo32(time.sec));
  writeU32BE(block, COMMIT_NSEC, time.nsec);
  if (f.csumV1) {
    block[COMMIT_CHKSUM_TYPE] = JBD2_CRC32_CHKSUM;
    block[COMMIT_CHKSUM_SIZE] = 4;
    writeU32BE(block, COMMIT_CHKSUM, crc32Sum);
  }
  // v2/v3: type and size stay 0, and h_chksum[0] holds the block's crc32c.
  if (hasCsumV2or3(f)) writeU32BE(block, COMMIT_CHKSUM, csumWithHole(f.csumSeed, block, COMMIT_CHKSUM));
}

/**
 * Writes a revoke block listing `records` into `block` (zeroed first):
 * header, r_count (bytes in use, header included), the block numbers, tail.
 */
export function encodeRevokeBlock(f: LogFormat, block: Uint8Array, sequence: number, records: readonly number[]): void {
  assert(block.length === f.blockSize, 'revoke buffer is one journal block');
  assert(records.length >= 1 && records.length <= revokeRecordsPerBlock(f), () => `${records.length} revoke records do not fit one block`);
  block.fill(0);
  encodeJournalHeader({ magic: JBD2_MAGIC_NUMBER, blockType: JBD2_REVOKE_BLOCK, sequence }, block);
  const recLen = revokeRecordBytes(f);
  let off = REVOKE_HEADER_SIZE;
  for (const nr of records) {
    assert(Number.isSafeInteger(nr) && nr >= 0 && nr <= maxLoggableBlock(f), () => `block ${nr} cannot be revoked in this journal`);
    if (f.is64) {
      writeU32BE(block, off, hi32(nr));
      writeU32BE(block, off + 4, lo32(nr));
    } else {
      writeU32BE(block, off, nr);
    }
    off += recLen;
  }
  writeU32BE(block, JOURNAL_HEADER_SIZE, off);
  setBlockTail(f, block);
}

/**
 * The block numbers a revoke block lists. r_count counts the bytes in use
 * (header included); jbd2 rejects a count that reaches into the tail.
 */
export function revokeRecords(f: LogFormat, block: Uint8Array, jblk: number): number[] {
  const count = readU32BE(block, JOURNAL_HEADER_SIZE);
  const limit = f.blockSize - tailBytes(f);
  if (count > limit) throw corrupted('journal revoke block', jblk, `r_count ${count} is larger than the block's ${limit} usable bytes`);
  const recLen = revokeRecordBytes(f);
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
export function crc32Be(seed: number, data: Uint8Array, start = 0, end = data.length): number {
  let c = seed >>> 0;
  for (let i = start; i < end; i++) c = ((c << 8) ^ CRC32_BE_TABLE[((c >>> 24) ^ data[i]) & 0xff]) >>> 0;
  return c;
}
