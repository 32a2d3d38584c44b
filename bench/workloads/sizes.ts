// Image sizes. The issues fix 1G for the /usr/include tree; a larger --src
// gets a proportionally larger image instead of a confusing "no space" error.
import type { TreeStats } from '../lib/tree.js';

const MiB = 1024 * 1024;

export function imageSizeFor(s: TreeStats): string {
  // Room for the data, a 4 KiB block of slack per entry, and the journal and
  // metadata of a small filesystem; 1G whenever that is enough.
  const need = Math.ceil((s.bytes * 1.25 + s.entries * 4096) / MiB) + 256;
  return need <= 1024 ? '1G' : `${need}M`;
}

/** Image for one file of `mib` MiB: twice the file, 2G for the standard 1 GiB. */
export function bigImageSize(mib: number): string {
  return mib === 1024 ? '2G' : `${Math.max(64, 2 * mib)}M`;
}
