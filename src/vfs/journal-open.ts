/**
 * The journal at mount time: finding the internal journal (inode
 * s_journal_inum) and running jbd2 recovery over it, either in memory for a
 * read-only open (`replayJournal`) or to disk before a writable one
 * (`recoverToDisk`, what the kernel's ext4_load_journal and e2fsck's
 * journal replay do).
 */
import { corrupted, FsError } from '../base/errors.js';
import type { BlockDevice } from '../device/block-device.js';
import { mapBlocks } from '../extent/map-blocks.js';
import { COMPAT_HAS_JOURNAL, INCOMPAT_JOURNAL_DEV, INCOMPAT_RECOVER, RO_COMPAT_METADATA_CSUM } from '../format/features.js';
import { encodeJournalSuperblock, journalHasCsumV2or3, setJournalSuperblockChecksum } from '../format/jbd2-superblock.js';
import {
  decodeSuperblock, encodeSuperblock, setSuperblockChecksum, STATE_ERROR_FS, SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE,
} from '../format/superblock.js';
import { InodeTable } from '../inode/inode-table.js';
import { InodeJournal } from '../journal/journal-blocks.js';
import { readJournalSuperblock, recoverJournal, type RecoveryResult } from '../journal/recovery.js';
import { Ext4Super } from '../super/ext4-super.js';

/** The internal journal of a mounted filesystem, read and written through the journal inode's mapping. */
export async function openInodeJournal(fs: Ext4Super): Promise<InodeJournal> {
  const sb = fs.sb;
  if (sb.journalInum === 0) {
    const what = sb.journalDev !== 0 || (sb.featureIncompat & INCOMPAT_JOURNAL_DEV) !== 0 ? 'an external journal device' : 'no journal inode';
    throw new FsError('ENOTSUP', `the journal is on ${what}; ext4kit handles internal journals only`, 'mount');
  }
  const inode = await new InodeTable(fs).get(sb.journalInum);
  // As ext4_get_journal_inode insists: only a regular file can hold the log.
  if (!inode.isReg) throw corrupted('journal inode', sb.journalInum, 'is not a regular file');
  const bs = fs.blockSize;
  return new InodeJournal(fs.device, bs, Math.floor(inode.size / bs), async (jblk) => {
    const m = await mapBlocks(fs, inode, jblk);
    if (m.state !== 'written') {
      throw corrupted('journal inode', sb.journalInum, `block ${jblk} of the journal is ${m.state === 'hole' ? 'a hole' : 'unwritten'}`);
    }
    return { jblk: m.lblk, pblk: m.pblk, len: m.len };
  });
}

/** Reads the internal journal and runs jbd2's recovery over it (nothing is written). */
export async function replayJournal(fs: Ext4Super): Promise<RecoveryResult> {
  const journal = await openInodeJournal(fs);
  const jsb = await readJournalSuperblock(journal, fs.blockSize);
  return recoverJournal(journal, jsb, { fsBlocks: fs.sb.blocksCount });
}

/** Largest single write of replayed blocks: bounds the copy made to join a run of them. */
const MAX_HOME_WRITE_BYTES = 4 << 20;

/**
 * Before a writable open: replays the journal into the filesystem on
 * `device` and leaves it clean, in an order that makes a crash at any point
 * safe (replaying again gives the same result):
 *  1. the replayed blocks are written home (adjacent ones in one write), flush;
 *  2. the journal superblock is reset: s_start = 0 (empty), s_sequence past
 *     the last transaction (jbd2 skips the one recovery stopped at), s_errno
 *     cleared; flush;
 *  3. the superblock's needs_recovery flag is cleared, with its checksum;
 *     an error the journal recorded, or a commit block that failed its
 *     checksum and so ended the replay early, becomes the superblock's
 *     error state (as ext4 and e2fsck do); flush.
 * Does nothing when neither the superblock nor the journal asks for it. A
 * journal that holds transactions while needs_recovery is clear is emptied
 * without replay, as the kernel does (jbd2_journal_wipe).
 */
export async function recoverToDisk(device: BlockDevice, cacheBytes: number): Promise<void> {
  if (device.readOnly) throw new FsError('EROFS', 'journal recovery needs a writable device', 'mount');
  const fs = await Ext4Super.mount(device, { readOnly: true, cacheBytes, recover: 'before-replay' });
  try {
    if ((fs.sb.featureCompat & COMPAT_HAS_JOURNAL) === 0 && !fs.needsRecovery) return;
    const journal = await openInodeJournal(fs);
    const jsb = await readJournalSuperblock(journal, fs.blockSize);
    const replay = fs.needsRecovery || jsb.start !== 0;
    if (!replay && jsb.errno === 0) return;
    let failedCommit = false;
    if (replay) {
      const result = await recoverJournal(journal, jsb, { fsBlocks: fs.sb.blocksCount });
      if (fs.needsRecovery) {
        await writeHome(device, fs.blockSize, result.blocks);
        await device.flush();
        failedCommit = result.failedCommit !== undefined;
      }
      jsb.start = 0;
      jsb.sequence = result.nextSequence;
    }
    // A damaged commit block cut the replay short: like e2fsck, flag the filesystem for a full check.
    const error = jsb.errno !== 0 || failedCommit;
    jsb.errno = 0;
    const block0 = await journal.read(0);
    encodeJournalSuperblock(jsb, block0);
    if (journalHasCsumV2or3(jsb)) setJournalSuperblockChecksum(block0);
    await journal.write(0, block0);
    await device.flush();

    // The superblock may itself have been replayed: read what is on disk now.
    const raw = await device.read(SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE);
    const sb = decodeSuperblock(raw);
    sb.featureIncompat = (sb.featureIncompat & ~INCOMPAT_RECOVER) >>> 0;
    if (error) sb.state |= STATE_ERROR_FS;
    encodeSuperblock(sb, raw);
    if ((sb.featureRoCompat & RO_COMPAT_METADATA_CSUM) !== 0) setSuperblockChecksum(raw);
    await device.write(SUPERBLOCK_OFFSET, raw);
    await device.flush();
  } finally {
    fs.cache.clear();
  }
}

/** Writes `blocks` to their home locations, runs of adjacent block numbers in one write each. */
async function writeHome(device: BlockDevice, blockSize: number, blocks: ReadonlyMap<number, Uint8Array>): Promise<void> {
  const sorted = [...blocks].sort((a, b) => a[0] - b[0]);
  const maxRun = Math.max(1, Math.floor(MAX_HOME_WRITE_BYTES / blockSize));
  let buf: Uint8Array | undefined;
  for (let i = 0; i < sorted.length;) {
    let j = i + 1;
    while (j < sorted.length && j - i < maxRun && sorted[j][0] === sorted[j - 1][0] + 1) j++;
    const [first, data] = sorted[i];
    if (j - i === 1) {
      await device.write(first * blockSize, data);
    } else {
      buf ??= new Uint8Array(maxRun * blockSize);
      for (let k = i; k < j; k++) buf.set(sorted[k][1], (k - i) * blockSize);
      await device.write(first * blockSize, buf.subarray(0, (j - i) * blockSize));
    }
    i = j;
  }
}
