/**
 * The host side of a copy into an image: one walk over the source trees
 * with synchronous calls (each is a short system call answered from the
 * kernel's caches, far cheaper than a trip through libuv's thread pool),
 * before anything is written. Knowing the whole tree first gives the
 * progress bar its totals and lets the few things Node cannot ask the
 * kernel (xattrs, where sparse files hold data) go to python3 in one batch
 * for all files, instead of one process per file.
 *
 * Names are bytes throughout: a name that is not valid UTF-8 reaches the
 * image exactly as the host stores it.
 */
import { constants, lstatSync, readdirSync, statSync, type BigIntStats } from 'node:fs';

const { S_IFDIR, S_IFMT, S_IFREG } = constants;

/** A time as ext4 keeps it: seconds (negative before 1970) and nanoseconds. */
export interface NsTime { sec: number; nsec: number }

/**
 * What the copy needs of an lstat, as plain numbers. The scan keeps one per
 * entry for the whole copy; a BigIntStats holds some twenty BigInts, and
 * tens of thousands of those kept alive cost the garbage collector more
 * than the conversion does.
 */
export interface HostStat {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** st_blocks, 512-byte units. */
  blocks: number;
  nlink: number;
  rdev: number;
  /** `dev:ino`, the host inode's identity, for a non-directory with more than one name (hard links); '' otherwise. */
  id: string;
  atime: NsTime;
  mtime: NsTime;
}

const NS = 1_000_000_000n;

function nsTime(ns: bigint): NsTime {
  let sec = ns / NS;
  let nsec = ns - sec * NS;
  if (nsec < 0n) {
    sec -= 1n;
    nsec += NS;
  }
  return { sec: Number(sec), nsec: Number(nsec) };
}

function hostStat(st: BigIntStats): HostStat {
  const mode = Number(st.mode);
  const nlink = Number(st.nlink);
  // Building the string costs more than the rest of the record: only hard links need it.
  const id = nlink > 1 && (mode & S_IFMT) !== S_IFDIR ? `${st.dev}:${st.ino}` : '';
  return {
    mode, uid: Number(st.uid), gid: Number(st.gid), size: Number(st.size), blocks: Number(st.blocks),
    nlink, rdev: Number(st.rdev), id, atime: nsTime(st.atimeNs), mtime: nsTime(st.mtimeNs),
  };
}

/** One thing to copy, in walk order: every directory comes before what it holds. */
export interface HostNode {
  /** Host path, as bytes. */
  path: Buffer;
  /** The name it gets in its image directory. */
  name: Buffer;
  /** Index of the node of its directory; -1 for a top-level source. */
  parent: number;
  /** Which top-level source it belongs to. */
  top: number;
  st: HostStat;
}

export interface ScanOptions {
  /** Walk into directories (-r / -a); otherwise a directory source is only listed, not walked. */
  recursive: boolean;
  /** Follow a top-level symlink (cp without -r copies what a symlink operand points at). */
  followTop: boolean;
}

/** A source that could not be read. */
export interface ScanError { path: Buffer; error: unknown }

export interface ScanResult {
  nodes: HostNode[];
  errors: ScanError[];
  /** Regular files and their total size in bytes (for progress). */
  files: number;
  bytes: number;
}

const SLASH = 0x2f;

function join(dir: Buffer, name: Buffer): Buffer {
  return dir[dir.length - 1] === SLASH ? Buffer.concat([dir, name]) : Buffer.concat([dir, Buffer.of(SLASH), name]);
}

/**
 * Walks `sources` (host paths). `names[i]` is the name source i gets in the
 * image (ignored by callers that copy a source into an existing directory).
 */
export function scanHost(sources: readonly Buffer[], names: readonly Buffer[], opts: ScanOptions): ScanResult {
  const out: ScanResult = { nodes: [], errors: [], files: 0, bytes: 0 };
  const add = (node: HostNode): number => {
    out.nodes.push(node);
    if ((node.st.mode & S_IFMT) === S_IFREG) {
      out.files++;
      out.bytes += node.st.size;
    }
    return out.nodes.length - 1;
  };
  for (const [top, path] of sources.entries()) {
    let st: BigIntStats;
    try {
      st = opts.followTop ? statSync(path, { bigint: true }) : lstatSync(path, { bigint: true });
    } catch (error) {
      out.errors.push({ path, error });
      continue;
    }
    const index = add({ path, name: names[top], parent: -1, top, st: hostStat(st) });
    if (opts.recursive && (Number(st.mode) & S_IFMT) === S_IFDIR) walk(out, index, add);
  }
  return out;
}

/** Depth first; a directory's entries come in the order the host lists them, each after its directory. */
function walk(out: ScanResult, root: number, add: (n: HostNode) => number): void {
  const stack = [root];
  while (stack.length > 0) {
    const dirIndex = stack.pop()!;
    const dir = out.nodes[dirIndex];
    let names: Buffer[];
    try {
      names = readdirSync(dir.path, { encoding: 'buffer' });
    } catch (error) {
      out.errors.push({ path: dir.path, error });
      continue;
    }
    const subdirs: number[] = [];
    for (const name of names) {
      const path = join(dir.path, name);
      let st: BigIntStats;
      try {
        st = lstatSync(path, { bigint: true });
      } catch (error) {
        out.errors.push({ path, error });
        continue;
      }
      const i = add({ path, name, parent: dirIndex, top: dir.top, st: hostStat(st) });
      if ((Number(st.mode) & S_IFMT) === S_IFDIR) subdirs.push(i);
    }
    // Reversed onto the stack, so subdirectories are walked in listing order.
    for (let k = subdirs.length - 1; k >= 0; k--) stack.push(subdirs[k]);
  }
}
