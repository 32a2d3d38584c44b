/**
 * Opening what mkfs writes to: a path (a new image file, an existing file,
 * or a block device) or a BlockDevice. Decides whether the device's old
 * contents can be discarded cheaply — mke2fs discards the whole device
 * first when it can, which is what lets it skip zeroing inode tables and
 * the journal:
 *  - a file mkfs creates is all holes;
 *  - an existing file the filesystem covers entirely is truncated to
 *    nothing and extended again, the file equivalent of a discard;
 *  - anything else keeps its old bytes, so mkfs zeroes what must read as
 *    zeros (or leaves inode tables to the kernel's lazy init, as mke2fs).
 */
import { constants } from 'node:fs';
import { open, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { FsError } from '../base/errors.js';
import type { BlockDevice } from '../device/block-device.js';
import { FileDevice } from '../device/file-device.js';
import { EXT4_SUPER_MAGIC, SUPERBLOCK_OFFSET } from '../format/superblock-constants.js';
import type { MkfsOptions } from './options.js';

export interface OpenedTarget {
  device: BlockDevice;
  /** Whether every byte of the filesystem's range already reads as zero. */
  zeroed: boolean;
  /** Close the device when done (mkfs opened it). */
  owned: boolean;
  /** The file was created by mkfs (removed again if mkfs fails). */
  created: string | undefined;
}

/** s_magic sits 56 bytes into the superblock. */
const MAGIC_OFFSET = SUPERBLOCK_OFFSET + 0x38;

/** Whether the device already holds an ext2/3/4 superblock. */
export async function holdsExtFilesystem(device: BlockDevice): Promise<boolean> {
  if (device.size < MAGIC_OFFSET + 2) return false;
  const b = await device.read(MAGIC_OFFSET, 2);
  return (b[0] | (b[1] << 8)) === EXT4_SUPER_MAGIC;
}

/** The loop device whose backing file is `file`, if any (mkfs under a mounted image would corrupt it). */
async function loopDeviceBackedBy(file: string): Promise<string | undefined> {
  let names: string[];
  try {
    names = await readdir('/sys/block');
  } catch {
    return undefined;
  }
  const target = await realpath(file);
  for (const name of names.filter((n) => n.startsWith('loop'))) {
    try {
      const backing = (await readFile(`/sys/block/${name}/loop/backing_file`, 'utf8')).trim();
      if (backing === target) return `/dev/${name}`;
    } catch {
      // Not attached, or not a loop device with a backing file.
    }
  }
  return undefined;
}

async function refuseExisting(device: BlockDevice, what: string, options: MkfsOptions): Promise<void> {
  if (options.force !== true && (await holdsExtFilesystem(device))) {
    throw new FsError('EEXIST', `${what} already contains an ext2/ext3/ext4 filesystem (use force to overwrite it)`, 'mkfs');
  }
}

async function createImage(path: string, size: number): Promise<void> {
  const fh = await open(path, constants.O_CREAT | constants.O_EXCL | constants.O_RDWR, 0o666);
  try {
    await fh.truncate(size);
  } finally {
    await fh.close();
  }
}

/**
 * Opens (or creates) the target. `check` is called with the device size
 * mkfs will see before anything on the target changes, so a request that
 * cannot succeed (a file too small for a filesystem) never destroys what
 * was there.
 */
export async function openTarget(target: string | BlockDevice, options: MkfsOptions, check: (deviceBytes: number) => void): Promise<OpenedTarget> {
  if (typeof target !== 'string') {
    if (target.readOnly) throw new FsError('EROFS', 'the device is read-only', 'mkfs');
    await refuseExisting(target, 'the device', options);
    return { device: target, zeroed: options.assumeZeroed === true, owned: false, created: undefined };
  }
  const st = await stat(target).catch((e: unknown) => {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  });
  if (st === undefined) {
    if (options.size === undefined) throw new FsError('ENOENT', 'the file does not exist and no size was given', 'mkfs', target);
    check(options.size);
    await createImage(target, options.size);
    return { device: await FileDevice.open(target), zeroed: true, owned: true, created: target };
  }
  if (st.isBlockDevice()) {
    const device = await FileDevice.open(target);
    try {
      await refuseExisting(device, target, options);
    } catch (e) {
      await device.close();
      throw e;
    }
    return { device, zeroed: options.assumeZeroed === true, owned: true, created: undefined };
  }
  if (!st.isFile()) throw new FsError('EINVAL', 'not a regular file or block device', 'mkfs', target);
  const loop = await loopDeviceBackedBy(target);
  if (loop !== undefined) throw new FsError('EBUSY', `the image is in use as ${loop}`, 'mkfs', target);
  let device = await FileDevice.open(target);
  try {
    await refuseExisting(device, target, options);
    const fsBytes = options.size ?? st.size;
    check(Math.max(fsBytes, st.size));
    if (fsBytes < st.size) return { device, zeroed: options.assumeZeroed === true, owned: true, created: undefined };
  } catch (e) {
    await device.close();
    throw e;
  }
  // The filesystem covers the whole file: discard its old contents by truncating it away.
  await device.close();
  const fh = await open(target, 'r+');
  try {
    await fh.truncate(0);
    await fh.truncate(options.size ?? st.size);
  } finally {
    await fh.close();
  }
  device = await FileDevice.open(target);
  return { device, zeroed: true, owned: true, created: undefined };
}
