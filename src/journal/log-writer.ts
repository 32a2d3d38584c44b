/**
 * The jbd2 log writer (Linux: the log half of fs/jbd2/commit.c and the
 * superblock updates of fs/jbd2/journal.c): owns the circular log inside
 * the journal and writes committed transactions into it in the format
 * jbd2's recovery (the kernel's, e2fsck's and ours) reads back.
 *
 * One transaction on disk, in log order:
 *   revoke blocks (if any), then per group of up to `tagsPerDescriptor`
 *   logged blocks a descriptor block and the blocks' copies, then the
 *   commit block.
 * Everything before the commit block is written, then the device is
 * flushed, then the commit block is written and the device flushed again.
 * Recovery replays a transaction only if its commit block is valid, so a
 * crash at any moment leaves either the whole transaction or none of it.
 *
 * The journal superblock's s_start / s_sequence say where recovery starts.
 * They are written when the log goes from empty to non-empty (with the
 * first commit, before its commit block), when the tail moves
 * (`advanceTail`, after the caller has written the old transactions' blocks
 * home), and when the log is marked empty (`markClean`). A block of the log
 * is reused only after the superblock on disk no longer points at or before
 * the transaction that held it.
 *
 * The layer above (transactions and checkpointing) decides what goes into
 * a transaction and when it is written home; this layer only knows journal
 * blocks. Operations on one log run one at a time, in call order.
 */
import { assert } from '../base/assert.js';
import { FsError } from '../base/errors.js';
import type { BlockDevice } from '../device/block-device.js';
import {
  encodeJournalSuperblock, journalFastCommitBlocks, journalHasCsumV2or3, setJournalSuperblockChecksum,
  JBD2_CRC32C_CHKSUM, JBD2_FEATURE_COMPAT_CHECKSUM, JBD2_FEATURE_INCOMPAT_64BIT, JBD2_FEATURE_INCOMPAT_ASYNC_COMMIT,
  JBD2_FEATURE_INCOMPAT_CSUM_V2, JBD2_FEATURE_INCOMPAT_CSUM_V3, JBD2_FEATURE_INCOMPAT_REVOKE, JBD2_SUPERBLOCK_V2,
  type JournalSuperblock,
} from '../format/jbd2-superblock.js';
import { writeU32BE } from '../format/le.js';
import { blockOn, yieldPoint } from '../sim/hooks.js';
import type { JournalTarget } from './journal-blocks.js';
import {
  crc32Be, dataBlockChecksum, encodeCommitBlock, encodeDescriptorBlock, encodeRevokeBlock, logFormat, maxLoggableBlock,
  needsEscape, revokeRecordsPerBlock, tagsPerDescriptor, JBD2_FLAG_ESCAPE, type BlockTag, type CommitTime, type LogFormat,
} from './log-blocks.js';
import { LogSpace, type LoggedTransaction } from './log-space.js';
import { readJournalSuperblock } from './recovery.js';
import { StagedWrites } from './staged-writes.js';

export type { LoggedTransaction } from './log-space.js';

/** A filesystem block's new contents, to be logged. */
export interface LoggedBlock {
  /** Filesystem block number (its home location). */
  blockNr: number;
  /** One block; the caller must not change it until `commit` resolves. */
  data: Uint8Array;
}

/**
 * The journal features ext4 asks jbd2 for at mount (ext4's
 * set_journal_csum_feature_set and its 64bit check): checksum v3 when the
 * filesystem has metadata_csum and no journal checksums otherwise; 64-bit
 * block numbers when the filesystem has 64bit.
 */
export interface Ext4JournalFeatures {
  metadataCsum: boolean;
  is64bit: boolean;
}

export interface JournalLogOptions {
  /**
   * `keep` (the default) writes the log with the journal's own features;
   * otherwise the features are set as ext4 sets them at mount. Either way
   * the revoke feature is turned on, as jbd2 does at the first revoke.
   */
  features?: 'keep' | Ext4JournalFeatures;
  /** Largest single device write of log blocks, in bytes (default 4 MiB; at least one block). */
  maxWriteBytes?: number;
}

