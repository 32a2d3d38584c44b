/**
 * Path walk (Linux: fs/namei.c, much simplified). Paths are resolved from
 * the volume's root one component at a time; ".." is resolved against the
 * directories actually walked through (directories have exactly one parent
 * in ext4, so this equals the on-disk ".."); symlinks in the middle of a path
 * are always followed, the last one only when asked. At most 40 symlinks are
 * followed per walk (ELOOP), as Linux does, which also bounds the walk on a
 * crafted image whose links point at each other.
 */
import { corrupted, FsError } from '../base/errors.js';
import type { Ext4Inode } from '../inode/ext4-inode.js';
import { ROOT_INO } from '../format/inode.js';
import type { Mounted } from './mounted.js';
import { nameKey, type CachedEntry } from '../dir/dcache.js';

const MAXSYMLINKS = 40;
const PATH_MAX = 4096;
const NAME_MAX = 255;

export interface Resolved {
  inode: Ext4Inode;
  /** The canonical absolute path of what was found (no symlinks, no "." or ".."). */
  path: string;
  /** The parent directory, when the path named something other than the root. */
  parent: Ext4Inode | undefined;
}

/**
 * A path as the engine takes it: a string (its UTF-8 bytes are the names, as
 * in Node), or raw bytes for names that are not valid UTF-8.
 */
export type PathArg = string | Uint8Array;

/** Turns what callers pass as a path (string, Buffer, file: URL) into a PathArg; other types are rejected as in Node. */
export function pathArg(p: unknown): PathArg {
  if (typeof p === 'string') return p;
  if (p instanceof Uint8Array) return nameKey(p) ?? p;
  if (p instanceof URL) {
    if (p.protocol !== 'file:') throw new FsError('EINVAL', 'the URL must be of scheme file');
    return decodeURIComponent(p.pathname);
  }
  throw Object.assign(new TypeError(`The "path" argument must be of type string or an instance of Buffer or URL. Received ${typeof p}`), { code: 'ERR_INVALID_ARG_TYPE' });
}

/** A path for messages (bytes that are not UTF-8 show as U+FFFD). */
export function displayPath(p: PathArg): string {
  return typeof p === 'string' ? p : Buffer.from(p.buffer, p.byteOffset, p.length).toString('utf8');
}

export async function resolve(m: Mounted, path: PathArg, followLast: boolean): Promise<Resolved> {
  // Byte paths that are not UTF-8 are rare: walked every time, not cached.
  if (typeof path !== 'string') return walk(m, path, followLast);
  const key = followLast ? path : `\0${path}`;
  const hit = m.pathCache.get(key);
  if (hit !== undefined) {
    const inodes = m.inodes;
    return {
      inode: inodes.cached(hit.ino) ?? (await inodes.get(hit.ino)),
      path: hit.path,
      parent: hit.parentIno === undefined ? undefined : inodes.cached(hit.parentIno) ?? (await inodes.get(hit.parentIno)),
    };
  }
  const r = (await childOfCachedDir(m, path, followLast)) ?? (await walk(m, path, followLast));
  m.pathCache.set(key, { ino: r.inode.ino, parentIno: r.parent?.ino, path: r.path });
  return r;
}

/**
 * The common case of a tree walk — "/a/b/name" right after "/a/b" was
 * resolved — as one lookup in the cached parent. Only for a last component
 * that is a plain name and turns out not to be a directory (nor a symlink to
 * follow), so the full walk's cycle and symlink rules never need the
 * ancestors this shortcut does not have. Anything else returns undefined
 * and takes the full walk.
 */
async function childOfCachedDir(m: Mounted, path: string, followLast: boolean): Promise<Resolved | undefined> {
  const slash = path.lastIndexOf('/');
  if (slash < 0 || slash === path.length - 1) return undefined;
  const name = path.slice(slash + 1);
  if (name === '.' || name === '..' || (name.length > NAME_MAX / 3 && Buffer.byteLength(name) > NAME_MAX)) return undefined;
  const parentHit = m.pathCache.get(slash === 0 ? '/' : path.slice(0, slash));
  if (parentHit === undefined) return undefined;
  const dir = m.inodes.cached(parentHit.ino) ?? (await m.inodes.get(parentHit.ino));
  if (!dir.isDir) return undefined;
  const found = await lookupIn(m, dir, name);
  if (found === undefined) return undefined;
  const inode = await m.inodes.get(found.ino);
  if (inode.isDir || (inode.isSymlink && followLast)) return undefined;
  return { inode, path: parentHit.path === '/' ? `/${name}` : `${parentHit.path}/${name}`, parent: dir };
}

