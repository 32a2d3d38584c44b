export type { BlockDevice, HostFileRange } from './block-device.js';
export { MemoryDevice } from './memory-device.js';
export { FileDevice, type FileDeviceOptions } from './file-device.js';
export { ReadOnlyDevice, OffsetDevice } from './wrappers.js';
