/**
 * `openVolume`: the entry point. Opens a file, block device or BlockDevice,
 * mounts the ext4 filesystem on it and returns a `Volume` whose `promises`
 * behaves like `node:fs/promises`.
 */
import type { BlockDevice } from '../device/block-device.js';
import { FileDevice } from '../device/file-device.js';
import { OffsetDevice, ReadOnlyDevice } from '../device/wrappers.js';
import { FsError } from '../base/errors.js';
import { Ext4Super } from '../super/ext4-super.js';
import { OverlayDevice } from '../device/overlay-device.js';
import { featureNames } from '../format/features.js';
import { volumeLabel, lastMountedPath, uuidString, STATE_VALID_FS, STATE_ERROR_FS } from '../format/superblock.js';
import { recoverToDisk, replayJournal } from './journal-open.js';
import { Mounted } from './mounted.js';
import { Ext4Promises } from './promises.js';
import type { OpenVolumeOptions, Volume, VolumeInfo } from './types.js';
import { Journal } from '../journal/transaction.js';
import { openLogWriter } from './journal-log.js';
import { realClock, type Clock } from '../base/clock.js';
import { markCleanUnmount, markMountedWritable, type MountedState } from '../super/mount-state.js';
import { Orphans } from '../inode/orphan.js';
import { evictInode, finishTruncate, zeroBlockTail } from '../inode/truncate.js';
import { INCOMPAT_MMP, INCOMPAT_EA_INODE } from '../format/features.js';

const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;

const CREATOR_OS = ['Linux', 'Hurd', 'Masix', 'FreeBSD', 'Lites'];

class Ext4Volume implements Volume {
  readonly promises: Ext4Promises;
  readonly readOnly: boolean;
  private closed = false;
  /** Superblock state found by a writable open, restored at close. */
  mountedState: MountedState | undefined;

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

  /** Makes every change so far durable (commits the journal and flushes the device). */
  async sync(): Promise<void> {
    if (this.closed) throw new FsError('EBADF', 'volume is closed', 'sync');
    const journal = this.m.fs.journal;
    if (journal === undefined) return;
    await journal.commit();
    await this.device.flush();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      for (const h of this.promises.openHandles()) await h.close();
      const journal = this.m.fs.journal;
      if (journal !== undefined && !journal.aborted && this.mountedState !== undefined) {
        // Everything home, the log empty, then the superblock says clean.
        await journal.shutdown();
        await markCleanUnmount(this.m.fs, this.mountedState, this.m.clock.now(), !this.m.orphans.empty);
      }
      if (journal === undefined || !journal.aborted) this.m.fs.cache.clear();
    } finally {
      if (this.ownsDevice) await this.device.close();
    }
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
 * or a BlockDevice. Writable unless `readOnly` is set.
 */
export async function openVolume(target: string | BlockDevice, options: OpenVolumeOptions = {}): Promise<Volume> {
  const readOnly = options.readOnly ?? false;
  const owns = typeof target === 'string';
  let device: BlockDevice = typeof target === 'string' ? await FileDevice.open(target, { readOnly, syncIoMax: options.syncIoMax }) : target;
  try {
    if (options.offset !== undefined || options.length !== undefined) {
      device = new OffsetDevice(device, options.offset ?? 0, options.length);
    }
    const cacheBytes = options.cacheBytes ?? DEFAULT_CACHE_BYTES;
    if (!readOnly) return await openWritable(device, owns, cacheBytes, options.clock ?? realClock);
    device = new ReadOnlyDevice(device);
    const fs = await mountReplayed(device, cacheBytes);
    return new Ext4Volume(new Mounted(fs, cacheBytes), device, owns);
  } catch (e) {
    if (owns) await device.close();
    if (e instanceof FsError && typeof target === 'string') e.withContext('open', target);
    throw e;
  }
}

/** Incompat / ro_compat features whose on-disk structures the write path does not maintain. */
const NOT_WRITABLE: ReadonlyArray<[number, 'incompat' | 'ro_compat', string]> = [
  [INCOMPAT_MMP, 'incompat', 'mmp'],
  [INCOMPAT_EA_INODE, 'incompat', 'ea_inode'],
];

/**
 * A writable mount (Linux: ext4_fill_super + ext4_setup_super for a rw
 * mount): refuse what cannot be written, set up the journal, record the
 * mount in the superblock, then finish any orphans a crash left.
 */
async function openWritable(device: BlockDevice, owns: boolean, cacheBytes: number, clock: Clock): Promise<Ext4Volume> {
  if (device.readOnly) throw new FsError('EROFS', 'the device is read-only', 'open');
  // A crash left committed transactions in the journal: write them home first (as Linux's mount and e2fsck do).
  const probe = await Ext4Super.mount(device, { readOnly: true, cacheBytes, recover: 'before-replay' });
  if (probe.needsRecovery) await recoverToDisk(device, cacheBytes);
  const fs = await Ext4Super.mount(device, { readOnly: false, cacheBytes });
  const refused = NOT_WRITABLE.filter(([bit, kind]) => ((kind === 'incompat' ? fs.sb.featureIncompat : fs.sb.featureRoCompat) & bit) !== 0);
  if (fs.readOnly || refused.length > 0) {
    const names = refused.length > 0 ? refused.map(([, , n]) => n).join(', ') : 'ro_compat ' + featureNames(fs.sb).join(', ');
    throw new FsError('EROFS', `ext4kit can only read this filesystem (features it cannot write: ${names}); open with { readOnly: true }`, 'open');
  }
  fs.journal = new Journal(fs.cache, await openLogWriter(fs), { clock });
  const m = new Mounted(fs, cacheBytes, clock);
  const vol = new Ext4Volume(m, device, owns);
  vol.mountedState = await markMountedWritable(fs, clock.now());
  m.orphans = await Orphans.load(fs, m.inodes);
  await finishOrphans(m);
  return vol;
}

/**
 * Orphans a crash left (Linux: ext4_orphan_cleanup): an inode with no links
 * is freed; a linked one was being truncated, so its blocks past i_size go.
 */
async function finishOrphans(m: Mounted): Promise<void> {
  for (const ino of m.orphans.found) {
    const inode = await m.inodes.getOrphan(ino);
    await inode.rwsem.withExclusive(async () => {
      if (inode.disk.linksCount === 0) await evictInode(m, inode);
      else {
        // The size is committed: the bytes past it in its last block may be zeroed now.
        await zeroBlockTail(m, inode, inode.size);
        await finishTruncate(m, inode);
      }
    });
  }
  m.orphans.found.length = 0;
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