async function walk(m: Mounted, path: PathArg, followLast: boolean): Promise<Resolved> {
  if (typeof path === 'string' ? path.includes('\0') : path.includes(0)) {
    throw Object.assign(new TypeError(`The argument 'path' must be a string without null bytes. Received ${JSON.stringify(displayPath(path))}`), { code: 'ERR_INVALID_ARG_VALUE' });
  }
  if ((typeof path === 'string' ? Buffer.byteLength(path) : path.length) >= PATH_MAX) throw new FsError('ENAMETOOLONG');
  const root = await m.inodes.get(ROOT_INO);
  // The stack of directories from the root down to the current one.
  const stack: Array<{ inode: Ext4Inode; name: Component }> = [{ inode: root, name: '' }];
  let pending = splitPath(path);
  let links = 0;
  let mustBeDir = endsWithSlash(path);
  let current: Ext4Inode = root;
  let currentName: Component = '';
  let parent: Ext4Inode | undefined;
  while (pending.length > 0) {
    const name = pending.shift()!;
    const dir = stack[stack.length - 1].inode;
    if (!dir.isDir) throw new FsError('ENOTDIR');
    if (name === '.' || name === '..') {
      if (name === '..' && stack.length > 1) stack.pop();
      current = stack[stack.length - 1].inode;
      currentName = stack[stack.length - 1].name;
      parent = stack.length > 1 ? stack[stack.length - 2].inode : undefined;
      continue;
    }
    if (typeof name === 'string' ? name.length > NAME_MAX / 3 && Buffer.byteLength(name) > NAME_MAX : name.length > NAME_MAX) {
      throw new FsError('ENAMETOOLONG');
    }
    const found = await lookupIn(m, dir, name);
    if (!found) throw new FsError('ENOENT');
    const inode = await m.inodes.get(found.ino);
    const isLast = pending.length === 0;
    if (inode.isSymlink && (!isLast || followLast || mustBeDir)) {
      if (++links > MAXSYMLINKS) throw new FsError('ELOOP');
      const target = await m.readlink(inode);
      if (target[0] === 0x2f) stack.length = 1;
      if (isLast && endsWithSlash(target)) mustBeDir = true;
      pending = [...splitPath(target), ...pending];
      current = stack[stack.length - 1].inode;
      currentName = stack[stack.length - 1].name;
      parent = stack.length > 1 ? stack[stack.length - 2].inode : undefined;
      continue;
    }
    if (inode.isDir && stack.some((s) => s.inode.ino === inode.ino)) {
      // A directory reachable from itself: ext4 directories have exactly one parent.
      throw corrupted('directory', dir.ino, `entry '${displayPath(name)}' points back to ancestor directory inode ${inode.ino} (directory cycle)`);
    }
    parent = dir;
    current = inode;
    currentName = name;
    // A non-directory is pushed too: if more components follow, the next
    // iteration reports ENOTDIR.
    if (inode.isDir || !isLast) stack.push({ inode, name });
  }
  if (mustBeDir && !current.isDir) throw new FsError('ENOTDIR');
  const top = stack[stack.length - 1];
  const names = stack.slice(1).map((s) => displayPath(s.name));
  if (top.inode !== current) names.push(displayPath(currentName));
  return { inode: current, path: '/' + names.join('/'), parent: current === root ? undefined : parent };
}

/**
 * One lookup. On a writable volume the directory is read under its rwsem
 * shared, so a lookup never sees a directory half way through a change that
 * spans several blocks (an htree split).
 */
function lookupIn(m: Mounted, dir: Ext4Inode, name: Component): Promise<CachedEntry | undefined> {
  const look = (): Promise<CachedEntry | undefined> => (typeof name === 'string' ? m.dirs.lookup(dir, name) : m.dirs.lookupBytes(dir, name));
  return m.writable ? dir.rwsem.withShared(look) : look();
}

/** A path component: a string, or raw bytes when the name is not valid UTF-8. */
type Component = string | Uint8Array;

function splitPath(p: PathArg): Component[] {
  if (typeof p === 'string') return p.split('/').filter((c) => c.length > 0);
  const out: Component[] = [];
  let start = 0;
  for (let i = 0; i <= p.length; i++) {
    if (i === p.length || p[i] === 0x2f) {
      if (i > start) {
        const bytes = p.subarray(start, i);
        out.push(nameKey(bytes) ?? bytes);
      }
      start = i + 1;
    }
  }
  return out;
}

function endsWithSlash(p: PathArg): boolean {
  return typeof p === 'string' ? p.endsWith('/') : p.length > 0 && p[p.length - 1] === 0x2f;
}
