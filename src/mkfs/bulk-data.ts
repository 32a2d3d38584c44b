/**
 * Writing what mkfs -d placed in the data area: file contents read from the
 * host and the blocks built in memory (directories, extent tree blocks,
 * slow symlinks), in ascending block order. Consecutive blocks are gathered
 * into one large buffer, whatever file or structure they belong to, so a
 * tree of small files costs one open, read and close per file on the host
 * and one write per few megabytes on the image. Several buffers take
 * turns: while the image writes run on libuv's thread pool (writing a new
 * image file is slower than reading the host's cached files), the main
 * thread reads ahead into the next buffers, then gets on with other work
 * (mkfs encodes the inodes) while the queued writes drain.
 */
import { closeSync, constants, openSync, readSync } from 'node:fs';
import { assert } from '../base/assert.js';
import type { BlockDevice } from '../device/block-device.js';

/** Bytes gathered before a write. */
const BUFFER_BYTES = 2 << 20;
/** Buffers, hence writes that may be queued at once. */
const BUFFERS = 8;
/** How often the writer lets the event loop run (the python helper's output is read there). */
const YIELD_MS = 8;

/** Blocks whose bytes are in memory. */
export interface MemoryPiece {
  block: number;
  bytes: Uint8Array;
}

/** Blocks filled from a host file: `length` bytes from `offset`, the rest of the last block zero. */
export interface HostPiece {
  block: number;
  blocks: number;
  path: Buffer;
  offset: number;
  length: number;
}

export type DataPiece = MemoryPiece | HostPiece;

function isHost(p: DataPiece): p is HostPiece {
  return (p as HostPiece).path !== undefined;
}

function pieceBlocks(p: DataPiece, blockSize: number): number {
  return isHost(p) ? p.blocks : p.bytes.length / blockSize;
}

const O_NOATIME = constants.O_NOATIME ?? 0;

/** Opens a host file for reading without moving its atime where the caller may (owner or root). */
function openHost(path: Buffer): number {
  try {
    return openSync(path, constants.O_RDONLY | O_NOATIME);
  } catch (e) {
    if (O_NOATIME === 0 || (e as NodeJS.ErrnoException).code !== 'EPERM') throw e;
    return openSync(path, constants.O_RDONLY);
  }
}

export class DataWriter {
  private readonly bufs = Array.from({ length: BUFFERS }, () => Buffer.allocUnsafe(BUFFER_BYTES));
  private readonly pending: Array<Promise<void> | undefined> = new Array<Promise<void> | undefined>(BUFFERS).fill(undefined);
  private cur = 0;
  /** First block of the run in the current buffer, and its bytes so far. */
  private runStart = -1;
  private fill = 0;
  private lastYield = performance.now();
  /** Bytes written to the device. */
  written = 0;

  /**
   * `onError` hears of a host file that cannot be read (its blocks are then
   * zero); `progress` of every host byte copied.
   */
  constructor(
    private readonly device: BlockDevice, private readonly blockSize: number,
    private readonly onError: (path: Buffer, e: unknown) => void, private readonly progress: (bytes: number) => void,
  ) {
    assert(BUFFER_BYTES % blockSize === 0, 'the data buffer holds whole blocks');
  }

  /** Writes every piece (in block order); they must not overlap. */
  async writeAll(pieces: DataPiece[]): Promise<void> {
    pieces.sort((a, b) => a.block - b.block);
    let end = -1;
    for (const p of pieces) {
      assert(p.block >= end, () => `data pieces overlap at block ${p.block}`);
      end = p.block + pieceBlocks(p, this.blockSize);
    }
    await this.add(pieces);
    await this.end();
  }

  /**
   * Gathers pieces in the order given (they must not overlap each other or
   * earlier ones), writing each buffer as it fills or as the blocks stop
   * following on; waits only when every buffer is being written.
   */
  async add(pieces: readonly DataPiece[]): Promise<void> {
    for (const p of pieces) {
      if (this.runStart < 0 || p.block !== this.runStart + this.fill / this.blockSize) await this.flush(p.block);
      if (isHost(p)) await this.host(p);
      else await this.memory(p);
      if (performance.now() - this.lastYield > YIELD_MS) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        this.lastYield = performance.now();
      }
    }
  }

  /** Writes what is gathered and waits for every write. */
  async end(): Promise<void> {
    await this.flush(-1);
    for (const w of this.pending) if (w !== undefined) await w;
  }

  /** Room in the current buffer; a full buffer is written and the run continues in the other one. */
  private async room(): Promise<number> {
    if (this.fill === BUFFER_BYTES) await this.flush(this.runStart + BUFFER_BYTES / this.blockSize);
    return BUFFER_BYTES - this.fill;
  }

  private async memory(p: MemoryPiece): Promise<void> {
    let done = 0;
    while (done < p.bytes.length) {
      const n = Math.min(await this.room(), p.bytes.length - done);
      this.bufs[this.cur].set(p.bytes.subarray(done, done + n), this.fill);
      this.fill += n;
      done += n;
    }
  }

  private async host(p: HostPiece): Promise<void> {
    const total = p.blocks * this.blockSize;
    let done = 0;
    let fd: number | undefined;
    try {
      fd = openHost(p.path);
      while (done < p.length) {
        const want = Math.min(await this.room(), p.length - done);
        const n = readSync(fd, this.bufs[this.cur], this.fill, want, p.offset + done);
        // A file that shrank since the scan: the rest reads as zeros.
        if (n === 0) break;
        this.fill += n;
        done += n;
        this.progress(n);
      }
    } catch (e) {
      this.onError(p.path, e);
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    while (done < total) {
      const n = Math.min(await this.room(), total - done);
      this.bufs[this.cur].fill(0, this.fill, this.fill + n);
      this.fill += n;
      done += n;
    }
  }

  /** Writes the gathered run (if any) and starts a new one at `next`. */
  private async flush(next: number): Promise<void> {
    if (this.fill > 0) {
      assert(this.fill % this.blockSize === 0, 'a run ends on a block boundary');
      const buf = this.bufs[this.cur].subarray(0, this.fill);
      const write = this.device.write(this.runStart * this.blockSize, buf);
      // Awaited when the buffer comes round again; until then a failure must not count as unhandled.
      write.catch(() => undefined);
      this.pending[this.cur] = write;
      this.written += this.fill;
      this.cur = (this.cur + 1) % BUFFERS;
      const older = this.pending[this.cur];
      this.pending[this.cur] = undefined;
      if (older !== undefined) await older;
    }
    this.runStart = next;
    this.fill = 0;
  }
}
