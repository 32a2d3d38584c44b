/**
 * Host-side file operations that Node's `fs` lacks, done in batches by one
 * python3 subprocess per call.
 *
 * Why python: Node cannot set a timestamp to the exact nanosecond (`utimes`
 * takes a double of seconds, which near today's epoch is only good to about
 * 240 ns), has no extended attribute calls, cannot `mknod` devices or sockets,
 * and cannot `lseek(SEEK_DATA)`. python3's `os` module wraps all of these
 * system calls directly, and it is present on every Linux machine ext4kit
 * targets. One process serves a whole batch, so the cost is a single process
 * start (tens of milliseconds) however many paths there are.
 *
 * Paths may be strings (UTF-8) or Buffers (arbitrary bytes, as Linux allows);
 * they travel to python as base64 of their bytes, so no name is mangled.
 * Failures are reported per entry, never thrown: the caller decides whether
 * a failure is a warning (the CLI) or a test failure. Only a failure of the
 * batch itself (python missing or crashing) throws.
 */
import { spawn } from 'node:child_process';

/** A host path: a UTF-8 string, or the exact bytes of the path. */
export type HostPath = string | Buffer;

/** Which batched operation produced an error. */
export type HostOpName = 'setTimesNs' | 'setXattrs' | 'readXattrs' | 'mknodBatch' | 'readDataRanges' | 'readTreeAttrs';

/** One entry of a batch that failed; the rest of the batch still ran. */
export interface HostOpError {
  /** Index of the entry in the array that was passed in. */
  index: number;
  path: HostPath;
  op: HostOpName;
  /** The system call's errno (e.g. 1 for EPERM), 0 when the failure was not a system call's. */
  errno: number;
  /** The errno's symbolic name, e.g. `EPERM`. */
  code: string;
  message: string;
}

export interface TimesEntry {
  path: HostPath;
  /** Access time in nanoseconds since the epoch; negative before 1970. */
  atimeNs: bigint;
  /** Modification time in nanoseconds since the epoch; negative before 1970. */
  mtimeNs: bigint;
}

export interface XattrEntry {
  path: HostPath;
  /** Full attribute name with its namespace, e.g. `user.comment`. */
  name: string;
  value: Buffer;
}

export interface MknodEntry {
  path: HostPath;
  /** File type bits (S_IFIFO, S_IFCHR, S_IFBLK or S_IFSOCK) plus permission bits. */
  mode: number;
  /** Device number as the host encodes it (Linux `makedev`); 0 for fifos and sockets. */
  rdev: number;
}

/** A range of a file that holds data; bytes outside every range read as zeros. */
export interface DataRange {
  start: number;
  end: number;
}

export interface ReadXattrsResult<P extends HostPath> {
  /** Every path that could be read, keyed by the very value passed in, with its attributes by name. */
  xattrs: Map<P, Map<string, Buffer>>;
  errors: HostOpError[];
}

export interface ReadDataRangesResult<P extends HostPath> {
  /** Data ranges in ascending order, keyed by the very value passed in. */
  ranges: Map<P, DataRange[]>;
  errors: HostOpError[];
}

/*
 * The python side. It reads one JSON request {op, items} from stdin and writes
 * one JSON answer {errors, results} to stdout. Paths, names and values are
 * base64 so every byte survives; times travel as decimal strings because they
 * exceed 2^53. Failure of one item is caught and reported with its index.
 */
