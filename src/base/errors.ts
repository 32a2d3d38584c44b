/**
 * Errors ext4kit throws.
 *
 * Two families, both `FsError` so callers can switch on `code` exactly as they
 * do for `node:fs`:
 *  - misuse and ordinary file system conditions (`ENOENT`, `EISDIR`, `EROFS`,
 *    ...): negative `errno`, `syscall`, `path` and Node's message format
 *    (`ENOENT: no such file or directory, open '/a/b'`);
 *  - corrupt metadata: `code` `EFSCORRUPTED` (errno 117, EUCLEAN on Linux),
 *    naming the structure and its number so a user can find it with debugfs.
 *
 * Internal invariant violations are not FsErrors: see `assert.ts`.
 */

/** errno values and messages as Linux and libuv report them. */
const ERRNO = {
  EPERM: [1, 'operation not permitted'],
  ENOENT: [2, 'no such file or directory'],
  EIO: [5, 'i/o error'],
  E2BIG: [7, 'argument list too long'],
  EBADF: [9, 'bad file descriptor'],
  ENOMEM: [12, 'not enough memory'],
  EACCES: [13, 'permission denied'],
  EBUSY: [16, 'resource busy or locked'],
  EEXIST: [17, 'file already exists'],
  EXDEV: [18, 'cross-device link not permitted'],
  ENOTDIR: [20, 'not a directory'],
  EISDIR: [21, 'illegal operation on a directory'],
  EINVAL: [22, 'invalid argument'],
  EMFILE: [24, 'too many open files'],
  EFBIG: [27, 'file too large'],
  ENOSPC: [28, 'no space left on device'],
  EROFS: [30, 'read-only file system'],
  EMLINK: [31, 'too many links'],
  ERANGE: [34, 'result too large'],
  ENAMETOOLONG: [36, 'name too long'],
  ENOTEMPTY: [39, 'directory not empty'],
  ELOOP: [40, 'too many symbolic links encountered'],
  ENODATA: [61, 'no data available'],
  EOVERFLOW: [75, 'value too large for defined data type'],
  EOPNOTSUPP: [95, 'operation not supported on socket'],
  EFSCORRUPTED: [117, 'structure needs cleaning'],
  ENOTSUP: [95, 'operation not supported'],
} as const satisfies Record<string, readonly [number, string]>;

export type ErrorCode = keyof typeof ERRNO;

export class FsError extends Error {
  /** e.g. `ENOENT`; `EFSCORRUPTED` for corrupt metadata. */
  readonly code: ErrorCode;
  /** Negative errno, as Node reports it. */
  readonly errno: number;
  /** The fs call that failed (`open`, `scandir`, ...), when known. */
  syscall: string | undefined;
  path: string | undefined;
  dest: string | undefined;
  /** Text after the code, without syscall and path. */
  readonly detail: string;

  constructor(code: ErrorCode, detail?: string, syscall?: string, path?: string, dest?: string) {
    super('');
    this.name = 'Error';
    this.code = code;
    this.errno = -ERRNO[code][0];
    this.detail = detail ?? ERRNO[code][1];
    this.syscall = syscall;
    this.path = path;
    this.dest = dest;
    this.message = this.render();
  }

  /**
   * Fills in syscall and path on an error thrown by a lower layer that did
   * not know them, and returns it (the original object: its stack is kept).
   */
  withContext(syscall: string, path?: string, dest?: string): this {
    this.syscall ??= syscall;
    this.path ??= path;
    this.dest ??= dest;
    this.message = this.render();
    return this;
  }

  private render(): string {
    let m = `${this.code}: ${this.detail}`;
    if (this.syscall !== undefined) m += `, ${this.syscall}`;
    if (this.path !== undefined) m += ` '${this.path}'`;
    if (this.dest !== undefined) m += ` -> '${this.dest}'`;
    return m;
  }
}

/** Shorthand for a Node-style error: `fsError('ENOENT', 'open', '/a')`. */
export function fsError(code: ErrorCode, syscall?: string, path?: string, dest?: string): FsError {
  return new FsError(code, undefined, syscall, path, dest);
}

/** Metadata on the image is inconsistent: the structure, its number, and what is wrong. */
export class CorruptionError extends FsError {
  /** What is corrupt: `superblock`, `group descriptor`, `inode`, `block`, `directory entry`, ... */
  readonly structure: string;
  /** Its number (inode number, block number, group number, byte offset), when it has one. */
  readonly number: number | bigint | undefined;

  constructor(structure: string, number: number | bigint | undefined, what: string) {
    const where = number === undefined ? structure : `${structure} ${number}`;
    super('EFSCORRUPTED', `structure needs cleaning: ${where}: ${what}`);
    this.structure = structure;
    this.number = number;
  }
}

/** `throw corrupted('inode', 12, 'extent depth 7 exceeds 5')`. */
export function corrupted(structure: string, number: number | bigint | undefined, what: string): CorruptionError {
  return new CorruptionError(structure, number, what);
}

export function isFsError(e: unknown): e is FsError {
  return e instanceof FsError;
}

export function isCorruption(e: unknown): e is CorruptionError {
  return e instanceof CorruptionError;
}
