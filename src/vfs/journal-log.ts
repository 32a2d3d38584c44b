/**
 * The on-disk log of a writable volume: the journal inode's JournalLog,
 * presented to the transaction layer as its LogWriter. The journal takes the
 * features ext4 sets at mount (checksum v3 with metadata_csum, 64-bit block
 * numbers with 64bit), as Linux does on its first writable mount of a fresh
 * mkfs image.
 */
import type { Ext4Super } from '../super/ext4-super.js';
import type { LogWriter, LoggedBlock } from '../journal/transaction.js';
import { JournalLog } from '../journal/log-writer.js';
import { COMPAT_HAS_JOURNAL, INCOMPAT_64BIT } from '../format/features.js';
import { openInodeJournal } from './journal-open.js';

class InodeLogWriter implements LogWriter {
  constructor(private readonly log: JournalLog) {}
  blocksNeeded(blocks: number, revokes: number): number { return this.log.blocksNeeded(blocks, revokes); }
  get freeBlocks(): number { return this.log.freeBlocks; }
  get maxTransactionBlocks(): number { return this.log.maxTransactionBlocks; }
  async commit(blocks: readonly LoggedBlock[], revokes: readonly number[], commitTimeMs: number): Promise<void> {
    await this.log.commit(this.log.nextTid, blocks, revokes, commitTimeMs);
  }
  releaseAll(): Promise<void> { return this.log.advanceTail(this.log.nextTid, this.log.head); }
  markClean(): Promise<void> { return this.log.markClean(this.log.nextTid); }
}

/** The filesystem's journal as a LogWriter; undefined without has_journal. */
export async function openLogWriter(fs: Ext4Super): Promise<LogWriter | undefined> {
  if ((fs.sb.featureCompat & COMPAT_HAS_JOURNAL) === 0) return undefined;
  const journal = await openInodeJournal(fs);
  const log = await JournalLog.open(journal, fs.device, {
    features: { metadataCsum: fs.metadataCsum, is64bit: (fs.sb.featureIncompat & INCOMPAT_64BIT) !== 0 },
  });
  return new InodeLogWriter(log);
}