const DEFAULT_MAX_WRITE_BYTES = 4 << 20;

export class JournalLog {
  readonly format: LogFormat;
  /**
   * jbd2's j_max_transaction_buffers: a quarter of the journal. The layer
   * above keeps transactions under it so that a full log can always be
   * emptied by checkpointing.
   */
  readonly maxTransactionBlocks: number;
  /** Logged blocks per descriptor block. */
  readonly tagsPerDescriptor: number;
  /** Revoke records per revoke block. */
  readonly revokesPerBlock: number;

  private readonly space: LogSpace;
  private next: number;
  /** s_start as it is on disk: 0 while the log is empty there. */
  private diskStart = 0;
  private lastCommit: CommitTime = { sec: 0, nsec: 0 };
  /** Set by the first I/O error: the log's state on disk is unknown, so nothing more is written. */
  private failure: Error | undefined;
  private queue: Promise<void> = Promise.resolve();
  private staging: Uint8Array | undefined;
  private readonly maxWriteBlocks: number;

  private constructor(
    private readonly journal: JournalTarget,
    private readonly device: BlockDevice,
    private readonly jsb: JournalSuperblock,
    /** Journal block 0 as read, so bytes past the 1024-byte superblock are written back unchanged. */
    private readonly sbBlock: Uint8Array,
    maxWriteBytes: number,
  ) {
    this.format = logFormat(jsb);
    const last = jsb.maxLen - journalFastCommitBlocks(jsb);
    this.space = new LogSpace(jsb.first, last, jsb.first);
    this.maxTransactionBlocks = Math.floor(last / 4);
    this.tagsPerDescriptor = tagsPerDescriptor(this.format);
    this.revokesPerBlock = revokeRecordsPerBlock(this.format);
    // jbd2 starts after a clean journal's s_sequence (jbd2_journal_recover's "no recovery required" case).
    this.next = (jsb.sequence + 1) >>> 0;
    this.maxWriteBlocks = Math.max(1, Math.floor(maxWriteBytes / this.format.blockSize));
  }

  /**
   * Opens the log of a clean journal (s_start == 0: nothing to replay; run
   * recovery first otherwise). `device` is the device the journal lives on;
   * its flushes order the log's writes.
   */
  static async open(journal: JournalTarget, device: BlockDevice, options: JournalLogOptions = {}): Promise<JournalLog> {
    if (device.readOnly) throw new FsError('EROFS', 'cannot write the journal of a read-only device', 'open');
    const jsb = await readJournalSuperblock(journal, journal.blockSize);
    if (jsb.header.blockType !== JBD2_SUPERBLOCK_V2) {
      throw new FsError('ENOTSUP', 'the journal has a version 1 superblock (no feature words); ext4kit writes version 2 journals only', 'open');
    }
    if (jsb.start !== 0) {
      throw new FsError('EINVAL', `the journal holds transactions to replay (log starts at block ${jsb.start}); recover it before writing`, 'open');
    }
    if (jsb.errno !== 0) {
      throw new FsError('EINVAL', `the journal recorded error ${jsb.errno} from an earlier mount; recover it before writing`, 'open');
    }
    const last = jsb.maxLen - journalFastCommitBlocks(jsb);
    if (last - jsb.first < 4) {
      throw new FsError('EINVAL', `the journal's log [${jsb.first}, ${last}) is too small to hold a transaction`, 'open');
    }
    const features = options.features ?? 'keep';
    if (features !== 'keep') setExt4Features(jsb, features);
    jsb.featureIncompat = (jsb.featureIncompat | JBD2_FEATURE_INCOMPAT_REVOKE) >>> 0;
    const maxWrite = options.maxWriteBytes ?? DEFAULT_MAX_WRITE_BYTES;
    return new JournalLog(journal, device, jsb, await journal.read(0), maxWrite);
  }

  /** The transaction ID the next commit must carry. */
  get nextTid(): number {
    return this.next;
  }

  /** First block of the circular log. */
  get first(): number {
    return this.space.first;
  }

  /** End of the circular log (exclusive). */
  get last(): number {
    return this.space.last;
  }

