/**
 * The jbd2 journal superblock (journal_superblock_t): the first block of
 * the journal (inode 8's first block, or the start of an external journal
 * device). jbd2 comes from ext3's journal and stores every field
 * big-endian, unlike the rest of ext4.
 *
 * Every byte of the 1024-byte structure is captured so that decode then
 * encode reproduces it exactly. The common 12-byte block header and the
 * block type constants are shared with the other journal blocks.
 */
import { assert } from '../base/assert.js';
import { corrupted } from '../base/errors.js';
import { crc32c } from './crc32c.js';
import { copyBytes, readS32BE, readU32BE, writeU32BE } from './le.js';

/** h_magic of every journal metadata block. */
export const JBD2_MAGIC_NUMBER = 0xc03b3998;

/** h_blocktype values. */
export const JBD2_DESCRIPTOR_BLOCK = 1;
export const JBD2_COMMIT_BLOCK = 2;
export const JBD2_SUPERBLOCK_V1 = 3;
export const JBD2_SUPERBLOCK_V2 = 4;
export const JBD2_REVOKE_BLOCK = 5;
/** Fast-commit blocks carry no jbd2 header; listed for completeness of the numbering. */
export const JBD2_FC_BLOCK = 6;

/** s_feature_compat: commit blocks carry a crc32 of the transaction (checksum v1). */
export const JBD2_FEATURE_COMPAT_CHECKSUM = 0x00000001;
/** s_feature_incompat bits. */
export const JBD2_FEATURE_INCOMPAT_REVOKE = 0x00000001;
export const JBD2_FEATURE_INCOMPAT_64BIT = 0x00000002;
export const JBD2_FEATURE_INCOMPAT_ASYNC_COMMIT = 0x00000004;
export const JBD2_FEATURE_INCOMPAT_CSUM_V2 = 0x00000008;
export const JBD2_FEATURE_INCOMPAT_CSUM_V3 = 0x00000010;
export const JBD2_FEATURE_INCOMPAT_FAST_COMMIT = 0x00000020;

/** s_checksum_type values (also h_chksum_type of commit blocks). */
export const JBD2_CRC32_CHKSUM = 1;
export const JBD2_MD5_CHKSUM = 2;
export const JBD2_SHA1_CHKSUM = 3;
export const JBD2_CRC32C_CHKSUM = 4;

/** Fast-commit area size assumed when s_num_fc_blks is 0 and fast_commit is on. */
export const JBD2_DEFAULT_FAST_COMMIT_BLOCKS = 256;

export const JOURNAL_SUPERBLOCK_SIZE = 1024;
export const JOURNAL_HEADER_SIZE = 12;
const OFF_CHECKSUM = 0xfc;

/** The header that opens every journal metadata block. */
export interface JournalHeader {
  /** h_magic */
  magic: number;
  /** h_blocktype (JBD2_*_BLOCK, JBD2_SUPERBLOCK_V*) */
  blockType: number;
  /** h_sequence: the transaction this block belongs to */
  sequence: number;
}

export function decodeJournalHeader(buf: Uint8Array): JournalHeader {
  return { magic: readU32BE(buf, 0), blockType: readU32BE(buf, 4), sequence: readU32BE(buf, 8) };
}

export function encodeJournalHeader(h: JournalHeader, buf: Uint8Array): void {
  writeU32BE(buf, 0, h.magic);
  writeU32BE(buf, 4, h.blockType);
  writeU32BE(buf, 8, h.sequence);
}

export interface JournalSuperblock {
  /** s_header */
  header: JournalHeader;
  /** s_blocksize: journal block size, equal to the filesystem's */
  blockSize: number;
  /** s_maxlen: total blocks in the journal */
  maxLen: number;
  /** s_first: first block of the log (after the superblock) */
  first: number;
  /** s_sequence: first transaction ID expected in the log */
  sequence: number;
  /** s_start: block where the log starts; 0 when the journal is empty (clean) */
  start: number;
  /** s_errno: negative errno recorded when the journal was aborted */
  errno: number;
  /** s_feature_compat */
  featureCompat: number;
  /** s_feature_incompat */
  featureIncompat: number;
  /** s_feature_ro_compat */
  featureRoCompat: number;
  /** s_uuid */
  uuid: Uint8Array;
  /** s_nr_users: filesystems sharing the journal */
  nrUsers: number;
  /** s_dynsuper: location of a dynamic superblock copy (unused) */
  dynSuper: number;
  /** s_max_transaction: journal blocks per transaction limit (unused by Linux) */
  maxTransaction: number;
  /** s_max_trans_data: data blocks per transaction limit (unused by Linux) */
  maxTransData: number;
  /** s_checksum_type (JBD2_*_CHKSUM) */
  checksumType: number;
  /** s_padding2: raw */
  padding2: Uint8Array;
  /** s_num_fc_blks: fast-commit blocks at the end of the journal (0 means the default with fast_commit) */
  numFcBlocks: number;
  /** s_head: first block of the log, maintained while the filesystem is clean */
  head: number;
  /** s_padding: raw */
  padding: Uint8Array;
  /** s_checksum: crc32c(~0, superblock with this field zero), with checksum v2/v3 */
  checksum: number;
  /** s_users: 16-byte UUIDs of the filesystems sharing the journal, raw */
  users: Uint8Array;
}

