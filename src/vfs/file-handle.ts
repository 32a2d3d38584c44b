/**
 * An open file of a volume, shaped like `fs.promises.FileHandle`. Reads go
 * through the iomap read path; the handle keeps its own file position for
 * reads with `position` null, as an OS file descriptor does.
 */
import { Readable } from 'node:stream';
import { FsError } from '../base/errors.js';
import type { Ext4Inode } from '../inode/ext4-inode.js';
import type { Mounted } from './mounted.js';
import { Ext4BigIntStats, Ext4Stats } from './stats.js';
import type { BigIntStats, FileHandle, ReadResult, ReadStreamOptions, Stats, StatOptions } from './types.js';

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
  ) {}

  private check(syscall: string): void {
    if (this.closed) throw new FsError('EBADF', undefined, syscall);
  }

  read(buffer: Uint8Array, offset?: number, length?: number, position?: number | bigint | null): Promise<ReadResult>;
  read(options?: ReadOptions): Promise<ReadResult>;
  async read(a?: Uint8Array | ReadOptions, offset?: number, length?: number, position?: number | bigint | null): Promise<ReadResult> {
    this.check('read');
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
    const n = await this.m.reader.read(this.inode, pos, buffer, off, len);
    if (usePos) this.position += n;
    return { bytesRead: n, buffer };
  }

  async readFile(options?: { encoding?: BufferEncoding | null } | BufferEncoding | null): Promise<Buffer | string> {
    this.check('read');
    if (this.inode.isDir) throw new FsError('EISDIR', undefined, 'read');
    const encoding = typeof options === 'string' ? options : options?.encoding ?? null;
    // Like Node, readFile on a handle reads from the current position to the end.
    const start = this.position;
    const size = Math.max(0, this.inode.size - start);
    checkReadFileSize(size);
    const buf = Buffer.allocUnsafe(size);
    const n = await this.m.reader.read(this.inode, start, buf, 0, size);
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
        const n = await m.reader.read(inode, pos, buf, 0, want);
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

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.onClose(this);
  }

  /** The path it was opened with, for error messages. */
  get openedPath(): string {
    return this.path;
  }
}
