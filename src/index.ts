/**
 * ext4kit's public API. Everything not exported here is internal.
 */
export { openVolume } from './vfs/volume.js';
export type {
  Volume, VolumePromises, VolumeInfo, OpenVolumeOptions, FileHandle, Dir, Dirent, Stats, BigIntStats, StatFs, PathLike,
} from './vfs/types.js';
export { FsError, CorruptionError } from './base/errors.js';
export type { BlockDevice } from './device/block-device.js';
export { FileDevice, MemoryDevice, ReadOnlyDevice, OffsetDevice } from './device/index.js';
export { mkfs, computeLayout } from './mkfs/index.js';
export type { MkfsOptions, MkfsResult, MkfsPopulate, MkfsProgress, Layout } from './mkfs/index.js';
