/**
 * An open file of a volume, shaped like `fs.promises.FileHandle`. Reads go
 * through the iomap read path; the handle keeps its own file position for
 * reads with `position` null, as an OS file descriptor does.
 */
import { Readable, Writable } from 'node:stream';
import { FsError } from '../base/errors.js';
import type { Ext4Inode } from '../inode/ext4-inode.js';
import type { Mounted } from './mounted.js';
import { Ext4BigIntStats, Ext4Stats } from './stats.js';
import type { BigIntStats, FileHandle, ReadResult, ReadStreamOptions, Stats, StatOptions, WriteResult, WriteStreamOptions } from './types.js';
import { readData, releaseInode, truncateTo, writeAt } from './file-io.js';
import { setAttributes, toTimestamp } from '../inode/setattr.js';
import { journalOf } from '../inode/inode-context.js';

import { O_ACCMODE, O_APPEND, O_DSYNC, O_RDONLY, O_SYNC, O_WRONLY } from './open-flags.js';

let nextFd = 3;

/** Node refuses to read a file into one buffer beyond 2 GiB (ERR_FS_FILE_TOO_LARGE); so do we. */
export function checkReadFileSize(size: number): void {
  if (size > 2 ** 31 - 1) {
    throw Object.assign(new RangeError(`File size (${size}) is greater than 2 GiB`), { code: 'ERR_FS_FILE_TOO_LARGE' });
  }
}

type ReadOptions = { buffer?: Uint8Array; offset?: number; length?: number; position?: number | bigint | null };

export class Ext4FileHandle implements FileHandle {
  readonly fd = nextFd++;
  private position = 0;
  private closed = false;

  constructor(
    private readonly m: Mounted,
    private readonly inode: Ext4Inode,
    private readonly path: string,
    private readonly onClose: (h: Ext4FileHandle) => void,
    /** The open(2) flags (access mode, O_APPEND, O_SYNC). */
    private readonly flags = O_RDONLY,
  ) {
    inode.refCount++;
  }

  private check(syscall: string): void {
    if (this.closed) throw new FsError('EBADF', undefined, syscall);
  }

  private checkReadable(syscall: string): void {
    this.check(syscall);
    if ((this.flags & O_ACCMODE) === O_WRONLY) throw new FsError('EBADF', undefined, syscall);
  }

  private checkWritable(syscall: string): void {
    this.check(syscall);
    if ((this.flags & O_ACCMODE) === O_RDONLY) throw new FsError('EBADF', undefined, syscall);
  }

  read(buffer: Uint8Array, offset?: number, length?: number, position?: number | bigint | null): Promise<ReadResult>;
  read(options?: ReadOptions): Promise<ReadResult>;
  async read(a?: Uint8Array | ReadOptions, offset?: number, length?: number, position?: number | bigint | null): Promise<ReadResult> {
    this.checkReadable('read');
    let buffer: Uint8Array;
    if (a instanceof Uint8Array) {
      buffer = a;
    } else {
      const o = a ?? {};
      buffer = o.buffer ?? Buffer.alloc(16384);
      offset = o.offset;
      length = o.length;
      position = o.position;
    }
    const off = offset ?? 0;
    const len = length ?? buffer.byteLength - off;
    if (off < 0 || len < 0 || off + len > buffer.byteLength) {
      throw Object.assign(new RangeError(`The value of "length" is out of range. Received ${len}`), { code: 'ERR_OUT_OF_RANGE' });
    }
    if (this.inode.isDir) throw new FsError('EISDIR', undefined, 'read');
    const usePos = position === null || position === undefined || position === -1 || position === -1n;
    const pos = usePos ? this.position : Number(position);
    const n = await readData(this.m, this.inode, pos, buffer, off, len);
    if (usePos) this.position += n;
    return { bytesRead: n, buffer };
  }

  async readFile(options?: { encoding?: BufferEncoding | null } | BufferEncoding | null): Promise<Buffer | string> {
    this.checkReadable('read');
    if (this.inode.isDir) throw new FsError('EISDIR', undefined, 'read');
    const encoding = typeof options === 'string' ? options : options?.encoding ?? null;
    // Like Node, readFile on a handle reads from the current position to the end.
    const start = this.position;
    const size = Math.max(0, this.inode.size - start);
    checkReadFileSize(size);
    const buf = Buffer.allocUnsafe(size);
    const n = await readData(this.m, this.inode, start, buf, 0, size);
    this.position += n;
    const out = n === size ? buf : buf.subarray(0, n);
    return encoding ? out.toString(encoding) : out;
  }

  stat(options?: StatOptions & { bigint?: false }): Promise<Stats>;
  stat(options: StatOptions & { bigint: true }): Promise<BigIntStats>;
  async stat(options?: StatOptions): Promise<Stats | BigIntStats> {
    this.check('fstat');
    return options?.bigint ? new Ext4BigIntStats(this.m, this.inode) : new Ext4Stats(this.m, this.inode);
  }

  createReadStream(options: ReadStreamOptions = {}): Readable {
    const chunk = options.highWaterMark ?? 64 * 1024;
    const start = options.start ?? 0;
    const endIncl = options.end ?? Infinity;
    const m = this.m;
    const inode = this.inode;
    const check = (): void => this.check('read');
    async function* chunks(): AsyncGenerator<Buffer> {
      check();
      if (inode.isDir) throw new FsError('EISDIR', undefined, 'read');
      let pos = start;
      const end = Math.min(inode.size, endIncl + 1);
      while (pos < end) {
        const want = Math.min(chunk, end - pos);
        const buf = Buffer.allocUnsafe(want);
        const n = await readData(m, inode, pos, buf, 0, want);
        if (n === 0) break;
        pos += n;
        yield n === want ? buf : buf.subarray(0, n);
      }
    }
    return Readable.from(chunks(), { objectMode: false, highWaterMark: chunk });
  }