  /** Where the next transaction starts. */
  get head(): number {
    return this.space.head;
  }

  /** Start of the oldest transaction not yet released by `advanceTail`. */
  get tail(): number {
    return this.space.tail;
  }

  /** Log blocks between head and tail: what the next transactions may use. */
  get freeBlocks(): number {
    return this.space.free;
  }

  /** Committed transactions still in the log (not yet released by `advanceTail`), oldest first. */
  get transactions(): readonly LoggedTransaction[] {
    return this.space.transactions;
  }

  /** The log block where committed transaction `tid` starts, while it is in the log. */
  startOf(tid: number): number | undefined {
    return this.space.startOf(tid);
  }

  /** Blocks `advanceTail(tid, ...)` would free: those of every transaction older than `tid`. */
  reclaimableBlocks(tid: number): number {
    return this.space.freedBefore(tid);
  }

  /** Journal blocks a transaction logging `metadataBlocks` blocks and revoking `revokes` occupies. */
  blocksNeeded(metadataBlocks: number, revokes: number): number {
    assert(Number.isSafeInteger(metadataBlocks) && metadataBlocks >= 0 && Number.isSafeInteger(revokes) && revokes >= 0,
      'block counts are non-negative integers');
    const descriptors = Math.ceil(metadataBlocks / this.tagsPerDescriptor);
    const revokeBlocks = Math.ceil(revokes / this.revokesPerBlock);
    return revokeBlocks + descriptors + metadataBlocks + 1;
  }

  /**
   * Writes transaction `tid` (which must be `nextTid`): the new contents of
   * `blocks` and revoke records for `revokes` (blocks whose logged copies
   * in this or earlier transactions must never be replayed; a block may not
   * be both logged and revoked in one transaction). Resolves once the
   * commit block is durable: from then on recovery replays the transaction.
   * Every write the caller completed before calling is durable by the time
   * the commit block is written (data=ordered relies on this).
   * `commitTimeMs` is the commit time in ms since the epoch.
   */
  async commit(tid: number, blocks: readonly LoggedBlock[], revokes: readonly number[], commitTimeMs: number): Promise<LoggedTransaction> {
    return this.exclusive('commit', async () => {
      this.checkUsable();
      this.checkTransaction(tid, blocks, revokes, commitTimeMs);
      const n = this.blocksNeeded(blocks.length, revokes.length);
      if (n > this.space.free) {
        throw new FsError('ENOSPC', `transaction ${tid} needs ${n} journal blocks but ${this.space.free} are free: checkpoint first`, 'commit');
      }
      const time = this.commitTime(commitTimeMs);
      await this.failOnError(() => this.writeTransaction(tid, blocks, revokes, n, time));
      this.lastCommit = time;
      const start = this.space.append(tid, n);
      this.next = (tid + 1) >>> 0;
      return { tid, start, blocks: n };
    });
  }

  /**
   * Moves the log's tail to transaction `tid`, which starts at journal
   * block `startBlock` (`startOf(tid)`, or `head` when `tid` is `nextTid`):
   * every older transaction must already be written home and flushed. The
   * superblock says so on disk before their blocks are handed out again.
   */
  async advanceTail(tid: number, startBlock: number): Promise<void> {
    return this.exclusive('advance tail', async () => {
      this.checkUsable();
      const expected = tid === this.next ? this.space.head : this.space.startOf(tid);
      if (expected === undefined) throw new FsError('EINVAL', `transaction ${tid} is not in the log`, 'advanceTail');
      if (startBlock !== expected) {
        throw new FsError('EINVAL', `transaction ${tid} starts at journal block ${expected}, not ${startBlock}`, 'advanceTail');
      }
      if (this.space.transactions.length === 0 && (this.diskStart === 0 || this.diskStart === startBlock)) return;
      await this.failOnError(async () => {
        // The caller flushed its checkpoint writes; flushing again costs little and keeps
        // the rule local: nothing the old transactions protect is lost if it did not.
        await this.device.flush();
        await this.writeSuperblock(tid, startBlock);
        await this.device.flush();
      });
      this.diskStart = startBlock;
      this.space.releaseBefore(tid);
    });
  }

