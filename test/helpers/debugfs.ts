/**
 * e2fsprogs as the oracle: debugfs and dumpe2fs wrappers and parsers for
 * what they print, plus raw reads of an image (blocks, inodes, a few
 * superblock fields read at their documented offsets) for feeding the
 * codecs. Images are made by `mkfs` in images.ts, checked by fsck.ts.
 *
 * Every tool runs under a timeout (run.ts) in the C locale with TZ=UTC;
 * debugfs output is read as latin1 so that name bytes >= 0x80 survive
 * one-to-one.
 */
import { open } from 'node:fs/promises';
import { crc32c, crc32cU32 } from '../../src/format/crc32c.js';
import { SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE, decodeSuperblock, type Superblock } from '../../src/format/superblock.js';
import { TOOL_ENV, runChecked, runCommand } from './run.js';

/**
 * One debugfs request (-R); stdout only (debugfs prints its banner on stderr).
 * `request` is a latin1 string of raw bytes: one with bytes >= 0x80 goes
 * through a command stream, since argv would re-encode it as UTF-8.
 */
export async function debugfs(image: string, request: string, write = false): Promise<string> {
  if (/[^\x00-\x7f]/.test(request)) return debugfsBatch(image, [request], write);
  const args = write ? ['-w', '-R', request, image] : ['-R', request, image];
  return (await runChecked('debugfs', args, { encoding: 'latin1', env: TOOL_ENV })).stdout;
}

/**
 * Many requests (latin1 strings) through one debugfs session (`-f -`, fed on
 * stdin); each request's output follows a `debugfs: <request>` line. `image`
 * may be omitted for requests that need no file system. Separate sessions
 * can undo each other's writes: closing one rewrites the group descriptors
 * from the summary counts it loaded, so related edits belong in one batch.
 */
export async function debugfsBatch(image: string | undefined, requests: string[], write = false): Promise<string> {
  const args = write ? ['-w', '-f', '-'] : ['-f', '-'];
  if (image !== undefined) args.push(image);
  const input = Buffer.from(requests.join('\n') + '\n', 'latin1');
  return (await runChecked('debugfs', args, { input, encoding: 'latin1', env: TOOL_ENV })).stdout;
}

export interface Dumpe2fsOptions {
  /**
   * Return stdout whatever the exit status: dumpe2fs prints everything it
   * can but exits non-zero when, e.g., bitmap checksums disagree or the
   * journal cannot be read. A timeout still throws.
   */
  anyExit?: boolean;
  /** Variables over TOOL_ENV (e.g. another TZ for the times it prints). */
  env?: Record<string, string>;
}

/** `dumpe2fs [flags] img` stdout. */
export async function dumpe2fs(img: string, flags: string[] = [], opts: Dumpe2fsOptions = {}): Promise<string> {
  const args = [...flags, img];
  const env = { ...TOOL_ENV, ...opts.env };
  if (!opts.anyExit) return (await runChecked('dumpe2fs', args, { env })).stdout;
  const r = await runCommand('dumpe2fs', args, { env });
  if (r.timedOut || r.code === null) throw new Error(`dumpe2fs ${args.join(' ')} did not finish:\n${r.stderr}`);
  return r.stdout;
}

/**
 * "Key: value" lines of dumpe2fs -h style output as a map (first occurrence
 * wins; values trimmed).
 */
export function parseKeyValues(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const key = line.slice(0, i).trim();
    if (!m.has(key)) m.set(key, line.slice(i + 1).trim());
  }
  return m;
}

// ---------------------------------------------------------------------------
// Raw image access

/** Reads `length` bytes at `offset` of a file. */
export async function readRange(path: string, offset: number, length: number): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const buf = new Uint8Array(length);
    const { bytesRead } = await fh.read(buf, 0, length, offset);
    if (bytesRead !== length) throw new Error(`short read of ${path} at ${offset}`);
    return buf;
  } finally {
    await fh.close();
  }
}

/** Writes bytes at `offset` of a file (to corrupt or patch an image). */
export async function writeRange(path: string, offset: number, data: Uint8Array): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.write(data, 0, data.length, offset);
  } finally {
    await fh.close();
  }
}

/** The superblock as the codec under test (src/format/superblock.ts) decodes it; readRawSuper is the independent reader. */
export async function readSuperblock(img: string): Promise<Superblock> {
  return decodeSuperblock(await readRange(img, SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE));
}

