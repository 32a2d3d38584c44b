/**
 * A writable filesystem for tests of the layers below the vfs: the mounted
 * superblock state with a journal that writes straight home (no on-disk log;
 * the image's own journal, if any, is left alone), and an inode table.
 * `close` commits, checkpoints and closes the device, after which the image
 * is ready for e2fsck, debugfs or a loop mount.
 */
import { FileDevice } from '../../src/device/file-device.js';
import { Ext4Super } from '../../src/super/ext4-super.js';
import { Journal } from '../../src/journal/transaction.js';
import { InodeTable } from '../../src/inode/inode-table.js';
import { realClock } from '../../src/base/clock.js';
import type { Ext4Inode } from '../../src/inode/ext4-inode.js';
import type { Timestamp } from '../../src/format/inode.js';
import { debugfs, parseStat } from './debugfs.js';

export interface RwFs {
  fs: Ext4Super;
  journal: Journal;
  inodes: InodeTable;
  /** Inode `ino`, read through the inode table. */
  inode(ino: number): Promise<Ext4Inode>;
  /** Commits everything, writes it home and closes the device (safe to call twice). */
  close(): Promise<void>;
}

export async function openRw(img: string, cacheBytes = 8 << 20): Promise<RwFs> {
  const device = await FileDevice.open(img);
  let fs: Ext4Super;
  try {
    fs = await Ext4Super.mount(device, { readOnly: false, cacheBytes });
  } catch (e) {
    await device.close();
    throw e;
  }
  const journal = new Journal(fs.cache, undefined, { clock: realClock });
  fs.journal = journal;
  const inodes = new InodeTable(fs);
  let closed = false;
  return {
    fs, journal, inodes,
    inode: (ino) => inodes.get(ino),
    close: async () => {
      if (closed) return;
      closed = true;
      try {
        await journal.shutdown();
      } finally {
        await device.close();
      }
    },
  };
}

/** The inode number of `path` in `img`, as debugfs resolves it. */
export async function inoOf(img: string, path: string): Promise<number> {
  return parseStat(await debugfs(img, `stat ${path}`)).ino;
}

/** A fixed time for tests that must stamp one. */
export function testTime(sec = 1_700_000_000): Timestamp {
  return { sec, nsec: 0 };
}