const PY_SCRIPT = String.raw`
import base64, errno, json, os, stat, sys
noatime = getattr(os, 'O_NOATIME', 0)
enc = lambda b: base64.b64encode(b).decode('ascii')
def xattrs_of(p, follow):
    try:
        names = os.listxattr(p, follow_symlinks=follow)
    except OSError as e:
        if e.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        names = []
    pairs = []
    for n in names:
        try:
            v = os.getxattr(p, n, follow_symlinks=follow)
        except OSError as e:
            if e.errno == errno.ENODATA:
                continue
            raise
        pairs.append([enc(os.fsencode(n)), enc(v)])
    return pairs
def ranges_of(p):
    try:
        fd = os.open(p, os.O_RDONLY | noatime)
    except PermissionError:
        fd = os.open(p, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        out = []
        pos = 0
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
                end = os.lseek(fd, start, os.SEEK_HOLE)
            except OSError as e:
                if e.errno == errno.ENXIO:
                    break
                # The filesystem cannot say (Linux answers ENOENT past the
                # inline data of an inline_data inode): the rest counts as data.
                out.append([pos, size])
                break
            out.append([start, end])
            pos = end
        return out
    finally:
        os.close(fd)
def oserror(e):
    code = errno.errorcode.get(e.errno, 'EIO') if e.errno else 'EIO'
    return [e.errno or 0, code, e.strerror or str(e)]
def tree(root, results, errors):
    # Every entry below root (root itself followed when a symlink): its xattrs, and the
    # data ranges of regular files with fewer blocks than bytes (null for other entries).
    # Only entries with either.
    stack = [(root, b'')]
    while stack:
        full, rel = stack.pop()
        try:
            st = os.stat(full) if rel == b'' else os.lstat(full)
            pairs = xattrs_of(full, rel == b'')
            ranges = None
            if stat.S_ISREG(st.st_mode) and 0 < st.st_size and st.st_blocks * 512 < st.st_size:
                ranges = ranges_of(full)
            if pairs or ranges is not None:
                results.append([enc(rel), pairs, ranges])
            if stat.S_ISDIR(st.st_mode):
                for name in os.listdir(full):
                    stack.append((full + b'/' + name, rel + b'/' + name if rel else name))
        except OSError as e:
            errors.append([enc(rel)] + oserror(e))
def main():
    req = json.loads(sys.stdin.buffer.read())
    op = req['op']
    items = req['items']
    dec = base64.b64decode
    errors = []
    results = []
    for i, it in enumerate(items):
        try:
            p = dec(it[0])
            if op == 'times':
                os.utime(p, ns=(int(it[1]), int(it[2])), follow_symlinks=False)
            elif op == 'setxattr':
                os.setxattr(p, dec(it[1]), dec(it[2]), 0, follow_symlinks=False)
            elif op == 'readxattr':
                results.append([i, xattrs_of(p, False)])
            elif op == 'mknod':
                mode = int(it[1])
                os.mknod(p, mode, int(it[2]))
                # mknod applies the umask; chmod sets the exact permission bits.
                os.chmod(p, mode & 0o7777)
            elif op == 'ranges':
                results.append([i, ranges_of(p)])
            elif op == 'tree':
                tree(p, results, errors)
            else:
                raise ValueError('unknown op ' + op)
        except OSError as e:
            errors.append([i] + oserror(e))
        except (ValueError, TypeError, OverflowError) as e:
            errors.append([i, 0, 'EINVAL', str(e)])
    sys.stdout.write(json.dumps({'errors': errors, 'results': results}))
main()
`;

type PyOp = 'times' | 'setxattr' | 'readxattr' | 'mknod' | 'ranges' | 'tree';
type PyErrorRow = [number, number, string, string];
interface PyAnswer { errors: PyErrorRow[]; results: unknown[] }

let pythonPromise: Promise<string | null> | undefined;

/**
 * Finds a python3 with the `os` calls we need and returns its real
 * executable. Resolving `sys.executable` once skips wrapper scripts such as
 * pyenv shims, which would otherwise cost ~150 ms on every batch.
 */
function resolvePython(): Promise<string | null> {
  pythonPromise ??= (async () => {
    const candidate = process.env.EXT4KIT_PYTHON ?? 'python3';
    const probe = "import os, sys\nassert hasattr(os, 'setxattr') and hasattr(os, 'SEEK_DATA')\nsys.stdout.write(sys.executable)";
    try {
      const { code, stdout } = await runProcess(candidate, ['-I', '-S', '-c', probe], Buffer.alloc(0));
      if (code !== 0) return null;
      const exe = stdout.toString('utf8').trim();
      return exe === '' ? candidate : exe;
    } catch {
      return null;
    }
  })();
  return pythonPromise;
}

