import { open, readFile, type FileHandle } from 'node:fs/promises';
import { checkRange, checkWritable, type BlockDevice } from './block-device.js';
import { FsError } from '../base/errors.js';

export interface FileDeviceOptions {
  readOnly?: boolean;
}

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
  ) {}

  static async open(path: string, options: FileDeviceOptions = {}): Promise<FileDevice> {
    const readOnly = options.readOnly ?? false;
    const fh = await open(path, readOnly ? 'r' : 'r+');
    try {
      const st = await fh.stat();
      let size = st.size;
      if (st.isBlockDevice()) size = await blockDeviceSize(st.rdev);
      else if (!st.isFile()) throw new FsError('EINVAL', 'not a regular file or block device', 'open', path);
      return new FileDevice(fh, size, readOnly, path);
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

  async readInto(offset: number, target: Uint8Array): Promise<void> {
    checkRange(this.size, offset, target.length, 'read');
    let done = 0;
    while (done < target.length) {
      const { bytesRead } = await this.fh.read(target, done, target.length - done, offset + done);
      if (bytesRead === 0) throw new FsError('EIO', `short read at offset ${offset + done}`, 'read', this.path);
      done += bytesRead;
    }
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    checkWritable(this);
    checkRange(this.size, offset, data.length, 'write');
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.fh.write(data, done, data.length - done, offset + done);
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
