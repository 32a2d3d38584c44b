/**
 * Which on-disk features this engine can read and write. An incompatible
 * feature we do not implement must stop the mount (reading such an image
 * would return wrong data); an unknown read-only-compatible feature only
 * forbids writing.
 */
import type { Superblock } from '../format/superblock.js';
import * as F from '../format/features.js';
import { FsError } from '../base/errors.js';

/** Incompat features whose on-disk format the read path understands. */
const READABLE_INCOMPAT =
  F.INCOMPAT_FILETYPE | F.INCOMPAT_META_BG | F.INCOMPAT_EXTENTS | F.INCOMPAT_64BIT | F.INCOMPAT_MMP |
  F.INCOMPAT_FLEX_BG | F.INCOMPAT_CSUM_SEED | F.INCOMPAT_LARGEDIR | F.INCOMPAT_INLINE_DATA | F.INCOMPAT_EA_INODE;

/** ro_compat features the engine knows; others open read-only. */
const KNOWN_RO_COMPAT =
  F.RO_COMPAT_SPARSE_SUPER | F.RO_COMPAT_LARGE_FILE | F.RO_COMPAT_HUGE_FILE | F.RO_COMPAT_GDT_CSUM |
  F.RO_COMPAT_DIR_NLINK | F.RO_COMPAT_EXTRA_ISIZE | F.RO_COMPAT_METADATA_CSUM | F.RO_COMPAT_ORPHAN_PRESENT;

const INCOMPAT_NAMES: ReadonlyArray<[number, string]> = [
  [F.INCOMPAT_COMPRESSION, 'compression'],
  [F.INCOMPAT_JOURNAL_DEV, 'journal_dev'],
  [F.INCOMPAT_DIRDATA, 'dirdata'],
  [F.INCOMPAT_ENCRYPT, 'encrypt'],
  [F.INCOMPAT_CASEFOLD, 'casefold'],
];

/**
 * How to treat the RECOVER flag (the journal holds transactions that were
 * never written home):
 *  - `refuse`: the device shows the filesystem as it is on disk, which is
 *    not consistent: refuse to mount it;
 *  - `before-replay`: a read-only mount made only to read the journal
 *    (jbd2 does the same: the journal inode is read before recovery);
 *  - `replayed`: the device already shows the replayed filesystem (read-only
 *    replay in memory); the flag stays set in the superblock because nothing
 *    was written.
 */
export type RecoverMode = 'refuse' | 'before-replay' | 'replayed';

export function checkFeatures(sb: Superblock, readOnly: boolean, recover: RecoverMode = 'refuse'): { forceReadOnly: boolean } {
  if ((sb.featureIncompat & F.INCOMPAT_JOURNAL_DEV) !== 0) {
    throw new FsError('EINVAL', 'this is an external journal device, not a filesystem', 'mount');
  }
  if ((sb.featureIncompat & F.INCOMPAT_RECOVER) !== 0) {
    if (!readOnly) {
      throw new FsError('ENOTSUP',
        'the journal needs recovery (the filesystem was not cleanly unmounted); ext4kit replays journals only ' +
        'in memory for read-only opens: open with { readOnly: true }, or run `e2fsck -fy` on the image first', 'mount');
    }
    if (recover === 'refuse') {
      throw new FsError('ENOTSUP',
        'the journal needs recovery (the filesystem was not cleanly unmounted) and this mount did not replay it: ' +
        'run `e2fsck -fy` on the image or mount and unmount it with Linux first', 'mount');
    }
  }
  const unknown = sb.featureIncompat & ~(READABLE_INCOMPAT | F.INCOMPAT_RECOVER);
  if (unknown !== 0) {
    const names = INCOMPAT_NAMES.filter(([bit]) => (unknown & bit) !== 0).map(([, n]) => n);
    let rest = unknown;
    for (const [bit] of INCOMPAT_NAMES) rest &= ~bit;
    for (let bit = 0; bit < 32; bit++) if ((rest >>> bit) & 1) names.push(`FEATURE_I${bit}`);
    throw new FsError('ENOTSUP', `unsupported incompatible feature(s): ${names.join(', ')}`, 'mount');
  }
  const unknownRo = sb.featureRoCompat & ~KNOWN_RO_COMPAT;
  return { forceReadOnly: unknownRo !== 0 || !readOnly && (sb.featureRoCompat & F.RO_COMPAT_BIGALLOC) !== 0 };
}