/**
 * Decodes a journal superblock. Throws EFSCORRUPTED on what jbd2 refuses
 * to load: a bad magic number or block type, an impossible block size, a
 * log start outside the journal, or contradictory checksum features.
 * Whether the block size and length fit the filesystem is the caller's
 * check. The checksum is not verified here.
 */
export function decodeJournalSuperblock(buf: Uint8Array): JournalSuperblock {
  if (buf.length < JOURNAL_SUPERBLOCK_SIZE) {
    throw corrupted('journal superblock', undefined, `only ${buf.length} bytes, need ${JOURNAL_SUPERBLOCK_SIZE}`);
  }
  const jsb: JournalSuperblock = {
    header: decodeJournalHeader(buf),
    blockSize: readU32BE(buf, 0x0c),
    maxLen: readU32BE(buf, 0x10),
    first: readU32BE(buf, 0x14),
    sequence: readU32BE(buf, 0x18),
    start: readU32BE(buf, 0x1c),
    errno: readS32BE(buf, 0x20),
    featureCompat: readU32BE(buf, 0x24),
    featureIncompat: readU32BE(buf, 0x28),
    featureRoCompat: readU32BE(buf, 0x2c),
    uuid: copyBytes(buf, 0x30, 16),
    nrUsers: readU32BE(buf, 0x40),
    dynSuper: readU32BE(buf, 0x44),
    maxTransaction: readU32BE(buf, 0x48),
    maxTransData: readU32BE(buf, 0x4c),
    checksumType: buf[0x50],
    padding2: copyBytes(buf, 0x51, 3),
    numFcBlocks: readU32BE(buf, 0x54),
    head: readU32BE(buf, 0x58),
    padding: copyBytes(buf, 0x5c, OFF_CHECKSUM - 0x5c),
    checksum: readU32BE(buf, OFF_CHECKSUM),
    users: copyBytes(buf, 0x100, 16 * 48),
  };
  checkJournalSuperblock(jsb);
  return jsb;
}

function checkJournalSuperblock(jsb: JournalSuperblock): void {
  const bad = (what: string): never => {
    throw corrupted('journal superblock', undefined, what);
  };
  const h = jsb.header;
  if (h.magic !== JBD2_MAGIC_NUMBER) bad(`bad magic 0x${h.magic.toString(16)}`);
  if (h.blockType !== JBD2_SUPERBLOCK_V1 && h.blockType !== JBD2_SUPERBLOCK_V2) bad(`unknown superblock type ${h.blockType}`);
  const bs = jsb.blockSize;
  if (bs < 1024 || bs > 65536 || (bs & (bs - 1)) !== 0) bad(`invalid block size ${bs}`);
  if (jsb.first === 0 || jsb.first >= jsb.maxLen) bad(`log start block ${jsb.first} outside the journal (${jsb.maxLen} blocks)`);
  if (jsb.start !== 0 && (jsb.start < jsb.first || jsb.start >= jsb.maxLen)) {
    bad(`log head ${jsb.start} outside the log [${jsb.first}, ${jsb.maxLen})`);
  }
  if (h.blockType === JBD2_SUPERBLOCK_V2) {
    const v2 = (jsb.featureIncompat & JBD2_FEATURE_INCOMPAT_CSUM_V2) !== 0;
    const v3 = (jsb.featureIncompat & JBD2_FEATURE_INCOMPAT_CSUM_V3) !== 0;
    if (v2 && v3) bad('checksum v2 and v3 both set');
    if ((v2 || v3) && (jsb.featureCompat & JBD2_FEATURE_COMPAT_CHECKSUM) !== 0) bad('checksum v1 and v2/v3 both set');
    if ((v2 || v3) && jsb.checksumType !== JBD2_CRC32C_CHKSUM) bad(`unknown checksum type ${jsb.checksumType}`);
  }
}

/** Writes every field into `buf[0, 1024)`; the checksum as given (see `setJournalSuperblockChecksum`). */
export function encodeJournalSuperblock(jsb: JournalSuperblock, buf: Uint8Array): void {
  assert(buf.length >= JOURNAL_SUPERBLOCK_SIZE, 'journal superblock buffer too small');
  assert(jsb.uuid.length === 16 && jsb.padding2.length === 3, 'journal superblock uuid/padding2 length');
  assert(jsb.padding.length === OFF_CHECKSUM - 0x5c && jsb.users.length === 16 * 48, 'journal superblock padding/users length');
  encodeJournalHeader(jsb.header, buf);
  writeU32BE(buf, 0x0c, jsb.blockSize);
  writeU32BE(buf, 0x10, jsb.maxLen);
  writeU32BE(buf, 0x14, jsb.first);
  writeU32BE(buf, 0x18, jsb.sequence);
  writeU32BE(buf, 0x1c, jsb.start);
  writeU32BE(buf, 0x20, jsb.errno);
  writeU32BE(buf, 0x24, jsb.featureCompat);
  writeU32BE(buf, 0x28, jsb.featureIncompat);
  writeU32BE(buf, 0x2c, jsb.featureRoCompat);
  buf.set(jsb.uuid, 0x30);
  writeU32BE(buf, 0x40, jsb.nrUsers);
  writeU32BE(buf, 0x44, jsb.dynSuper);
  writeU32BE(buf, 0x48, jsb.maxTransaction);
  writeU32BE(buf, 0x4c, jsb.maxTransData);
  buf[0x50] = jsb.checksumType;
  buf.set(jsb.padding2, 0x51);
  writeU32BE(buf, 0x54, jsb.numFcBlocks);
  writeU32BE(buf, 0x58, jsb.head);
  buf.set(jsb.padding, 0x5c);
  writeU32BE(buf, OFF_CHECKSUM, jsb.checksum);
  buf.set(jsb.users, 0x100);
}