  async dataRanges(): Promise<Array<{ start: number; end: number }>> {
    this.check('lseek');
    if (this.inode.isDir) throw new FsError('EISDIR', undefined, 'lseek');
    return this.m.reader.dataRanges(this.inode);
  }

  write(buffer: Uint8Array, offset?: number, length?: number, position?: number | null): Promise<WriteResult<Uint8Array>>;
  write(data: string, position?: number | null, encoding?: BufferEncoding): Promise<WriteResult<string>>;
  async write(data: Uint8Array | string, a?: number | null, b?: number | BufferEncoding, c?: number | null): Promise<WriteResult<Uint8Array | string>> {
    this.checkWritable('write');
    let bytes: Uint8Array;
    let position: number | null | undefined;
    if (typeof data === 'string') {
      bytes = Buffer.from(data, typeof b === 'string' ? b : 'utf8');
      position = a;
    } else {
      const off = a ?? 0;
      const len = typeof b === 'number' ? b : data.byteLength - off;
      if (off < 0 || len < 0 || off + len > data.byteLength) {
        throw Object.assign(new RangeError(`The value of "length" is out of range. Received ${len}`), { code: 'ERR_OUT_OF_RANGE' });
      }
      bytes = data.subarray(off, off + len);
      position = c;
    }
    const n = await this.writeBytes(bytes, position);
    return { bytesWritten: n, buffer: data };
  }

  async writev(buffers: Uint8Array[], position?: number | null): Promise<{ bytesWritten: number; buffers: Uint8Array[] }> {
    this.checkWritable('write');
    const n = await this.writeBytes(Buffer.concat(buffers), position);
    return { bytesWritten: n, buffers };
  }

  /** Writes at `position`, or at the handle's position (or the end, with O_APPEND) when null. */
  private async writeBytes(bytes: Uint8Array, position: number | null | undefined): Promise<number> {
    const usePos = position === null || position === undefined || position === -1;
    // Linux ignores the offset of pwrite on an O_APPEND file: data always goes to the end.
    const append = (this.flags & O_APPEND) !== 0;
    const r = await writeAt(this.m, this.inode, append ? 'append' : usePos ? this.position : position, bytes);
    if (usePos) this.position = r.end;
    if ((this.flags & (O_SYNC | O_DSYNC)) !== 0) await this.flushToDisk();
    return r.written;
  }

  async writeFile(data: Uint8Array | string, options?: { encoding?: BufferEncoding | null } | BufferEncoding | null): Promise<void> {
    this.checkWritable('write');
    const encoding = typeof options === 'string' ? options : options?.encoding ?? 'utf8';
    const bytes = typeof data === 'string' ? Buffer.from(data, encoding ?? 'utf8') : data;
    // Like Node: from the current position (the end with O_APPEND), all of it or an error.
    await this.writeEverything(bytes, null);
  }

  /** Writes all of `bytes` (write(2) may take only part when the disk fills up; the rest then fails with ENOSPC). */
  private async writeEverything(bytes: Uint8Array, position: number | null): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      done += await this.writeBytes(bytes.subarray(done), position === null ? null : position + done);
    }
  }

  async appendFile(data: Uint8Array | string, options?: { encoding?: BufferEncoding | null } | BufferEncoding | null): Promise<void> {
    await this.writeFile(data, options);
  }

  async truncate(len = 0): Promise<void> {
    this.check('ftruncate');
    // Linux's ftruncate answers a descriptor not open for writing with EINVAL, not EBADF.
    if ((this.flags & O_ACCMODE) === O_RDONLY) throw new FsError('EINVAL', undefined, 'ftruncate');
    await truncateTo(this.m, this.inode, len);
  }

  async sync(): Promise<void> {
    this.check('fsync');
    await this.flushToDisk();
  }

  async datasync(): Promise<void> {
    this.check('fdatasync');
    await this.flushToDisk();
  }

  /** fsync: the data is already on the device; commit the transaction holding its metadata and flush. */
  private async flushToDisk(): Promise<void> {
    if (!this.m.writable) return;
    await journalOf(this.m).commit();
    await this.m.fs.device.flush();
  }

  async chmod(mode: number): Promise<void> {
    this.check('fchmod');
    await setAttributes(this.m, this.inode, { mode });
  }

  async chown(uid: number, gid: number): Promise<void> {
    this.check('fchown');
    await setAttributes(this.m, this.inode, { uid, gid });
  }

  async utimes(atime: number | string | Date, mtime: number | string | Date): Promise<void> {
    this.check('futime');
    await setAttributes(this.m, this.inode, { atime: toTimestamp(atime), mtime: toTimestamp(mtime) });
  }

  createWriteStream(options: WriteStreamOptions = {}): Writable {
    let pos: number | null = options.start ?? null;
    return new Writable({
      highWaterMark: options.highWaterMark ?? 64 * 1024,
      write: (chunk: Buffer, _enc, cb) => {
        this.writeEverything(chunk, pos).then(() => {
          if (pos !== null) pos += chunk.length;
          cb();
        }, (e: Error) => cb(e));
      },
      final: (cb) => {
        if (options.autoClose === false) cb();
        else this.close().then(() => cb(), (e: Error) => cb(e));
      },
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.onClose(this);
    await releaseInode(this.m, this.inode);
  }

  /** The path it was opened with, for error messages. */
  get openedPath(): string {
    return this.path;
  }
}
