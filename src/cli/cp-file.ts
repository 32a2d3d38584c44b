/**
 * Copies one regular file's bytes from the image to a host file.
 *
 * Small dense files (most of a typical tree) take one readFile and one
 * write. Everything else is copied range by range from `dataRanges()`:
 * holes and unwritten extents are never read nor written, and the host
 * file gets its length from ftruncate, so a sparse 5 GiB file with a few
 * blocks of data costs a few blocks of I/O and stays sparse on the host.
 */
import { ftruncateSync, openSync, writeSync } from 'node:fs';
import type { FileHandle } from '../vfs/types.js';
import type { HostPath } from './host-ops.js';

/** Up to this size, a file with no holes is read whole. */
const SMALL_FILE = 256 * 1024;
/** Read/write unit for larger files: large enough that per-call costs vanish, small enough for many files in flight. */
const CHUNK = 1024 * 1024;

/** Buffers for small files, reused across files (one per file in flight at most). */
const scratch: Buffer[] = [];

function writeAll(fd: number, data: Uint8Array, length: number, position: number): void {
  let done = 0;
  while (done < length) {
    const n = writeSync(fd, data, done, length - done, position + done);
    if (n <= 0) throw new Error('short write');
    done += n;
  }
}

export interface CreatedFile {
  fd: number;
  /** False when the destination existed and was overwritten: its mode was kept by open. */
  created: boolean;
}

/**
 * Opens the destination for writing with `mode` for a new file. An existing
 * file is truncated and keeps its mode, as cp does; O_EXCL first tells the
 * caller which case it was, so a fresh file needs no chmod.
 */
export function createDest(dest: HostPath, mode: number): CreatedFile {
  try {
    return { fd: openSync(dest, 'wx', mode), created: true };
  } catch (e) {
    if ((e as { code?: string }).code !== 'EEXIST') throw e;
    return { fd: openSync(dest, 'w', mode), created: false };
  }
}

/** Copies the contents of `src` (whose stat said `size` bytes and `blocks` 512-byte units) into `out`. */
export async function copyData(src: FileHandle, size: number, blocks: bigint, out: number): Promise<void> {
  if (size === 0) return;
  if (size <= SMALL_FILE && blocks * 512n >= BigInt(size)) {
    // A pooled buffer per file in flight: no allocation (and no garbage) per file.
    const data = scratch.pop() ?? Buffer.allocUnsafe(SMALL_FILE);
    try {
      const { bytesRead } = await src.read(data, 0, size, 0);
      writeAll(out, data, bytesRead, 0);
    } finally {
      scratch.push(data);
    }
    return;
  }
  const ranges = await src.dataRanges();
  const buf = Buffer.allocUnsafe(Math.min(CHUNK, size));
  let end = 0;
  for (const r of ranges) {
    let pos = r.start;
    while (pos < r.end) {
      const want = Math.min(CHUNK, r.end - pos);
      const { bytesRead } = await src.read(buf, 0, want, pos);
      if (bytesRead === 0) break;
      writeAll(out, buf, bytesRead, pos);
      pos += bytesRead;
    }
    end = Math.max(end, pos);
  }
  // The tail hole (or a file that is all hole) gets its length without writing zeros.
  if (end < size) ftruncateSync(out, size);
}
