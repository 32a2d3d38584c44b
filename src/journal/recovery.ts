/**
 * Journal recovery (Linux: fs/jbd2/recovery.c, which e2fsck shares): the
 * three passes over the log that jbd2 makes after an unclean shutdown.
 *
 *  - SCAN walks from s_start / s_sequence through descriptor, revoke and
 *    commit blocks, and finds the last fully committed transaction: the log
 *    ends at the first block that is not a journal block of the expected
 *    sequence, or at a commit block whose checksum fails.
 *  - REVOKE collects the revoke records of the committed transactions.
 *  - REPLAY takes each logged block of each committed transaction in order,
 *    unless a revoke record of the same or a later transaction covers it;
 *    later copies replace earlier ones.
 *
 * Instead of writing the blocks home, this returns them: the caller serves
 * them from memory over the unchanged device (a read-only replay).
 *
 * Every walk is bounded by the log's length, so a corrupt journal ends in
 * an error or a shorter replay, never in a loop.
 */
import { corrupted, FsError } from '../base/errors.js';
import {
  decodeJournalHeader, decodeJournalSuperblock, journalFastCommitBlocks, journalFeatureNames,
  verifyJournalSuperblockChecksum, JBD2_COMMIT_BLOCK, JBD2_CRC32_CHKSUM, JBD2_DESCRIPTOR_BLOCK,
  JBD2_FEATURE_INCOMPAT_64BIT, JBD2_FEATURE_INCOMPAT_ASYNC_COMMIT, JBD2_FEATURE_INCOMPAT_CSUM_V2,
  JBD2_FEATURE_INCOMPAT_CSUM_V3, JBD2_FEATURE_INCOMPAT_FAST_COMMIT, JBD2_FEATURE_INCOMPAT_REVOKE,
  JBD2_MAGIC_NUMBER, JBD2_REVOKE_BLOCK, JBD2_SUPERBLOCK_V2, type JournalSuperblock,
} from '../format/jbd2-superblock.js';
import { readU16LE, readU32LE, writeU32BE } from '../format/le.js';
import type { JournalSource } from './journal-blocks.js';
import {
  crc32Be, decodeCommitBlock, descriptorTags, logFormat, revokeRecords, verifyBlockTail, verifyCommitBlock,
  verifyDataBlock, JBD2_FLAG_ESCAPE, type LogFormat,
} from './log-blocks.js';
import { RevokeTable, tidGeq } from './revoke-table.js';

const KNOWN_INCOMPAT =
  JBD2_FEATURE_INCOMPAT_REVOKE | JBD2_FEATURE_INCOMPAT_64BIT | JBD2_FEATURE_INCOMPAT_ASYNC_COMMIT |
  JBD2_FEATURE_INCOMPAT_CSUM_V2 | JBD2_FEATURE_INCOMPAT_CSUM_V3 | JBD2_FEATURE_INCOMPAT_FAST_COMMIT;

/** ext4's fast-commit tag that opens a fast-commit area (EXT4_FC_TAG_HEAD). */
const EXT4_FC_TAG_HEAD = 9;

export interface RecoveryResult {
  /** Final contents of every replayed filesystem block, by block number. */
  blocks: Map<number, Uint8Array>;
  /** s_sequence: the first transaction in the log. */
  firstSequence: number;
  /** The first transaction not replayed (jbd2's end_transaction). */
  endSequence: number;
  /** What the next transaction would be numbered once the log is restarted. */
  nextSequence: number;
  /** Committed transactions replayed. */
  transactions: number;
  /** Logged block copies written into `blocks` (a block logged twice counts twice). */
  replayedCopies: number;
  /** Logged copies skipped because a revoke record covers them. */
  revokeHits: number;
  /** Revoke records read. */
  revokeRecords: number;
  /**
   * A commit block that failed its checksum ends the log here (jbd2's
   * j_failed_commit): the transaction it names was not replayed. Linux then
   * refuses the mount; e2fsck replays what comes before and flags the
   * filesystem as having errors.
   */
  failedCommit: number | undefined;
}

/** Reads and checks the journal superblock as jbd2's journal_load does before recovery. */
export async function readJournalSuperblock(src: JournalSource, fsBlockSize: number): Promise<JournalSuperblock> {
  const raw = await src.read(0);
  const jsb = decodeJournalSuperblock(raw);
  if (!verifyJournalSuperblockChecksum(jsb, raw)) throw corrupted('journal superblock', undefined, 'checksum does not match');
  if (jsb.blockSize !== fsBlockSize) {
    throw corrupted('journal superblock', undefined, `block size ${jsb.blockSize} differs from the filesystem's ${fsBlockSize}`);
  }
  if (jsb.maxLen > src.length) {
    throw corrupted('journal superblock', undefined, `journal length ${jsb.maxLen} blocks exceeds the journal file's ${src.length}`);
  }
  if (jsb.header.blockType === JBD2_SUPERBLOCK_V2) {
    const unknown = jsb.featureIncompat & ~KNOWN_INCOMPAT;
    if (unknown !== 0) {
      const names = journalFeatureNames({ featureCompat: 0, featureIncompat: unknown, featureRoCompat: 0 });
      throw new FsError('ENOTSUP', `the journal has unsupported incompatible feature(s): ${names.join(', ')}`, 'mount');
    }
  }
  return jsb;
}

