/**
 * Writing what mkfs -d placed in the data area: file contents read from the
 * host and the blocks built in memory (directories, extent tree blocks,
 * slow symlinks), in ascending block order. Consecutive blocks are gathered
 * into one large buffer, whatever file or structure they belong to, so a
 * tree of small files costs one open, read and close per file on the host
 * and one write per few megabytes on the image. Two buffers alternate: one
 * is filled while the other is written, the write running on libuv's
 * thread pool next to the host reads on the main thread.
 */
import { closeSync, constants, openSync, readSync } from 'node:fs';
import { assert } from '../base/assert.js';
import type { BlockDevice } from '../device/block-device.js';

/** Bytes gathered before a write. */
const BUFFER_BYTES = 4 << 20;
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
  /** Called once with the error when the file cannot be read (its blocks are then zero). */
  onError: (e: unknown) => void;
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
  private readonly bufs = [Buffer.allocUnsafe(BUFFER_BYTES), Buffer.allocUnsafe(BUFFER_BYTES)];
  private readonly pending: Array<Promise<void> | undefined> = [undefined, undefined];
  private cur = 0;
  /** First block of the run in the current buffer, and its bytes so far. */
  private runStart = -1;
  private fill = 0;
  private lastYield = performance.now();
  /** Bytes written to the device. */
  written = 0;

  constructor(private readonly device: BlockDevice, private readonly blockSize: number, private readonly progress: (bytes: number) => void) {
    assert(BUFFER_BYTES % blockSize === 0, 'the data buffer holds whole blocks');
  }

  /** Writes every piece; they must not overlap. */
  async writeAll(pieces: DataPiece[]): Promise<void> {
    pieces.sort((a, b) => a.block - b.block);
    let end = -1;
    for (const p of pieces) {
      assert(p.block >= end, () => `data pieces overlap at block ${p.block}`);
      end = p.block + pieceBlocks(p, this.blockSize);
      if (this.runStart < 0 || p.block !== this.runStart + this.fill / this.blockSize) await this.flush(p.block);
      if (isHost(p)) await this.host(p);
      else await this.memory(p);
      if (performance.now() - this.lastYield > YIELD_MS) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        this.lastYield = performance.now();
      }
    }
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
      p.onError(e);
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
      this.pending[this.cur] = write;
      this.written += this.fill;
      this.cur ^= 1;
      const other = this.pending[this.cur];
      this.pending[this.cur] = undefined;
      if (other !== undefined) await other;
    }
    this.runStart = next;
    this.fill = 0;
  }
}
