import { readSync, writeSync } from 'node:fs';
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { checkRange, checkWritable, type BlockDevice, type HostFileRange } from './block-device.js';
import { FsError } from '../base/errors.js';

export interface FileDeviceOptions {
  readOnly?: boolean;
  /**
   * Requests up to this many bytes are done with synchronous positional
   * I/O (default 128 KiB; 0 makes every request asynchronous).
   */
  syncIoMax?: number;
}

/**
 * Why small requests are synchronous: a 4 KiB read served from the page
 * cache costs about 1 us with pread(2) on the main thread and 15-30 us as a
 * libuv thread-pool round trip, and metadata-heavy work (walking 10,000
 * inodes and directory blocks) is made of such reads. A small request blocks
 * the event loop for at most one device access, as a buffer-cache hit or miss
 * does in the kernel; large data transfers stay asynchronous so they never
 * hold the loop for long.
 */
const DEFAULT_SYNC_IO_MAX = 128 * 1024;

/**
 * A device backed by an image file or a block device node, using positional
 * reads and writes so concurrent requests never share a file offset.
 */
export class FileDevice implements BlockDevice {
  private constructor(
    private readonly fh: FileHandle,
    readonly size: number,
    readonly readOnly: boolean,
    readonly path: string,
    private readonly syncIoMax: number,
  ) {
    this.hostFile = { fd: fh.fd, position: 0 };
  }

  readonly hostFile: HostFileRange;

  static async open(path: string, options: FileDeviceOptions = {}): Promise<FileDevice> {
    const readOnly = options.readOnly ?? false;
    const fh = await open(path, readOnly ? 'r' : 'r+');
    try {
      const st = await fh.stat();
      let size = st.size;
      if (st.isBlockDevice()) size = await blockDeviceSize(st.rdev);
      else if (!st.isFile()) throw new FsError('EINVAL', 'not a regular file or block device', 'open', path);
      return new FileDevice(fh, size, readOnly, path, options.syncIoMax ?? DEFAULT_SYNC_IO_MAX);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(length);
    await this.readInto(offset, buf);
    return buf;
  }

  readonly readIntoSync = (offset: number, target: Uint8Array): void => {
    checkRange(this.size, offset, target.length, 'read');
    let done = 0;
    while (done < target.length) {
      const bytesRead = readSync(this.fh.fd, target, done, target.length - done, offset + done);
      if (bytesRead === 0) throw new FsError('EIO', `short read at offset ${offset + done}`, 'read', this.path);
      done += bytesRead;
    }
  };

  async readInto(offset: number, target: Uint8Array): Promise<void> {
    checkRange(this.size, offset, target.length, 'read');
    let done = 0;
    const sync = target.length <= this.syncIoMax;
    while (done < target.length) {
      const bytesRead = sync
        ? readSync(this.fh.fd, target, done, target.length - done, offset + done)
        : (await this.fh.read(target, done, target.length - done, offset + done)).bytesRead;
      if (bytesRead === 0) throw new FsError('EIO', `short read at offset ${offset + done}`, 'read', this.path);
      done += bytesRead;
    }
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    checkWritable(this);
    checkRange(this.size, offset, data.length, 'write');
    let done = 0;
    const sync = data.length <= this.syncIoMax;
    while (done < data.length) {
      const bytesWritten = sync
        ? writeSync(this.fh.fd, data, done, data.length - done, offset + done)
        : (await this.fh.write(data, done, data.length - done, offset + done)).bytesWritten;
      done += bytesWritten;
    }
  }

  async flush(): Promise<void> {
    if (!this.readOnly) await this.fh.datasync();
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

/** Linux reports a block device's size in 512-byte sectors under /sys. */
async function blockDeviceSize(rdev: number): Promise<number> {
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | ((Math.floor(rdev / 0x100000) & 0xfff00));
  const text = await readFile(`/sys/dev/block/${major}:${minor}/size`, 'utf8');
  return Number(text.trim()) * 512;
}