export async function readBlock(image: string, blockNr: number, blockSize: number): Promise<Uint8Array> {
  return readRange(image, blockNr * blockSize, blockSize);
}

/** The few superblock fields these tests need, read straight from the image (offsets from the ext4 disk layout). */
export interface RawSuper {
  blockSize: number;
  inodeSize: number;
  inodesCount: number;
  /** s_feature_compat / incompat / ro_compat */
  compat: number;
  incompat: number;
  roCompat: number;
  uuid: Uint8Array;
  /** s_hash_seed as 4 words */
  hashSeed: Uint32Array;
  /** s_def_hash_version */
  defHashVersion: number;
  /** s_flags */
  flags: number;
  /** s_checksum_seed */
  checksumSeed: number;
}

export async function readRawSuper(image: string): Promise<RawSuper> {
  const sb = await readRange(image, 1024, 1024);
  const v = new DataView(sb.buffer, sb.byteOffset, sb.byteLength);
  if (v.getUint16(0x38, true) !== 0xef53) throw new Error('not an ext2/3/4 image');
  const hashSeed = new Uint32Array(4);
  for (let i = 0; i < 4; i++) hashSeed[i] = v.getUint32(0xec + 4 * i, true);
  return {
    blockSize: 1024 << v.getUint32(0x18, true),
    inodesCount: v.getUint32(0x00, true),
    inodeSize: v.getUint16(0x58, true),
    compat: v.getUint32(0x5c, true),
    incompat: v.getUint32(0x60, true),
    roCompat: v.getUint32(0x64, true),
    uuid: sb.slice(0x68, 0x78),
    hashSeed,
    defHashVersion: v.getUint8(0xfc),
    flags: v.getUint32(0x160, true),
    checksumSeed: v.getUint32(0x270, true),
  };
}

const INCOMPAT_CSUM_SEED = 0x2000;
const RO_COMPAT_METADATA_CSUM = 0x400;

export function hasMetadataCsum(sb: RawSuper): boolean {
  return (sb.roCompat & RO_COMPAT_METADATA_CSUM) !== 0;
}

/** The filesystem checksum seed: s_checksum_seed with metadata_csum_seed, else crc32c(~0, uuid). */
export function fsChecksumSeed(sb: RawSuper): number {
  return (sb.incompat & INCOMPAT_CSUM_SEED) !== 0 ? sb.checksumSeed : crc32c(0xffffffff, sb.uuid);
}

/** The per-inode seed: crc32c over le32 inode number then le32 generation. */
export function inodeChecksumSeed(fsSeed: number, ino: number, generation: number): number {
  return crc32cU32(crc32cU32(fsSeed, ino), generation);
}

/** Where debugfs says an inode lives (imap). */
export async function inodeLocation(image: string, ino: number): Promise<{ block: number; offset: number }> {
  const out = await debugfs(image, `imap <${ino}>`);
  const m = /located at block (\d+), offset 0x([0-9a-f]+)/.exec(out);
  if (!m) throw new Error(`imap <${ino}>: ${out}`);
  return { block: Number(m[1]), offset: parseInt(m[2], 16) };
}

/** The raw on-disk inode (s_inode_size bytes). */
export async function readRawInode(image: string, ino: number, sb: RawSuper): Promise<Uint8Array> {
  const loc = await inodeLocation(image, ino);
  return readRange(image, loc.block * sb.blockSize + loc.offset, sb.inodeSize);
}

/** i_block (60 bytes at offset 0x28 of the inode). */
export function iblockOf(rawInode: Uint8Array): Uint8Array {
  return rawInode.slice(0x28, 0x28 + 60);
}

// ---------------------------------------------------------------------------
// Parsers for debugfs output

export interface StatInfo {
  ino: number;
  type: string;
  flags: number;
  generation: number;
  size: number;
  fileAcl: number;
  extraIsize: number | undefined;
  /** "Extended attributes:" lines (name and size) when present */
  xattrs: Array<{ name: string; size: number; value?: string }>;
  /** Text after EXTENTS: or BLOCKS: */
  blockList: string;
}

