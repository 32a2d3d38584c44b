/**
 * The lowest layer: a byte-addressed device of fixed size. It knows nothing
 * about ext4. Every implementation refuses requests that reach outside the
 * device, so no bug or crafted image above can make ext4kit write (or read)
 * past its end.
 */
import { FsError } from '../base/errors.js';

export interface BlockDevice {
  /** Size in bytes. */
  readonly size: number;
  readonly readOnly: boolean;
  /** Reads `length` bytes at `offset` into a new buffer. */
  read(offset: number, length: number): Promise<Buffer>;
  /** Reads `target.length` bytes at `offset` into `target` (no allocation). */
  readInto(offset: number, target: Uint8Array): Promise<void>;
  /**
   * The same, synchronously, on devices that can serve a read without
   * waiting (a file or block device through pread, memory). Absent on those
   * that cannot; callers then use `readInto`.
   */
  readonly readIntoSync?: (offset: number, target: Uint8Array) => void;
  /**
   * Where the device's bytes lie when they are nothing but a host file's
   * bytes: device offset `o` is byte `position + o` of the open file `fd`.
   * It lets a reader hand "copy these bytes" to another thread of the
   * process (which shares the fd) instead of the bytes themselves. Absent
   * when reads may be served from anything else (memory, replayed journal
   * blocks laid over the file). The fd lives until `close()`.
   */
  readonly hostFile?: HostFileRange;
  write(offset: number, data: Uint8Array): Promise<void>;
  /** Makes every completed write durable. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface HostFileRange { readonly fd: number; readonly position: number }

/** Throws EIO unless [offset, offset+length) lies inside a device of `size` bytes. */
export function checkRange(size: number, offset: number, length: number, op: 'read' | 'write'): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new FsError('EIO', `${op} of ${length} bytes at offset ${offset} is outside the device (${size} bytes)`, op);
  }
}

export function checkWritable(dev: BlockDevice): void {
  if (dev.readOnly) throw new FsError('EROFS', 'device is read-only', 'write');
}
