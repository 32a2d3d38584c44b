/**
 * Feature flags of the ext4 superblock (s_feature_compat,
 * s_feature_incompat, s_feature_ro_compat) and their names as e2fsprogs
 * prints them.
 *
 * The three words have different contracts: an unknown compat bit may be
 * ignored, an unknown ro_compat bit allows read-only access, an unknown
 * incompat bit forbids any access.
 */

// ---- s_feature_compat ----
/** Directory preallocation (never implemented by Linux). */
export const COMPAT_DIR_PREALLOC = 0x0001;
export const COMPAT_IMAGIC_INODES = 0x0002;
export const COMPAT_HAS_JOURNAL = 0x0004;
export const COMPAT_EXT_ATTR = 0x0008;
/** Reserved GDT blocks for online growth, held by inode 7. */
export const COMPAT_RESIZE_INODE = 0x0010;
export const COMPAT_DIR_INDEX = 0x0020;
export const COMPAT_LAZY_BG = 0x0040;
/** Legacy, never used; kept so its bit prints like e2fsprogs (FEATURE_C7). */
export const COMPAT_EXCLUDE_INODE = 0x0080;
/** Snapshot exclude bitmaps (out-of-tree snapshot patches). */
export const COMPAT_EXCLUDE_BITMAP = 0x0100;
/** Superblock backups only in the groups named by s_backup_bgs. */
export const COMPAT_SPARSE_SUPER2 = 0x0200;
export const COMPAT_FAST_COMMIT = 0x0400;
/** Inode numbers must never change (fscrypt IV_INO_LBLK policies). */
export const COMPAT_STABLE_INODES = 0x0800;
/** Orphans are tracked in the file named by s_orphan_file_inum. */
export const COMPAT_ORPHAN_FILE = 0x1000;

// ---- s_feature_incompat ----
export const INCOMPAT_COMPRESSION = 0x0001;
/** Directory entries carry a file type byte. */
export const INCOMPAT_FILETYPE = 0x0002;
/** The journal needs replay before the filesystem may be used. */
export const INCOMPAT_RECOVER = 0x0004;
/** This device is an external journal, not a filesystem. */
export const INCOMPAT_JOURNAL_DEV = 0x0008;
export const INCOMPAT_META_BG = 0x0010;
export const INCOMPAT_EXTENTS = 0x0040;
export const INCOMPAT_64BIT = 0x0080;
/** Multi-mount protection. */
export const INCOMPAT_MMP = 0x0100;
export const INCOMPAT_FLEX_BG = 0x0200;
/** Large xattr values live in their own inodes. */
export const INCOMPAT_EA_INODE = 0x0400;
export const INCOMPAT_DIRDATA = 0x1000;
/** s_checksum_seed holds the metadata checksum seed (so the UUID can change). */
export const INCOMPAT_CSUM_SEED = 0x2000;
/** Directories larger than 2 GiB and 3-level htrees. */
export const INCOMPAT_LARGEDIR = 0x4000;
export const INCOMPAT_INLINE_DATA = 0x8000;
export const INCOMPAT_ENCRYPT = 0x10000;
export const INCOMPAT_CASEFOLD = 0x20000;

// ---- s_feature_ro_compat ----
/** Superblock backups only in groups 0, 1 and powers of 3, 5, 7. */
export const RO_COMPAT_SPARSE_SUPER = 0x0001;
export const RO_COMPAT_LARGE_FILE = 0x0002;
/** Never implemented; kept so its bit prints like e2fsprogs (FEATURE_R2). */
export const RO_COMPAT_BTREE_DIR = 0x0004;
/** i_blocks may be 48-bit and, with EXT4_HUGE_FILE_FL, count filesystem blocks. */
export const RO_COMPAT_HUGE_FILE = 0x0008;
/** Group descriptors carry a crc16 (uninit_bg); superseded by metadata_csum. */
export const RO_COMPAT_GDT_CSUM = 0x0010;
export const RO_COMPAT_DIR_NLINK = 0x0020;
export const RO_COMPAT_EXTRA_ISIZE = 0x0040;
/** Out-of-tree snapshots; e2fsprogs 1.47 no longer names it (FEATURE_R7). */
export const RO_COMPAT_HAS_SNAPSHOT = 0x0080;
export const RO_COMPAT_QUOTA = 0x0100;
export const RO_COMPAT_BIGALLOC = 0x0200;
export const RO_COMPAT_METADATA_CSUM = 0x0400;
export const RO_COMPAT_REPLICA = 0x0800;
export const RO_COMPAT_READONLY = 0x1000;
export const RO_COMPAT_PROJECT = 0x2000;
export const RO_COMPAT_SHARED_BLOCKS = 0x4000;
export const RO_COMPAT_VERITY = 0x8000;
/** The orphan file holds entries that need processing. */
export const RO_COMPAT_ORPHAN_PRESENT = 0x10000;

/** Which of the three feature words a flag belongs to. */
export type FeatureKind = 'compat' | 'incompat' | 'ro_compat';

/**
 * Names by bit, as e2fsprogs 1.47 prints them (lib/e2p's table, first name
 * for a bit wins: "extent" not "extents", "uninit_bg" not "uninit_groups").
 * Bits absent here are printed as FEATURE_<C|I|R><bit>. Checked against
 * `dumpe2fs -f` with all 32 bits of each word set.
 */
