/**
 * The files a copy creates on the host, as records in batches: what
 * `cp-tree.ts` (which reads the image) hands to `cp-apply.ts` (which
 * creates the files), on this thread or on a worker (`cp-writer.ts`,
 * `cp-worker.ts`).
 *
 * A batch is two transferable buffers and two small arrays, so that sending
 * one to a worker copies no file contents and clones no per-file objects:
 *  - `ops`: a Float64Array of fixed-size records, one per piece of work;
 *  - `data`: the file contents the records point into, for contents that
 *    are not simply bytes of the image file (FL_HOST);
 *  - `names`: per record, the whole host path it creates, as a string or
 *    as bytes when a name in it is not valid UTF-8;
 *  - `targets`: symlink targets, as bytes.
 *
 * Records do not depend on each other, except the pieces of one file, which
 * come in order, first to last, with nothing in between: directories are
 * made by the walk itself before anything in them is queued, and hard links
 * wait for the end (cp-tree.ts). So batches can be applied by either thread,
 * in any order, as long as a file that spans batches is finished by the
 * thread that started it.
 */
import type { HostPath } from '../host/host-ops.js';

export const enum OpKind {
  /** A piece of a regular file: FL_FIRST creates it, FL_LAST finishes it. */
  FILE = 1,
  SYMLINK = 2,
}

/** Field offsets within a record. */
export const enum F {
  KIND = 0,
  /** Unique id of the record's file or symlink: failures refer to it. */
  ID = 1,
  /**
   * The group a new entry in the parent directory certainly gets (see
   * cp-apply.ts `DirState`), or -1 when that is not known.
   */
  NEW_GID = 2,
  MODE = 3,
  UID = 4,
  GID = 5,
  /** Whole seconds, set when FL_TIMES is on. */
  ATIME = 6,
  MTIME = 7,
  /**
   * Where this piece's bytes start in `data`, and how many there are; with
   * FL_HOST, the position in the host file REF to read them from instead.
   */
  DATA = 8,
  LEN = 9,
  /** File offset of this piece. */
  POS = 10,
  /** The file's size (on the last piece): a tail hole is made by ftruncate. */
  SIZE = 11,
  FLAGS = 12,
  /** SYMLINK: index into `targets`; FILE with FL_HOST: the fd of the host file holding the bytes. */
  REF = 13,
}

export const OP_STRIDE = 14;

export const FL_FIRST = 1;
export const FL_LAST = 2;
/** Set whole-second times (both >= 0) with futimes on the open file. */
export const FL_TIMES = 4;
/** Reading the source failed part-way: close what was written, set nothing more. */
export const FL_ABORT = 8;
/**
 * The piece's bytes are not in `data`: whoever applies the record reads them
 * from a host file (the image, whose fd the whole process shares), so the
 * thread that walks the image never touches file contents. The walk has
 * mapped and range-checked them (vfs/tree-reader.ts hostRunsSync).
 */
export const FL_HOST = 16;

/** Records per batch. */
export const BATCH_OPS = 512;
/** Bytes of file contents per batch; larger files go in pieces. */
export const BATCH_BYTES = 1 << 20;

/** How a batch travels: the buffers are transferred, not copied. */
export interface BatchMessage {
  ops: ArrayBuffer;
  count: number;
  data: ArrayBuffer;
  names: HostPath[];
  targets: Uint8Array[];
}

/** A record that failed, reported back by whoever applied it. */
export interface HostFailure {
  id: number;
  where: string | undefined;
  message: string;
  code: string | undefined;
}

export type WorkerRequest = { type: 'batch' } & BatchMessage;
/** From the worker: `ready` once it has loaded, then a reply per batch. */
export type WorkerReply =
  | { type: 'ready' }
  | { type: 'batch-done'; ops: ArrayBuffer; data: ArrayBuffer; failures: HostFailure[] }
  | { type: 'crashed'; message: string };

/** Options both sides agree on. */
export interface ApplyOptions {
  archive: boolean;
  /** Running as root: owners are kept (chown needs it). */
  root: boolean;
  umask: number;
}
