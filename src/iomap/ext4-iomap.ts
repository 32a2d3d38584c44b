/**
 * ext4's answer to iomap's questions (Linux: `ext4_iomap_begin` for reads):
 * turn a byte position into the extent, hole or inline area that holds it.
 */
import type { Ext4Super } from '../super/ext4-super.js';
import { mapBlocks } from '../extent/map-blocks.js';
import { inlineData } from '../inode/inline.js';
import { yieldPoint } from '../sim/hooks.js';
import { IOMapType, type IOMap, type IOMapOps } from './iomap.js';

export function ext4ReadIomapOps(fs: Ext4Super): IOMapOps {
  return {
    async begin(inode, pos): Promise<IOMap> {
      if (inode.hasInlineData) {
        const data = inlineData(fs, inode);
        if (pos < data.length) {
          return { offset: 0, length: data.length, type: IOMapType.INLINE, addr: -1, flags: 0, cookie: inode.esSeq, inlineData: data };
        }
        // Past what the inode stores: zeros up to i_size (see inlineData).
        return { offset: data.length, length: Math.max(inode.size, pos + 1) - data.length, type: IOMapType.HOLE, addr: -1, flags: 0, cookie: inode.esSeq };
      }
      const bs = fs.blockSize;
      const lblk = Math.floor(pos / bs);
      const cookie = inode.esSeq;
      const m = await mapBlocks(fs, inode, lblk);
      await yieldPoint('iomap.begin.mapped');
      const type = m.state === 'hole' ? IOMapType.HOLE : m.state === 'unwritten' ? IOMapType.UNWRITTEN : IOMapType.MAPPED;
      return { offset: m.lblk * bs, length: m.len * bs, type, addr: m.state === 'hole' ? -1 : m.pblk * bs, flags: 0, cookie };
    },
    valid(inode, iomap): boolean {
      return iomap.cookie === inode.esSeq;
    },
  };
}