  /**
   * Marks the log empty on disk (s_start = 0, s_sequence = `nextTid`), as a
   * clean unmount leaves it: every committed transaction must already be
   * written home and flushed. Committing again afterwards is allowed.
   */
  async markClean(nextTid: number): Promise<void> {
    return this.exclusive('mark clean', async () => {
      this.checkUsable();
      if (nextTid !== this.next) throw new FsError('EINVAL', `the next transaction is ${this.next}, not ${nextTid}`, 'markClean');
      await this.failOnError(async () => {
        await this.device.flush();
        await this.writeSuperblock(nextTid, 0);
        await this.device.flush();
      });
      this.diskStart = 0;
      this.space.releaseAll();
    });
  }

  private async writeTransaction(tid: number, blocks: readonly LoggedBlock[], revokes: readonly number[], n: number, time: CommitTime): Promise<void> {
    const start = this.space.head;
    const crc = n > 1 ? await this.writeBody(tid, blocks, revokes, start, n - 1) : 0xffffffff;
    // The log was empty on disk: recovery must learn where it now starts before this can count.
    if (this.diskStart === 0) {
      await this.writeSuperblock(tid, start);
      this.diskStart = start;
    }
    await this.device.flush();
    await yieldPoint('journal.commit.before-commit-block');
    const commit = new Uint8Array(this.format.blockSize);
    encodeCommitBlock(this.format, commit, tid, time, crc);
    await this.journal.write(this.space.advance(start, n - 1), commit);
    await this.device.flush();
  }

  /**
   * Writes the `count` blocks before the commit block from `start`: revoke
   * blocks, then descriptors each followed by its logged copies. Returns
   * the checksum v1 crc32 over the descriptors and copies, in log order.
   */
  private async writeBody(tid: number, blocks: readonly LoggedBlock[], revokes: readonly number[], start: number, count: number): Promise<number> {
    const f = this.format;
    const out = new StagedWrites(this.journal, this.stagingFor(count));
    let pos = start;
    const slot = async (): Promise<Uint8Array> => {
      const s = await out.slot(pos);
      pos = this.space.advance(pos, 1);
      return s;
    };
    for (let i = 0; i < revokes.length; i += this.revokesPerBlock) {
      encodeRevokeBlock(f, await slot(), tid, revokes.slice(i, i + this.revokesPerBlock));
    }
    let crc = 0xffffffff;
    for (let i = 0; i < blocks.length; i += this.tagsPerDescriptor) {
      const group = blocks.slice(i, i + this.tagsPerDescriptor);
      const tags = group.map((b): BlockTag => {
        const escape = needsEscape(b.data);
        return { blockNr: b.blockNr, flags: escape ? JBD2_FLAG_ESCAPE : 0, checksum: dataBlockChecksum(f, b.data, tid, escape) };
      });
      const desc = await slot();
      encodeDescriptorBlock(f, desc, tid, tags, this.jsb.uuid);
      if (f.csumV1) crc = crc32Be(crc, desc);
      for (let k = 0; k < group.length; k++) {
        const copy = await slot();
        copy.set(group[k].data);
        // The journal magic at the start of a logged copy would read as a log block: recovery puts it back.
        if ((tags[k].flags & JBD2_FLAG_ESCAPE) !== 0) writeU32BE(copy, 0, 0);
        if (f.csumV1) crc = crc32Be(crc, copy);
      }
    }
    await out.drain();
    assert(pos === this.space.advance(start, count), 'transaction layout and size agree');
    return crc;
  }

  /** The staging buffer, grown on demand up to maxWriteBlocks. */
  private stagingFor(blocks: number): Uint8Array {
    const bs = this.format.blockSize;
    const want = Math.min(blocks, this.maxWriteBlocks) * bs;
    if (this.staging === undefined || this.staging.length < want) {
      this.staging = new Uint8Array(Math.min(Math.max(want, (this.staging?.length ?? 0) * 2), this.maxWriteBlocks * bs));
    }
    return this.staging.subarray(0, want);
  }

