/**
 * Text formatting shared by the read commands: mode strings, file type
 * names, and the time formats of GNU ls, GNU stat and dumpe2fs. Times are
 * shown in the local time zone (the TZ environment variable), as those tools
 * do, so their output and ours can be compared line by line.
 */
import { S_IFMT, S_IFSOCK, S_IFLNK, S_IFREG, S_IFBLK, S_IFDIR, S_IFCHR, S_IFIFO } from '../format/inode.js';

export { S_IFMT, S_IFSOCK, S_IFLNK, S_IFREG, S_IFBLK, S_IFDIR, S_IFCHR, S_IFIFO };

/** The kind of file, as named in `ls --json` output. */
export type FileKind = 'file' | 'directory' | 'symlink' | 'block' | 'char' | 'fifo' | 'socket' | 'unknown';

export function kindOfMode(mode: number): FileKind {
  switch (mode & S_IFMT) {
    case S_IFREG: return 'file';
    case S_IFDIR: return 'directory';
    case S_IFLNK: return 'symlink';
    case S_IFBLK: return 'block';
    case S_IFCHR: return 'char';
    case S_IFIFO: return 'fifo';
    case S_IFSOCK: return 'socket';
    default: return 'unknown';
  }
}

/** The type letter `ls -l` puts before the permissions. */
function typeLetter(mode: number): string {
  switch (mode & S_IFMT) {
    case S_IFREG: return '-';
    case S_IFDIR: return 'd';
    case S_IFLNK: return 'l';
    case S_IFBLK: return 'b';
    case S_IFCHR: return 'c';
    case S_IFIFO: return 'p';
    case S_IFSOCK: return 's';
    default: return '?';
  }
}

/**
 * `-rwsr-xr-x`, `drwxrwxrwt`: the execute slot of each triple shows the
 * special bit (s/t when execute is also set, S/T when it is not), because
 * that is the only way the 10-character form can show both.
 */
export function modeString(mode: number): string {
  const triple = (shift: number, special: boolean, on: string, off: string): string => {
    const bits = (mode >> shift) & 7;
    const r = bits & 4 ? 'r' : '-';
    const w = bits & 2 ? 'w' : '-';
    const exec = (bits & 1) !== 0;
    const x = special ? (exec ? on : off) : (exec ? 'x' : '-');
    return r + w + x;
  };
  return typeLetter(mode)
    + triple(6, (mode & 0o4000) !== 0, 's', 'S')
    + triple(3, (mode & 0o2000) !== 0, 's', 'S')
    + triple(0, (mode & 0o1000) !== 0, 't', 'T');
}

/** GNU stat's `%F`: the file type in words. */
export function fileTypeWords(mode: number, size: bigint | number): string {
  switch (mode & S_IFMT) {
    case S_IFREG: return BigInt(size) === 0n ? 'regular empty file' : 'regular file';
    case S_IFDIR: return 'directory';
    case S_IFLNK: return 'symbolic link';
    case S_IFBLK: return 'block special file';
    case S_IFCHR: return 'character special file';
    case S_IFIFO: return 'fifo';
    case S_IFSOCK: return 'socket';
    default: return 'weird file';
  }
}

/** Linux's encoding of dev_t: 12 bits of major, 20 of minor, split around the low byte. */
export function devMajor(rdev: number | bigint): number {
  const d = BigInt(rdev);
  return Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
}

export function devMinor(rdev: number | bigint): number {
  const d = BigInt(rdev);
  return Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
}

const NS_PER_S = 1_000_000_000n;

/** Splits nanoseconds since the epoch into whole seconds (floored) and the remainder. */
export function splitNs(ns: bigint): { sec: bigint; nsec: number } {
  let sec = ns / NS_PER_S;
  let rem = ns % NS_PER_S;
  // BigInt division truncates toward zero; times before 1970 need the floor.
  if (rem < 0n) { sec -= 1n; rem += NS_PER_S; }
  return { sec, nsec: Number(rem) };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** Numeric time zone of a local date, `+0100` style, as strftime's %z. */
function zoneOffset(d: Date): string {
  const east = -d.getTimezoneOffset();
  const sign = east < 0 ? '-' : '+';
  const abs = Math.abs(east);
  return `${sign}${pad2(Math.floor(abs / 60))}${pad2(abs % 60)}`;
}

/** GNU stat's time format: `2024-05-01 12:34:56.123456789 +0200`. */
export function statTime(ns: bigint): string {
  const { sec, nsec } = splitNs(ns);
  const d = new Date(Number(sec) * 1000);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} `
    + `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}.${String(nsec).padStart(9, '0')} `
    + zoneOffset(d);
}

/** The C library's ctime() layout, which dumpe2fs uses: `Sat Nov 21 12:58:55 2026`. */
export function ctimeString(d: Date): string {
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} `
    + `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())} ${d.getFullYear()}`;
}

/** Half of an average Gregorian year in seconds: GNU ls's limit for "recent". */
const SIX_MONTHS_NS = 15_778_476n * NS_PER_S;

/**
 * GNU ls's long-format time in the C locale: `Nov 21 12:58` for files
 * changed within the last six months, `Jan  1  2020` for older ones and for
 * ones in the future (a time that is not plausible gets its year shown).
 */
export function lsTime(ns: bigint, nowNs: bigint): string {
  const { sec } = splitNs(ns);
  const d = new Date(Number(sec) * 1000);
  const head = `${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')}`;
  const recent = ns > nowNs - SIX_MONTHS_NS && ns <= nowNs;
  return recent ? `${head} ${pad2(d.getHours())}:${pad2(d.getMinutes())}` : `${head}  ${d.getFullYear()}`;
}

/** Bytes as `64 MiB (67108864 bytes)`: the exact count for scripts, a rounded one for people. */
export function humanBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  if (u === 0) return `${n} bytes`;
  const shown = Number.isInteger(v) ? String(v) : v.toFixed(1);
  return `${shown} ${units[u]} (${n} bytes)`;
}

/** Byte-wise comparison of names, as `LC_ALL=C ls` sorts them. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