const COMPAT_NAMES: ReadonlyMap<number, string> = new Map([
  [COMPAT_DIR_PREALLOC, 'dir_prealloc'],
  [COMPAT_IMAGIC_INODES, 'imagic_inodes'],
  [COMPAT_HAS_JOURNAL, 'has_journal'],
  [COMPAT_EXT_ATTR, 'ext_attr'],
  [COMPAT_RESIZE_INODE, 'resize_inode'],
  [COMPAT_DIR_INDEX, 'dir_index'],
  [COMPAT_LAZY_BG, 'lazy_bg'],
  [COMPAT_EXCLUDE_BITMAP, 'snapshot_bitmap'],
  [COMPAT_SPARSE_SUPER2, 'sparse_super2'],
  [COMPAT_FAST_COMMIT, 'fast_commit'],
  [COMPAT_STABLE_INODES, 'stable_inodes'],
  [COMPAT_ORPHAN_FILE, 'orphan_file'],
]);

const INCOMPAT_NAMES: ReadonlyMap<number, string> = new Map([
  [INCOMPAT_COMPRESSION, 'compression'],
  [INCOMPAT_FILETYPE, 'filetype'],
  [INCOMPAT_RECOVER, 'needs_recovery'],
  [INCOMPAT_JOURNAL_DEV, 'journal_dev'],
  [INCOMPAT_META_BG, 'meta_bg'],
  [INCOMPAT_EXTENTS, 'extent'],
  [INCOMPAT_64BIT, '64bit'],
  [INCOMPAT_MMP, 'mmp'],
  [INCOMPAT_FLEX_BG, 'flex_bg'],
  [INCOMPAT_EA_INODE, 'ea_inode'],
  [INCOMPAT_DIRDATA, 'dirdata'],
  [INCOMPAT_CSUM_SEED, 'metadata_csum_seed'],
  [INCOMPAT_LARGEDIR, 'large_dir'],
  [INCOMPAT_INLINE_DATA, 'inline_data'],
  [INCOMPAT_ENCRYPT, 'encrypt'],
  [INCOMPAT_CASEFOLD, 'casefold'],
]);

const RO_COMPAT_NAMES: ReadonlyMap<number, string> = new Map([
  [RO_COMPAT_SPARSE_SUPER, 'sparse_super'],
  [RO_COMPAT_LARGE_FILE, 'large_file'],
  [RO_COMPAT_HUGE_FILE, 'huge_file'],
  [RO_COMPAT_GDT_CSUM, 'uninit_bg'],
  [RO_COMPAT_DIR_NLINK, 'dir_nlink'],
  [RO_COMPAT_EXTRA_ISIZE, 'extra_isize'],
  [RO_COMPAT_QUOTA, 'quota'],
  [RO_COMPAT_BIGALLOC, 'bigalloc'],
  [RO_COMPAT_METADATA_CSUM, 'metadata_csum'],
  [RO_COMPAT_REPLICA, 'replica'],
  [RO_COMPAT_READONLY, 'read-only'],
  [RO_COMPAT_PROJECT, 'project'],
  [RO_COMPAT_SHARED_BLOCKS, 'shared_blocks'],
  [RO_COMPAT_VERITY, 'verity'],
  [RO_COMPAT_ORPHAN_PRESENT, 'orphan_present'],
]);

const TABLES: Record<FeatureKind, { names: ReadonlyMap<number, string>; letter: string }> = {
  compat: { names: COMPAT_NAMES, letter: 'C' },
  incompat: { names: INCOMPAT_NAMES, letter: 'I' },
  ro_compat: { names: RO_COMPAT_NAMES, letter: 'R' },
};

/** The name e2fsprogs uses for one feature bit (a power of two) of the given word. */
export function featureName(kind: FeatureKind, flag: number): string {
  const t = TABLES[kind];
  const name = t.names.get(flag >>> 0);
  if (name !== undefined) return name;
  return `FEATURE_${t.letter}${31 - Math.clz32(flag)}`;
}

/** The names of every bit set in `flags`, lowest bit first. */
export function featureNamesOf(kind: FeatureKind, flags: number): string[] {
  const out: string[] = [];
  for (let bit = 0; bit < 32; bit++) {
    const flag = (1 << bit) >>> 0;
    if ((flags & flag) !== 0) out.push(featureName(kind, flag));
  }
  return out;
}

/** The three feature words, as a Superblock carries them. */
export interface FeatureWords {
  /** s_feature_compat */
  featureCompat: number;
  /** s_feature_incompat */
  featureIncompat: number;
  /** s_feature_ro_compat */
  featureRoCompat: number;
}

/**
 * Every feature set in the superblock, named and ordered exactly as
 * `dumpe2fs -h` lists them on its "Filesystem features:" line: compat bits,
 * then incompat, then ro_compat, each from bit 0 up.
 */
export function featureNames(sb: FeatureWords): string[] {
  return [
    ...featureNamesOf('compat', sb.featureCompat),
    ...featureNamesOf('incompat', sb.featureIncompat),
    ...featureNamesOf('ro_compat', sb.featureRoCompat),
  ];
}

/** The bit for a feature name (as mke2fs -O accepts it), or undefined. */
export function featureByName(name: string): { kind: FeatureKind; flag: number } | undefined {
  for (const kind of ['compat', 'incompat', 'ro_compat'] as const) {
    for (const [flag, n] of TABLES[kind].names) if (n === name) return { kind, flag };
  }
  return undefined;
}

export function hasCompat(sb: FeatureWords, flag: number): boolean {
  return (sb.featureCompat & flag) !== 0;
}

export function hasIncompat(sb: FeatureWords, flag: number): boolean {
  return (sb.featureIncompat & flag) !== 0;
}

export function hasRoCompat(sb: FeatureWords, flag: number): boolean {
  return (sb.featureRoCompat & flag) !== 0;
}
