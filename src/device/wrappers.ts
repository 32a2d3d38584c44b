import { checkRange, checkWritable, type BlockDevice, type HostFileRange } from './block-device.js';
import { FsError } from '../base/errors.js';

/** Presents a device as read-only: every write fails with EROFS. */
export class ReadOnlyDevice implements BlockDevice {
  readonly readOnly = true;
  readonly readIntoSync?: (offset: number, target: Uint8Array) => void;
  constructor(private readonly inner: BlockDevice) {
    const sync = inner.readIntoSync;
    if (sync !== undefined) this.readIntoSync = (offset, target) => sync(offset, target);
  }
  get size(): number { return this.inner.size; }
  get hostFile(): HostFileRange | undefined { return this.inner.hostFile; }
  read(offset: number, length: number): Promise<Buffer> { return this.inner.read(offset, length); }
  readInto(offset: number, target: Uint8Array): Promise<void> { return this.inner.readInto(offset, target); }
  async write(): Promise<void> { checkWritable(this); }
  async flush(): Promise<void> {}
  close(): Promise<void> { return this.inner.close(); }
}

/**
 * A window [offset, offset+length) of another device: a partition inside a
 * whole-disk image. Requests are checked against the window, so nothing
 * above can touch bytes outside the partition.
 */
export class OffsetDevice implements BlockDevice {
  readonly size: number;
  readonly readIntoSync?: (offset: number, target: Uint8Array) => void;
  constructor(private readonly inner: BlockDevice, private readonly offset: number, length?: number) {
    const len = length ?? inner.size - offset;
    if (!Number.isSafeInteger(offset) || offset < 0 || len < 0 || offset + len > inner.size) {
      throw new FsError('EINVAL', `partition at offset ${offset} (length ${len}) does not fit in the device (${inner.size} bytes)`, 'open');
    }
    this.size = len;
    const sync = inner.readIntoSync;
    if (sync !== undefined) {
      this.readIntoSync = (off, target) => {
        checkRange(this.size, off, target.length, 'read');
        sync(this.offset + off, target);
      };
    }
  }
  get readOnly(): boolean { return this.inner.readOnly; }
  get hostFile(): HostFileRange | undefined {
    const h = this.inner.hostFile;
    return h === undefined ? undefined : { fd: h.fd, position: h.position + this.offset };
  }
  read(offset: number, length: number): Promise<Buffer> {
    checkRange(this.size, offset, length, 'read');
    return this.inner.read(this.offset + offset, length);
  }
  readInto(offset: number, target: Uint8Array): Promise<void> {
    checkRange(this.size, offset, target.length, 'read');
    return this.inner.readInto(this.offset + offset, target);
  }
  write(offset: number, data: Uint8Array): Promise<void> {
    checkRange(this.size, offset, data.length, 'write');
    return this.inner.write(this.offset + offset, data);
  }
  flush(): Promise<void> { return this.inner.flush(); }
  close(): Promise<void> { return this.inner.close(); }
}
