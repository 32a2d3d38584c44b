/**
 * Constants of the ext4 superblock: where it is, its magic, and the values
 * of its enumerated and bit-flag fields (s_state, s_errors, s_creator_os,
 * s_rev_level, s_flags, s_default_mount_opts, ...).
 */
export const EXT4_SUPER_MAGIC = 0xef53;
/** Byte offset of the primary superblock on the device. */
export const SUPERBLOCK_OFFSET = 1024;
export const SUPERBLOCK_SIZE = 1024;
/** Offset of s_checksum: the checksum covers every byte before it. */
export const SUPERBLOCK_CHECKSUM_OFFSET = 0x3fc;

/** s_state bits. */
export const STATE_VALID_FS = 0x0001;
export const STATE_ERROR_FS = 0x0002;
export const STATE_ORPHAN_FS = 0x0004;

/** s_errors values. */
export const ERRORS_CONTINUE = 1;
export const ERRORS_RO = 2;
export const ERRORS_PANIC = 3;

/** s_creator_os values. Only Linux-created filesystems carry inode checksums. */
export const OS_LINUX = 0;
export const OS_HURD = 1;
export const OS_MASIX = 2;
export const OS_FREEBSD = 3;
export const OS_LITES = 4;

/** s_rev_level: revision 0 has fixed 128-byte inodes and first inode 11. */
export const GOOD_OLD_REV = 0;
export const DYNAMIC_REV = 1;
export const GOOD_OLD_INODE_SIZE = 128;
export const GOOD_OLD_FIRST_INO = 11;

/** s_flags bits. */
export const FLAGS_SIGNED_HASH = 0x0001;
export const FLAGS_UNSIGNED_HASH = 0x0002;
export const FLAGS_TEST_FILESYS = 0x0004;

/** s_default_mount_opts bits. */
export const DEFM_DEBUG = 0x0001;
export const DEFM_BSDGROUPS = 0x0002;
export const DEFM_XATTR_USER = 0x0004;
export const DEFM_ACL = 0x0008;
export const DEFM_UID16 = 0x0010;
export const DEFM_JMODE = 0x0060;
export const DEFM_JMODE_DATA = 0x0020;
export const DEFM_JMODE_ORDERED = 0x0040;
export const DEFM_JMODE_WBACK = 0x0060;
export const DEFM_NOBARRIER = 0x0100;
export const DEFM_BLOCK_VALIDITY = 0x0200;
export const DEFM_DISCARD = 0x0400;
export const DEFM_NODELALLOC = 0x0800;

/** s_checksum_type: the only defined metadata checksum algorithm. */
export const CHECKSUM_TYPE_CRC32C = 1;

/** s_jnl_backup_type: s_jnl_blocks holds a copy of the journal inode's i_block and size. */
export const JNL_BACKUP_BLOCKS = 1;