export interface RecoveryOptions {
  /** Blocks in the filesystem: a logged block must lie inside it. */
  fsBlocks: number;
}

/** Runs SCAN, REVOKE and REPLAY over the log of `src`, whose superblock is `jsb`. */
export async function recoverJournal(src: JournalSource, jsb: JournalSuperblock, opts: RecoveryOptions): Promise<RecoveryResult> {
  const r = new Recovery(src, jsb, opts.fsBlocks);
  return r.run();
}

const SCAN = 0;
const REVOKE = 1;
const REPLAY = 2;
type Pass = typeof SCAN | typeof REVOKE | typeof REPLAY;
const PASS_NAMES = ['scan', 'revoke', 'replay'];

class Recovery {
  private readonly f: LogFormat;
  private readonly first: number;
  /** End of the circular log (exclusive): before the fast-commit area, if any. */
  private readonly last: number;
  private readonly asyncCommit: boolean;
  private endTransaction: number | undefined;
  private failedCommit: number | undefined;
  private readonly revokes = new RevokeTable();
  private readonly blocks = new Map<number, Uint8Array>();
  private replayedCopies = 0;
  private revokeHits = 0;
  private revokeCount = 0;

  constructor(private readonly src: JournalSource, private readonly jsb: JournalSuperblock, private readonly fsBlocks: number) {
    this.f = logFormat(jsb);
    this.first = jsb.first;
    this.last = jsb.maxLen - journalFastCommitBlocks(jsb);
    this.asyncCommit = jsb.header.blockType === JBD2_SUPERBLOCK_V2 && (jsb.featureIncompat & JBD2_FEATURE_INCOMPAT_ASYNC_COMMIT) !== 0;
    if (this.last <= this.first) {
      throw corrupted('journal superblock', undefined, `fast-commit area leaves no log (first ${this.first}, end ${this.last})`);
    }
    if (jsb.start !== 0 && jsb.start >= this.last) {
      throw corrupted('journal superblock', undefined, `log head ${jsb.start} lies in the fast-commit area (log ends at ${this.last})`);
    }
  }

  async run(): Promise<RecoveryResult> {
    const seq = this.jsb.sequence >>> 0;
    if (this.jsb.start === 0) {
      // A clean journal: nothing to replay; jbd2 starts the next transaction after s_sequence.
      return {
        blocks: this.blocks, firstSequence: seq, endSequence: seq, nextSequence: (seq + 1) >>> 0,
        transactions: 0, replayedCopies: 0, revokeHits: 0, revokeRecords: 0, failedCommit: undefined,
      };
    }
    await this.pass(SCAN);
    const end = this.endTransaction ?? seq;
    await this.refuseFastCommit(end);
    await this.pass(REVOKE);
    await this.pass(REPLAY);
    return {
      blocks: this.blocks, firstSequence: seq, endSequence: end, nextSequence: (end + 1) >>> 0,
      transactions: (end - seq) >>> 0, replayedCopies: this.replayedCopies,
      revokeHits: this.revokeHits, revokeRecords: this.revokeCount, failedCommit: this.failedCommit,
    };
  }

  /**
   * ext4 replays a fast-commit area after the last full transaction when
   * its first block opens with a head tag for that transaction. We cannot
   * replay those (they are logical inode operations, not block images), so
   * refuse rather than show a filesystem missing the fast commits.
   */
  private async refuseFastCommit(end: number): Promise<void> {
    if (journalFastCommitBlocks(this.jsb) === 0) return;
    // jbd2 starts the area one block past the log's end (j_fc_first = j_last + 1;
    // block j_last itself stays unused), as a kernel-written journal shows.
    const jblk = this.last + 1;
    if (jblk >= this.jsb.maxLen) return;
    const b = await this.src.read(jblk);
    if (readU16LE(b, 0) === EXT4_FC_TAG_HEAD && readU32LE(b, 8) === end) {
      throw new FsError('ENOTSUP',
        'the journal holds fast-commit blocks to replay; ext4kit cannot replay fast commits: ' +
        'run `e2fsck -fy` on the image or mount it with Linux first', 'mount');
    }
  }

