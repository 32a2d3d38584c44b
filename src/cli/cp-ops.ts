/**
 * The operations a copy makes on the host, in batches: what `cp-tree.ts`
 * (which reads the image) hands to `cp-apply.ts` (which creates the files),
 * possibly on another thread (`cp-writer.ts`, `cp-worker.ts`).
 *
 * A batch is two transferable buffers and two small arrays, so that sending
 * one to a worker copies no file contents and clones no per-file objects:
 *  - `ops`: a Float64Array of fixed-size records, one per operation;
 *  - `data`: the file contents the records point into;
 *  - `names`: per record, the new entry's name in its parent directory (or a
 *    whole path for the top of a copy), as a string or as bytes when the name
 *    is not valid UTF-8;
 *  - `targets`: symlink targets, as bytes.
 *
 * Records are applied in order. A directory is made before anything in it,
 * the first name of a multiply-linked file before its other names, and a
 * file's chunks come in order, first to last, with nothing in between.
 */
import type { HostPath } from './host-ops.js';

export const enum OpKind {
  /** Make a directory (or use the one there). */
  MKDIR = 1,
  /** A piece of a regular file: FIRST creates it, LAST finishes it. */
  FILE = 2,
  SYMLINK = 3,
  /** Another name of a file or symlink made earlier (F_REF: its record id). */
  LINK = 4,
}

/** Field offsets within a record. */
export const enum F {
  KIND = 0,
  /** Unique id of the record's subject (a directory, file, link): failures and later links refer to it. */
  ID = 1,
  /** Id of the parent directory's MKDIR, or -1 when the name is a whole path. */
  DIR = 2,
  MODE = 3,
  UID = 4,
  GID = 5,
  /** Whole seconds, set when FL_TIMES is on. */
  ATIME = 6,
  MTIME = 7,
  /** Where this piece's bytes start in `data`, and how many there are. */
  DATA = 8,
  LEN = 9,
  /** File offset of this piece. */
  POS = 10,
  /** The file's size (on the LAST piece): a tail hole is made by ftruncate. */
  SIZE = 11,
  FLAGS = 12,
  /** LINK: id of the first name; SYMLINK: index into `targets`. */
  REF = 13,
}

export const OP_STRIDE = 14;

export const FL_FIRST = 1;
export const FL_LAST = 2;
/** Set owner-independent times now (whole seconds, both >= 0): futimes on the open file. */
export const FL_TIMES = 4;
/** Later names will link to this one: remember its path. */
export const FL_KEEP = 8;
/** Reading the source failed part-way: close what was written, set nothing more. */
export const FL_ABORT = 16;

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

/** A failed record, reported back by whoever applied it. */
export interface HostFailure {
  id: number;
  /**
   * Nothing to report: a consequence of an earlier reported failure (its
   * directory could not be made) or of a link whose first name failed.
   */
  silent: boolean;
  /** A LINK whose first name was never made: the caller copies this name on its own. */
  linkTargetMissing?: boolean;
  where?: string;
  message?: string;
  code?: string;
}

/** What applying a batch found, besides success. */
export interface BatchResult {
  failures: HostFailure[];
  /** MKDIR ids whose directory already existed (a merge): a copy without -a leaves their mode alone. */
  existed: number[];
}

/**
 * To the worker: what the main thread's applier knows when the worker takes
 * over (the applier's state, see cp-apply.ts), then batches.
 */
export type WorkerRequest = ({ type: 'batch' } & BatchMessage) | { type: 'take-over'; state: unknown };
/** From the worker: `ready` once it has loaded, then a reply per batch. */
export type WorkerReply =
  | { type: 'ready' }
  | ({ type: 'batch-done'; ops: ArrayBuffer; data: ArrayBuffer } & BatchResult)
  | { type: 'crashed'; message: string };

/** Options both sides agree on. */
export interface ApplyOptions {
  archive: boolean;
  /** Running as root: owners are kept (chown needs it). */
  root: boolean;
  umask: number;
}
