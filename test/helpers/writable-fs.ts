/**
 * A writable mount of an image below the vfs layer, for tests of the write
 * path's lower layers (allocation, extent trees, directories, xattrs): the
 * superblock state, a Journal without an on-disk log (changes go home at
 * each commit, as on a filesystem without a journal), and the inode table.
 * `close()` commits, writes everything home and closes the image, after
 * which the test runs e2fsck on it.
 */
import { FileDevice } from '../../src/device/file-device.js';
import { Ext4Super } from '../../src/super/ext4-super.js';
import { Journal } from '../../src/journal/transaction.js';
import { realClock } from '../../src/base/clock.js';
import { InodeTable } from '../../src/inode/inode-table.js';

export interface WritableFs {
  fs: Ext4Super;
  journal: Journal;
  inodes: InodeTable;
  close(): Promise<void>;
}

export async function openWritableFs(img: string, cacheBytes = 64 << 20): Promise<WritableFs> {
  const dev = await FileDevice.open(img);
  const fs = await Ext4Super.mount(dev, { readOnly: false, cacheBytes });
  const journal = new Journal(fs.cache, undefined, { clock: realClock });
  fs.journal = journal;
  return {
    fs,
    journal,
    inodes: new InodeTable(fs),
    async close() {
      await journal.shutdown();
      await dev.close();
    },
  };
}