export function parseStat(text: string): StatInfo {
  const num = (re: RegExp, what: string): number => {
    const m = re.exec(text);
    if (!m) throw new Error(`stat output lacks ${what}:\n${text}`);
    return Number(m[1]);
  };
  const type = /Type: (\S+)/.exec(text)?.[1] ?? '';
  const flagsM = /Flags: 0x([0-9a-f]+)/.exec(text);
  const extra = /Size of extra inode fields: (\d+)/.exec(text);
  const blockList = /(?:EXTENTS|BLOCKS):\n([\s\S]*)$/.exec(text)?.[1]?.trim() ?? '';
  return {
    ino: num(/Inode: (\d+)/, 'Inode'),
    type,
    flags: flagsM ? parseInt(flagsM[1], 16) : 0,
    generation: num(/Generation: (\d+)/, 'Generation'),
    size: num(/Size: (\d+)/, 'Size'),
    fileAcl: num(/File ACL: (\d+)/, 'File ACL'),
    extraIsize: extra ? Number(extra[1]) : undefined,
    xattrs: parseXattrLines(text),
    blockList,
  };
}

/**
 * Lines like `  user.a (7) = "value-a"`, `  user.big (3000)`, or, for names
 * with unprintable bytes, the name as hex bytes: `  75 73 65 72 2e e9  (1) = "v"`.
 * Names come back as latin1 strings of their raw bytes.
 */
function parseXattrLines(text: string): Array<{ name: string; size: number; value?: string }> {
  const at = text.indexOf('Extended attributes:');
  if (at < 0) return [];
  const out: Array<{ name: string; size: number; value?: string }> = [];
  for (const line of text.slice(at).split('\n').slice(1)) {
    const m = /^ {2}((?:[0-9a-f]{2} )+ |\S+ )\((\d+)\)(?: = (.*?))?\s*$/.exec(line);
    if (!m) break;
    const raw = m[1];
    const name = /^(?:[0-9a-f]{2} )+ $/.test(raw)
      ? raw.trim().split(' ').map((h) => String.fromCharCode(parseInt(h, 16))).join('')
      : raw.trimEnd();
    out.push(m[3] === undefined ? { name, size: Number(m[2]) } : { name, size: Number(m[2]), value: m[3] });
  }
  return out;
}

/** `ea_list` output: names and sizes. */
export function parseEaList(text: string): Array<{ name: string; size: number; value?: string }> {
  return parseXattrLines(text);
}

export interface ExRow {
  level: number;
  maxLevel: number;
  entry: number;
  entries: number;
  lblkStart: number;
  lblkEnd: number;
  pblkStart: number;
  pblkEnd: number | undefined;
  length: number;
  uninit: boolean;
}

/** `ex <file>`: one row per index or leaf entry, in tree order. */
export function parseExTable(text: string): ExRow[] {
  const rows: ExRow[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+)\/\s*(\d+)\s+(\d+)\/\s*(\d+)\s+(\d+)\s+-\s+(\d+)\s+(\d+)(?:\s+-\s+(\d+))?\s+(\d+)\s*(Uninit)?\s*$/.exec(line);
    if (!m) continue;
    rows.push({
      level: Number(m[1]), maxLevel: Number(m[2]), entry: Number(m[3]), entries: Number(m[4]),
      lblkStart: Number(m[5]), lblkEnd: Number(m[6]), pblkStart: Number(m[7]),
      pblkEnd: m[8] === undefined ? undefined : Number(m[8]), length: Number(m[9]), uninit: m[10] !== undefined,
    });
  }
  return rows;
}

/**
 * The data blocks of a file by logical block, from `stat` (which, unlike
 * `blocks`, tells the indirect and extent-tree blocks apart from data).
 */
export async function dataBlocks(image: string, path: string): Promise<Array<{ lblk: number; pblk: number }>> {
  const st = parseStat(await debugfs(image, `stat ${path}`));
  const { data } = parseStatBlockMap(st.blockList);
  return [...data].sort((a, b) => a[0] - b[0]).map(([lblk, pblk]) => ({ lblk, pblk }));
}

/** `blocks <file>`: every block of the file; for block-mapped files this includes the indirect blocks. */
export function parseBlocks(text: string): number[] {
  return text.trim().split(/\s+/).filter((s) => s !== '').map(Number);
}