/** True when python3 with Linux xattr and SEEK_DATA support can be run. The CLI falls back and warns when false. */
export async function hostOpsAvailable(): Promise<boolean> {
  return (await resolvePython()) !== null;
}

function runProcess(cmd: string, args: string[], input: Buffer): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    // A child that dies early closes its stdin; the resulting EPIPE is reported through 'close' instead.
    child.stdin.on('error', () => undefined);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') }));
    child.stdin.end(input);
  });
}

async function runBatch(op: PyOp, items: unknown[], python?: string): Promise<PyAnswer> {
  python ??= (await resolvePython()) ?? undefined;
  if (python === undefined) throw new Error('host operations need python3 (with os.setxattr and SEEK_DATA), which was not found');
  const { code, stdout, stderr } = await runProcess(python, ['-I', '-S', '-c', PY_SCRIPT], Buffer.from(JSON.stringify({ op, items })));
  if (code !== 0) throw new Error(`python3 host-ops batch '${op}' failed (exit ${code}): ${stderr.trim()}`);
  return JSON.parse(stdout.toString('utf8')) as PyAnswer;
}

const b64 = (p: HostPath | Buffer): string => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p).toString('base64');

function toErrors(op: HostOpName, rows: PyErrorRow[], paths: readonly HostPath[]): HostOpError[] {
  return rows.map(([index, errno, code, message]) => ({ index, path: paths[index], op, errno, code, message }));
}

/**
 * Sets access and modification times to the exact nanosecond, without
 * following symlinks (a symlink's own times are set). Set times last: every
 * later change to a directory's entries moves its mtime again.
 */
export async function setTimesNs(entries: readonly TimesEntry[]): Promise<HostOpError[]> {
  if (entries.length === 0) return [];
  const ans = await runBatch('times', entries.map((e) => [b64(e.path), e.atimeNs.toString(), e.mtimeNs.toString()]));
  return toErrors('setTimesNs', ans.errors, entries.map((e) => e.path));
}

/**
 * Sets extended attributes (creating or replacing), without following
 * symlinks. Linux refuses `user.*` on symlinks and special files, and
 * `trusted.*` / `security.*` without CAP_SYS_ADMIN: those come back as errors.
 */
export async function setXattrs(entries: readonly XattrEntry[]): Promise<HostOpError[]> {
  if (entries.length === 0) return [];
  const ans = await runBatch('setxattr', entries.map((e) => [b64(e.path), b64(e.name), e.value.toString('base64')]));
  return toErrors('setXattrs', ans.errors, entries.map((e) => e.path));
}

/**
 * Reads every extended attribute of each path, without following symlinks.
 * A filesystem without xattr support yields an empty map, not an error.
 * Attribute names are decoded as UTF-8.
 */
export async function readXattrs<P extends HostPath>(paths: readonly P[]): Promise<ReadXattrsResult<P>> {
  const xattrs = new Map<P, Map<string, Buffer>>();
  if (paths.length === 0) return { xattrs, errors: [] };
  const ans = await runBatch('readxattr', paths.map((p) => [b64(p)]));
  for (const row of ans.results as Array<[number, Array<[string, string]>]>) {
    const [index, pairs] = row;
    const m = new Map<string, Buffer>();
    for (const [name, value] of pairs) m.set(Buffer.from(name, 'base64').toString('utf8'), Buffer.from(value, 'base64'));
    xattrs.set(paths[index], m);
  }
  return { xattrs, errors: toErrors('readXattrs', ans.errors, paths) };
}

/**
 * Creates fifos, character and block devices and sockets with exactly the
 * given permission bits (the umask is undone). Devices need root.
 */
