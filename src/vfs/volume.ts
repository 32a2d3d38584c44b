/**
 * `openVolume`: the entry point. Opens a file, block device or BlockDevice,
 * mounts the ext4 filesystem on it and returns a `Volume` whose `promises`
 * behaves like `node:fs/promises`.
 */
import type { BlockDevice } from '../device/block-device.js';
import { FileDevice } from '../device/file-device.js';
import { OffsetDevice, ReadOnlyDevice } from '../device/wrappers.js';
import { corrupted, FsError } from '../base/errors.js';
import { Ext4Super } from '../super/ext4-super.js';
import { OverlayDevice } from '../device/overlay-device.js';
import { InodeTable } from '../inode/inode-table.js';
import { mapBlocks } from '../extent/map-blocks.js';
import { InodeJournal } from '../journal/journal-blocks.js';
import { readJournalSuperblock, recoverJournal, type RecoveryResult } from '../journal/recovery.js';
import { INCOMPAT_JOURNAL_DEV } from '../format/features.js';
import { featureNames } from '../format/features.js';
import { volumeLabel, lastMountedPath, uuidString, STATE_VALID_FS, STATE_ERROR_FS } from '../format/superblock.js';
import { Mounted } from './mounted.js';
import { Ext4Promises } from './promises.js';
import type { OpenVolumeOptions, Volume, VolumeInfo } from './types.js';

const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;

const CREATOR_OS = ['Linux', 'Hurd', 'Masix', 'FreeBSD', 'Lites'];

class Ext4Volume implements Volume {
  readonly promises: Ext4Promises;
  readonly readOnly: boolean;
  private closed = false;

  constructor(private readonly m: Mounted, private readonly device: BlockDevice, private readonly ownsDevice: boolean) {
    this.readOnly = m.fs.readOnly;
    // An own enumerable property, as `fs.promises` is on `fs`.
    this.promises = new Ext4Promises(m);
  }

  /** The engine behind the public surface, for internal fast paths (see `mountedOf`). */
  get mounted(): Mounted {
    return this.m;
  }

  info(): VolumeInfo {
    const fs = this.m.fs;
    const sb = fs.sb;
    let state = (sb.state & STATE_VALID_FS) !== 0 ? 'clean' : 'not clean';
    if ((sb.state & STATE_ERROR_FS) !== 0) state += ' with errors';
    const time = (t: number): Date | undefined => (t === 0 ? undefined : new Date(t * 1000));
    return {
      blockSize: fs.blockSize,
      blocksCount: sb.blocksCount,
      freeBlocksCount: sb.freeBlocksCount,
      reservedBlocksCount: sb.reservedBlocksCount,
      inodesCount: sb.inodesCount,
      freeInodesCount: sb.freeInodesCount,
      inodeSize: fs.inodeSize,
      groupCount: fs.groupCount,
      blocksPerGroup: sb.blocksPerGroup,
      inodesPerGroup: sb.inodesPerGroup,
      features: featureNames(sb),
      uuid: uuidString(sb.uuid),
      label: volumeLabel(sb),
      state,
      lastMountedOn: lastMountedPath(sb),
      createdTime: time(sb.mkfsTime),
      lastMountTime: time(sb.mountTime),
      lastWriteTime: time(sb.writeTime),
      mountCount: sb.mountCount,
      creatorOs: CREATOR_OS[sb.creatorOs] ?? `unknown (${sb.creatorOs})`,
      revision: sb.revLevel,
      journalInode: sb.journalInum,
      checksumType: fs.metadataCsum ? 'crc32c' : undefined,
      sizeBytes: sb.blocksCount * fs.blockSize,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const h of this.promises.openHandles()) await h.close();
    this.m.fs.cache.clear();
    if (this.ownsDevice) await this.device.close();
  }
}

/**
 * The mounted filesystem behind a volume this module opened, or undefined for
 * any other `Volume` (a stand-in, a wrapper). Internal: it lets tools inside
 * the package (vfs/tree-reader.ts) reach the engine without the path layer.
 */