const ZERO32 = new Uint8Array(4);

/** crc32c(~0) over the 1024-byte superblock with s_checksum taken as zero. */
export function journalSuperblockChecksum(buf: Uint8Array): number {
  let c = crc32c(~0, buf, 0, OFF_CHECKSUM);
  c = crc32c(c, ZERO32, 0, 4);
  return crc32c(c, buf, OFF_CHECKSUM + 4, JOURNAL_SUPERBLOCK_SIZE);
}

/** Whether the journal checksums its metadata blocks (checksum v2 or v3; v1 covers commit blocks only). */
export function journalHasCsumV2or3(jsb: Pick<JournalSuperblock, 'featureIncompat'>): boolean {
  return (jsb.featureIncompat & (JBD2_FEATURE_INCOMPAT_CSUM_V2 | JBD2_FEATURE_INCOMPAT_CSUM_V3)) !== 0;
}

/** True when the stored checksum matches, or when the journal has no superblock checksum (no v2/v3). */
export function verifyJournalSuperblockChecksum(jsb: JournalSuperblock, buf: Uint8Array): boolean {
  if (!journalHasCsumV2or3(jsb)) return true;
  return readU32BE(buf, OFF_CHECKSUM) === journalSuperblockChecksum(buf);
}

/** Recomputes and stores s_checksum in an encoded journal superblock; returns it. */
export function setJournalSuperblockChecksum(buf: Uint8Array): number {
  const c = journalSuperblockChecksum(buf);
  writeU32BE(buf, OFF_CHECKSUM, c);
  return c;
}

/**
 * Whether the log holds transactions to replay: s_start is set while the
 * journal has live transactions and cleared on a clean unmount or after
 * recovery.
 */
export function journalNeedsRecovery(jsb: Pick<JournalSuperblock, 'start'>): boolean {
  return jsb.start !== 0;
}

/** Fast-commit blocks at the end of the journal (0 without fast_commit). */
export function journalFastCommitBlocks(jsb: JournalSuperblock): number {
  if ((jsb.featureIncompat & JBD2_FEATURE_INCOMPAT_FAST_COMMIT) === 0) return 0;
  return jsb.numFcBlocks === 0 ? JBD2_DEFAULT_FAST_COMMIT_BLOCKS : jsb.numFcBlocks;
}

const JOURNAL_FEATURE_NAMES: Record<'compat' | 'incompat' | 'ro_compat', ReadonlyMap<number, string>> = {
  compat: new Map([[JBD2_FEATURE_COMPAT_CHECKSUM, 'journal_checksum']]),
  incompat: new Map([
    [JBD2_FEATURE_INCOMPAT_REVOKE, 'journal_incompat_revoke'],
    [JBD2_FEATURE_INCOMPAT_64BIT, 'journal_64bit'],
    [JBD2_FEATURE_INCOMPAT_ASYNC_COMMIT, 'journal_async_commit'],
    [JBD2_FEATURE_INCOMPAT_CSUM_V2, 'journal_checksum_v2'],
    [JBD2_FEATURE_INCOMPAT_CSUM_V3, 'journal_checksum_v3'],
  ]),
  ro_compat: new Map(),
};

/**
 * Journal features named and ordered as dumpe2fs 1.47 prints its "Journal
 * features:" line (compat, incompat, ro_compat, lowest bit first; bits it
 * does not name, fast commit included, as FEATURE_<C|I|R><bit>).
 */
export function journalFeatureNames(jsb: Pick<JournalSuperblock, 'featureCompat' | 'featureIncompat' | 'featureRoCompat'>): string[] {
  const out: string[] = [];
  const words = [
    ['compat', 'C', jsb.featureCompat],
    ['incompat', 'I', jsb.featureIncompat],
    ['ro_compat', 'R', jsb.featureRoCompat],
  ] as const;
  for (const [kind, letter, word] of words) {
    for (let bit = 0; bit < 32; bit++) {
      const flag = (1 << bit) >>> 0;
      if ((word & flag) === 0) continue;
      out.push(JOURNAL_FEATURE_NAMES[kind].get(flag) ?? `FEATURE_${letter}${bit}`);
    }
  }
  return out;
}