export async function mknodBatch(entries: readonly MknodEntry[]): Promise<HostOpError[]> {
  if (entries.length === 0) return [];
  const ans = await runBatch('mknod', entries.map((e) => [b64(e.path), e.mode, e.rdev]));
  return toErrors('mknodBatch', ans.errors, entries.map((e) => e.path));
}

/**
 * Finds where regular files hold data with `lseek(SEEK_DATA / SEEK_HOLE)`,
 * so that sparse files can be copied or compared without reading their
 * holes. Filesystems without hole tracking report the whole file as data,
 * and wherever SEEK_DATA fails the rest of the file counts as data.
 * Files are opened with O_NOATIME where permitted, so their atime stays.
 */
export async function readDataRanges<P extends HostPath>(paths: readonly P[]): Promise<ReadDataRangesResult<P>> {
  const ranges = new Map<P, DataRange[]>();
  if (paths.length === 0) return { ranges, errors: [] };
  const ans = await runBatch('ranges', paths.map((p) => [b64(p)]));
  for (const row of ans.results as Array<[number, Array<[number, number]>]>) {
    ranges.set(paths[row[0]], row[1].map(([start, end]) => ({ start, end })));
  }
  return { ranges, errors: toErrors('readDataRanges', ans.errors, paths) };
}

/** What `readTreeAttrs` found: only entries that have xattrs or data ranges appear. */
export interface TreeAttrs {
  /** Attributes by path relative to the root ('' for the root itself), as the latin1 text of its bytes. */
  xattrs: Map<string, Map<string, Buffer>>;
  /** Data ranges (none for an all-hole file) of every regular file holding fewer blocks than bytes, by relative path as for `xattrs`. */
  ranges: Map<string, DataRange[]>;
  /** Entries that could not be read (`index` -1, `path` the full path). */
  errors: HostOpError[];
}

/**
 * One walk of the tree at `root` (followed when it is a symlink; nothing
 * below it is) in python, collecting every entry's xattrs and where the
 * sparse files hold data. Unlike the other batches it needs no list of
 * paths, so it can run on another core while the caller walks the same
 * tree; and it does not wait for python3 to be located first (a wrapper
 * such as a pyenv shim only costs its start-up once). Resolves undefined
 * when python3 cannot be started.
 */
export async function readTreeAttrs(root: HostPath): Promise<TreeAttrs | undefined> {
  const rootBytes = typeof root === 'string' ? Buffer.from(root, 'utf8') : root;
  let ans: PyAnswer;
  try {
    ans = await runBatch('tree', [[b64(rootBytes)]], process.env.EXT4KIT_PYTHON ?? 'python3');
  } catch (e) {
    if ((e as { code?: unknown }).code === 'ENOENT') return undefined;
    throw e;
  }
  const out: TreeAttrs = { xattrs: new Map(), ranges: new Map(), errors: [] };
  for (const row of ans.results as Array<[string, Array<[string, string]>, Array<[number, number]> | null]>) {
    const rel = Buffer.from(row[0], 'base64').toString('latin1');
    if (row[1].length > 0) {
      const m = new Map<string, Buffer>();
      for (const [name, value] of row[1]) m.set(Buffer.from(name, 'base64').toString('utf8'), Buffer.from(value, 'base64'));
      out.xattrs.set(rel, m);
    }
    if (row[2] !== null) out.ranges.set(rel, row[2].map(([start, end]) => ({ start, end })));
  }
  for (const [where, errno, code, message] of ans.errors as unknown as Array<[string | number, number, string, string]>) {
    const rel = typeof where === 'string' ? Buffer.from(where, 'base64') : Buffer.alloc(0);
    const path = rel.length === 0 ? rootBytes : Buffer.concat([rootBytes, Buffer.from('/'), rel]);
    out.errors.push({ index: -1, path, op: 'readTreeAttrs', errno, code, message });
  }
  return out;
}