  private async pass(pass: Pass): Promise<void> {
    const f = this.f;
    const src = this.src;
    const logLen = this.last - this.first;
    let next = this.jsb.sequence >>> 0;
    let blk = this.jsb.start;
    // Blocks walked so far: a log can hold at most logLen of them.
    let walked = 0;
    const advance = (n: number): void => {
      walked += n;
      if (walked > logLen) {
        throw corrupted('journal transaction', next, `runs past the end of the ${logLen}-block log (pass ${PASS_NAMES[pass]})`);
      }
      blk += n;
      while (blk >= this.last) blk -= logLen;
    };
    let needCheckCommitTime = false;
    let commitTime = 0;
    let lastCommitTime = 0;
    let crc32Sum = 0xffffffff;

    scan: for (;;) {
      if (pass !== SCAN && this.endTransaction !== undefined && tidGeq(next, this.endTransaction)) break;
      // The whole log has been walked: the next block is the log's own start again.
      if (walked >= logLen) break;
      const jblk = blk;
      const block = await src.read(jblk);
      advance(1);
      const h = decodeJournalHeader(block);
      if (h.magic !== JBD2_MAGIC_NUMBER || h.sequence !== next) break;

      switch (h.blockType) {
        case JBD2_DESCRIPTOR_BLOCK: {
          if (!verifyBlockTail(f, block)) {
            // A stale block from an earlier use of the log can fail here; SCAN decides at the commit block.
            if (pass !== SCAN) throw corrupted('journal descriptor block', jblk, `checksum does not match (transaction ${next})`);
            needCheckCommitTime = true;
          }
          const tags = descriptorTags(f, block);
          if (pass !== REPLAY) {
            if (pass === SCAN && f.csumV1 && !needCheckCommitTime && this.endTransaction === undefined) {
              crc32Sum = crc32Be(crc32Sum, block);
              for (let i = 0; i < tags.length; i++) {
                const data = await src.read(blk);
                advance(1);
                crc32Sum = crc32Be(crc32Sum, data);
              }
            } else {
              advance(tags.length);
            }
            continue;
          }
          for (const tag of tags) {
            const io = blk;
            advance(1);
            const data = await src.read(io);
            if (this.revokes.revoked(tag.blockNr, next)) {
              this.revokeHits++;
              continue;
            }
            if (!verifyDataBlock(f, tag, data, h.sequence)) {
              throw corrupted('journal block', io, `checksum of the logged copy of block ${tag.blockNr} in transaction ${next} does not match`);
            }
            if (tag.blockNr >= this.fsBlocks) {
              throw corrupted('journal block', io, `logs block ${tag.blockNr}, outside the filesystem (${this.fsBlocks} blocks)`);
            }
            // The first word was the journal magic, which jbd2 replaced to keep the log parseable.
            if ((tag.flags & JBD2_FLAG_ESCAPE) !== 0) writeU32BE(data, 0, JBD2_MAGIC_NUMBER);
            this.blocks.set(tag.blockNr, data);
            this.replayedCopies++;
          }
          continue;
        }

        case JBD2_COMMIT_BLOCK: {
          const c = decodeCommitBlock(block);
          commitTime = c.commitSec;
          if (needCheckCommitTime) {
            // A descriptor or revoke block of this transaction failed its checksum (only
            // SCAN sets this). A commit at least as new as the last one means the log
            // itself is damaged; an older one means we ran into stale blocks of an
            // earlier use of the log, which simply ends it.
            if (commitTime >= lastCommitTime) {
              throw corrupted('journal transaction', next, 'a descriptor or revoke block checksum does not match');
            }
            break scan;
          }
          if (pass !== SCAN) {
            next = (next + 1) >>> 0;
            continue;
          }
          let bad = false;
          if (f.csumV1) {
            // jbd2 leaves the block-type switch here and reads on: the next block has another sequence.
            if (this.endTransaction !== undefined) {
              this.failedCommit ??= this.endTransaction;
              continue;
            }
            const matches = crc32Sum === c.checksum && c.checksumType === JBD2_CRC32_CHKSUM && c.checksumSize === 4;
            const unused = c.checksumType === 0 && c.checksumSize === 0 && c.checksum === 0;
            bad = !matches && !unused;
            if (!bad) crc32Sum = 0xffffffff;
          }
          if (bad || !verifyCommitBlock(f, block)) {
            // An older commit than the last one is stale log, not a torn commit.
            if (commitTime < lastCommitTime) break scan;
            // The transaction never finished committing: the log ends before it. With
            // async commit jbd2 reads on (later transactions may still fill in nothing
            // that is replayed: every pass stops at the end transaction).
            this.endTransaction = next;
            if (!this.asyncCommit) {
              this.failedCommit = next;
              continue;
            }
          }
          lastCommitTime = commitTime;
          next = (next + 1) >>> 0;
          continue;
        }

        case JBD2_REVOKE_BLOCK: {
          if (pass === SCAN && !verifyBlockTail(f, block)) needCheckCommitTime = true;
          if (pass !== REVOKE) continue;
          for (const b of revokeRecords(f, block, jblk)) {
            this.revokes.set(b, next);
            this.revokeCount++;
          }
          continue;
        }

        default:
          break scan;
      }
    }

    if (pass === SCAN) {
      this.endTransaction ??= next;
    } else if (next !== this.endTransaction) {
      throw corrupted('journal transaction', next,
        `recovery pass ${PASS_NAMES[pass]} ended here, but the scan ended at transaction ${this.endTransaction}`);
    }
  }
}