  private async writeSuperblock(sequence: number, start: number): Promise<void> {
    this.jsb.sequence = sequence >>> 0;
    this.jsb.start = start;
    encodeJournalSuperblock(this.jsb, this.sbBlock);
    if (journalHasCsumV2or3(this.jsb)) this.jsb.checksum = setJournalSuperblockChecksum(this.sbBlock);
    await this.journal.write(0, this.sbBlock);
  }

  /**
   * Commit times never go backwards within a log: recovery tells a damaged
   * log from stale blocks of an earlier lap by comparing commit times.
   */
  private commitTime(ms: number): CommitTime {
    const sec = Math.floor(ms / 1000);
    const nsec = Math.min(999_999_999, Math.round((ms - sec * 1000) * 1e6));
    const last = this.lastCommit;
    if (sec < last.sec || (sec === last.sec && nsec < last.nsec)) return last;
    return { sec, nsec };
  }

  private checkTransaction(tid: number, blocks: readonly LoggedBlock[], revokes: readonly number[], commitTimeMs: number): void {
    const bad = (what: string): never => {
      throw new FsError('EINVAL', `transaction ${tid}: ${what}`, 'commit');
    };
    if (tid !== this.next) bad(`the next transaction is ${this.next}`);
    if (!Number.isFinite(commitTimeMs) || commitTimeMs < 0) bad(`commit time ${commitTimeMs} is not a time`);
    const limit = maxLoggableBlock(this.format);
    const logged = new Set<number>();
    for (const b of blocks) {
      if (!Number.isSafeInteger(b.blockNr) || b.blockNr < 0 || b.blockNr > limit) bad(`block ${b.blockNr} cannot be logged in this journal`);
      if (b.data.length !== this.format.blockSize) bad(`block ${b.blockNr} has ${b.data.length} bytes, not ${this.format.blockSize}`);
      if (logged.has(b.blockNr)) bad(`block ${b.blockNr} is logged twice`);
      logged.add(b.blockNr);
    }
    const revoked = new Set<number>();
    for (const r of revokes) {
      if (!Number.isSafeInteger(r) || r < 0 || r > limit) bad(`block ${r} cannot be revoked in this journal`);
      // A revoke covers copies logged in its own transaction too: the logged copy would never be replayed.
      if (logged.has(r)) bad(`block ${r} is both logged and revoked`);
      if (revoked.has(r)) bad(`block ${r} is revoked twice`);
      revoked.add(r);
    }
  }

  private checkUsable(): void {
    if (this.failure !== undefined) {
      throw new FsError('EROFS', `the journal was aborted after an error: ${this.failure.message}`, 'commit');
    }
  }

  /** Runs I/O that changes the log; a failure aborts the log (jbd2_journal_abort). */
  private async failOnError<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      this.failure ??= e instanceof Error ? e : new Error(String(e));
      throw e;
    }
  }

  /** Runs `fn` after every operation called before it has finished. */
  private async exclusive<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const before = this.queue;
    let done!: () => void;
    this.queue = new Promise<void>((resolve) => {
      done = resolve;
    });
    try {
      await blockOn(`journal log: ${what}`, before);
      return await fn();
    } finally {
      done();
    }
  }
}

/** Sets the journal's checksum and block-number features as ext4 does at mount; only for an empty log. */
function setExt4Features(jsb: JournalSuperblock, want: Ext4JournalFeatures): void {
  jsb.featureCompat = (jsb.featureCompat & ~JBD2_FEATURE_COMPAT_CHECKSUM) >>> 0;
  let incompat = jsb.featureIncompat & ~(JBD2_FEATURE_INCOMPAT_CSUM_V2 | JBD2_FEATURE_INCOMPAT_CSUM_V3 | JBD2_FEATURE_INCOMPAT_ASYNC_COMMIT);
  if (want.metadataCsum) {
    incompat |= JBD2_FEATURE_INCOMPAT_CSUM_V3;
    jsb.checksumType = JBD2_CRC32C_CHKSUM;
  }
  if (want.is64bit) incompat |= JBD2_FEATURE_INCOMPAT_64BIT;
  jsb.featureIncompat = incompat >>> 0;
}
