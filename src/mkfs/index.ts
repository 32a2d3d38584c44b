/**
 * Making new filesystems: `mkfs` writes one, `computeLayout` says where
 * everything would go without writing anything.
 */
export { canPopulate, mkfs, parseUuid, type MkfsResult } from './mkfs.js';
export { computeLayout, type Layout } from './layout.js';
export type { MkfsOptions, MkfsPopulate, MkfsProgress } from './options.js';
