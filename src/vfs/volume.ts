import type { BlockDevice } from '../device/block-device.js';
import type { OpenVolumeOptions, Volume } from './types.js';
import { FsError } from '../base/errors.js';

// Placeholder while the read path is being written (this commit only wires the API).
export async function openVolume(_target: string | BlockDevice, _options: OpenVolumeOptions = {}): Promise<Volume> {
  throw new FsError('ENOTSUP', 'openVolume is not implemented yet', 'open');
}