export function mountedOf(volume: Volume): Mounted | undefined {
  return volume instanceof Ext4Volume ? volume.mounted : undefined;
}

/**
 * Opens an ext4 filesystem. `target` is an image file or block device path,
 * or a BlockDevice. Writing is not implemented yet, so the volume is always
 * read-only; asking for a writable one fails with ENOTSUP rather than
 * pretending.
 */
export async function openVolume(target: string | BlockDevice, options: OpenVolumeOptions = {}): Promise<Volume> {
  const readOnly = options.readOnly ?? true;
  if (!readOnly) throw new FsError('ENOTSUP', 'writable volumes are not implemented yet; open with { readOnly: true }', 'open');
  const owns = typeof target === 'string';
  let device: BlockDevice = typeof target === 'string' ? await FileDevice.open(target, { readOnly: true }) : target;
  try {
    if (options.offset !== undefined || options.length !== undefined) {
      device = new OffsetDevice(device, options.offset ?? 0, options.length);
    }
    device = new ReadOnlyDevice(device);
    const cacheBytes = options.cacheBytes ?? DEFAULT_CACHE_BYTES;
    const fs = await mountReplayed(device, cacheBytes);
    return new Ext4Volume(new Mounted(fs, cacheBytes), device, owns);
  } catch (e) {
    if (owns) await device.close();
    if (e instanceof FsError && typeof target === 'string') e.withContext('open', target);
    throw e;
  }
}

/**
 * Mounts read-only. If the journal needs recovery, replays it in memory
 * first (like Linux's read-only mount, but without writing the replay
 * home): a first mount of the on-disk state reads the journal inode, the
 * replayed blocks are laid over the device, and the filesystem is mounted
 * again through that overlay, so everything (the superblock and group
 * descriptors included, which the journal may hold newer copies of) is
 * read as it is after replay.
 */
async function mountReplayed(device: BlockDevice, cacheBytes: number): Promise<Ext4Super> {
  const before = await Ext4Super.mount(device, { readOnly: true, cacheBytes, recover: 'before-replay' });
  if (!before.needsRecovery) return before;
  const replay = await replayJournal(before);
  before.cache.clear();
  const view = replay.blocks.size === 0 ? device : new OverlayDevice(device, before.blockSize, replay.blocks);
  return Ext4Super.mount(view, { readOnly: true, cacheBytes, recover: 'replayed' });
}

/** Reads the internal journal (inode s_journal_inum) and runs jbd2's recovery over it. */
export async function replayJournal(fs: Ext4Super): Promise<RecoveryResult> {
  const sb = fs.sb;
  if (sb.journalInum === 0) {
    const what = sb.journalDev !== 0 || (sb.featureIncompat & INCOMPAT_JOURNAL_DEV) !== 0 ? 'an external journal device' : 'no journal inode';
    throw new FsError('ENOTSUP', `the journal needs recovery but it is on ${what}; ext4kit replays internal journals only`, 'mount');
  }
  const inode = await new InodeTable(fs).get(sb.journalInum);
  // As ext4_get_journal_inode insists: only a regular file can hold the log.
  if (!inode.isReg) throw corrupted('journal inode', sb.journalInum, 'is not a regular file');
  const bs = fs.blockSize;
  const journal = new InodeJournal(fs.device, bs, Math.floor(inode.size / bs), async (jblk) => {
    const m = await mapBlocks(fs, inode, jblk);
    if (m.state !== 'written') {
      throw corrupted('journal inode', sb.journalInum, `block ${jblk} of the journal is ${m.state === 'hole' ? 'a hole' : 'unwritten'}`);
    }
    return { jblk: m.lblk, pblk: m.pblk, len: m.len };
  });
  const jsb = await readJournalSuperblock(journal, bs);
  return recoverJournal(journal, jsb, { fsBlocks: sb.blocksCount });
}
