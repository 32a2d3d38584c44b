/**
 * Writing metadata blocks to their home locations (the checkpoint, and the
 * commit of a filesystem without a journal). Blocks are sorted and runs of
 * adjacent blocks go to the device as one request, so a checkpoint of an
 * inode table or a bitmap range costs a few large writes, not one per block.
 */
import type { BlockDevice } from '../device/block-device.js';
import type { LoggedBlock } from './transaction.js';

/** Largest single write assembled from adjacent blocks. */
const MAX_RUN_BYTES = 1 << 20;

export async function writeBlocksHome(device: BlockDevice, blockSize: number, blocks: readonly LoggedBlock[]): Promise<void> {
  if (blocks.length === 0) return;
  const sorted = [...blocks].sort((a, b) => a.blockNr - b.blockNr);
  const maxRun = Math.max(1, Math.floor(MAX_RUN_BYTES / blockSize));
  let i = 0;
  while (i < sorted.length) {
    let j = i + 1;
    while (j < sorted.length && j - i < maxRun && sorted[j].blockNr === sorted[j - 1].blockNr + 1) j++;
    if (j - i === 1) {
      await device.write(sorted[i].blockNr * blockSize, sorted[i].data);
    } else {
      const run = new Uint8Array((j - i) * blockSize);
      for (let k = i; k < j; k++) run.set(sorted[k].data, (k - i) * blockSize);
      await device.write(sorted[i].blockNr * blockSize, run);
    }
    i = j;
  }
}
