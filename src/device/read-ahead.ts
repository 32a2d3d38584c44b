/**
 * A read-ahead window over a device that reads synchronously, for a reader
 * that visits many small runs in ascending order: a tree copy, whose files
 * mkfs and the kernel lay out one after the other. A small read that misses
 * the window refills it with one large read starting there, so the next
 * files come from memory: one system call per window instead of one per
 * file (each costs a few microseconds besides the copy).
 *
 * The window is a private copy of device bytes: only for a device nobody
 * writes while it is in use (a read-only volume). Reads still go through the
 * device's own range checks; a refill is clamped to the device's end.
 */
import { assert } from '../base/assert.js';
import type { BlockDevice } from './block-device.js';

/** Window size: large enough to hold many small files, small enough to stay in the CPU's cache. */
const WINDOW = 256 * 1024;
/** Reads at least this long go straight to the device: copying them twice would cost more than the call. */
const DIRECT = 64 * 1024;

/** What the window reads from: a device, or any source with the same synchronous read (a host file on another thread). */
export type SyncSource = Pick<BlockDevice, 'size' | 'readIntoSync'>;

export class ReadAheadWindow {
  private readonly buf = new Uint8Array(WINDOW);
  private start = 0;
  private end = 0;
  private readonly readSync: (offset: number, target: Uint8Array) => void;

  constructor(private readonly device: SyncSource) {
    const sync = device.readIntoSync;
    assert(sync !== undefined, 'read-ahead needs a device that reads synchronously');
    this.readSync = sync;
  }

  /** Reads `into.length` bytes at `offset`, from the window when it holds them. */
  readonly read = (offset: number, into: Uint8Array): void => {
    const v = this.view(offset, into.length);
    if (v === undefined) this.readSync(offset, into);
    else into.set(v);
  };

  /**
   * The `length` bytes at `offset` as a view into the window (valid until
   * the next call), refilling it when it does not hold them; undefined for
   * a read that should go straight to the source: a long one, or one that
   * reaches past its end (which the source refuses).
   */
  view(offset: number, length: number): Uint8Array | undefined {
    if (offset >= this.start && offset + length <= this.end) return this.buf.subarray(offset - this.start, offset - this.start + length);
    const end = Math.min(this.device.size, offset + WINDOW);
    if (length >= DIRECT || offset + length > end) return undefined;
    this.end = this.start; // empty while refilling, should the read throw
    this.readSync(offset, this.buf.subarray(0, end - offset));
    this.start = offset;
    this.end = end;
    return this.buf.subarray(0, length);
  }
}
