/**
 * Which features a new filesystem gets: mke2fs 1.47's ext4 defaults (the
 * base_features and ext4 lines of Debian's mke2fs.conf) plus the two that
 * newer upstream configurations add, edited by the user's `-O` list, then
 * checked the way mke2fs checks them.
 *
 * Two defaults are dropped silently when what they depend on is removed, as
 * mke2fs does for defaults: orphan_file without has_journal and
 * metadata_csum_seed without metadata_csum. Asked for explicitly, the same
 * combinations are errors.
 */
import { FsError } from '../base/errors.js';
import * as F from '../format/features.js';
import type { FeatureWords } from '../format/features.js';

/** mke2fs.conf [defaults] base_features. */
const BASE_FEATURES = ['sparse_super', 'large_file', 'filetype', 'resize_inode', 'dir_index', 'ext_attr'];
/** mke2fs.conf [fs_types] ext4 features. */
const EXT4_FEATURES = ['has_journal', 'extent', 'huge_file', 'flex_bg', 'metadata_csum', '64bit', 'dir_nlink', 'extra_isize'];
/** Upstream's newer defaults that Debian's file lacks. */
const UPSTREAM_ADDITIONS = ['metadata_csum_seed', 'orphan_file'];

/** The default feature names, in the order they are applied. */
export const DEFAULT_FEATURES: readonly string[] = [...BASE_FEATURES, ...EXT4_FEATURES, ...UPSTREAM_ADDITIONS];

/**
 * Features this mkfs can create. Each either only sets a bit whose meaning
 * starts with the first file written (inline_data, large_dir, dir_nlink, ...)
 * or changes the layout in a way mkfs implements (flex_bg, resize_inode,
 * has_journal, orphan_file, 64bit, sparse_super, extent).
 */
const SUPPORTED = new Set([
  'has_journal', 'ext_attr', 'resize_inode', 'dir_index', 'orphan_file',
  'filetype', 'extent', '64bit', 'flex_bg', 'metadata_csum_seed', 'inline_data', 'large_dir',
  'sparse_super', 'large_file', 'huge_file', 'uninit_bg', 'dir_nlink', 'extra_isize', 'metadata_csum',
]);

/** Other spellings e2fsprogs accepts on the command line. */
const ALIASES: ReadonlyMap<string, string> = new Map([
  ['extents', 'extent'],
  ['uninit_groups', 'uninit_bg'],
  ['gdt_csum', 'uninit_bg'],
]);

export interface ResolvedFeatures extends FeatureWords {
  /** True for features that came from the user's list rather than the defaults. */
  explicit: ReadonlySet<string>;
}

function has(words: FeatureWords, name: string): boolean {
  const f = F.featureByName(name);
  if (f === undefined) return false;
  if (f.kind === 'compat') return (words.featureCompat & f.flag) !== 0;
  if (f.kind === 'incompat') return (words.featureIncompat & f.flag) !== 0;
  return (words.featureRoCompat & f.flag) !== 0;
}

function set(words: FeatureWords, name: string, on: boolean): void {
  const f = F.featureByName(name);
  if (f === undefined) throw new FsError('EINVAL', `unknown filesystem feature '${name}'`);
  const apply = (w: number): number => (on ? (w | f.flag) >>> 0 : (w & ~f.flag) >>> 0);
  if (f.kind === 'compat') words.featureCompat = apply(words.featureCompat);
  else if (f.kind === 'incompat') words.featureIncompat = apply(words.featureIncompat);
  else words.featureRoCompat = apply(words.featureRoCompat);
}

/** Splits `['inline_data', '^64bit,^flex_bg']` into single edits. */
export function parseFeatureEdits(list: readonly string[]): Array<{ name: string; on: boolean }> {
  const edits: Array<{ name: string; on: boolean }> = [];
  for (const item of list) {
    for (const raw of item.split(/[\s,]+/)) {
      if (raw === '') continue;
      let on = true;
      let name = raw;
      if (name.startsWith('^') || name.startsWith('-')) {
        on = false;
        name = name.slice(1);
      } else if (name.startsWith('+')) {
        name = name.slice(1);
      }
      name = name.toLowerCase();
      name = ALIASES.get(name) ?? name;
      edits.push({ name, on });
    }
  }
  return edits;
}

/**
 * The feature words for a new filesystem. Throws EINVAL naming the feature
 * for unknown or unsupported names and for combinations mke2fs refuses.
 */
export function resolveFeatures(userList: readonly string[] = []): ResolvedFeatures {
  const words: FeatureWords = { featureCompat: 0, featureIncompat: 0, featureRoCompat: 0 };
  for (const name of DEFAULT_FEATURES) set(words, name, true);
  const edits = parseFeatureEdits(userList);
  const unknown = edits.filter((e) => F.featureByName(e.name) === undefined).map((e) => e.name);
  if (unknown.length > 0) {
    throw new FsError('EINVAL', `unknown filesystem feature${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`);
  }
  const unsupported = edits.filter((e) => e.on && !SUPPORTED.has(e.name)).map((e) => e.name);
  if (unsupported.length > 0) {
    throw new FsError('EINVAL', `ext4kit mkfs does not support the feature${unsupported.length > 1 ? 's' : ''}: ${unsupported.join(', ')}`);
  }
  const explicit = new Set<string>();
  for (const e of edits) {
    set(words, e.name, e.on);
    if (e.on) explicit.add(e.name);
    else explicit.delete(e.name);
  }
  // Defaults that lose their prerequisite go quietly; explicit requests fail below.
  if (!has(words, 'has_journal') && !explicit.has('orphan_file')) set(words, 'orphan_file', false);
  if (!has(words, 'metadata_csum') && !explicit.has('metadata_csum_seed')) set(words, 'metadata_csum_seed', false);
  // metadata_csum supersedes the crc16 descriptor checksum.
  if (has(words, 'metadata_csum')) set(words, 'uninit_bg', false);

  const requires = (what: string, needs: string, why = ''): void => {
    if (has(words, what) && !has(words, needs)) {
      throw new FsError('EINVAL', `the ${what} feature requires ${needs}${why}`);
    }
  };
  requires('64bit', 'extent', ' (extents must be enabled for a 64-bit filesystem)');
  requires('metadata_csum_seed', 'metadata_csum');
  requires('orphan_file', 'has_journal');
  requires('resize_inode', 'sparse_super', ' (reserved online resize blocks need sparse_super)');
  return { ...words, explicit };
}

export function hasFeature(words: FeatureWords, name: string): boolean {
  return has(words, name);
}

export function setFeature(words: FeatureWords, name: string, on: boolean): void {
  set(words, name, on);
}