/** `stat` BLOCKS: list of a block-mapped file: data runs and the indirect blocks. */
export function parseStatBlockMap(blockList: string): { data: Map<number, number>; meta: Array<{ kind: string; pblk: number }> } {
  const data = new Map<number, number>();
  const meta: Array<{ kind: string; pblk: number }> = [];
  for (const part of blockList.split(/,\s*|\n/)) {
    const m = /^\(([^)]+)\):(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) continue;
    const what = m[1];
    const p0 = Number(m[2]);
    if (/^(IND|DIND|TIND|ETB\d*)$/.test(what)) {
      meta.push({ kind: what, pblk: p0 });
      continue;
    }
    const r = /^(\d+)(?:-(\d+))?$/.exec(what);
    if (!r) throw new Error(`bad block range ${part}`);
    const l0 = Number(r[1]);
    const l1 = r[2] === undefined ? l0 : Number(r[2]);
    for (let l = l0; l <= l1; l++) data.set(l, p0 + (l - l0));
  }
  return { data, meta };
}

/** debugfs prints name bytes it deems unprintable as `\xNN`: back to the raw bytes (as a latin1 string). */
export function unescapeName(shown: string): string {
  return shown.replace(/\\x([0-9a-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
}

export interface LsEntry { inode: number; recLen: number; name: string }

/**
 * `ls <dir>` (short form): inode, rec_len and name (raw bytes as latin1) of
 * every record debugfs reports, in on-disk order. That is every entry of
 * every block, unused ones (inode 0) included, but not the checksum tail.
 * Names must not contain spaces or backslashes; an unused record may have an
 * empty name, recognised by the next token being a "(rec_len)".
 */
export function parseLs(text: string): LsEntry[] {
  const t = text.split(/\s+/).filter((x) => x !== '');
  const isRecLen = (x: string | undefined): boolean => x !== undefined && /^\(\d+\)$/.test(x);
  const out: LsEntry[] = [];
  for (let i = 0; i + 1 < t.length;) {
    const ino = /^<?(\d+)>?$/.exec(t[i]);
    if (!ino || !isRecLen(t[i + 1])) throw new Error(`unexpected ls output near ${t.slice(i, i + 4).join(' ')}`);
    const recLen = Number(t[i + 1].slice(1, -1));
    if (i + 2 >= t.length || isRecLen(t[i + 3])) {
      out.push({ inode: Number(ino[1]), recLen, name: '' });
      i += 2;
    } else {
      out.push({ inode: Number(ino[1]), recLen, name: unescapeName(t[i + 2]) });
      i += 3;
    }
  }
  return out;
}

export interface LsLongEntry { inode: number; mode: number; fileType: number }

/** `ls -l <dir>`: inode, mode (octal) and the entry's file_type byte, one line per record (names left out). */
export function parseLsLong(text: string): LsLongEntry[] {
  const out: LsLongEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)\s+\((\d+)\)\s+\d+\s+\d+\s+\d+/.exec(line);
    if (m) out.push({ inode: Number(m[1]), mode: parseInt(m[2], 8), fileType: Number(m[3]) });
  }
  return out;
}

export interface HtreeIndexDump {
  count: number;
  limit: number;
  checksum: number | undefined;
  entries: Array<{ hash: number; block: number }>;
}
export interface HtreeLeafDump {
  phys: number;
  entries: Array<{ inode: number; hash: number; minorHash: number; recLen: number; name: string }>;
  checksum: number | undefined;
}
export interface HtreeDump {
  hashVersion: number;
  indirectLevels: number;
  infoLength: number;
  root: HtreeIndexDump;
  /** interior nodes by logical block */
  nodes: Map<number, HtreeIndexDump>;
  /** leaves by logical block */
  leaves: Map<number, HtreeLeafDump>;
}

/** `htree <dir>`: the root, every interior node and every leaf with its entries' hashes. */
export function parseHtree(text: string): HtreeDump {
  const lines = text.split('\n');
  let i = 0;
  const field = (re: RegExp): number => {
    for (; i < lines.length; i++) {
      const m = re.exec(lines[i]);
      if (m) { i++; return Number(m[1]); }
    }
    throw new Error(`htree output lacks ${re}`);
  };
  const hashVersion = field(/Hash Version: (\d+)/);
  const infoLength = field(/Info length: (\d+)/);
  const indirectLevels = field(/Indirect levels: (\d+)/);
  const readIndex = (): HtreeIndexDump => {
    const count = field(/Number of entries \(count\): (\d+)/);
    const limit = field(/Number of entries \(limit\): (\d+)/);
    const cm = /^Checksum: 0x([0-9a-f]+)/.exec(lines[i] ?? '');
    let checksum: number | undefined;
    if (cm) { checksum = parseInt(cm[1], 16); i++; }
    const entries: Array<{ hash: number; block: number }> = [];
    for (let m; i < lines.length && (m = /^Entry #\d+: Hash 0x([0-9a-f]+)(?: \(\*\*\))?, block (\d+)/.exec(lines[i])); i++) {
      entries.push({ hash: parseInt(m[1], 16), block: Number(m[2]) });
    }
    return { count, limit, checksum, entries };
  };
  const root = readIndex();
  const nodes = new Map<number, HtreeIndexDump>();
  const leaves = new Map<number, HtreeLeafDump>();
  let current: number | undefined;
  for (; i < lines.length; i++) {
    const line = lines[i];
    let m = /^Entry #\d+: Hash 0x[0-9a-f]+(?: \(\*\*\))?, block (\d+)/.exec(line);
    if (m) { current = Number(m[1]); continue; }
    if (/^Number of entries \(count\)/.test(line) && current !== undefined) {
      const blk = current;
      const node = readIndex();
      i--;
      nodes.set(blk, node);
      continue;
    }
    m = /^Reading directory block (\d+), phys (\d+)/.exec(line);
    if (m) {
      const leaf: HtreeLeafDump = { phys: Number(m[2]), entries: [], checksum: undefined };
      leaves.set(Number(m[1]), leaf);
      for (i++; i < lines.length; i++) {
        const l = lines[i];
        if (/^(Entry #|Reading directory block|-----)/.test(l)) { i--; break; }
        // The checksum follows the block's last entry on the same line.
        const cs = /leaf block checksum: 0x([0-9a-f]+)/.exec(l);
        const body = cs ? l.slice(0, cs.index) : l;
        const re = /(\d+) 0x([0-9a-f]+)-([0-9a-f]+) \((\d+)\) ([^ \t\n]+)/g;
        for (let e = re.exec(body); e; e = re.exec(body)) {
          leaf.entries.push({ inode: Number(e[1]), hash: parseInt(e[2], 16), minorHash: parseInt(e[3], 16), recLen: Number(e[4]), name: e[5] });
        }
        if (cs) { leaf.checksum = parseInt(cs[1], 16); break; }
      }
    }
  }
  return { hashVersion, indirectLevels, infoLength, root, nodes, leaves };
}

/** UUID text for the 16 bytes of four little-endian u32 words (how debugfs and mke2fs take a hash seed). */
export function seedToUuid(seed: ArrayLike<number>): string {
  const b = Buffer.alloc(16);
  for (let i = 0; i < 4; i++) b.writeUInt32LE(seed[i] >>> 0, 4 * i);
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * `dx_hash` for many names in one debugfs run: hash version given as a number
 * (debugfs only knows the signed names), seed as four words.
 * Names must not contain whitespace, quotes or backslashes (debugfs's tokenizer).
 */
export async function dxHashBatch(names: Uint8Array[], hashVersion: number, seed?: ArrayLike<number>): Promise<Array<{ hash: number; minorHash: number }>> {
  const s = seed === undefined ? '' : ` -s ${seedToUuid(seed)}`;
  const reqs = names.map((n) => `dx_hash -h ${hashVersion}${s} ${Buffer.from(n).toString('latin1')}`);
  const out = await debugfsBatch(undefined, reqs);
  const res: Array<{ hash: number; minorHash: number }> = [];
  const re = /Hash of .* is 0x([0-9a-f]+) \(minor 0x([0-9a-f]+)\)/g;
  for (let m = re.exec(out); m; m = re.exec(out)) res.push({ hash: parseInt(m[1], 16), minorHash: parseInt(m[2], 16) });
  if (res.length !== names.length) throw new Error(`dx_hash gave ${res.length} results for ${names.length} names`);
  return res;
}

/** The inode number of `path` in `img`, as debugfs resolves it. */
export async function inodeNumber(img: string, path: string): Promise<number> {
  return parseStat(await debugfs(img, `stat ${path}`)).ino;
}
